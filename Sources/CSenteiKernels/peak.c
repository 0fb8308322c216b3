// The fp32 multiply-add peak of one core, measured: the "% of peak" that benchmarks report is against this machine,
// not a number written down for another CPU (the 117 GFLOP/s was a Zen 4 host's; this Xeon vCPU, two
// 512-bit FMA pipes, does 172–179). Independent accumulators with distinct starting values, so no compiler can merge the chains.
#define _GNU_SOURCE
#include "CSenteiKernels.h"
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double peak_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define PEAK_CHAINS 24
#define PEAK_STEPS 16384

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float peak_avx512(double *seconds) {
    __m512 acc[PEAK_CHAINS];
    for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_set1_ps(1.0f + (float)i * 1e-3f);
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    double t0 = peak_now();
    for (int s = 0; s < PEAK_STEPS; s++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    }
    *seconds = peak_now() - t0;
    __m512 sum = acc[0];
    for (int i = 1; i < PEAK_CHAINS; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) static float peak_avx2(double *seconds) {
    // 12 chains: sixteen ymm registers hold them and the two constants.
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(1.0f + (float)i * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    double t0 = peak_now();
    for (int s = 0; s < PEAK_STEPS * 2; s++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    }
    *seconds = peak_now() - t0;
    float out[8], total = 0;
    __m256 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, acc[i]);
    _mm256_storeu_ps(out, sum);
    for (int i = 0; i < 8; i++) total += out[i];
    return total;
}
#endif

typedef float peak_v4 __attribute__((ext_vector_type(4)));

static float peak_portable(double *seconds) {
    // The baseline ISA has no FMA: a multiply and an add count as the two flops of a multiply-add.
    peak_v4 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = (peak_v4)(1.0f + (float)i * 1e-3f);
    const peak_v4 m = (peak_v4)0.999999f, a = (peak_v4)1e-7f;
    double t0 = peak_now();
    for (int s = 0; s < PEAK_STEPS * 4; s++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 12; i++) acc[i] = acc[i] * m + a;
    }
    *seconds = peak_now() - t0;
    peak_v4 sum = acc[0];
    for (int i = 1; i < 12; i++) sum += acc[i];
    return sum.x + sum.y + sum.z + sum.w;
}

double sk_fp32_peak_gflops(int isa, double budgetSeconds) {
    double flopsPerCall;
#if defined(__x86_64__)
    if (isa >= 2) flopsPerCall = 2.0 * 16 * PEAK_CHAINS * PEAK_STEPS;
    else if (isa == 1) flopsPerCall = 2.0 * 8 * 12 * PEAK_STEPS * 2;
    else
#endif
        flopsPerCall = 2.0 * 4 * 12 * PEAK_STEPS * 4;
    double best = 0, spent = 0;
    volatile float sink = 0;
    // The fastest call: on a shared host the others include time the vCPU did not run.
    while (spent < budgetSeconds) {
        double seconds = 0;
#if defined(__x86_64__)
        if (isa >= 2) sink += peak_avx512(&seconds);
        else if (isa == 1) sink += peak_avx2(&seconds);
        else
#endif
            sink += peak_portable(&seconds);
        spent += seconds > 0 ? seconds : 1e-6;
        if (seconds > 0 && flopsPerCall / seconds > best) best = flopsPerCall / seconds;
    }
    (void)sink;
    return best / 1e9;
}
