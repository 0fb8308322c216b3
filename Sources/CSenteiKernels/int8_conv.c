// The int8 convolution for each ISA: one microkernel per ISA below, the rest of the kernel (im2col, quantizing
// pack, fp32 epilogue) from int8/conv_template.h compiled under that ISA's target attribute.
#include "sk_int8.h"
#include "sk_vecmath.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include "int8/s2d_geometry.h"

// Group g's activation block in a microkernel: contiguous panels (offsets NULL, a constant after inlining, so the
// generic conv's loop is unchanged) or, for the space-to-depth conv, at b + offsets[g] inside the band buffer.
#define SK_GROUP(b, offsets, g) ((offsets) ? (b) + (offsets)[g] : (b) + (long)(g) * KG * NR)

// --- AVX-512 VNNI: 8 rows × 48 columns, vpdpbusd on u8 activation quads × broadcast s8 weight quads ---------------
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#define SK_FN(name) sk_i8_##name##_vnni512
#define VW 16
#define MR 8
#define NR 48
#define KG 4
#define BTYPE uint8_t
#define ATYPE int8_t
// rcp14 plus one Newton step (relative error ~1e-8): a fraction of vdivps's cost in the sigmoid/SiLU epilogue.
#define SK_RECIP(x) ({ __typeof__(x) x_ = (x), r_ = (__typeof__(x))_mm512_rcp14_ps((__m512)x_); r_ * (2.0f - x_ * r_); })
// σ in 13 instructions (sk_vecmath.h, SK_SIGMOID_AVX512). Against the generic Cephes form: int8 YOLOX-Nano, one
// thread, p50 11.5 → 10.1 ms.
static inline __m512 sk_i8_sigmoid_vnni512(__m512 x) { return SK_SIGMOID_AVX512(x); }
#define SK_SIGMOID(x) ((VF)sk_i8_sigmoid_vnni512((__m512)(x)))
// The int8 SiLU of conv_template.h's silu_generic in its AVX-512 form (sk_vecmath.h, SK_SILU_INT8_AVX512).
// Each instruction of this epilogue costs ~0.1 ms a frame on int8 YOLOX-Nano: a bit-pattern reciprocal guess with two
// Newton steps instead of vrcp14ps (exactly reproducible in Swift) measured 0.5 ms slower (README, session 9).
static inline __m512 sk_i8_silu_v_vnni512(__m512 x) { return SK_SILU_INT8_AVX512(x); }
#define SK_SILU(x) ((VF)sk_i8_silu_v_vnni512((__m512)(x)))
// Quantizing pack of one group (4 k rows × 48 columns) in 16-column steps: x·inv clamped to [−zp, 255 − zp] and
// rounded half to even by vcvtps2dq (the default MXCSR rounding), truncated to bytes (vpmovdb), interleaved into
// quads by two unpack levels, and zp added bytewise (q + zp ∈ [0, 255]): 27 instructions per 64 values where the
// generic loop's shift-and-or assembly takes 37, the same bytes (YOLOX-Nano int8, one thread: ~0.45 ms less).
static inline __m512i sk_i8_quads_vnni512(const float *src, long ld, __m512 inv, __m512 lo, __m512 hi, __m512i zp) {
    __m128i b[4];
    for (int t = 0; t < 4; t++) {
        __m512 x = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(src + t * ld), inv), lo), hi);
        b[t] = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(x));
    }
    __m128i l01 = _mm_unpacklo_epi8(b[0], b[1]), h01 = _mm_unpackhi_epi8(b[0], b[1]);
    __m128i l23 = _mm_unpacklo_epi8(b[2], b[3]), h23 = _mm_unpackhi_epi8(b[2], b[3]);
    __m512i quads = _mm512_castsi128_si512(_mm_unpacklo_epi16(l01, l23));
    quads = _mm512_inserti32x4(quads, _mm_unpackhi_epi16(l01, l23), 1);
    quads = _mm512_inserti32x4(quads, _mm_unpacklo_epi16(h01, h23), 2);
    quads = _mm512_inserti32x4(quads, _mm_unpackhi_epi16(h01, h23), 3);
    return _mm512_add_epi8(quads, zp);
}
#define SK_PACK_QUADS(src, ld, inv, zp, dst)                                                                        \
    do {                                                                                                           \
        const __m512 inv_ = _mm512_set1_ps(inv), lo_ = _mm512_set1_ps((float)-(zp)), hi_ = _mm512_set1_ps((float)(255 - (zp))); \
        const __m512i zp_ = _mm512_set1_epi8((char)(zp));                                                          \
        for (int j_ = 0; j_ < NR; j_ += 16)                                                                        \
            _mm512_storeu_si512((dst) + j_, sk_i8_quads_vnni512((src) + j_, (ld), inv_, lo_, hi_, zp_));          \
    } while (0)
static inline __attribute__((always_inline)) void sk_i8_micro_body_vnni512(int kgs, const int8_t *a, const uint8_t *b,
                                                                           const int32_t *offsets, int32_t *tile) {
    __m512i c[MR][3];
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm512_setzero_si512();
    for (int g = 0; g < kgs; g++) {
        const uint8_t *bg = SK_GROUP(b, offsets, g);
        __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64), b2 = _mm512_loadu_si512(bg + 128);
        for (int r = 0; r < MR; r++) {
            int32_t quad;
            memcpy(&quad, a + 4 * r, 4);
            __m512i ar = _mm512_set1_epi32(quad);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], b0, ar);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], b1, ar);
            c[r][2] = _mm512_dpbusd_epi32(c[r][2], b2, ar);
        }
        a += 4 * MR;
    }
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_si512(tile + r * NR, c[r][0]);
        _mm512_storeu_si512(tile + r * NR + 16, c[r][1]);
        _mm512_storeu_si512(tile + r * NR + 32, c[r][2]);
    }
}
#define SK_MICRO_BODY sk_i8_micro_body_vnni512
#include "int8/conv_template.h"
#include "int8/s2d_template.h"
#include "int8/template_end.h"
#pragma clang attribute pop

// --- AVX2: 4 rows × 24 columns, vpmaddwd on s16 activation pairs × broadcast s16 weight pairs (exact: no
// vpmaddubsw saturation) ----------------------------------------------------------------------------------------
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#define SK_FN(name) sk_i8_##name##_avx2
#define VW 8
#define MR 4
#define NR 24
#define KG 2
#define BTYPE int16_t
#define ATYPE int16_t
#define SK_RECIP(x) (1.0f / (x))
static inline __attribute__((always_inline)) void sk_i8_micro_body_avx2(int kgs, const int16_t *a, const int16_t *b,
                                                                        const int32_t *offsets, int32_t *tile) {
    __m256i c[MR][3];
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm256_setzero_si256();
    for (int g = 0; g < kgs; g++) {
        const int16_t *bg = SK_GROUP(b, offsets, g);
        __m256i b0 = _mm256_loadu_si256((const __m256i *)bg), b1 = _mm256_loadu_si256((const __m256i *)(bg + 16)),
                b2 = _mm256_loadu_si256((const __m256i *)(bg + 32));
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + 2 * r, 4);
            __m256i ar = _mm256_set1_epi32(pair);
            c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(b0, ar));
            c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(b1, ar));
            c[r][2] = _mm256_add_epi32(c[r][2], _mm256_madd_epi16(b2, ar));
        }
        a += 2 * MR;
    }
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_si256((__m256i *)(tile + r * NR), c[r][0]);
        _mm256_storeu_si256((__m256i *)(tile + r * NR + 8), c[r][1]);
        _mm256_storeu_si256((__m256i *)(tile + r * NR + 16), c[r][2]);
    }
}
#define SK_MICRO_BODY sk_i8_micro_body_avx2
#include "int8/conv_template.h"
#include "int8/s2d_template.h"
#include "int8/template_end.h"
#pragma clang attribute pop

// --- Portable C: 4 rows × 16 columns over u8 quads, plain integer loops ----------------------------------------
#define SK_FN(name) sk_i8_##name##_generic
#define VW 4
#define MR 4
#define NR 16
#define KG 4
#define BTYPE uint8_t
#define ATYPE int8_t
#define SK_RECIP(x) (1.0f / (x))
static inline __attribute__((always_inline)) void sk_i8_micro_body_generic(int kgs, const int8_t *a, const uint8_t *b,
                                                                           const int32_t *offsets, int32_t *tile) {
    int32_t c[MR * NR] = {0};
    for (int g = 0; g < kgs; g++) {
        const uint8_t *bg = SK_GROUP(b, offsets, g);
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) {
                int32_t s = 0;
                for (int t = 0; t < 4; t++) s += (int32_t)a[4 * r + t] * (int32_t)bg[4 * j + t];
                c[r * NR + j] += s;
            }
        a += 4 * MR;
    }
    memcpy(tile, c, sizeof c);
}
#define SK_MICRO_BODY sk_i8_micro_body_generic
#include "int8/conv_template.h"
#include "int8/s2d_template.h"
#include "int8/template_end.h"

// --- Dispatch by ISA code (chosen once by the engine; a switch per call, not per tile) -------------------------
long sk_i8_packed_weight_bytes(int isa, int m, int k) {
    switch (isa) {
    case 2: return sk_i8_packed_weight_bytes_vnni512(m, k);
    case 1: return sk_i8_packed_weight_bytes_avx2(m, k);
    default: return sk_i8_packed_weight_bytes_generic(m, k);
    }
}

void sk_i8_pack_weights(int isa, const int8_t *src, int m, int k, void *dst) {
    switch (isa) {
    case 2: sk_i8_pack_weights_vnni512(src, m, k, dst); break;
    case 1: sk_i8_pack_weights_avx2(src, m, k, dst); break;
    default: sk_i8_pack_weights_generic(src, m, k, dst); break;
    }
}

long sk_i8_conv2d_scratch_bytes(int isa, int cin, int kh, int kw) {
    switch (isa) {
    case 2: return sk_i8_scratch_bytes_vnni512(cin, kh, kw);
    case 1: return sk_i8_scratch_bytes_avx2(cin, kh, kw);
    default: return sk_i8_scratch_bytes_generic(cin, kh, kw);
    }
}

void sk_i8_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth) {
    switch (isa) {
    case 2: sk_i8_conv2d_vnni512(p, scratch, ith, nth); break;
    case 1: sk_i8_conv2d_avx2(p, scratch, ith, nth); break;
    default: sk_i8_conv2d_generic(p, scratch, ith, nth); break;
    }
}

int sk_i8_s2d_supported(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    return sk_i8_s2d_geometry_make(p, 4, 48, 1, &g);
}

long sk_i8_s2d_packed_weight_bytes(int isa, const sk_i8_conv *p) {
    switch (isa) {
    case 2: return sk_i8_s2d_packed_weight_bytes_vnni512(p);
    case 1: return sk_i8_s2d_packed_weight_bytes_avx2(p);
    default: return sk_i8_s2d_packed_weight_bytes_generic(p);
    }
}

int sk_i8_s2d_pack_weights(int isa, const sk_i8_conv *p, const int8_t *weights, void *dst) {
    switch (isa) {
    case 2: return sk_i8_s2d_pack_weights_vnni512(p, weights, dst);
    case 1: return sk_i8_s2d_pack_weights_avx2(p, weights, dst);
    default: return sk_i8_s2d_pack_weights_generic(p, weights, dst);
    }
}

long sk_i8_s2d_scratch_bytes(int isa, const sk_i8_conv *p) {
    switch (isa) {
    case 2: return sk_i8_s2d_scratch_bytes_vnni512(p);
    case 1: return sk_i8_s2d_scratch_bytes_avx2(p);
    default: return sk_i8_s2d_scratch_bytes_generic(p);
    }
}

int sk_i8_s2d_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth) {
    switch (isa) {
    case 2: return sk_i8_s2d_conv2d_vnni512(p, scratch, ith, nth);
    case 1: return sk_i8_s2d_conv2d_avx2(p, scratch, ith, nth);
    default: return sk_i8_s2d_conv2d_generic(p, scratch, ith, nth);
    }
}

void sk_i8_silu(int isa, const float *x, float *y, long n) {
    switch (isa) {
    case 2: sk_i8_silu_vnni512(x, y, n); break;
    case 1: sk_i8_silu_avx2(x, y, n); break;
    default: sk_i8_silu_generic(x, y, n); break;
    }
}

void sk_i8_tile(int isa, int *rows, int *columns, int *kgroup) {
    switch (isa) {
    case 2: *rows = 8; *columns = 48; *kgroup = 4; break;
    case 1: *rows = 4; *columns = 24; *kgroup = 2; break;
    default: *rows = 4; *columns = 16; *kgroup = 4; break;
    }
}
