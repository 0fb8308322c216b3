// Transpose of a strided plane. The portable Swift loop took ~3.5 cycles an element on YOLOX's [85, 3549] →
// [3549, 85] head output (0.35 ms a frame, 3% of the int8 model); 16×16 blocks transposed in registers take a tenth.
#include "CSenteiKernels.h"

static void sk_transpose_generic(const float *src, long srcLd, float *dst, long dstLd, long rows, long cols) {
    // 16×16 blocks so both sides of a block stay within a few cache lines.
    for (long r0 = 0; r0 < rows; r0 += 16)
        for (long c0 = 0; c0 < cols; c0 += 16) {
            long r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (long c = c0; c < c1; c++)
                for (long r = r0; r < r1; r++) dst[c * dstLd + r] = src[r * srcLd + c];
        }
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))), apply_to = function)
// Rows r0 ..< r0 + nr (≤ 16) × columns c0 ..< c0 + nc (≤ 16): masked loads (lanes past nc, rows past nr read as
// zero), the 4-stage unpack/shuffle network, masked stores of the nc output rows' first nr lanes.
static inline void sk_transpose_block16(const float *src, long srcLd, float *dst, long dstLd, int nr, int nc) {
    const __mmask16 colMask = (__mmask16)((1u << nc) - 1), rowMask = (__mmask16)((1u << nr) - 1);
    __m512 v[16], t[16];
    for (int i = 0; i < 16; i++) v[i] = i < nr ? _mm512_maskz_loadu_ps(colMask, src + i * srcLd) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        v[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        v[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        v[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        v[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // v[4q + j] now holds, in each 128-bit lane L, row 4q .. 4q+3's element 4L + j. Gather lanes across vectors.
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88);       // lanes 0,2 of v[j] and of v[4+j]
        t[4 + j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xDD);   // lanes 1,3
        t[8 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xDD);
    }
    for (int j = 0; j < 4; j++) {
        // Output column 4L + j for L = 0..3: rows 0..15 in order.
        v[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);        // L = 0
        v[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);    // L = 2
        v[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);  // L = 1
        v[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD); // L = 3
    }
    for (int c = 0; c < nc; c++) _mm512_mask_storeu_ps(dst + c * dstLd, rowMask, v[c]);
}

static void sk_transpose_avx512(const float *src, long srcLd, float *dst, long dstLd, long rows, long cols) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        int nr = rows - r0 < 16 ? (int)(rows - r0) : 16;
        for (long c0 = 0; c0 < cols; c0 += 16) {
            int nc = cols - c0 < 16 ? (int)(cols - c0) : 16;
            sk_transpose_block16(src + r0 * srcLd + c0, srcLd, dst + c0 * dstLd + r0, dstLd, nr, nc);
        }
    }
}
#pragma clang attribute pop
#endif

void sk_transpose_f32(const float *src, long srcLd, float *dst, long dstLd, long rows, long cols, int isa) {
    if (rows <= 0 || cols <= 0) return;
#if defined(__x86_64__)
    if (isa >= 2) {
        sk_transpose_avx512(src, srcLd, dst, dstLd, rows, cols);
        return;
    }
#endif
    (void)isa;
    sk_transpose_generic(src, srcLd, dst, dstLd, rows, cols);
}
