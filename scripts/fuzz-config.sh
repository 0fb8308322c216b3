#!/usr/bin/env bash
# Fuzzes the daemon's config parser (TOMLKit's toml++ and Sentei's validation) with libFuzzer + AddressSanitizer for
# the given number of seconds (default 300). Builds toml++ (C++), TOMLKit and Sentei's config sources with coverage
# into a temporary directory, seeds a corpus with the shipped config and the test configs' shapes, and runs one
# worker. Exits non-zero if libFuzzer finds a crash, a broken invariant (Tests/fuzz/ConfigParserFuzz.swift), a
# memory error or a timeout; the reproducer is kept and its path printed.
#
# Usage: scripts/fuzz-config.sh [seconds]      env: SWIFTC, CLANGXX, FUZZ_WORKDIR, TOMLKIT_DIR (a TOMLKit checkout),
#   SENTEI_FUZZ_SEED (default 1, so the CI smoke run is repeatable; pick others for longer hunts)
set -euo pipefail

seconds="${1:-300}"
root="$(cd "$(dirname "$0")/.." && pwd)"
swiftc="${SWIFTC:-swiftc}"
clangxx="${CLANGXX:-$(dirname "$(command -v "$swiftc")")/clang++}"
work="${FUZZ_WORKDIR:-$(mktemp -d -t sentei-fuzz-config.XXXXXX)}"
mkdir -p "$work/corpus" "$work/artifacts" "$work/obj"

# TOMLKit as SwiftPM resolved it (any scratch directory of this checkout will do), else resolve it now.
tomlkit="${TOMLKIT_DIR:-}"
if [ -z "$tomlkit" ]; then
    for candidate in "$root"/.build*/checkouts/TOMLKit; do
        [ -f "$candidate/Sources/CTOML/include/CTOML/CTOML.h" ] && { tomlkit="$candidate"; break; }
    done
fi
if [ -z "$tomlkit" ]; then
    (cd "$root" && swift package resolve >/dev/null)
    tomlkit="$root/.build/checkouts/TOMLKit"
fi
[ -f "$tomlkit/Sources/CTOML/include/CTOML/CTOML.h" ] || { echo "fuzz-config: TOMLKit sources not found" >&2; exit 1; }

config_sources=(
    "$root/Sources/SenteiDaemon/Config/ConfigEnvironment.swift"
    "$root/Sources/SenteiDaemon/Config/ConfigError.swift"
    "$root/Sources/SenteiDaemon/Config/ConfigValue.swift"
    "$root/Sources/SenteiDaemon/Config/KeyLocator.swift"
    "$root/Sources/SenteiDaemon/Config/SenteiConfig.swift"
    "$root/Sources/SenteiDaemon/Config/SenteiConfig+Loading.swift"
    "$root/Sources/SenteiDaemon/Config/TableReader.swift"
    "$root/Sources/SenteiDaemon/Config/TOMLPrecheck.swift"
)

echo "fuzz-config: building in $work (TOMLKit from $tomlkit)"
(
    for cpp in "$tomlkit"/Sources/CTOML/Sources/*.cpp; do
        "$clangxx" -std=c++17 -O1 -g -fsanitize=fuzzer-no-link,address -DTOML_EXCEPTIONS=1 \
            -I "$tomlkit/Sources/CTOML/include" -c "$cpp" -o "$work/obj/ctoml_$(basename "${cpp%.cpp}" | tr -c 'A-Za-z0-9\n' _).o" ||
            exit 1
    done
    mapfile -t tomlkit_sources < <(find "$tomlkit/Sources/TOMLKit" -name '*.swift' | sort)
    (cd "$work/obj" && "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -swift-version 5 -module-name TOMLKit \
        -Xcc -I"$tomlkit/Sources/CTOML/include/CTOML" -I "$tomlkit/Sources/CTOML/include/CTOML" \
        -emit-module -emit-module-path "$work/obj/TOMLKit.swiftmodule" -c "${tomlkit_sources[@]}") || exit 1
    "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 -package-name sentei -module-name SenteiFuzz \
        -I "$work/obj" -Xcc -I"$tomlkit/Sources/CTOML/include/CTOML" \
        "${config_sources[@]}" "$root/Tests/fuzz/ConfigParserFuzz.swift" "$work"/obj/*.o -lstdc++ -o "$work/fuzz-config"
) >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

# Seeds: the shipped config (fully commented, every key), and small files in the shapes the tests use.
cp "$root/config/sentei.toml" "$work/corpus/shipped.toml"
grep -v '^#' "$root/config/sentei.toml" | grep -v '^$' >"$work/corpus/shipped-bare.toml"
cat >"$work/corpus/cameras.toml" <<'TOML'
[daemon]
state_dir = "/var/lib/sentei"
[model]
input_sizes = [416, 320]
threads = 1
[[cameras]]
name = "front"
device = "/dev/video0"
width = 1280
height = 720
format = "mjpeg"
[[cameras]]
name = "replay"
replay = "/srv/clip"
replay_loop = false
fps = 0
[budgets]
latency_ms = 0
power_w = 5.5
max_level = 2
[detection]
classes = ["person", "car"]
[detection.class_thresholds]
person = 0.4
[outputs.socket]
mode = "0600"
group = "video"
[outputs.snapshots]
enabled = true
dir = "/var/lib/sentei/snap"
max_bytes = 1048576
TOML
printf 'budgets = { latency_ms = 100, fps = 2.5e0 }\nmodel.threads = 3\n"outputs".journal.events = ["error"]\n' >"$work/corpus/inline.toml"
printf '[[cameras]]\nname = "a"\nreplay = "/x"\n[cameras.extra]\nk = 1979-05-27T07:32:00Z\n' >"$work/corpus/subtable.toml"
# Found by this fuzzer: toml++ asserted (abort) on a header key starting with '}' (TOMLPrecheck now rejects it).
printf '[[ }\nmodel.threads = 3\n"outpu = car"\n' >"$work/corpus/header-assert.toml"
printf 'a = [\n  [{ b = 1 }],\n  """x\n[ }"""\n]\n[ "q" ]\n' >"$work/corpus/not-headers.toml"
# Found by this fuzzer: arrays nested thousands deep overflowed the precheck's recursion (now limited to 300 levels).
{ printf 'a = '; printf '[%.0s' $(seq 400); printf '\n'; } >"$work/corpus/deep.toml"
# Found by this fuzzer: semantic errors in a CRLF file were located by Character lines ("\r\n" is one Character).
printf '[model]\r\nthreads = 0\r\n[cameras.a]\r\nk = 1980-05-27T07:32d\r\n' >"$work/corpus/crlf.toml"

# TOML punctuation and Sentei's key names, so mutations build plausible documents.
{
    for token in '[' ']' '[[' ']]' '=' '"' "'" '"""' "'''" '{' '}' ',' '.' '#' '\n' '\\u00e9' 'true' 'false' 'inf' 'nan' \
        '0x7f' '0o777' '1e400' '-0' '1979-05-27T07:32:00Z' '07:32:00'; do
        printf '"%s"\n' "$(printf '%s' "$token" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    done
    grep -hoE '^#? ?[a-z_]+ =' "$root/config/sentei.toml" | sed -E 's/^# ?//; s/ =$//' | sort -u | sed 's/.*/"&"/'
    for table in daemon model cameras budgets detection detection.class_thresholds outputs.socket outputs.journal \
        outputs.snapshots calibration; do
        printf '"[%s]"\n' "$table"
    done
} >"$work/config.dict"
echo "fuzz-config: $(ls "$work/corpus" | wc -l) seeds; running for ${seconds}s"

# Leak detection is off: TOMLKit 0.6.0's TOMLTable has no deinit and never frees its toml++ tree (about 9 KB for
# the shipped config per parse; the daemon parses at start and twice per SIGHUP). Crashes, invariant failures,
# overflows and timeouts still count.
status=0
ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" SWIFT_BACKTRACE="enable=no" "$work/fuzz-config" "$work/corpus" -max_total_time="$seconds" -seed="${SENTEI_FUZZ_SEED:-1}" -max_len=8192 -timeout=10 -dict="$work/config.dict" -detect_leaks=0 \
    -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tee "$work/fuzz.log" |
    grep -E "^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|ERROR|SUMMARY|stat::|Test unit written|Fatal error|Precondition|Assertion" || true
status="${PIPESTATUS[0]}"
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz-config: FAILED (exit $status); reproducers in $work/artifacts, log in $work/fuzz.log"
    # The work directory is gone with the CI machine: print the report and each reproducer so a log is enough.
    sed -n '/ERROR: libFuzzer\|ERROR: AddressSanitizer\|Assertion\|Fatal error/,$p' "$work/fuzz.log" | head -n 60
    for artifact in "$work"/artifacts/*; do
        [ -f "$artifact" ] || continue
        echo "--- $(basename "$artifact") ($(wc -c <"$artifact") bytes), as a Python bytes literal:"
        python3 -c 'import sys; print(repr(open(sys.argv[1], "rb").read()))' "$artifact" | head -c 20000
        echo
    done
    exit 1
fi
echo "fuzz-config: no crashes; log in $work/fuzz.log"
