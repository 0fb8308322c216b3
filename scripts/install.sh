#!/bin/sh
# Installs Sentei on a Debian machine as a hardened systemd service, from this checkout. Run as root:
#
#   scripts/install.sh                 build (release), install binaries, model, config, unit; enable and start
#   scripts/install.sh --replay DIR    also install DIR's JPEGs as /usr/share/sentei/replay (the camera-less default)
#   scripts/install.sh --no-build      install binaries already built in .build-release
#   scripts/install.sh --uninstall     stop and remove everything but /etc/sentei and /var/lib/sentei
#   scripts/install.sh --uninstall --purge   …and those too
#
# An existing /etc/sentei/sentei.toml is never overwritten; the shipped default goes next to it as sentei.toml.dist.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
scratch="${SENTEI_SCRATCH:-$root/.build-release}"
build=1 uninstall=0 purge=0 replay=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        --replay) replay="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
# Without --replay, the camera-less default clip is the shared pedestrian sequence when this checkout has it.
if [ -z "$replay" ]; then
    for candidate in "${SENTEI_SHARED:+$SENTEI_SHARED/data/tud-campus/frames}" "$root/../shared/data/tud-campus/frames"; do
        if [ -n "$candidate" ] && [ -d "$candidate" ]; then replay=$candidate; break; fi
    done
fi
systemd_running() { [ -d /run/systemd/system ]; }

if [ "$uninstall" = 1 ]; then
    if systemd_running; then systemctl disable --now sentei.service 2>/dev/null || true; fi
    rm -f /usr/bin/senteid /usr/bin/sentei /lib/systemd/system/sentei.service \
        /etc/udev/rules.d/60-sentei-rapl.rules /usr/lib/sysusers.d/sentei.conf
    rm -rf /usr/share/sentei /usr/share/doc/sentei
    if [ "$purge" = 1 ]; then
        rm -rf /etc/sentei /var/lib/sentei /var/lib/private/sentei
        if getent passwd sentei >/dev/null; then userdel sentei 2>/dev/null || true; fi
        if getent group sentei >/dev/null; then groupdel sentei 2>/dev/null || true; fi
    fi
    if systemd_running; then systemctl daemon-reload; fi
    echo "sentei removed$( [ "$purge" = 1 ] && echo ' (config and state purged)' || echo '; /etc/sentei and /var/lib/sentei kept')"
    exit 0
fi

# 1. Build dependencies (the Swift toolchain is not packaged by Debian: it must already be on PATH or in /opt/swift).
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pkg-config libturbojpeg0-dev libjpeg-dev libv4l-dev libsystemd-dev \
    libstdc++-12-dev libcurl4 libxml2 git ca-certificates python3 >/dev/null
[ -x /opt/swift/usr/bin/swift ] && PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || { echo "install.sh: no swift toolchain on PATH (install Swift 6 from swift.org into /opt/swift)" >&2; exit 1; }

# 2. Release build; the Swift runtime is linked in statically so the service does not depend on the toolchain.
if [ "$build" = 1 ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product senteid \
        && swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product sentei)
fi
bin="$scratch/release"
[ -x "$bin/senteid" ] && [ -x "$bin/sentei" ] || { echo "install.sh: $bin has no senteid/sentei; build first" >&2; exit 1; }

# 3. User and group: members of group sentei may read the event socket.
install -D -m 0644 "$root/systemd/sentei.sysusers" /usr/lib/sysusers.d/sentei.conf
if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/sentei.conf
else
    getent group sentei >/dev/null || groupadd --system sentei
    getent passwd sentei >/dev/null || useradd --system --gid sentei --home-dir /var/lib/sentei \
        --shell /usr/sbin/nologin --comment "Sentei detector" sentei
fi

# 4. Binaries, model, replay clip.
install -D -m 0755 "$bin/senteid" /usr/bin/senteid
install -D -m 0755 "$bin/sentei" /usr/bin/sentei
install -D -m 0644 "$root/docs/interfaces.md" /usr/share/doc/sentei/interfaces.md
install -d -m 0755 /usr/share/sentei/models /usr/share/sentei/replay
"$root/Models/fetch" --dest /usr/share/sentei/models --sentei "$bin/sentei"
install -m 0644 "$root/Models/yolox_nano.json" /usr/share/sentei/models/yolox_nano.json
if [ -n "$replay" ]; then
    find "$replay" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) -exec install -m 0644 {} /usr/share/sentei/replay/ \;
fi

# 5. Config: never overwrite an edited file.
install -d -m 0755 /etc/sentei
if [ -e /etc/sentei/sentei.toml ]; then
    install -m 0644 "$root/config/sentei.toml" /etc/sentei/sentei.toml.dist
    echo "kept /etc/sentei/sentei.toml; the new default is /etc/sentei/sentei.toml.dist"
else
    install -m 0644 "$root/config/sentei.toml" /etc/sentei/sentei.toml
fi
/usr/bin/senteid --check --config /etc/sentei/sentei.toml

# 6. Unit and RAPL access rule.
install -D -m 0644 "$root/systemd/sentei.service" /lib/systemd/system/sentei.service
install -D -m 0644 "$root/systemd/60-sentei-rapl.rules" /etc/udev/rules.d/60-sentei-rapl.rules
if command -v udevadm >/dev/null && [ -d /run/udev ]; then
    udevadm control --reload && udevadm trigger --subsystem-match=powercap || true
fi

if systemd_running; then
    systemctl daemon-reload
    systemctl enable --now sentei.service
    systemctl --no-pager status sentei.service || true
    echo "sentei is running: 'sentei status', 'sentei watch', 'journalctl -u sentei'"
else
    echo "systemd is not running here; start the daemon by hand:"
    echo "  sudo -u sentei /usr/bin/senteid --config /etc/sentei/sentei.toml"
    echo "(the socket directory must exist and belong to sentei: install -d -o sentei -g sentei -m 0750 /run/sentei)"
fi
