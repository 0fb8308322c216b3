// Only what Swift cannot express: CPUID feature tests, futex, atomics on raw 32-bit words, PAUSE, affinity.
#ifndef CSENTEI_KERNELS_H
#define CSENTEI_KERNELS_H
#include <stdint.h>

/// 0 = portable baseline, 1 = AVX2+FMA (x86-64-v3), 2 = AVX-512 F/BW/DQ/VL (x86-64-v4).
/// SENTEI_ISA=base|avx2|avx512 lowers the choice (never raises it above what the CPU has).
int sk_best_isa(void);
/// 1 when the CPU has AVX512-VNNI (int8 dot products).
int sk_has_vnni(void);

static inline uint32_t sk_load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void sk_store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t sk_fetch_add(uint32_t *p, uint32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline uint32_t sk_fetch_sub(uint32_t *p, uint32_t v) { return __atomic_fetch_sub(p, v, __ATOMIC_ACQ_REL); }
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
/// Pins the calling thread to one CPU; returns 0 or -errno.
int sk_pin_thread(int cpu);
/// Number of CPUs this process may run on (its affinity mask when the library loaded), at least 1.
int sk_allowed_cpu_count(void);
/// The index-th CPU (0-based) in that load-time affinity mask, or -1 when there are fewer.
int sk_allowed_cpu(int index);
#endif
