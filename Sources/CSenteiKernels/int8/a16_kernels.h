// The 16-bit-activation (w8a16) int8 kernels of int8_a16_conv.c, for int8_conv.c's dispatch (kernel codes 4 and 5).
#ifndef SK_INT8_A16_KERNELS_H
#define SK_INT8_A16_KERNELS_H
#include "sk_int8.h"

long sk_i8_packed_weight_bytes_a16vnni512(int m, int k);
void sk_i8_pack_weights_a16vnni512(const int8_t *src, int m, int k, void *dst);
long sk_i8_scratch_bytes_a16vnni512(int cin, int kh, int kw);
void sk_i8_conv2d_a16vnni512(const sk_i8_conv *p, void *scratch, int ith, int nth);
void sk_i8_silu_a16vnni512(const float *x, float *y, long n);

long sk_i8_packed_weight_bytes_a16generic(int m, int k);
void sk_i8_pack_weights_a16generic(const int8_t *src, int m, int k, void *dst);
long sk_i8_scratch_bytes_a16generic(int cin, int kh, int kw);
void sk_i8_conv2d_a16generic(const sk_i8_conv *p, void *scratch, int ith, int nth);
void sk_i8_silu_a16generic(const float *x, float *y, long n);
#endif
