// Thin C shim for V4L2: Swift cannot call variadic C functions nor import the _IOR/_IOWR ioctl macros.
#ifndef SENTEI_CV4L2_SHIM_H
#define SENTEI_CV4L2_SHIM_H
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/videodev2.h>
#include <libv4l2.h>

static inline int sw_v4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int sw_v4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
static inline int sw_sys_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
static inline int sw_sys_open(const char *path, int flags) { return open(path, flags); }

static const unsigned long SW_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long SW_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long SW_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long SW_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long SW_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long SW_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long SW_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long SW_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long SW_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long SW_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long SW_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long SW_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long SW_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long SW_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;
static const unsigned long SW_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
#endif
