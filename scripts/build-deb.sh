#!/bin/sh
# Builds out/sentei_<version>_amd64.deb with dpkg-deb: static-stdlib binaries, the model (Models/fetch), the unit, the
# RAPL udev rule, a sysusers file, and /etc/sentei/sentei.toml as a conffile (dpkg keeps an edited one on upgrade).
#
#   scripts/build-deb.sh [--version V] [--no-build]     (V defaults to 0.1.0)
#
# Check it:  dpkg-deb --info out/sentei_*.deb; dpkg -i out/sentei_*.deb; dpkg -r sentei (or -P to purge)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
scratch="${SENTEI_SCRATCH:-$root/.build-release}"
version=0.1.0 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --version) version="$2"; shift ;;
        --no-build) build=0 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

[ -x /opt/swift/usr/bin/swift ] && PATH="/opt/swift/usr/bin:$PATH"
if [ "$build" = 1 ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product senteid \
        && swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product sentei)
fi
bin="$scratch/release"
[ -x "$bin/senteid" ] && [ -x "$bin/sentei" ] || { echo "build-deb.sh: no binaries in $bin" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/sentei"
install -D -m 0755 "$bin/senteid" "$pkg/usr/bin/senteid"
install -D -m 0755 "$bin/sentei" "$pkg/usr/bin/sentei"
install -D -m 0644 "$root/docs/interfaces.md" "$pkg/usr/share/doc/sentei/interfaces.md"
strip --strip-unneeded "$pkg/usr/bin/senteid" "$pkg/usr/bin/sentei"
install -d -m 0755 "$pkg/usr/share/sentei/models" "$pkg/usr/share/sentei/replay"
"$root/Models/fetch" --dest "$pkg/usr/share/sentei/models" --sentei "$bin/sentei"
install -m 0644 "$root/Models/yolox_nano.json" "$pkg/usr/share/sentei/models/yolox_nano.json"
install -D -m 0644 "$root/config/sentei.toml" "$pkg/etc/sentei/sentei.toml"
install -D -m 0644 "$root/systemd/sentei.service" "$pkg/lib/systemd/system/sentei.service"
install -D -m 0644 "$root/systemd/60-sentei-rapl.rules" "$pkg/etc/udev/rules.d/60-sentei-rapl.rules"
install -D -m 0644 "$root/systemd/sentei.sysusers" "$pkg/usr/lib/sysusers.d/sentei.conf"

install -d -m 0755 "$pkg/DEBIAN"
size=$(du -sk "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: sentei
Version: $version
Architecture: amd64
Maintainer: Sentei maintainers <maintainers@sentei.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.36), libstdc++6, libgcc-s1, libturbojpeg0, libv4l-0, libsystemd0, systemd, adduser
Section: video
Priority: optional
Description: Self-pruning edge object detector
 senteid reads V4L2 cameras (or replayed clips), detects and tracks objects with its own inference engine, holds
 latency and power budgets by moving between model levels, and reports events on a local Unix socket and in the
 journal. It never sends anything off the machine.
CONTROL
printf '/etc/sentei/sentei.toml\n/etc/udev/rules.d/60-sentei-rapl.rules\n' > "$pkg/DEBIAN/conffiles"

cat > "$pkg/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers /usr/lib/sysusers.d/sentei.conf
    else
        getent group sentei >/dev/null || addgroup --system sentei
        getent passwd sentei >/dev/null || adduser --system --ingroup sentei --home /var/lib/sentei \
            --no-create-home --shell /usr/sbin/nologin sentei
    fi
    if [ -d /run/udev ]; then udevadm control --reload || true; udevadm trigger --subsystem-match=powercap || true; fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable sentei.service
        systemctl restart sentei.service || echo "sentei: start failed; see journalctl -u sentei" >&2
    fi
fi
exit 0
SCRIPT
cat > "$pkg/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl disable --now sentei.service || true
fi
exit 0
SCRIPT
cat > "$pkg/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rm -rf /var/lib/sentei /var/lib/private/sentei /etc/sentei
    if getent passwd sentei >/dev/null; then deluser --system sentei >/dev/null 2>&1 || userdel sentei || true; fi
    if getent group sentei >/dev/null; then delgroup --system sentei >/dev/null 2>&1 || groupdel sentei || true; fi
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
SCRIPT
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$root/out"
deb="$root/out/sentei_${version}_amd64.deb"
dpkg-deb --root-owner-group --build "$pkg" "$deb"
dpkg-deb --info "$deb" | sed -n '1,12p'
echo "built $deb"
