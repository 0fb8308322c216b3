/* e2e-feed: plays a list of JPEG files into a v4l2loopback device as MJPEG (write() API), paced on CLOCK_MONOTONIC,
 * and logs, for each write, "write_index frame_index t_before_ns t_after_ns" so the host can tell which file each
 * frame the daemon reports came from (v4l2loopback numbers buffers by write count).
 *
 *   e2e-feed DEVICE LIST FPS HOLD SECONDS [LOG]
 *     LIST     text file, one JPEG path per line (played in order, then from the start again)
 *     HOLD     writes per file (1 = a new file every frame)
 *     SECONDS  0 = until SIGTERM/SIGINT
 * Exits 0 when stopped by a signal or after SECONDS, 1 on any error (named). */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 6) { fprintf(stderr, "usage: %s DEVICE LIST FPS HOLD SECONDS [LOG]\n", argv[0]); return 2; }
	const char *dev = argv[1], *list = argv[2];
	int fps = atoi(argv[3]), hold = atoi(argv[4]), secs = atoi(argv[5]);
	if (fps < 1 || fps > 240 || hold < 1 || secs < 0) { fprintf(stderr, "e2e-feed: bad FPS/HOLD/SECONDS\n"); return 2; }
	FILE *lf = fopen(list, "r");
	if (!lf) { fprintf(stderr, "e2e-feed: %s: %s\n", list, strerror(errno)); return 1; }
	enum { MAXF = 4096 };
	static unsigned char *data[MAXF];
	static size_t len[MAXF];
	size_t n = 0, maxlen = 0;
	char path[4096];
	while (n < MAXF && fgets(path, sizeof path, lf)) {
		path[strcspn(path, "\n")] = 0;
		if (!*path) continue;
		FILE *f = fopen(path, "rb");
		if (!f) { fprintf(stderr, "e2e-feed: %s: %s\n", path, strerror(errno)); return 1; }
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (sz < 4 || sz > 16 << 20) { fprintf(stderr, "e2e-feed: %s: size %ld out of range\n", path, sz); return 1; }
		data[n] = malloc(sz);
		if (!data[n] || fread(data[n], 1, sz, f) != (size_t)sz) { fprintf(stderr, "e2e-feed: %s: read failed\n", path); return 1; }
		if (data[n][0] != 0xff || data[n][1] != 0xd8) { fprintf(stderr, "e2e-feed: %s: not a JPEG\n", path); return 1; }
		fclose(f);
		len[n] = sz;
		if ((size_t)sz > maxlen) maxlen = sz;
		n++;
	}
	fclose(lf);
	if (!n) { fprintf(stderr, "e2e-feed: %s lists no files\n", list); return 1; }
	FILE *log = argc > 6 ? fopen(argv[6], "w") : NULL;
	if (argc > 6 && !log) { fprintf(stderr, "e2e-feed: %s: %s\n", argv[6], strerror(errno)); return 1; }

	int fd = open(dev, O_RDWR);
	if (fd < 0) { fprintf(stderr, "e2e-feed: %s: %s\n", dev, strerror(errno)); return 1; }
	struct v4l2_format fmt;
	memset(&fmt, 0, sizeof fmt);
	fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	fmt.fmt.pix.width = 640;
	fmt.fmt.pix.height = 480;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_MJPEG;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	fmt.fmt.pix.sizeimage = maxlen;
	fmt.fmt.pix.colorspace = V4L2_COLORSPACE_SRGB;
	if (ioctl(fd, VIDIOC_S_FMT, &fmt)) { fprintf(stderr, "e2e-feed: VIDIOC_S_FMT(output MJPG): %s\n", strerror(errno)); return 1; }
	struct v4l2_streamparm parm;
	memset(&parm, 0, sizeof parm);
	parm.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	parm.parm.output.timeperframe.numerator = 1;
	parm.parm.output.timeperframe.denominator = fps;
	ioctl(fd, VIDIOC_S_PARM, &parm); /* only advertises the rate to readers; pacing is ours */

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "e2e-feed: %zu files, max %zu bytes, %d fps, %d writes each, into %s\n", n, maxlen, fps, hold, dev);
	uint64_t period = 1000000000ull / fps, start = now_ns(), deadline = start;
	for (uint64_t k = 0; !stop && (secs == 0 || k < (uint64_t)secs * fps); k++) {
		size_t i = (k / hold) % n;
		uint64_t t0 = now_ns();
		if (write(fd, data[i], len[i]) < 0) {
			if (errno == EINTR) break;
			fprintf(stderr, "e2e-feed: write #%llu to %s: %s\n", (unsigned long long)k, dev, strerror(errno));
			return 1;
		}
		uint64_t t1 = now_ns();
		if (log) fprintf(log, "%llu %zu %llu %llu\n", (unsigned long long)k, i, (unsigned long long)t0, (unsigned long long)t1);
		deadline += period;
		struct timespec ts = { (time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull) };
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
	}
	if (log) fclose(log);
	close(fd);
	return 0;
}
