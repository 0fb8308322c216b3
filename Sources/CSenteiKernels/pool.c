// Stride-1 "same" max pooling of small planes, a whole plane at a time. The row-cached kernel in the Swift modules
// pays per output row (window bookkeeping, a cache lookup per window row), which on YOLOX's SPP (three chained 5×5
// pools over 128 planes of 13×13) cost about 60 cycles a row; here a plane's rows are reduced along x into a
// stack buffer once (the shifted windows from registers) and each output row is the max of its window's rows.
#include "CSenteiKernels.h"
#include <math.h>

// Window maxima along x: hm[y][x] = max(row y[x − r ..< x + r + 1] clipped to the row), for x < w; and
// out[y][x] = max over the clipped rows y − r ..< y + r + 1 of hm. Equal to the Swift kernels for every non-NaN input
// (max is exact); a NaN may propagate differently.
static void sk_maxpool_same_generic(const float *src, float *dst, int h, int w, int k, float *hm, int ld) {
    const int r = k / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float m = -INFINITY;
            for (int t = x - r; t <= x + r; t++)
                if (t >= 0 && t < w) { float v = src[y * w + t]; m = v > m ? v : m; }
            hm[y * ld + x] = m;
        }
    for (int y = 0; y < h; y++) {
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > h ? h : y + r + 1;
        for (int x = 0; x < w; x++) {
            float m = -INFINITY;
            for (int yy = y0; yy < y1; yy++) { float v = hm[yy * ld + x]; m = v > m ? v : m; }
            dst[y * w + x] = m;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))), apply_to = function)
static void sk_maxpool_same_avx512(const float *src, float *dst, int h, int w, int k, float *hm, int ld) {
    const int r = k / 2, nv = ld / 16;
    const __m512i lowest = _mm512_castps_si512(_mm512_set1_ps(-INFINITY));
    __m512i row[SK_MAXPOOL_SMALL_MAX / 16 + 2];
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    row[0] = row[nv + 1] = lowest;
    for (int y = 0; y < h; y++) {
        // The row in registers, −∞ past its end and in the vectors on either side; the window's shifted copies come
        // from permutes across neighbouring vectors (a store and reload of a padded row stalled store forwarding).
        for (int j = 0; j < nv; j++) {
            const int left = w - 16 * j;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            row[j + 1] = _mm512_castps_si512(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, src + y * w + 16 * j));
        }
        for (int j = 1; j <= nv; j++) {
            const __m512 lo = _mm512_castsi512_ps(row[j - 1]), mid = _mm512_castsi512_ps(row[j]),
                         hi = _mm512_castsi512_ps(row[j + 1]);
            __m512 v = mid;
            for (int s = 1; s <= r; s++) {
                // Lane x takes x + s from (mid, hi) and x − s from (lo, mid): vpermt2ps over the two vectors.
                v = _mm512_max_ps(v, _mm512_permutex2var_ps(mid, _mm512_add_epi32(iota, _mm512_set1_epi32(s)), hi));
                v = _mm512_max_ps(v, _mm512_permutex2var_ps(lo, _mm512_add_epi32(iota, _mm512_set1_epi32(16 - s)), mid));
            }
            _mm512_storeu_ps(hm + y * ld + 16 * (j - 1), v);
        }
    }
    for (int y = 0; y < h; y++) {
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > h ? h : y + r + 1;
        for (int x = 0; x < w; x += 16) {
            __m512 v = _mm512_set1_ps(-INFINITY);
            for (int yy = y0; yy < y1; yy++) v = _mm512_max_ps(v, _mm512_loadu_ps(hm + yy * ld + x));
            const __mmask16 m = w - x >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (w - x)) - 1);
            _mm512_mask_storeu_ps(dst + y * w + x, m, v);
        }
    }
}

// Planes at most one vector wide (YOLOX's 13×13 SPP, yolov8n@320's 10×10 SPPF), all channels in one call: a row is
// one register, its window's shifted copies are permutes against −∞, and the rows' x-maxima stay in registers for the
// y pass. Twice as fast as the general kernel on 128 planes of 13×13 (17.8 → 8.9 µs a pool, Zen 5): that one keeps a
// row array and the shift indices per call, and was called per channel.
static void sk_maxpool_same_narrow_avx512(const float *src, long srcStride, float *dst, long dstStride,
                                          long channels, int h, int w, int k) {
    const int r = k / 2;
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i up[16], down[16];
    for (int s = 1; s <= r && s < 16; s++) {
        up[s] = _mm512_add_epi32(iota, _mm512_set1_epi32(s));    // lane x ← x + s; 16 and past read the −∞ operand
        down[s] = _mm512_sub_epi32(iota, _mm512_set1_epi32(s));  // lane x ← x − s; lanes x < s are masked off
    }
    const __mmask16 m = (__mmask16)((1u << w) - 1);
    __m512 hm[SK_MAXPOOL_SMALL_MAX];
    for (long c = 0; c < channels; c++) {
        const float *p = src + c * srcStride;
        float *q = dst + c * dstStride;
        for (int y = 0; y < h; y++) {
            const __m512 mid = _mm512_mask_loadu_ps(lowest, m, p + y * w);
            __m512 v = mid;
            for (int s = 1; s <= r && s < 16; s++) {
                v = _mm512_max_ps(v, _mm512_permutex2var_ps(mid, up[s], lowest));
                v = _mm512_mask_max_ps(v, (__mmask16)(0xFFFFu << s), v, _mm512_permutexvar_ps(down[s], mid));
            }
            hm[y] = v;
        }
        for (int y = 0; y < h; y++) {
            const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > h ? h : y + r + 1;
            __m512 v = hm[y0];
            for (int yy = y0 + 1; yy < y1; yy++) v = _mm512_max_ps(v, hm[yy]);
            _mm512_mask_storeu_ps(q + y * w, m, v);
        }
    }
}
#pragma clang attribute pop
#endif

int sk_maxpool_same_f32(const float *src, long srcStride, float *dst, long dstStride, long channels, int h, int w,
                        int k, int isa) {
    if (h < 1 || w < 1 || h > SK_MAXPOOL_SMALL_MAX || w > SK_MAXPOOL_SMALL_MAX || k < 1 || k % 2 == 0 || k > 31)
        return 0;
#if defined(__x86_64__)
    if (isa >= 2 && w <= 16) {
        sk_maxpool_same_narrow_avx512(src, srcStride, dst, dstStride, channels, h, w, k);
        return 1;
    }
#endif
    const int ld = (w + 15) / 16 * 16;
    float hm[SK_MAXPOOL_SMALL_MAX * SK_MAXPOOL_SMALL_MAX];
    for (long c = 0; c < channels; c++) {
#if defined(__x86_64__)
        if (isa >= 2) {
            sk_maxpool_same_avx512(src + c * srcStride, dst + c * dstStride, h, w, k, hm, ld);
            continue;
        }
#endif
        sk_maxpool_same_generic(src + c * srcStride, dst + c * dstStride, h, w, k, hm, ld);
    }
    (void)isa;
    return 1;
}
