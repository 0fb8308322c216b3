#!/usr/bin/env bash
# Fails when two per-ISA kernel modules define the same weak symbol. The linker keeps one copy of a weak
# (linkonce_odr) symbol for the whole binary, so a generic specialization emitted by SenteiKernelsAVX512 could
# replace the baseline module's copy and SIGILL on an older CPU (engine-notes §2). Run after a release build:
#   swift build -c release --scratch-path .build-x && scripts/check_isa_symbols.sh .build-x
set -euo pipefail
scratch="${1:-.build}"
dir="$scratch/release"
[ -d "$dir" ] || { echo "no release build under $dir (run: swift build -c release --scratch-path $scratch)" >&2; exit 2; }
# ISA_MODULES overrides the list (used to check the script itself on a package that has the hazard).
read -r -a modules <<< "${ISA_MODULES:-SenteiKernelsAVX512 SenteiKernelsAVX2 SenteiKernelsBase}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for m in "${modules[@]}"; do
    objs=("$dir/$m.build"/*.o)
    [ -e "${objs[0]}" ] || { echo "no object files for $m in $dir/$m.build" >&2; exit 2; }
    # W/V: weak defined symbols (u: unique globals, treated the same way).
    # __swift_reflection_version is a constant every Swift object carries; it holds no code.
    nm --defined-only "${objs[@]}" 2>/dev/null | awk '$2 ~ /^[WVu]$/ { $1 = ""; $2 = ""; sub(/^  /, ""); print }' \
        | grep -v '^__swift_reflection_version$' | sort -u > "$tmp/$m"
    echo "$m: $(wc -l < "$tmp/$m") weak definitions"
done
status=0
for ((i = 0; i < ${#modules[@]}; i++)); do
    for ((j = i + 1; j < ${#modules[@]}; j++)); do
        a="${modules[i]}"; b="${modules[j]}"
        shared="$(comm -12 "$tmp/$a" "$tmp/$b")"
        if [ -n "$shared" ]; then
            echo "FAIL: $a and $b both define these weak symbols:" >&2
            echo "$shared" | sed 's/^/  /' | head -50 >&2
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "OK: no weak symbol is defined by more than one ISA module"
exit $status
