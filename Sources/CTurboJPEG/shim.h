// TurboJPEG reports every failure as -1 plus a message (tjGetErrorStr2); it never calls exit(), unlike
// libjpeg's default error_exit, which Swift cannot longjmp out of.
#include <turbojpeg.h>
