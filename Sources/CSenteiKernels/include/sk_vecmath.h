// Vector sigmoid, max and padded-row copies for the per-ISA Swift kernel modules. Swift cannot emit vrcp14ps,
// vscalefps, vreduceps or masked moves, and on Intel a vdivps per vector made the SiLU epilogue the most expensive
// part of the YOLO graphs (AMD's divider keeps up: see the divide forms below).
// static inline, with the branch chosen by the importing module's -march: each per-ISA module inlines its own
// copy, so no symbol is shared between ISAs (engine-notes §2). The portable module keeps its Swift form.
#ifndef SK_VECMATH_H
#define SK_VECMATH_H
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "sk_int8.h"

#define SK_LOG2E 1.44269504088896341f

// The AVX-512 forms as expressions, shared by the functions below (bound to the includer's -march) and the VNNI int8
// kernels (int8_conv.c, compiled for the baseline with a target attribute). They need <immintrin.h> and AVX-512 F/DQ.
//
// σ(x) = 1/(1+e^−x) for 16 floats in 12 instructions (the SiLU epilogues' cost). e^−x = 2^t with t = −x·log2 e:
// vreduceps gives f = t − ⌊t⌋ ∈ [0, 1), a degree-4 minimax polynomial gives 2^f (2.7e-6 relative), and vscalefps
// multiplies by 2^⌊t⌋, underflowing to exactly 0 for large x (σ = 1 exactly). x is clamped below at −87 so e^−x
// stays finite (σ ≥ 1.5e-38, never 0/0). 1/d is vrcp14ps plus one Newton step. Error (measured on a dense grid):
// σ within 3.6e-6 relative for x ≥ −20 and 6.4e-6 below, where the rounding of t (|t|·2^−25) adds to the
// polynomial's. Degree 5 (9e-8; σ within 1.1e-6) cost one more FMA per vector, about 1% of a YOLOX-Nano frame;
// YOLOX-Nano's output moved from 6e-5 to 1.7e-4 of its maximum against ONNX Runtime (the parity bound is 1e-3).
// 1 + e^−x, the denominator of σ: unclamped, vscalefps saturates to ∞ for x < −89.
#define SK_ONE_PLUS_EXP_NEG_AVX512(x)                                                                              \
    ({                                                                                                             \
        const __m512 t_ = _mm512_mul_ps((x), _mm512_set1_ps(-SK_LOG2E));                                         \
        const __m512 f_ = _mm512_reduce_ps(t_, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);                        \
        __m512 p_ = _mm512_fmadd_ps(_mm512_set1_ps(1.3534121e-2f), f_, _mm512_set1_ps(5.2011482e-2f));            \
        p_ = _mm512_fmadd_ps(p_, f_, _mm512_set1_ps(2.4144280e-1f));                                              \
        p_ = _mm512_fmadd_ps(p_, f_, _mm512_set1_ps(6.9300383e-1f));                                              \
        p_ = _mm512_fmadd_ps(p_, f_, _mm512_set1_ps(1.0000026f));                                                 \
        _mm512_add_ps(_mm512_scalef_ps(p_, t_), _mm512_set1_ps(1.0f));                                            \
    })
// σ(x): x clamped at −87, 1/d by vrcp14ps and one Newton step.
#define SK_SIGMOID_AVX512(x)                                                                                       \
    ({                                                                                                             \
        const __m512 d_ = SK_ONE_PLUS_EXP_NEG_AVX512(_mm512_max_ps((x), _mm512_set1_ps(-87.0f)));                 \
        const __m512 y_ = _mm512_rcp14_ps(d_);                                                                     \
        _mm512_mul_ps(y_, _mm512_fnmadd_ps(d_, y_, _mm512_set1_ps(2.0f)));                                         \
    })
// The int8 layers' SiLU (constants in sk_int8.h; the definition is int8/conv_template.h's silu_generic): vreduceps
// gives t − ⌊t⌋ and vscalefps p·2^⌊t⌋ (both exact), 1/d is vrcp14ps alone (2^−14 relative). No ±80 clamp: vscalefps
// saturates where the definition's exponent bits would overflow (x < −88: d = ∞, 1/d = 0, y = −0 where the definition
// gives about −1e−33; x > 80 underflows to d = 1 as the clamp does), for the finite inputs a conv epilogue has. Two
// instructions less per vector, each ~0.1 ms a frame on int8 YOLOX-Nano.
#define SK_SILU_INT8_AVX512(x)                                                                                     \
    ({                                                                                                             \
        const __m512 x_ = (x);                                                                                     \
        const __m512 t_ = _mm512_mul_ps(x_, _mm512_set1_ps(-SK_LOG2E));                                          \
        const __m512 f_ = _mm512_reduce_ps(t_, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);                        \
        __m512 p_ = _mm512_fmadd_ps(_mm512_set1_ps(sk_silu_c3), f_, _mm512_set1_ps(sk_silu_c2));                  \
        p_ = _mm512_fmadd_ps(p_, f_, _mm512_set1_ps(sk_silu_c1));                                                 \
        p_ = _mm512_fmadd_ps(p_, f_, _mm512_set1_ps(sk_silu_c0));                                                 \
        const __m512 d_ = _mm512_add_ps(_mm512_scalef_ps(p_, t_), _mm512_set1_ps(1.0f));                          \
        _mm512_mul_ps(x_, _mm512_rcp14_ps(d_));                                                                    \
    })

#if defined(__AVX512F__)
/// σ(x) = 1/(1+e^−x), SK_SIGMOID_AVX512.
static inline __m512 sk_sigmoid_v(__m512 x) { return SK_SIGMOID_AVX512(x); }
/// The int8 layers' SiLU for the fp32 layers of an int8 model: the VNNI int8 epilogue's instructions.
static inline __m512 sk_silu_int8_v(__m512 x) { return SK_SILU_INT8_AVX512(x); }
/// The divide forms (activation codes 5 and 6), for CPUs whose divider keeps up (sk_divide_is_fast): x/(1+e^−x) and
/// 1/(1+e^−x) without the clamp (x/∞ = −0, 1/∞ = 0, no NaN). Three FMA-port instructions fewer than the reciprocal
/// form with x·σ's multiply, one vdivps more: on Zen 4 the SiLU alone costs 20% less and a YOLOX-Nano frame 2.5% less
/// (per-step minima; alternating p50s 3–7%). Intel's vdivps zmm issues about once per 10 cycles (uops.info,
/// Skylake-X on; not measured here), so there the reciprocal form stays. Error: the polynomial's (vdivps rounds
/// exactly).
static inline __m512 sk_silu_divide_v(__m512 x) { return _mm512_div_ps(x, SK_ONE_PLUS_EXP_NEG_AVX512(x)); }
static inline __m512 sk_sigmoid_divide_v(__m512 x) {
    return _mm512_div_ps(_mm512_set1_ps(1.0f), SK_ONE_PLUS_EXP_NEG_AVX512(x));
}
/// Lane-wise max (Swift's pointwiseMax is scalarised lane by lane here).
static inline __m512 sk_max_v(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
/// Stores the first n (1…16) lanes of v: one masked store for a row's last partial vector.
static inline void sk_store_first_v(float *dst, __m512 v, long n) {
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1), v);
}
#elif defined(__AVX2__) && defined(__FMA__)
/// σ(x) (silu = 0) or x·σ(x) (silu = 1) for the `count` vectors at v, in place, each step applied to every vector
/// before the next. The steps form one ~40-cycle dependency chain per vector, and the out-of-order window holds
/// only a few vectors' worth of it: written vector by vector (as one-vector calls inline), a SiLU cost ~11 cycles
/// a vector on Zen 3; three or four at a time, 7.5–8.5 (and 1/d no longer by vdivps, whose chain was longer still).
/// AVX2 has no vreduceps/vscalefps: e^−x = 2^t, t = −x·log2 e = n + f with n = round(t) and |f| ≤ 1/2, 2^f a
/// degree-4 minimax polynomial (2.6e-6 relative) evaluated Estrin-style (a shorter chain than Horner), 2^n through
/// the exponent bits (n ∈ [−127, 126] after the clamp; n = −127 gives exactly 0). 1/d is vrcpps plus one Newton step
/// whose 1 + 2^−23 (in place of 1) lifts the result by 2^−23 relative, so d = 1 (x ≳ 17) gives exactly 1 where
/// vrcpps(1) = 1 − 2^−12 would leave 1 − 2^−24; for σ a min keeps it ≤ 1. Error (dense grid): 3.8e-6 relative for
/// x ≥ −20 and 6.6e-6 below, where the rounding of t adds to the polynomial's (the AVX-512 form's bounds); degree 5
/// gave 1.3e-6 for two FMA-port instructions more, ~10% of the SiLU's time. One-vector callers use count = 1, so
/// every path computes the same bits.
static inline __attribute__((always_inline)) void sk_sigmoid_n_v(__m256 *v, const int count, const int silu) {
#define SK_EACH for (int i = 0; i < count; i++)
    __m256 t[4], n[4], f[4], f2[4], q0[4], q1[4], d[4], y[4], e[4];
    __m256i scale[4];
    SK_EACH t[i] = _mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(v[i], _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f)),
                                 _mm256_set1_ps(-SK_LOG2E));
    SK_EACH n[i] = _mm256_round_ps(t[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    SK_EACH f[i] = _mm256_sub_ps(t[i], n[i]);
    SK_EACH scale[i] = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n[i]), _mm256_set1_epi32(127)), 23);
    SK_EACH f2[i] = _mm256_mul_ps(f[i], f[i]);
    SK_EACH q0[i] = _mm256_fmadd_ps(_mm256_set1_ps(6.9312179e-1f), f[i], _mm256_set1_ps(9.9999928e-1f));
    SK_EACH q1[i] = _mm256_fmadd_ps(_mm256_set1_ps(5.5917859e-2f), f[i], _mm256_set1_ps(2.4024744e-1f));
    SK_EACH q1[i] = _mm256_fmadd_ps(_mm256_set1_ps(9.5701022e-3f), f2[i], q1[i]);
    SK_EACH d[i] = _mm256_fmadd_ps(_mm256_fmadd_ps(q1[i], f2[i], q0[i]), _mm256_castsi256_ps(scale[i]),
                                   _mm256_set1_ps(1.0f));
    SK_EACH y[i] = _mm256_rcp_ps(d[i]);
    SK_EACH e[i] = _mm256_fnmadd_ps(d[i], y[i], _mm256_set1_ps(1.00000012f));
    if (silu) {
        SK_EACH y[i] = _mm256_mul_ps(v[i], y[i]);
        SK_EACH v[i] = _mm256_fmadd_ps(y[i], e[i], y[i]);
    } else {
        SK_EACH v[i] = _mm256_min_ps(_mm256_fmadd_ps(y[i], e[i], y[i]), _mm256_set1_ps(1.0f));
    }
#undef SK_EACH
}
static inline __attribute__((always_inline)) __m256 sk_sigmoid_v(__m256 x) { sk_sigmoid_n_v(&x, 1, 0); return x; }
static inline __attribute__((always_inline)) __m256 sk_silu_v(__m256 x) { sk_sigmoid_n_v(&x, 1, 1); return x; }
/// Three or four vectors in place, interleaved (see sk_sigmoid_n_v). Float pointers because Swift imports __m256 *
/// as an opaque pointer; inlined into the callers, the loads and stores fold away.
static inline __attribute__((always_inline)) void sk_sigmoid_ptrs(float *const *p, const int count, const int silu) {
    __m256 v[4];
    for (int i = 0; i < count; i++) v[i] = _mm256_loadu_ps(p[i]);
    sk_sigmoid_n_v(v, count, silu);
    for (int i = 0; i < count; i++) _mm256_storeu_ps(p[i], v[i]);
}
static inline __attribute__((always_inline)) void sk_sigmoid3_v(float *a, float *b, float *c) {
    float *p[3] = {a, b, c};
    sk_sigmoid_ptrs(p, 3, 0);
}
static inline __attribute__((always_inline)) void sk_silu3_v(float *a, float *b, float *c) {
    float *p[3] = {a, b, c};
    sk_sigmoid_ptrs(p, 3, 1);
}
static inline __attribute__((always_inline)) void sk_sigmoid4_v(float *a, float *b, float *c, float *d) {
    float *p[4] = {a, b, c, d};
    sk_sigmoid_ptrs(p, 4, 0);
}
static inline __attribute__((always_inline)) void sk_silu4_v(float *a, float *b, float *c, float *d) {
    float *p[4] = {a, b, c, d};
    sk_sigmoid_ptrs(p, 4, 1);
}
/// The int8 layers' SiLU for the fp32 layers of an int8 model: int8/conv_template.h's silu_generic as the AVX2 int8
/// kernels compile it (the same steps, a real divide), bit for bit.
static inline __m256 sk_silu_int8_v(__m256 x) {
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-80.0f)), _mm256_set1_ps(80.0f));
    const __m256 t = _mm256_mul_ps(xc, _mm256_set1_ps(-SK_LOG2E));
    const __m256 n = _mm256_floor_ps(t);
    const __m256 f = _mm256_sub_ps(t, n);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(sk_silu_c3), f, _mm256_set1_ps(sk_silu_c2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(sk_silu_c1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(sk_silu_c0));
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 d = _mm256_fmadd_ps(p, _mm256_castsi256_ps(scale), _mm256_set1_ps(1.0f));  // p·2^⌊t⌋ exact
    return _mm256_div_ps(x, d);
}
/// Lane-wise max (Swift's pointwiseMax is scalarised lane by lane here).
static inline __m256 sk_max_v(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
/// Stores the first n (1…8) lanes of v: one masked store for a row's last partial vector.
static inline void sk_store_first_v(float *dst, __m256 v, long n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, m, v);
}
#endif
/// dst[0 ..< length] = fill with src[0 ..< n] copied to dst[lead ...]; needs lead ≥ 0, lead + n ≤ length.
/// Padded rows for the convolution and pooling kernels. Masked vector tails instead of memset/memcpy calls: the
/// rows are short (13 to 416 floats) and the library calls' fixed cost dominated the depthwise kernel.
static inline void sk_fill_row(const float *src, long n, float *dst, long lead, long length, float fill) {
    long j = 0, t = 0;
#if defined(__AVX512F__)
    const __m512 v = _mm512_set1_ps(fill);
    for (; j + 16 <= length; j += 16) _mm512_storeu_ps(dst + j, v);
    if (j < length) _mm512_mask_storeu_ps(dst + j, (__mmask16)((1u << (length - j)) - 1), v);
    for (; t + 16 <= n; t += 16) _mm512_storeu_ps(dst + lead + t, _mm512_loadu_ps(src + t));
    if (t < n) {
        const __mmask16 m = (__mmask16)((1u << (n - t)) - 1);
        _mm512_mask_storeu_ps(dst + lead + t, m, _mm512_maskz_loadu_ps(m, src + t));
    }
#elif defined(__AVX2__)
    const __m256 v = _mm256_set1_ps(fill);
    for (; j + 8 <= length; j += 8) _mm256_storeu_ps(dst + j, v);
    for (; j < length; j++) dst[j] = fill;
    for (; t + 8 <= n; t += 8) _mm256_storeu_ps(dst + lead + t, _mm256_loadu_ps(src + t));
    if (t < n) {
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - t)), lanes);
        _mm256_maskstore_ps(dst + lead + t, m, _mm256_maskload_ps(src + t, m));
    }
#else
    for (; j < length; j++) dst[j] = fill;
    for (; t < n; t++) dst[lead + t] = src[t];
#endif
}

/// sk_fill_row with zeros.
static inline void sk_pad_row(const float *src, long n, float *dst, long lead, long length) {
    sk_fill_row(src, n, dst, lead, length, 0.0f);
}
#endif
