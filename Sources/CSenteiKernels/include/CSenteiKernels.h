// Only what Swift cannot express: CPUID feature tests, futex, atomics on raw 32-bit words, PAUSE, affinity.
#ifndef CSENTEI_KERNELS_H
#define CSENTEI_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "sk_int8.h"
#include "sk_vecmath.h"
#include "sk_depthwise.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// 0 = portable baseline, 1 = AVX2+FMA (x86-64-v3), 2 = AVX-512 F/BW/DQ/VL (x86-64-v4).
/// SENTEI_ISA=base|avx2|avx512 lowers the choice (never raises it above what the CPU has).
int sk_best_isa(void);
/// One core's fp32 multiply-add peak in GFLOP/s for an ISA code (0 base, 1 AVX2+FMA, 2 AVX-512), measured for about
/// `budgetSeconds` of this thread's CPU time (peak.c): the fastest of many short dependent-chain runs.
double sk_fp32_peak_gflops(int isa, double budgetSeconds);
/// 1 when the CPU has AVX512-VNNI (int8 dot products).
int sk_has_vnni(void);
/// 1 when the AVX-512 SiLU and sigmoid epilogues should divide (activation codes 5 and 6) rather than refine a
/// vrcp14ps: AMD CPUs with AVX-512 (Zen 4 on), whose vdivps zmm keeps up (6 cycles per vector on its own unit);
/// Intel's issues about once per 10 cycles (uops.info; not measured here). SENTEI_SIGMOID=divide|reciprocal
/// overrides (for A/B timing).
int sk_divide_is_fast(void);
/// 1 when AMX-INT8 tiles can be used here: CPU, OS tile state, and this process's permission (asked on the first
/// call); `SENTEI_AMX=off` says 0.
int sk_has_amx(void);
/// dst[c·dstLd + r] = src[r·srcLd + c] for r < rows, c < cols: a plane transposed in 16×16 blocks, in registers when
/// isa ≥ 2 (AVX-512; the caller passes KernelISA), else a scalar loop over the same blocks.
void sk_transpose_f32(const float *src, long srcLd, float *dst, long dstLd, long rows, long cols, int isa);
/// The largest plane side sk_maxpool_same_f32 takes (and k ≤ 31).
#define SK_MAXPOOL_SMALL_MAX 64
/// Stride-1 max pooling with a k×k window (k odd) and k/2 padding on every side, windows clipped to the plane
/// (padding never wins), of `channels` planes of h×w floats (channel c at src + c·srcStride, dst + c·dstStride):
/// a whole plane at a time (isa ≥ 2: AVX-512; else scalar). Returns 0, doing nothing, for planes larger than
/// SK_MAXPOOL_SMALL_MAX or kernels larger than 31.
int sk_maxpool_same_f32(const float *src, long srcStride, float *dst, long dstStride, long channels, int h, int w,
                        int k, int isa);
/// Sets flush-to-zero and denormals-are-zero in the calling thread's MXCSR and returns its previous value (0 and
/// no effect off x86-64). Denormal operands and results cost a microcode assist of ~100 cycles per instruction on x86;
/// SiLU of a large negative pre-activation (x·σ(x) below 1e-36) made them common: the YOLOv8n stem conv on 0–255
/// input ran 2.2× slower with them than flushed.
unsigned sk_flush_denormals(void);
/// Restores an MXCSR value sk_flush_denormals returned.
void sk_restore_float_mode(unsigned saved);

static inline uint32_t sk_load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void sk_store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t sk_fetch_add(uint32_t *p, uint32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline uint32_t sk_fetch_sub(uint32_t *p, uint32_t v) { return __atomic_fetch_sub(p, v, __ATOMIC_ACQ_REL); }
/// The pool's part claim: word = generation << 32 | next part. Returns the claimed part of `generation`, or -1 when
/// the word belongs to another generation or every part is taken (a CAS, so a stale claimer never steals a part).
static inline int32_t sk_claim_part(uint64_t *word, uint32_t generation, uint32_t parts) {
    uint64_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((uint32_t)(seen >> 32) != generation || (uint32_t)seen >= parts) return -1;
        if (__atomic_compare_exchange_n(word, &seen, seen + 1, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (int32_t)(uint32_t)seen;
    }
}
static inline void sk_store_release64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
/// Full barrier: orders an earlier store before a later load (the pool's "bump generation, then read sleepers").
static inline void sk_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void sk_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}
/// Sleeps while *addr == expected (FUTEX_WAIT_PRIVATE). Returns 0 or -errno.
int sk_futex_wait(uint32_t *addr, uint32_t expected);
/// Wakes up to n waiters on addr (FUTEX_WAKE_PRIVATE).
int sk_futex_wake(uint32_t *addr, int n);
/// Returns the heap memory freed so far to the system (glibc malloc_trim; a no-op elsewhere).
void sk_release_free_memory(void);
/// Names the calling thread (at most 15 bytes are kept), as shown by top -H and /proc/self/task/*/comm.
void sk_name_thread(const char *name);
/// A 64-byte aligned scratch block of at least `bytes` for the calling thread (NULL when out of memory). It is
/// reused by every later call on the thread and grows only when asked for more, so one kernel may hold it for
/// the length of its call and must not call another kernel that uses it.
void *sk_thread_scratch(size_t bytes);
/// Pins the calling thread to one CPU; returns 0 or -errno.
int sk_pin_thread(int cpu);
/// Lets the calling thread run on every CPU of the load-time mask again; returns 0 or -errno.
int sk_unpin_thread(void);
/// The CPU the calling thread was last pinned to by sk_pin_thread, or -1 (never pinned, or unpinned since).
int sk_thread_pinned_cpu(void);
/// Number of CPUs this process may run on (its affinity mask when the library loaded), at least 1.
int sk_allowed_cpu_count(void);
/// The index-th CPU (0-based) in that load-time affinity mask, or -1 when there are fewer.
int sk_allowed_cpu(int index);
/// even[t] = src[2t], odd[t] = src[2t+1] for t < n (reads src[0 ..< 2n]). Swift has no fast deinterleave (its
/// SIMD evenHalf/oddHalf scalarise), so the stride-2 convolution staging uses this. It is static inline and chooses
/// its branch from the importing module's -march: each per-ISA Swift module gets its own local copy, never a
/// shared symbol another ISA could pick up.
static inline void sk_deinterleave2(const float *src, float *even, float *odd, long n) {
    long t = 0;
#if defined(__AVX512F__)
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (; t + 16 <= n; t += 16) {
        __m512 a = _mm512_loadu_ps(src + 2 * t), b = _mm512_loadu_ps(src + 2 * t + 16);
        _mm512_storeu_ps(even + t, _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(odd + t, _mm512_permutex2var_ps(a, io, b));
    }
#elif defined(__AVX2__)
    for (; t + 8 <= n; t += 8) {
        __m256 a = _mm256_loadu_ps(src + 2 * t), b = _mm256_loadu_ps(src + 2 * t + 8);
        __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);  // per 128-bit lane
        _mm256_storeu_ps(even + t, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
        _mm256_storeu_ps(odd + t, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
    }
#elif defined(__SSE2__)
    for (; t + 4 <= n; t += 4) {
        __m128 a = _mm_loadu_ps(src + 2 * t), b = _mm_loadu_ps(src + 2 * t + 4);
        _mm_storeu_ps(even + t, _mm_shuffle_ps(a, b, 0x88));
        _mm_storeu_ps(odd + t, _mm_shuffle_ps(a, b, 0xDD));
    }
#endif
    for (; t < n; t++) {
        even[t] = src[2 * t];
        odd[t] = src[2 * t + 1];
    }
}
/// dst[2t] = dst[2t+1] = src[t] for t < n: a row of the nearest ×2 resize along x (YOLO's upsampling), whose
/// scalar loop LLVM left element by element (0.018 and 0.021 ms for YOLOX-Nano's two resizes, one thread).
static inline void sk_repeat2(const float *src, float *dst, long n) {
    long t = 0;
#if defined(__AVX512F__)
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (; t + 16 <= n; t += 16) {
        const __m512 v = _mm512_loadu_ps(src + t);
        _mm512_storeu_ps(dst + 2 * t, _mm512_permutexvar_ps(lo, v));
        _mm512_storeu_ps(dst + 2 * t + 16, _mm512_permutexvar_ps(hi, v));
    }
    if (t < n) {
        const long left = n - t;  // 1…15 floats → 2…30 outputs
        const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << left) - 1u), src + t);
        const __mmask16 first = left >= 8 ? (__mmask16)0xFFFF : (__mmask16)((1u << (2 * left)) - 1u);
        _mm512_mask_storeu_ps(dst + 2 * t, first, _mm512_permutexvar_ps(lo, v));
        if (left > 8) _mm512_mask_storeu_ps(dst + 2 * t + 16, (__mmask16)((1u << (2 * left - 16)) - 1u),
                                            _mm512_permutexvar_ps(hi, v));
        return;
    }
#elif defined(__AVX2__)
    for (; t + 8 <= n; t += 8) {
        const __m256 v = _mm256_loadu_ps(src + t);
        const __m256 a = _mm256_unpacklo_ps(v, v), b = _mm256_unpackhi_ps(v, v);  // per 128-bit lane
        _mm256_storeu_ps(dst + 2 * t, _mm256_permute2f128_ps(a, b, 0x20));
        _mm256_storeu_ps(dst + 2 * t + 8, _mm256_permute2f128_ps(a, b, 0x31));
    }
#endif
    for (; t < n; t++) dst[2 * t] = dst[2 * t + 1] = src[t];
}
/// Lanes [lo, hi) of the vector at p (0 ≤ lo ≤ hi ≤ the vector width), the other lanes 0. Lanes outside [lo, hi)
/// are never read, so p may point before or past the row there: the depthwise kernel reads a row's zero padding
/// this way instead of from a padded copy. Also `sk_even_v`/`sk_odd_v`: the even and odd lanes of the pair (a, b),
/// a's first (stride-2 columns in registers), `sk_even_next_v` the even lanes of (a, b, next[0]) after the first
/// (reads next[0] only; the AVX2 form reloads next[−14 ..< 2]); `sk_fmadd_v` a·b + c (SSE2: two instructions),
/// `sk_mul_v` a·b and `sk_add_v` a + b, which LLVM never splits into 128-bit pieces as it did Swift's addingProduct
/// and operators in large kernels. static inline per importing module's -march, like the rest.
#if defined(__AVX512F__)
static inline __m512 sk_load_lanes_v(const float *p, long lo, long hi) {
    return _mm512_maskz_loadu_ps((__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)), p);
}
static inline __m512 sk_fmadd_v(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
static inline __m512 sk_mul_v(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
static inline __m512 sk_add_v(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
static inline __m512 sk_even_v(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
}
static inline __m512 sk_odd_v(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b);
}
static inline __m512 sk_even_next_v(__m512 a, __m512 b, const float *next) {
    const __m512 e = _mm512_permutex2var_ps(a, _mm512_setr_epi32(2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 0), b);
    return _mm512_mask_broadcastss_ps(e, (__mmask16)0x8000, _mm_load_ss(next));
}
#elif defined(__AVX2__)
static inline __m256 sk_load_lanes_v(const float *p, long lo, long hi) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)lo), lanes),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lanes));
    return _mm256_maskload_ps(p, m);
}
static inline __m256 sk_fmadd_v(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
static inline __m256 sk_mul_v(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
static inline __m256 sk_add_v(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
static inline __m256 sk_even_v(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
static inline __m256 sk_odd_v(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}
static inline __m256 sk_even_next_v(__m256 a, __m256 b, const float *next) {
    return sk_even_v(_mm256_loadu_ps(next - 14), _mm256_loadu_ps(next - 6));
}
#elif defined(__SSE2__)
static inline __m128 sk_load_lanes_v(const float *p, long lo, long hi) {
    if (lo == 0 && hi == 4) return _mm_loadu_ps(p);
    // Lane by lane into registers: a copy through a stack array stalled on store forwarding.
    return _mm_setr_ps(lo <= 0 && 0 < hi ? p[0] : 0.0f, lo <= 1 && 1 < hi ? p[1] : 0.0f,
                       lo <= 2 && 2 < hi ? p[2] : 0.0f, lo <= 3 && 3 < hi ? p[3] : 0.0f);
}
static inline __m128 sk_fmadd_v(__m128 a, __m128 b, __m128 c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline __m128 sk_mul_v(__m128 a, __m128 b) { return _mm_mul_ps(a, b); }
static inline __m128 sk_add_v(__m128 a, __m128 b) { return _mm_add_ps(a, b); }
static inline __m128 sk_even_v(__m128 a, __m128 b) { return _mm_shuffle_ps(a, b, 0x88); }
static inline __m128 sk_odd_v(__m128 a, __m128 b) { return _mm_shuffle_ps(a, b, 0xDD); }
static inline __m128 sk_even_next_v(__m128 a, __m128 b, const float *next) {
    return _mm_shuffle_ps(_mm_shuffle_ps(a, b, 0x88), _mm_shuffle_ps(b, _mm_load_ss(next), 0x08), 0x99);
}
#endif
#endif
