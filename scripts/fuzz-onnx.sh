#!/usr/bin/env bash
# Fuzzes the ONNX protobuf reader with libFuzzer + AddressSanitizer for the given number of seconds (default 600).
# Builds Tests/fuzz/ONNXReaderFuzz.swift with the reader sources into a temporary directory, seeds a corpus there
# (small models written by Python `onnx` when available, else prefixes of the shared models), and runs one worker.
# Exits non-zero if libFuzzer finds a crash, leak or timeout; the reproducer is kept and its path printed.
#
# Usage: scripts/fuzz-onnx.sh [seconds]      env: SENTEI_SHARED (default ../shared), SWIFTC, FUZZ_WORKDIR
set -euo pipefail

seconds="${1:-600}"
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SENTEI_SHARED:-$root/../shared}"
swiftc="${SWIFTC:-swiftc}"
work="${FUZZ_WORKDIR:-$(mktemp -d -t sentei-fuzz-onnx.XXXXXX)}"
mkdir -p "$work/corpus" "$work/artifacts"

reader_sources=(
    "$root/Sources/SenteiEngine/EngineError.swift"
    "$root/Sources/SenteiEngine/ONNX/ProtoWireReader.swift"
    "$root/Sources/SenteiEngine/ONNX/ONNXModel.swift"
    "$root/Sources/SenteiEngine/ONNX/ONNXTensor.swift"
    "$root/Sources/SenteiEngine/ONNX/ONNXReader.swift"
    "$root/Sources/SenteiEngine/ONNX/ONNXFile.swift"
    "$root/Sources/SenteiEngine/ONNX/ONNXNode+Attributes.swift"
)

echo "fuzz-onnx: building in $work"
"$swiftc" -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 -package-name sentei -module-name SenteiFuzz \
    "${reader_sources[@]}" "$root/Tests/fuzz/ONNXReaderFuzz.swift" -o "$work/fuzz-onnx" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; exit 1; }

if python3 -c "import onnx, numpy" 2>/dev/null; then
    python3 "$root/Tests/fuzz/make_seeds.py" "$work/corpus" "$shared"
else
    echo "fuzz-onnx: python3 with onnx not found; seeding from shared model prefixes only"
fi
for model in "$shared"/models/*.onnx; do
    [ -f "$model" ] || continue
    head -c 16384 "$model" >"$work/corpus/prefix_$(basename "$model")"
done

# Field keys of the onnx.proto messages the reader decodes (wire type in the low 3 bits), so mutations land on
# meaningful keys: varint 0x08/0x10/0x18, fixed32 0x15/0x3d, length-delimited 0x0a.., AttributeProto.type (20) etc.
cat >"$work/onnx.dict" <<'DICT'
"\x08"
"\x10"
"\x18"
"\x15"
"\x3d"
"\x0a"
"\x12"
"\x1a"
"\x22"
"\x2a"
"\x32"
"\x3a"
"\x42"
"\x4a"
"\x52"
"\x5a"
"\x62"
"\x6a"
"\x70"
"\x7a"
"\x01"
"\xa0\x01"
"\xb2\x01"
"\xba\x01"
"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
"\x80\x80\x80\x80\x08"
DICT
echo "fuzz-onnx: $(ls "$work/corpus" | wc -l) seeds; running for ${seconds}s"

status=0
"$work/fuzz-onnx" "$work/corpus" -max_total_time="$seconds" -max_len=262144 -timeout=10 -dict="$work/onnx.dict" -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tee "$work/fuzz.log" | grep -E "^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|ERROR|SUMMARY|stat::|Test unit written|Fatal error" || true
status="${PIPESTATUS[0]}"
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz-onnx: FAILED (exit $status); reproducers in $work/artifacts, log in $work/fuzz.log"
    # The work directory is gone with the CI machine: print the report and each small reproducer so a log is enough.
    sed -n '/ERROR: libFuzzer\|ERROR: AddressSanitizer\|Fatal error/,$p' "$work/fuzz.log" | head -n 60
    for artifact in "$work"/artifacts/*; do
        [ -f "$artifact" ] || continue
        echo "--- $(basename "$artifact") ($(wc -c <"$artifact") bytes), base64 (first 16 KB):"
        head -c 16384 "$artifact" | base64 -w 0
        echo
    done
    exit 1
fi
echo "fuzz-onnx: no crashes; log in $work/fuzz.log"
