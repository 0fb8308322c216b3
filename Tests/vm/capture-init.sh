#!/bin/sh
# /init of the capture test guest (copied into the initramfs by Tests/vm/run). Each check prints one
# "CHECK <name> PASS|FAIL ..." line; Tests/vm/run compares them with this list:
# CHECKS: vivid-yuyv vivid-nv12 vivid-yu12 vivid-grey vivid-preference cli-capture-yuyv cycles-100 loopback-not-capture
# CHECKS: loopback-mjpeg cli-capture-mjpeg replug
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
# jpeg_dims FILE: prints WIDTHxHEIGHT from the first SOF segment and returns 0 when the file starts with SOI, ends
# with EOI and its marker segments chain up to an SOF; otherwise prints what is wrong and returns 1.
jpeg_dims() {
	f=$1 n=$(wc -c <"$1")
	[ "$n" -gt 4 ] || { echo "only-$n-bytes"; return 1; }
	[ "$(od -An -tx1 -N2 "$1" | tr -d ' \n')" = ffd8 ] || { echo no-SOI; return 1; }
	[ "$(od -An -tx1 -j $((n - 2)) -N2 "$1" | tr -d ' \n')" = ffd9 ] || { echo no-EOI; return 1; }
	o=2
	while [ $((o + 9)) -lt "$n" ]; do
		set -- $(od -An -tu1 -j $o -N9 "$f")
		[ "$1" = 255 ] || { echo "no-marker-at-$o"; return 1; }
		case $2 in
		255) o=$((o + 1)) ;; # fill byte
		192 | 193 | 194 | 195 | 197 | 198 | 199 | 201 | 202 | 203 | 205 | 206 | 207) # SOF0..15 minus DHT/JPG/DAC
			echo "$(($8 * 256 + $9))x$(($6 * 256 + $7))"; return 0 ;;
		216 | 217 | 218) echo "no-SOF-before-marker-$2"; return 1 ;;
		*) o=$((o + 2 + $3 * 256 + $4)) ;;
		esac
	done
	echo no-SOF; return 1
}

# cli_capture NAME DEVICE FORMAT FOURCC K SIZE [FED_JPEG_DIR]: runs the user CLI `sentei capture` and checks its exit
# status, the printed negotiation, K files written, each a JPEG of SIZE; with FED_JPEG_DIR each saved file must also be
# byte-identical to one of the frames fed (MJPEG is saved as delivered, up to its EOI).
cli_capture() {
	name=$1 dev=$2 format=$3 fourcc=$4 k=$5 size=$6 fed=$7 out=/tmp/$1 problems="" rc=0 good=0 matched=""
	rm -rf "$out"
	/bin/sentei capture --device "$dev" --frames "$k" --out "$out" --size "$size" --fps 25 --format "$format" \
		>/tmp/$name.out 2>/tmp/$name.err || rc=$?
	cat /tmp/$name.out /tmp/$name.err
	[ $rc = 0 ] || problems="$problems exit status $rc;"
	grep -q "^negotiated: $dev (.*): $fourcc $size " /tmp/$name.out || problems="$problems no '$fourcc $size' negotiated line;"
	files=$(ls "$out" 2>/dev/null | wc -l)
	[ "$files" = "$k" ] || problems="$problems $files files in $out, expected $k;"
	for f in "$out"/*.jpg; do
		[ -e "$f" ] || continue
		dims=$(jpeg_dims "$f") && [ "$dims" = "$size" ] || { problems="$problems ${f##*/}: $dims;"; continue; }
		if [ -n "$fed" ]; then
			m=""
			for s in "$fed"/*.jpg; do cmp -s "$f" "$s" && { m=${s##*/}; break; }; done
			[ -n "$m" ] || { problems="$problems ${f##*/} equals no fed frame;"; continue; }
			matched="$matched ${m%.jpg}"
		fi
		good=$((good + 1))
	done
	detail="exit $rc, negotiated $(sed -n 's/^negotiated: [^:]*: \([^ ]* [^ ]*\) .*\(fps granted=[^ ]*\).*/\1 \2/p' /tmp/$name.out), $files files, $good/$k valid $size JPEGs (SOI, EOI, SOF size)"
	[ -n "$fed" ] && detail="$detail byte-identical to fed frames:$matched"
	if [ -z "$problems" ] && [ "$good" = "$k" ]; then echo "CHECK $name PASS $detail"
	else echo "CHECK $name FAIL $detail;$problems"; fi
}

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

step "cli-capture-yuyv: the user CLI saves 5 vivid YUYV frames as JPEG"
cli_capture cli-capture-yuyv /dev/video0 yuyv YUYV 5 640x480

step "cycles-100: open/negotiate/stream/close 100 times, fds and mappings counted"
$P cycles --name cycles-100 --device /dev/video0 --size 320x180 --fps 60 --count 100

step "v4l2loopback on /dev/video9"
insmod /v4l2loopback.ko devices=1 video_nr=9 exclusive_caps=1 card_label=sentei-loopback || echo "insmod failed"
wait_for /dev/video9 30 || echo "no /dev/video9"
# exclusive_caps: until a writer has set a format the node is output-only, so opening it for capture must fail.
$P open-error --name loopback-not-capture --device /dev/video9 --size 640x480 --expect notACaptureDevice
# fed for longer than both readers need; stopped once they are done
$P feed --device /dev/video9 --jpegs /data/frames --fps 25 --seconds 30 &
FEED=$!
sleep 1
$P stream --name loopback-mjpeg --device /dev/video9 --format MJPG --size 640x480 --fps 25 --frames 40 \
	--match-jpegs /data/frames
step "cli-capture-mjpeg: the user CLI saves 5 loopback MJPEG frames exactly as fed"
cli_capture cli-capture-mjpeg /dev/video9 mjpeg MJPG 5 640x480 /data/frames
kill $FEED; wait $FEED

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
