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

step "build (release)" swift build -c release
step "swift tests" swift test -c release
step "engine parity vs ONNX Runtime" python3 scripts/reference/engine_parity.py "$bin" "$SENTEI_SHARED"
step "per-ISA modules share no weak symbols" scripts/check_isa_symbols.sh
step "ISA dispatch under qemu (AVX2, baseline)" scripts/test-isa-qemu.sh .build
if [ -z "${SENTEI_QUICK:-}" ]; then
  step "ONNX reader fuzz smoke (60 s)" scripts/fuzz-onnx.sh 60
  step "capture in a VM (vivid, v4l2loopback)" Tests/vm/run capture
fi

echo
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
