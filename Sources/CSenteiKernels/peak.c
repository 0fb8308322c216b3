// The fp32 multiply-add peak of one core, measured: the "% of peak" that benchmarks report is against this machine,
// not a number written down for another CPU (the 117 GFLOP/s was a Zen 4 host's; this Xeon vCPU, two
// 512-bit FMA pipes, does 172–179). Independent accumulators with distinct starting values, so no compiler can merge
// the chains. Each probe returns the flops it did, counted from its own loop bounds.
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
__attribute__((target("avx512f"))) static double peak_avx512(double *seconds, volatile float *sink) {
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
    *sink += _mm512_reduce_add_ps(sum);
    return 2.0 * 16 * PEAK_CHAINS * PEAK_STEPS;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(double *seconds, volatile float *sink) {
    // 12 chains: sixteen ymm registers hold them and the two constants.
    enum { chains = 12, steps = PEAK_STEPS * 2 };
    __m256 acc[chains];
    for (int i = 0; i < chains; i++) acc[i] = _mm256_set1_ps(1.0f + (float)i * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    double t0 = peak_now();
    for (int s = 0; s < steps; s++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < chains; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    }
    *seconds = peak_now() - t0;
    float out[8], total = 0;
    __m256 sum = acc[0];
    for (int i = 1; i < chains; i++) sum = _mm256_add_ps(sum, acc[i]);
    _mm256_storeu_ps(out, sum);
    for (int i = 0; i < 8; i++) total += out[i];
    *sink += total;
    return 2.0 * 8 * chains * steps;
}
#endif

typedef float peak_v4 __attribute__((ext_vector_type(4)));

static double peak_portable(double *seconds, volatile float *sink) {
    // The baseline ISA has no FMA: a multiply and an add count as the two flops of a multiply-add.
    enum { chains = 12, steps = PEAK_STEPS * 4 };
    peak_v4 acc[chains];
    for (int i = 0; i < chains; i++) acc[i] = (peak_v4)(1.0f + (float)i * 1e-3f);
    const peak_v4 m = (peak_v4)0.999999f, a = (peak_v4)1e-7f;
    double t0 = peak_now();
    for (int s = 0; s < steps; s++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < chains; i++) acc[i] = acc[i] * m + a;
    }
    *seconds = peak_now() - t0;
    peak_v4 sum = acc[0];
    for (int i = 1; i < chains; i++) sum += acc[i];
    *sink += sum.x + sum.y + sum.z + sum.w;
    return 2.0 * 4 * chains * steps;
}

double sk_fp32_peak_gflops(int isa, double budgetSeconds) {
    double best = 0, spent = 0;
    volatile float sink = 0;
    // The fastest call: on a shared host the others include time the vCPU did not run.
    while (spent < budgetSeconds) {
        double seconds = 0, flops;
#if defined(__x86_64__)
        if (isa >= 2) flops = peak_avx512(&seconds, &sink);
        else if (isa == 1) flops = peak_avx2(&seconds, &sink);
        else
#endif
            flops = peak_portable(&seconds, &sink);
        spent += seconds > 0 ? seconds : 1e-6;
        if (seconds > 0 && flops / seconds > best) best = flops / seconds;
    }
    return best / 1e9;
}
