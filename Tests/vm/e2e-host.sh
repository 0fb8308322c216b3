#!/bin/bash
# Host side of `Tests/vm/run e2e` (sourced by Tests/vm/run after prepare() and e2e-rootfs.sh): builds the project's
# .deb, stages it with the guest script, the tud-campus frames and two small static helpers on a 9p share, boots the
# cached Debian + systemd image under QEMU, then adds the host-side checks (AP50 vs sentei eval, socket vs journal)
# and prints the summary. Exits non-zero unless every check passed; on failure the serial console log and the
# guest's output are kept under $ARTIFACTS.
#
# Env knobs (besides those of Tests/vm/run):
#   SENTEI_VM_E2E_TIMEOUT    wall-clock limit of the QEMU run, seconds                    (default 1800)
#   SENTEI_VM_CPU            QEMU -cpu model                          (default max,-avx,-avx2,-fma,-f16c)
#   SENTEI_VM_SMP            guest vCPUs                                                    (default 2)
#   SENTEI_VM_AP_SECONDS     how long the socket client collects detections for AP50        (default 180)
#   SENTEI_VM_ARTIFACTS      where failed runs leave their logs                (default <package>/.build/vm-artifacts)
#   SENTEI_VM_NO_BUILD=1     package the binaries already in the scratch path (build-deb.sh --no-build)
#   SENTEI_VM_DEB=FILE       install this .deb instead of building one (sentei eval still uses the scratch build)
#   SENTEI_VM_START_TIMEOUT  TimeoutStartSec of the unit in the guest (a drop-in; emulation is slow)  (default 900)

E2E_TIMEOUT=${SENTEI_VM_E2E_TIMEOUT:-1800}
# TCG has no AVX-512 in any model, and its AVX2/FMA are emulated far more slowly than SSE: one yolox_nano@256
# inference under qemu-user took 45.8 s of CPU with -cpu Haswell-v4 (our AVX2 kernels) and 2.95 s with qemu64 (our
# baseline kernels). So the guest gets an SSE-only CPU and the engine's run-time dispatch must pick its baseline path.
E2E_CPU=${SENTEI_VM_CPU:-max,-avx,-avx2,-fma,-f16c}
E2E_SMP=${SENTEI_VM_SMP:-2}
AP_SECONDS=${SENTEI_VM_AP_SECONDS:-180}
START_TIMEOUT_S=${SENTEI_VM_START_TIMEOUT:-900}
ARTIFACTS=${SENTEI_VM_ARTIFACTS:-$PKG/.build/vm-artifacts}

e2e_build() {
	local t0=$SECONDS
	local opts=() deb=${SENTEI_VM_DEB:-}; [ -n "${SENTEI_VM_NO_BUILD:-}" ] && opts=(--no-build)
	if [ -z "$deb" ]; then
		log "building the .deb (scripts/build-deb.sh, scratch $SCRATCH)"
		(cd "$BUILD_PKG" && SENTEI_SCRATCH=$SCRATCH scripts/build-deb.sh "${opts[@]}" 2>&1 | tail -4 >&2) || die "build-deb.sh failed"
		deb=$(ls -t "$BUILD_PKG"/out/sentei_*_amd64.deb | head -1)
	fi
	[ -s "$deb" ] || die "build-deb.sh made no .deb"
	cp "$deb" "$SH/sentei.deb"
	SENTEI=$SCRATCH/release/sentei
	# the same model files the .deb carries, for `sentei eval` outside the VM
	rm -rf "$RUN/models"; mkdir -p "$RUN/models"
	"$BUILD_PKG/Models/fetch" --dest "$RUN/models" --sentei "$SENTEI" >&2 || die "Models/fetch failed"
	cp "$BUILD_PKG/Models/yolox_nano.json" "$RUN/models/"
	gcc -O2 -static -Wall -o "$SH/e2e-feed" "$HERE/e2e-feed.c" || die "e2e-feed build failed"
	gcc -O2 -static -Wall -o "$SH/e2e-netprobe" "$HERE/e2e-netprobe.c" || die "e2e-netprobe build failed"
	log "built $(basename "$deb") ($(du -h "$SH/sentei.deb" | cut -f1)) and the helpers in $((SECONDS - t0))s"
}

e2e_stage() {
	mkdir -p "$SH/frames"
	local f
	: >"$SH/frames.list"
	for f in $(ls "$FRAMES_DIR" | grep -i '\.jpg$' | sort); do
		cp "$FRAMES_DIR/$f" "$SH/frames/$f"; echo "/share/frames/$f" >>"$SH/frames.list"
	done
	cp "$HERE/e2e-guest.sh" "$SH/e2e-guest.sh"
	cat >"$SH/e2e.env" <<ENV
FEED_FPS=25
FEED_HOLD=1
AP_SECONDS=$AP_SECONDS
INPUT_SIZES="416, 256"
LOW_LATENCY_MS=100
START_TIMEOUT_S=$START_TIMEOUT_S
ENV
}

e2e_boot() {
	CONSOLE=$RUN/console.log
	log "booting the Debian + systemd guest under QEMU TCG (-cpu $E2E_CPU -smp $E2E_SMP, timeout ${E2E_TIMEOUT}s)"
	local t0=$SECONDS rc=0
	timeout "$E2E_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu "$E2E_CPU" -m 1536 -smp "$E2E_SMP" -nographic -no-reboot \
		-kernel "$KROOT/vmlinux" -initrd "$E2E_INITRD" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 systemd.show_status=error rw" \
		-drive file="$E2E_IMAGE",format=raw,if=virtio,snapshot=on \
		-virtfs local,path="$SH",mount_tag=share,security_model=none,id=share \
		-nic none -device virtio-rng-pci </dev/null >"$CONSOLE" 2>&1 || rc=$?
	tr -d '\r' <"$CONSOLE" >"$CONSOLE.txt"
	GUEST_S=$((SECONDS - t0))
	log "QEMU exited rc=$rc after ${GUEST_S}s"
}

e2e_main() {
	RUN=$CACHE/e2e-run
	SH=$RUN/share
	rm -rf "$RUN"; mkdir -p "$SH/out"
	local t_image=$SECONDS; e2e_rootfs; t_image=$((SECONDS - t_image))
	local t_build=$SECONDS; e2e_build; e2e_stage; t_build=$((SECONDS - t_build))
	e2e_boot
	local t_an=$SECONDS
	python3 "$HERE/e2e-analyze.py" --out "$SH/out" --frames "$SH/frames" --gt "$FRAMES_DIR/../gt.txt" \
		--sentei "$SENTEI" --model "$RUN/models/yolox_nano.json" \
		--cocoeval "$BUILD_PKG/scripts/reference/vision_cocoeval.py" >"$RUN/host-checks.txt" 2>"$RUN/analyze.err" ||
		echo "CHECK analysis FAIL e2e-analyze.py exited non-zero: $(tail -1 "$RUN/analyze.err")" >>"$RUN/host-checks.txt"
	grep -v '^CHECK' "$RUN/host-checks.txt" >&2 || true
	t_an=$((SECONDS - t_an))

	local expected name line fail=0
	expected="$(sed -n 's/^# CHECKS: //p' "$HERE/e2e-guest.sh") ap50 journal-tracks"
	echo "---- e2e summary ----"
	for name in $expected; do
		line=$(grep -hE "^CHECK $name (PASS|FAIL)" "$SH/out/checks.txt" "$RUN/host-checks.txt" 2>/dev/null | tail -1 || true)
		if [ -z "$line" ]; then echo "CHECK $name MISSING (no result)"; fail=1
		else echo "$line"; [[ $line == "CHECK $name PASS"* ]] || fail=1; fi
	done
	grep -h '^CHECK analysis' "$RUN/host-checks.txt" && fail=1
	grep -q '=== SENTEI-E2E-DONE' "$CONSOLE.txt" || { echo "guest did not finish (timeout or crash)"; fail=1; }
	echo "timings: guest image ${t_image}s, .deb + staging ${t_build}s, guest run ${GUEST_S}s, host analysis ${t_an}s, total ${SECONDS}s (whole script)"
	if [ $fail = 1 ]; then
		local keep; keep=$ARTIFACTS/e2e-$(date +%Y%m%d-%H%M%S)
		mkdir -p "$keep"
		cp "$CONSOLE.txt" "$keep/console.log"; cp -r "$SH/out" "$keep/guest-out"
		cp "$RUN/host-checks.txt" "$RUN/analyze.err" "$keep/" 2>/dev/null
		echo "FAILED: serial console log and guest output kept in $keep"
		return 1
	fi
	echo "ALL E2E CHECKS PASSED"
}
