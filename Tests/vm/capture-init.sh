#!/bin/sh
# /init of the capture test guest (copied into the initramfs by Tests/vm/run). Each check prints one
# "CHECK <name> PASS|FAIL ..." line; Tests/vm/run compares them with this list:
# CHECKS: vivid-yuyv vivid-nv12 vivid-yu12 vivid-grey vivid-preference cycles-100 loopback-not-capture loopback-mjpeg replug
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
up() { cut -d' ' -f1 /proc/uptime; }
step() { echo; echo "=== $* (uptime $(up)s)"; }
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done; [ -e "$1" ]; }
P=/bin/sentei-capture-check
VIVID="vivid n_devs=1 node_types=0x1 input_types=0x0 num_inputs=1"
echo "=== SENTEI-VM-START uptime=$(up)s kernel=$(uname -r)"

step "modprobe $VIVID"
modprobe $VIVID || echo "modprobe vivid failed"
wait_for /dev/video0 50 || echo "no /dev/video0"
# Without the on-screen text every frame of the static colour bars is identical, so ours must equal v4l2-ctl's.
v4l2-ctl -d /dev/video0 -c osd_text_mode=2

for F in YUYV NV12 YU12 GREY; do
	name=vivid-$(echo $F | tr A-Z a-z)
	step "$name: reference frame from v4l2-ctl, then our capture"
	v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=$F --set-parm=25 \
		--stream-mmap --stream-count=1 --stream-to=/tmp/ref-$F.raw >/dev/null 2>&1
	ls -l /tmp/ref-$F.raw
	$P stream --name $name --device /dev/video0 --format $F --size 640x480 --fps 25 --frames 50 \
		--expect-file /tmp/ref-$F.raw
done

step "vivid-preference: no format forced, 640x480 must pick YUYV (vivid has no MJPEG)"
$P stream --name vivid-preference --device /dev/video0 --size 640x480 --fps 25 --frames 10 --expect-format YUYV

step "cycles-100: open/negotiate/stream/close 100 times, fds and mappings counted"
$P cycles --name cycles-100 --device /dev/video0 --size 320x180 --fps 60 --count 100

step "v4l2loopback on /dev/video9"
insmod /v4l2loopback.ko devices=1 video_nr=9 exclusive_caps=1 card_label=sentei-loopback || echo "insmod failed"
wait_for /dev/video9 30 || echo "no /dev/video9"
# exclusive_caps: until a writer has set a format the node is output-only, so opening it for capture must fail.
$P open-error --name loopback-not-capture --device /dev/video9 --size 640x480 --expect notACaptureDevice
$P feed --device /dev/video9 --jpegs /data/frames --fps 25 --seconds 6 &
FEED=$!
sleep 1
$P stream --name loopback-mjpeg --device /dev/video9 --format MJPG --size 640x480 --fps 25 --frames 40 \
	--match-jpegs /data/frames
wait $FEED

step "replug: vivid disconnect while streaming, rmmod while the camera is away, reload as an HDMI-input device"
rm -f /tmp/ready
$P replug --name replug --device /dev/video0 --size 640x480 --fps 25 --ready-file /tmp/ready --frames-after 20 \
	--seconds 60 --retry-ms 500 &
REPLUG=$!
if wait_for /tmp/ready 200; then
	echo "pulling the camera at uptime $(up)s"
	v4l2-ctl -d /dev/video0 -c disconnect=1
	i=0
	# rmmod succeeds only once the capture side has released its fd and mappings (vivid's module refcount)
	until rmmod vivid 2>/dev/null; do i=$((i + 1)); [ $i -gt 200 ] && { echo "rmmod vivid: still busy"; break; }; sleep 0.02; done
	echo "vivid unloaded after $i retries at uptime $(up)s"
	sleep 1.5
	# it comes back different: an HDMI input whose size follows the DV timings, so negotiation must start over
	modprobe vivid n_devs=1 node_types=0x1 input_types=0x3 num_inputs=1 && echo "vivid reloaded at uptime $(up)s"
fi
wait $REPLUG

step "DONE"
echo "=== SENTEI-VM-DONE uptime=$(up)s"
poweroff -f
