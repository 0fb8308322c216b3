// int8 convolutions with 16-bit activations (w8a16): s8 weights widened to s16 pairs × s16 activation pairs → s32.
// For the few layers whose u8 activations cost too much accuracy (YOLOX-Nano's first 1×1 conv, k = 16, whose input
// rounding alone gives 1.7–2.1% output error) and which would otherwise stay fp32. The rest of the kernel (im2col,
// quantizing pack, epilogue) is int8/conv_template.h, as for the u8 kernels; AVX2 runs both widths with its own
// kernel (vpmaddwd already multiplies s16 pairs), so only AVX-512 VNNI (vpdpwssd) and portable C are here.
#include "sk_int8.h"
#include "CSenteiKernels.h"
#include "sk_vecmath.h"
#include <immintrin.h>
#include <string.h>
#include "int8/conv_plan.h"
#include "int8/a16_kernels.h"

// --- AVX-512 VNNI: 8 rows × 48 columns, vpdpwssd on s16 activation pairs × broadcast s16 weight pairs -------------
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#define SK_FN(name) sk_i8_##name##_a16vnni512
#define VW 16
#define MR 8
#define NR 48
#define KG 2
#define BTYPE int16_t
#define ATYPE int16_t
// The epilogue of the u8 VNNI kernels: rcp14 + one Newton step, σ and the int8 SiLU of sk_vecmath.h.
#include "int8/avx512_epilogue.h"
// Quantizing pack of one group (2 k rows × 48 columns) in 16-column steps: the generic loop's clamp in float, then
// round-half-even by vcvtps2dq (the default MXCSR rounding) plus zp, and one blend puts row 1's value in each lane's
// upper half. The same words as the generic loop for every input.
#define SK_PACK_PAIRS(src, ld, inv, zp, qmin, qmax, dst)                                                             \
    do {                                                                                                           \
        const __m512 inv_ = _mm512_set1_ps(inv), lo_ = _mm512_set1_ps((float)((qmin) - (zp))),                    \
                     hi_ = _mm512_set1_ps((float)((qmax) - (zp)));                                                 \
        const __m512i zp_ = _mm512_set1_epi32(zp);                                                                 \
        for (int j_ = 0; j_ < NR; j_ += 16) {                                                                      \
            __m512 x0_ = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps((src) + j_), inv_), lo_), hi_);   \
            __m512 x1_ = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps((src) + (ld) + j_), inv_), lo_), hi_); \
            __m512i q0_ = _mm512_add_epi32(_mm512_cvtps_epi32(x0_), zp_);                                          \
            __m512i q1_ = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(x1_), zp_), 16);                   \
            _mm512_storeu_si512((dst) + j_, _mm512_mask_blend_epi16(0xAAAAAAAAu, q0_, q1_));                      \
        }                                                                                                          \
    } while (0)
// c[r][v] = Σ over kgs groups of weight pair a[g][r] · activation pairs of group g's columns 16v..16v+15.
static inline __attribute__((always_inline)) void sk_i8_accumulate_a16vnni512(int kgs, const int16_t *a, const int16_t *b,
                                                                              const int32_t *offsets, __m512i c[MR][3]) {
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm512_setzero_si512();
    for (int g = 0; g < kgs; g++) {
        const int16_t *bg = SK_GROUP(b, offsets, g);
        __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 32), b2 = _mm512_loadu_si512(bg + 64);
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + 2 * r, 4);
            __m512i ar = _mm512_set1_epi32(pair);
            c[r][0] = _mm512_dpwssd_epi32(c[r][0], b0, ar);
            c[r][1] = _mm512_dpwssd_epi32(c[r][1], b1, ar);
            c[r][2] = _mm512_dpwssd_epi32(c[r][2], b2, ar);
        }
        a += 2 * MR;
    }
}
static inline __attribute__((always_inline)) void sk_i8_micro_body_a16vnni512(int kgs, const int16_t *a, const int16_t *b,
                                                                              const int32_t *offsets, int32_t *tile) {
    __m512i c[MR][3];
    sk_i8_accumulate_a16vnni512(kgs, a, b, offsets, c);
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_si512(tile + r * NR, c[r][0]);
        _mm512_storeu_si512(tile + r * NR + 16, c[r][1]);
        _mm512_storeu_si512(tile + r * NR + 32, c[r][2]);
    }
}
#define SK_MICRO_BODY sk_i8_micro_body_a16vnni512
// Whole tiles skip the int32 tile in memory, as in the u8 VNNI kernel.
static void sk_i8_micro_fused_a16vnni512(int kgs, const int16_t *a, const int16_t *b, const sk_i8_conv *p, int row0, long col0);
#define SK_MICRO_FUSED sk_i8_micro_fused_a16vnni512
#include "int8/conv_template.h"
static void sk_i8_micro_fused_a16vnni512(int kgs, const int16_t *a, const int16_t *b, const sk_i8_conv *p, int row0, long col0) {
    __m512i c[MR][3];
    sk_i8_accumulate_a16vnni512(kgs, a, b, 0, c);
    SK_FN(epilogue_registers)(p, (VI(*)[3])c, row0, col0);
}
#include "int8/template_end.h"
#pragma clang attribute pop

// --- Portable C: 4 rows × 16 columns on s16 pairs -----------------------------------------------------------------
#define SK_FN(name) sk_i8_##name##_a16generic
#define VW 4
#define MR 4
#define NR 16
#define KG 2
#define BTYPE int16_t
#define ATYPE int16_t
#define SK_RECIP(x) (1.0f / (x))
static inline __attribute__((always_inline)) void sk_i8_micro_body_a16generic(int kgs, const int16_t *a, const int16_t *b,
                                                                              const int32_t *offsets, int32_t *tile) {
    int32_t c[MR * NR] = {0};
    for (int g = 0; g < kgs; g++) {
        const int16_t *bg = SK_GROUP(b, offsets, g);
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) c[r * NR + j] += (int32_t)a[2 * r] * bg[2 * j] + (int32_t)a[2 * r + 1] * bg[2 * j + 1];
        a += 2 * MR;
    }
    memcpy(tile, c, sizeof c);
}
#define SK_MICRO_BODY sk_i8_micro_body_a16generic
#include "int8/conv_template.h"
#include "int8/template_end.h"
