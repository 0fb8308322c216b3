// The AVX-512 depthwise 3×3 layer (stride 1, or 2 on both axes; dilation 1) over whole channel planes in C, static
// inline so that the AVX-512 Swift module inlines its own copy; the other ISAs get a stub that returns 0 and keep the
// Swift passes. One call covers a run of channels: called once per channel, the same passes spent ~500 cycles a call
// on setup (64 channels at 52²: 38 µs called per channel against 29 µs with the channel loop inside; 26²: 9 against
// 7). Column by column, every row of a column before the next, so a column's edge masks are built once per channel.
// The middle passes take their rows straight from the plane (choosing the zero row for each of six rows per pass cost
// cmovs and spilled pointers), and each output sums three per-row parts of three FMAs instead of one chain of nine,
// (b + row 0) + row 1 + row 2, the order of single rows and of the Swift passes (the same bits): 10–18% faster on the
// YOLO maps (harness, 64 channels at 52²: 31.5 → 27.5 µs without activation). Columns inside the row keep their own
// copy with plain loads: masked loads everywhere were 20% slower (Zen 5).
#ifndef SK_DEPTHWISE_H
#define SK_DEPTHWISE_H
#include "sk_vecmath.h"

#if defined(__AVX512F__)
/// Lanes [lo, hi) set, clipped to 0…16.
static inline __mmask16 sk_dw_lanes(long lo, long hi) {
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/// The Swift kernels' activation codes (VectorMath.swift's ActivationCode) through the sk_vecmath.h functions that
/// their vector forms (ISA.swift) call, so the C and Swift passes give the same bits; relu as Swift's
/// `x.replacing(with: 0, where: x .< 0)`.
static inline __attribute__((always_inline)) __m512 sk_dw_activate(__m512 x, const int activation) {
    switch (activation) {
    case 1: return _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
    case 2: return sk_sigmoid_v(x);
    case 3: return _mm512_mul_ps(x, sk_sigmoid_v(x));
    case 4: return sk_silu_int8_v(x);
    case 5: return sk_silu_divide_v(x);
    case 6: return sk_sigmoid_divide_v(x);
    default: return x;
    }
}

/// The activation over n contiguous floats in place (a finished plane, while it is in L1).
static inline __attribute__((always_inline)) void sk_dw_activate_run(float *p, long n, const int activation) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(p + i, sk_dw_activate(_mm512_loadu_ps(p + i), activation));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(p + i, m, sk_dw_activate(_mm512_maskz_loadu_ps(m, p + i), activation));
    }
}

/// sk_dw_activate_run with the code chosen once, outside the loop.
static inline void sk_dw_activate_plane(float *p, long n, int activation) {
    switch (activation) {
    case 1: sk_dw_activate_run(p, n, 1); break;
    case 2: sk_dw_activate_run(p, n, 2); break;
    case 3: sk_dw_activate_run(p, n, 3); break;
    case 4: sk_dw_activate_run(p, n, 4); break;
    case 5: sk_dw_activate_run(p, n, 5); break;
    case 6: sk_dw_activate_run(p, n, 6); break;
    default: break;
    }
}

/// acc + k0·x0 + k1·x1 + k2·x2 for one input row, in that order.
#define SK_DW_ROW(acc, x0, x1, x2, k0, k1, k2) \
    _mm512_fmadd_ps((k2), (x2), _mm512_fmadd_ps((k1), (x1), _mm512_fmadd_ps((k0), (x0), (acc))))
/// k0·x0 + k1·x1 + k2·x2: one input row's part of an output whose first row started from the bias (Swift's
/// depthwiseRowPart). Three short chains per output, summed last, keep more outputs in flight than one chain of nine;
/// starting from a multiply, not from an FMA on zero (12% slower, harness).
#define SK_DW_PART(x0, x1, x2, k0, k1, k2) \
    _mm512_fmadd_ps((k2), (x2), _mm512_fmadd_ps((k1), (x1), _mm512_mul_ps((k0), (x0))))
/// (first + second) + third: an output from its three rows' parts (the order of every output row).
#define SK_DW_SUM(first, second, third) _mm512_add_ps(_mm512_add_ps((first), (second)), (third))

/// The column's view of input row y: its first tap at column s, or the zero row outside the plane.
#define SK_DW_INPUT_ROW(y) (((y) < 0 || (y) >= h ? zero_row : plane + (y) * w) + s)

/// The three taps of the input row whose column-s element is at p: stride 1 reads columns s, s+1, s+2 (masks m0…m2);
/// stride 2 the even and odd lanes of columns s…s+31 and the even lanes of s+2…s+33 (masks m0…m3 for the vectors
/// at s, s+16, s+2, s+18). Lanes outside the row read as the zero padding and are never loaded.
#define SK_DW_TAPS(p, x0, x1, x2)                                                                                    \
    __m512 x0, x1, x2;                                                                                               \
    if (stride2) {                                                                                                   \
        const __m512 a_ = _mm512_maskz_loadu_ps(m0, (p)), b_ = _mm512_maskz_loadu_ps(m1, (p) + 16);                 \
        const __m512 c_ = _mm512_maskz_loadu_ps(m2, (p) + 2), d_ = _mm512_maskz_loadu_ps(m3, (p) + 18);             \
        x0 = _mm512_permutex2var_ps(a_, even, b_);                                                                   \
        x1 = _mm512_permutex2var_ps(a_, odd, b_);                                                                    \
        x2 = _mm512_permutex2var_ps(c_, even, d_);                                                                   \
    } else {                                                                                                         \
        x0 = _mm512_maskz_loadu_ps(m0, (p));                                                                         \
        x1 = _mm512_maskz_loadu_ps(m1, (p) + 1);                                                                     \
        x2 = _mm512_maskz_loadu_ps(m2, (p) + 2);                                                                     \
    }

/// One pass of a column: stride 1 writes four output rows (at d, d+wo, …) from input rows R0…R5, stride 2 two
/// output rows from R0…R4 (R5 unused).
#define SK_DW_PASS(R0, R1, R2, R3, R4, R5, d)                                                                        \
    if (stride2) {                                                                                                   \
        __m512 a0, a1, q0, t0;                                                                                       \
        { SK_DW_TAPS(R0, x0, x1, x2) a0 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2); }                                    \
        { SK_DW_TAPS(R1, x0, x1, x2) q0 = SK_DW_PART(x0, x1, x2, k3, k4, k5); }                                      \
        {                                                                                                            \
            SK_DW_TAPS(R2, x0, x1, x2)                                                                               \
            a0 = SK_DW_SUM(a0, q0, SK_DW_PART(x0, x1, x2, k6, k7, k8));                                              \
            a1 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2);                                                               \
        }                                                                                                            \
        { SK_DW_TAPS(R3, x0, x1, x2) q0 = SK_DW_PART(x0, x1, x2, k3, k4, k5); }                                      \
        { SK_DW_TAPS(R4, x0, x1, x2) t0 = SK_DW_PART(x0, x1, x2, k6, k7, k8); }                                      \
        _mm512_mask_storeu_ps((d), ms, sk_dw_activate(a0, activation));                                              \
        _mm512_mask_storeu_ps((d) + wo, ms, sk_dw_activate(SK_DW_SUM(a1, q0, t0), activation));                      \
    } else {                                                                                                         \
        __m512 a0, a1, a2, a3, q0, q1, q2, q3, t0, t1;                                                               \
        { SK_DW_TAPS(R0, x0, x1, x2) a0 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2); }                                    \
        {                                                                                                            \
            SK_DW_TAPS(R1, x0, x1, x2)                                                                               \
            q0 = SK_DW_PART(x0, x1, x2, k3, k4, k5);                                                                 \
            a1 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2);                                                               \
        }                                                                                                            \
        {                                                                                                            \
            SK_DW_TAPS(R2, x0, x1, x2)                                                                               \
            t0 = SK_DW_PART(x0, x1, x2, k6, k7, k8);                                                                 \
            q1 = SK_DW_PART(x0, x1, x2, k3, k4, k5);                                                                 \
            a2 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2);                                                               \
        }                                                                                                            \
        {                                                                                                            \
            SK_DW_TAPS(R3, x0, x1, x2)                                                                               \
            t1 = SK_DW_PART(x0, x1, x2, k6, k7, k8);                                                                 \
            q2 = SK_DW_PART(x0, x1, x2, k3, k4, k5);                                                                 \
            a3 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2);                                                               \
        }                                                                                                            \
        _mm512_mask_storeu_ps((d), ms, sk_dw_activate(SK_DW_SUM(a0, q0, t0), activation));                          \
        _mm512_mask_storeu_ps((d) + wo, ms, sk_dw_activate(SK_DW_SUM(a1, q1, t1), activation));                      \
        {                                                                                                            \
            SK_DW_TAPS(R4, x0, x1, x2)                                                                               \
            t0 = SK_DW_PART(x0, x1, x2, k6, k7, k8);                                                                 \
            q3 = SK_DW_PART(x0, x1, x2, k3, k4, k5);                                                                 \
        }                                                                                                            \
        { SK_DW_TAPS(R5, x0, x1, x2) t1 = SK_DW_PART(x0, x1, x2, k6, k7, k8); }                                      \
        _mm512_mask_storeu_ps((d) + 2 * wo, ms, sk_dw_activate(SK_DW_SUM(a2, q2, t0), activation));                  \
        _mm512_mask_storeu_ps((d) + 3 * wo, ms, sk_dw_activate(SK_DW_SUM(a3, q3, t1), activation));                  \
    }

/// A pass whose input rows may lie above or below the plane.
#define SK_DW_EDGE_PASS(pass)                                                                                        \
    {                                                                                                                \
        const long y_ = 4 * (pass) - pad_top;                                                                        \
        SK_DW_PASS(SK_DW_INPUT_ROW(y_), SK_DW_INPUT_ROW(y_ + 1), SK_DW_INPUT_ROW(y_ + 2), SK_DW_INPUT_ROW(y_ + 3),   \
                   SK_DW_INPUT_ROW(y_ + 4), SK_DW_INPUT_ROW(y_ + 5), d + pass_rows * (pass) * wo)                    \
    }

/// Every output row of one column vector (output columns ox…ox+15, input from column s; masks m0…m3, stores under
/// ms): passes of four output rows (stride 1, from six input rows) or two (stride 2, from five), the passes between
/// `first` and `last` straight from the plane's rows (no zero-row choice per row), then single rows.
#define SK_DW_COLUMN()                                                                                               \
    float *const d = dst + ox;                                                                                       \
    for (long pass = 0; pass < first; pass++) SK_DW_EDGE_PASS(pass)                                                  \
    const float *r = plane + (4 * first - pad_top) * w + s;                                                          \
    float *o = d + pass_rows * first * wo;                                                                           \
    for (long pass = first; pass < last; pass++) {                                                                   \
        SK_DW_PASS(r, r + w, r + 2 * w, r + 3 * w, r + 4 * w, r + 5 * w, o)                                          \
        r += 4 * w;                                                                                                  \
        o += pass_rows * wo;                                                                                         \
    }                                                                                                                \
    for (long pass = last; pass < passes; pass++) SK_DW_EDGE_PASS(pass)                                              \
    for (long oy = pass_rows * passes; oy < ho; oy++) {                                                              \
        const long y = (stride2 ? 2 * oy : oy) - pad_top;                                                            \
        __m512 p0, p1, p2;                                                                                           \
        { SK_DW_TAPS(SK_DW_INPUT_ROW(y), x0, x1, x2) p0 = SK_DW_ROW(b, x0, x1, x2, k0, k1, k2); }                    \
        { SK_DW_TAPS(SK_DW_INPUT_ROW(y + 1), x0, x1, x2) p1 = SK_DW_PART(x0, x1, x2, k3, k4, k5); }                  \
        { SK_DW_TAPS(SK_DW_INPUT_ROW(y + 2), x0, x1, x2) p2 = SK_DW_PART(x0, x1, x2, k6, k7, k8); }                  \
        _mm512_mask_storeu_ps(d + oy * wo, ms, sk_dw_activate(SK_DW_SUM(p0, p1, p2), activation));                   \
    }

/// Channels c0 ..< c1, whole planes, for one stride and pass activation (constants once inlined); with deferred (a
/// code, not 0) each finished plane is activated afterwards instead, while it is in L1. Columns that read only inside
/// the row get constant all-lane masks, so their loads are plain ones.
static inline __attribute__((always_inline)) void sk_dw3x3_channels(
    const float *input, long in_stride, long c0, long c1, long h, long w, const float *weights, const float *biases,
    long pad_top, long pad_left, float *output, long out_stride, long ho, long wo, const float *zero_row,
    const int stride2, const int activation, int deferred) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // A pass writes pass_rows output rows from `reads` input rows (input rows advance by 4 a pass at either stride).
    const long pass_rows = stride2 ? 2 : 4, passes = ho / pass_rows, reads = stride2 ? 5 : 6;
    // Passes [first, last) read only rows inside the plane (pass p reads rows 4p − pad_top ..< 4p − pad_top + reads).
    long first = (pad_top + 3) / 4, last = (h - reads + pad_top) / 4 + 1;
    if (h < reads) last = 0;
    last = last < passes ? last : passes;
    first = first < last ? first : last;
    for (long c = c0; c < c1; c++) {
        const float *plane = input + c * in_stride, *taps = weights + 9 * c;
        float *dst = output + c * out_stride;
        const __m512 k0 = _mm512_set1_ps(taps[0]), k1 = _mm512_set1_ps(taps[1]), k2 = _mm512_set1_ps(taps[2]);
        const __m512 k3 = _mm512_set1_ps(taps[3]), k4 = _mm512_set1_ps(taps[4]), k5 = _mm512_set1_ps(taps[5]);
        const __m512 k6 = _mm512_set1_ps(taps[6]), k7 = _mm512_set1_ps(taps[7]), k8 = _mm512_set1_ps(taps[8]);
        const __m512 b = _mm512_set1_ps(biases ? biases[c] : 0.0f);
        for (long ox = 0; ox < wo; ox += 16) {
            const long s = (stride2 ? 2 * ox : ox) - pad_left;
            const __mmask16 ms = wo - ox >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (wo - ox)) - 1u);
            if (s >= 0 && s + (stride2 ? 34 : 18) <= w) {
                const __mmask16 m0 = 0xFFFF, m1 = 0xFFFF, m2 = 0xFFFF, m3 = 0xFFFF;
                SK_DW_COLUMN()
            } else {
                const __mmask16 m0 = sk_dw_lanes(-s, w - s);
                const __mmask16 m1 = stride2 ? sk_dw_lanes(-s - 16, w - s - 16) : sk_dw_lanes(-s - 1, w - s - 1);
                const __mmask16 m2 = sk_dw_lanes(-s - 2, w - s - 2), m3 = sk_dw_lanes(-s - 18, w - s - 18);
                SK_DW_COLUMN()
            }
        }
        if (deferred) sk_dw_activate_plane(dst, ho * wo, deferred);
    }
}
#undef SK_DW_COLUMN
#undef SK_DW_EDGE_PASS
#undef SK_DW_PASS
#undef SK_DW_TAPS
#undef SK_DW_INPUT_ROW
#undef SK_DW_SUM
#undef SK_DW_PART
#undef SK_DW_ROW

/// One out-of-line copy per stride and pass activation, each with a register allocation of its own (inlined into
/// one function the fourteen copies ran 1.5× slower).
#define SK_DW_VARIANT(s2, a)                                                                                         \
    static __attribute__((noinline)) void sk_dw3x3_channels_##s2##_##a(                                             \
        const float *input, long in_stride, long c0, long c1, long h, long w, const float *weights,                   \
        const float *biases, long pad_top, long pad_left, float *output, long out_stride, long ho, long wo,          \
        const float *zero_row, int deferred) {                                                                      \
        sk_dw3x3_channels(input, in_stride, c0, c1, h, w, weights, biases, pad_top, pad_left, output, out_stride, ho, \
                          wo, zero_row, s2, a, deferred);                                                           \
    }
SK_DW_VARIANT(0, 0) SK_DW_VARIANT(0, 1) SK_DW_VARIANT(0, 2) SK_DW_VARIANT(0, 3) SK_DW_VARIANT(0, 4) SK_DW_VARIANT(0, 5)
SK_DW_VARIANT(0, 6) SK_DW_VARIANT(1, 0) SK_DW_VARIANT(1, 1) SK_DW_VARIANT(1, 2) SK_DW_VARIANT(1, 3) SK_DW_VARIANT(1, 4)
SK_DW_VARIANT(1, 5) SK_DW_VARIANT(1, 6)
#undef SK_DW_VARIANT

/// Depthwise 3×3, dilation 1, stride 1 or 2 (both axes), over whole channels c0 ..< c1: channel c reads the h×w
/// plane at input + c·in_stride (rows outside it from zero_row, w zeros; columns from −pad_left), weights
/// weights[9c …], bias biases[c] (or none), and writes the ho×wo plane at output + c·out_stride, activated in
/// registers, or afterwards over the plane when `defer` (planes of at most 4096 floats). Returns 1, or 0 where it
/// does not apply (other ISAs, larger deferred planes): the caller runs its own passes then.
static inline int sk_dw3x3_channels_f32(const float *input, long in_stride, long c0, long c1, long h, long w,
                                        const float *weights, const float *biases, long pad_top, long pad_left,
                                        int stride2, float *output, long out_stride, long ho, long wo,
                                        const float *zero_row, int activation, int defer) {
    if (activation < 0 || activation > 6 || (defer && ho * wo > 4096)) return 0;
    const int pass = defer ? 0 : activation, deferred = defer ? activation : 0;
#define SK_DW_CASE(a)                                                                                                \
    case a:                                                                                                          \
        if (stride2)                                                                                                 \
            sk_dw3x3_channels_1_##a(input, in_stride, c0, c1, h, w, weights, biases, pad_top, pad_left, output,        \
                                    out_stride, ho, wo, zero_row, deferred);                                         \
        else                                                                                                         \
            sk_dw3x3_channels_0_##a(input, in_stride, c0, c1, h, w, weights, biases, pad_top, pad_left, output,        \
                                    out_stride, ho, wo, zero_row, deferred);                                         \
        break;
    switch (pass) {
        SK_DW_CASE(1) SK_DW_CASE(2) SK_DW_CASE(3) SK_DW_CASE(4) SK_DW_CASE(5) SK_DW_CASE(6)
    default: SK_DW_CASE(0)
    }
#undef SK_DW_CASE
    return 1;
}
#else
static inline int sk_dw3x3_channels_f32(const float *input, long in_stride, long c0, long c1, long h, long w,
                                        const float *weights, const float *biases, long pad_top, long pad_left,
                                        int stride2, float *output, long out_stride, long ho, long wo,
                                        const float *zero_row, int activation, int defer) {
    (void)input, (void)in_stride, (void)c0, (void)c1, (void)h, (void)w, (void)weights, (void)biases, (void)pad_top;
    (void)pad_left, (void)stride2, (void)output, (void)out_stride, (void)ho, (void)wo, (void)zero_row;
    (void)activation, (void)defer;
    return 0;
}
#endif
#endif
