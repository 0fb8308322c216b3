#!/usr/bin/env bash
# Runs the kernel tests on emulated CPUs without AVX-512 (qemu "Haswell-v4": AVX2+FMA) and without AVX
# ("Nehalem": SSE4.2), asserting which ISA the dispatcher picks and that nothing dies with SIGILL. This is what
# proves the lower-ISA modules contain no stray AVX-512/AVX2 code (engine-notes §2). Needs Debian's qemu-user.
#   scripts/test-isa-qemu.sh [scratch-path]      (default .build-qemu; builds the release tests first)
#   SKIP_BUILD=1 scripts/test-isa-qemu.sh .build-x  (reuse an existing release test build)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-.build-qemu}"
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (apt-get install qemu-user)" >&2; exit 2; }
# -enable-testing: other test targets use @testable imports, which a plain release build refuses.
# SKIP_BUILD=1 reuses a test binary already built with exactly this command.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$scratch"
fi
bin="$(ls -d "$scratch"/release/*PackageTests.xctest | head -1)"
[ -x "$bin" ] || { echo "no test binary under $scratch/release" >&2; exit 2; }
# The worker pool has no ISA-specific code and spins, which is very slow under emulation: tested natively only.
filter=(--filter SenteiKernelsTests --skip WorkerPoolTests)
status=0
for pair in "Haswell-v4:avx2" "Nehalem:base"; do
    cpu="${pair%%:*}"; want="${pair##*:}"
    echo "== qemu-x86_64 -cpu $cpu (expect ISA $want)"
    set +e
    SENTEI_EXPECT_ISA="$want" qemu-x86_64 -cpu "$cpu" "$bin" --testing-library swift-testing "${filter[@]}" \
        > "$scratch/qemu-$cpu.log" 2>&1
    rc=$?
    set -e
    tail -n 2 "$scratch/qemu-$cpu.log"
    if [ $rc -eq 132 ] || grep -q "Illegal instruction" "$scratch/qemu-$cpu.log"; then
        echo "FAIL: SIGILL on $cpu" >&2; status=1
    elif [ $rc -ne 0 ]; then
        echo "FAIL: tests failed on $cpu (exit $rc, log $scratch/qemu-$cpu.log)" >&2; status=1
    elif ! grep -q "chosenISAMatchesExpectationWhenGiven() passed" "$scratch/qemu-$cpu.log"; then
        echo "FAIL: the ISA assertion did not run on $cpu" >&2; status=1
    fi
done
# The SENTEI_ISA override, natively: it may only lower the choice.
for want in base avx2; do
    if ! SENTEI_ISA="$want" SENTEI_EXPECT_ISA="$want" "$bin" --testing-library swift-testing \
        --filter KernelTableTests > "$scratch/override-$want.log" 2>&1; then
        echo "FAIL: SENTEI_ISA=$want was not honoured (log $scratch/override-$want.log)" >&2; status=1
    fi
done
[ $status -eq 0 ] && echo "OK: avx2 on Haswell-v4 and base on Nehalem, all kernel tests passed; SENTEI_ISA honoured"
exit $status
