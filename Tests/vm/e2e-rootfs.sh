#!/bin/bash
# Builds (or reuses) the end-to-end test's guest: a minimal Debian 12 root filesystem that boots systemd, as a raw
# ext4 image, plus a tiny busybox initramfs that loads the virtio/ext4 modules and switches to it. Sourced by
# Tests/vm/run after prepare() (needs CACHE, KROOT, KVER, LBKO, BB, log, die).
#
# The image is cached under $CACHE/e2e-rootfs-<hash>, the hash covering this file, the kernel version and the
# v4l2loopback module, so a changed recipe builds a new image and an unchanged one costs nothing.
# Nothing test-specific lives in the image: the guest unit runs /share/e2e-guest.sh from the 9p share.

# Packages the guest needs on top of minbase: systemd as PID 1 (with udevd, so /dev/video* get group video, and
# journald), kmod for modprobe/rmmod, dbus for systemd-analyze and systemctl over the bus, and the .deb's Depends.
E2E_PACKAGES=systemd,systemd-sysv,udev,kmod,dbus,libturbojpeg0,libv4l-0,libsystemd0,libstdc++6,libgcc-s1,adduser
# Kernel modules copied into the image (their dependencies come along through modules.dep).
E2E_MODULES="vivid videodev 9p 9pnet_virtio virtio_pci virtio_blk virtio_rng ext4 crc32c_generic libcrc32c autofs4"
# Units that only cost boot time under emulation (timers, getty on the console the test writes to).
E2E_MASKED="apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer
serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service"

e2e_rootfs() {
	local key
	key=$( { cat "${BASH_SOURCE[0]}"; echo "$KVER"; md5sum <"$LBKO"; } | md5sum | cut -c1-16)
	E2E_DIR=$CACHE/e2e-rootfs-$key
	E2E_IMAGE=$E2E_DIR/rootfs.ext4
	E2E_INITRD=$E2E_DIR/initrd.cpio.gz
	if [ -s "$E2E_IMAGE" ] && [ -s "$E2E_INITRD" ]; then
		log "guest root filesystem cached: $E2E_DIR"
		return 0
	fi
	command -v mmdebstrap >/dev/null || { apt_update_once; apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
	command -v mke2fs >/dev/null || die "mke2fs (e2fsprogs) missing"
	rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR"
	local R=$E2E_DIR/root t0=$SECONDS
	log "building the guest root filesystem with mmdebstrap (bookworm, minbase + $E2E_PACKAGES)"
	mmdebstrap --quiet --mode=root --variant=minbase --include="$E2E_PACKAGES" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		bookworm "$R" http://deb.debian.org/debian >&2 || die "mmdebstrap failed"
	log "mmdebstrap done in $((SECONDS - t0))s ($(du -sh "$R" | cut -f1))"

	# kernel modules: the closure of E2E_MODULES plus v4l2loopback as an out-of-tree module
	local M=lib/modules/$KVER m line f
	for m in $E2E_MODULES; do
		line=$(grep -E "/${m//_/[-_]}\.ko(\.xz)?:" "$KROOT/root/$M/modules.dep") || die "module $m not in $KVER"
		for f in ${line%%:*} ${line#*:}; do install -D -m644 "$KROOT/root/$M/$f" "$R/$M/$f"; done
	done
	cp "$KROOT/root/$M"/modules.{order,builtin} "$R/$M/"
	[ -e "$KROOT/root/$M/modules.builtin.modinfo" ] && cp "$KROOT/root/$M/modules.builtin.modinfo" "$R/$M/"
	install -D -m644 "$LBKO" "$R/$M/updates/v4l2loopback.ko"
	chroot "$R" depmod "$KVER" || die "depmod in the guest root failed"

	# boot set-up: root on the virtio disk, 9p share for the test files, console on ttyS0, no getty, no timers
	printf '/dev/vda / ext4 rw,noatime 0 1\nshare /share 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n' >"$R/etc/fstab"
	mkdir -p "$R/share"
	echo sentei-e2e >"$R/etc/hostname"
	printf '9p\n9pnet_virtio\n' >"$R/etc/modules-load.d/share.conf"
	for u in $E2E_MASKED; do ln -sf /dev/null "$R/etc/systemd/system/$u"; done
	# journald keeps the journal in memory: the disk is a throw-away snapshot anyway
	mkdir -p "$R/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' >"$R/etc/systemd/journald.conf.d/e2e.conf"
	cat >"$R/etc/systemd/system/sentei-e2e.service" <<'UNIT'
[Unit]
Description=Sentei end-to-end test driver (runs /share/e2e-guest.sh)
After=multi-user.target share.mount
Requires=share.mount

[Service]
Type=oneshot
ExecStart=/bin/sh /share/e2e-guest.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
	ln -sf ../sentei-e2e.service "$R/etc/systemd/system/multi-user.target.wants/sentei-e2e.service"
	rm -f "$R/etc/machine-id"; : >"$R/etc/machine-id" # a fresh id per boot (systemd fills it in at run time)
	rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*

	# raw ext4 image straight from the directory (no loop mount needed)
	local size_mb=$(( $(du -sm "$R" | cut -f1) + 400 ))
	mke2fs -q -t ext4 -L sentei-e2e -d "$R" "$E2E_IMAGE.tmp" "${size_mb}M" || die "mke2fs failed"

	# initramfs: busybox, the modules to reach the disk, and an /init that mounts it and hands over to systemd
	local IR=$E2E_DIR/initramfs
	mkdir -p "$IR"/{bin,dev,proc,sys,newroot,$M}
	cp "$BB" "$IR/bin/busybox"
	for m in sh mount modprobe switch_root sleep echo cat; do ln -sf busybox "$IR/bin/$m"; done
	for m in virtio_pci virtio_blk ext4 crc32c_generic; do
		line=$(grep -E "/${m//_/[-_]}\.ko(\.xz)?:" "$KROOT/root/$M/modules.dep")
		for f in ${line%%:*} ${line#*:}; do install -D -m644 "$KROOT/root/$M/$f" "$IR/$M/$f"; done
	done
	cp "$KROOT/root/$M"/modules.{dep,alias,symbols} "$IR/$M/"
	cat >"$IR/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_pci virtio_blk crc32c_generic ext4; do modprobe $m; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 -o rw,noatime /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; exec sh; }
mount --move /dev /newroot/dev; umount /proc /sys
exec switch_root /newroot /sbin/init
INIT
	chmod +x "$IR/init"
	(cd "$IR" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1) >"$E2E_INITRD.tmp"
	mv "$E2E_INITRD.tmp" "$E2E_INITRD"; mv "$E2E_IMAGE.tmp" "$E2E_IMAGE"
	rm -rf "$R" "$IR"
	log "guest image $(du -h --apparent-size "$E2E_IMAGE" | cut -f1) (allocated $(du -h "$E2E_IMAGE" | cut -f1)) built in $((SECONDS - t0))s"
}
