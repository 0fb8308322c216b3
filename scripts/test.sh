#!/usr/bin/env bash
# Runs every Sentei test and reference check and ends with one line "tests: N passed, M failed".
# Expects the dependencies of scripts/setup-deps.sh and the shared data at $SENTEI_SHARED or ../shared.
#   scripts/test.sh            everything (Swift tests, reference checks, fuzz smoke, ISA paths, VM capture test)
#   SENTEI_QUICK=1 scripts/test.sh   skips the fuzz smoke run and the VM test
set -uo pipefail
cd "$(dirname "$0")/.."
export SENTEI_SHARED=${SENTEI_SHARED:-$(cd .. && pwd)/shared}
[ -d "$SENTEI_SHARED/models" ] || { echo "test.sh: shared data not found at $SENTEI_SHARED (set SENTEI_SHARED)" >&2; exit 1; }
passed=0; failed=0; failures=()
step() {  # step NAME COMMAND…
  local name=$1; shift
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - start)) s)"
  else failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - start)) s)"; fi
}
bin=.build/release/sentei

verify_unit() {  # the shipped unit names /usr/bin/senteid; point a copy at the built binary
  local dir; dir=$(mktemp -d)
  sed "s|/usr/bin/senteid|$PWD/.build/release/senteid|g" systemd/sentei.service > "$dir/sentei.service"
  systemd-analyze verify "$dir/sentei.service"; local rc=$?
  rm -rf "$dir"; return $rc
}
deb_roundtrip() {
  [ "$(id -u)" = 0 ] || { echo "not root: skipping the .deb install"; return 0; }
  # CI packs the binaries of this build (the release .deb links the Swift runtime statically: scripts/build-deb.sh)
  SENTEI_SCRATCH=.build scripts/build-deb.sh --no-build && dpkg -i out/sentei_*_amd64.deb && /usr/bin/senteid --check --config /etc/sentei/sentei.toml
  local rc=$?
  dpkg -P sentei >/dev/null; return $rc
}

# One release build serves the tests, the CLI checks and the qemu ISA runs (tests need testable imports).
step "build (release, with tests)" swift build -c release --build-tests -Xswiftc -enable-testing
step "swift tests" swift test -c release --skip-build
step "engine parity vs ONNX Runtime" python3 scripts/reference/engine_parity.py "$bin" "$SENTEI_SHARED"
step "vision reference check (ORT + numpy, pycocotools)" env SENTEI="$bin" SWIFT_CONFIGURATION=release SWIFT_SKIP_BUILD=1 scripts/reference/vision_check.sh .build
step "training gradients vs PyTorch" python3 scripts/reference/train_parity.py "$bin"
step "no heap allocation per frame (engine, ladder switches)" python3 scripts/check-allocations.py --sentei "$bin" --senteid .build/release/senteid --shared "$SENTEI_SHARED"
step "shipped config validates" "$bin" config check --no-model config/sentei.toml
step "systemd unit verifies" verify_unit
step "systemd exposure score <= 1.0" systemd-analyze security --offline=yes --threshold=10 systemd/sentei.service
step ".deb builds, installs, checks its config, purges" deb_roundtrip
step "per-ISA modules share no weak symbols" scripts/check_isa_symbols.sh
step "ISA dispatch under qemu (AVX2, baseline)" env SKIP_BUILD=1 scripts/test-isa-qemu.sh .build
if [ -z "${SENTEI_QUICK:-}" ]; then
  step "ONNX reader fuzz smoke (60 s)" scripts/fuzz-onnx.sh 60
  step "config parser fuzz smoke (60 s)" scripts/fuzz-config.sh 60
  step "capture in a VM (vivid, v4l2loopback)" Tests/vm/run capture
  step "end to end in a Debian + systemd VM (install, detect, AP50, watchdog, reload, replug, security)" Tests/vm/run e2e
fi

echo
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
