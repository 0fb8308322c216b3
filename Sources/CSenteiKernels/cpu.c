#define _GNU_SOURCE
#include "CSenteiKernels.h"
#include <errno.h>
#include <malloc.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int sk_best_isa(void) {
    int isa = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) isa = 1;
    if (isa && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) isa = 2;
#endif
    const char *force = getenv("SENTEI_ISA");
    if (force) {
        int want = isa;
        if (strcmp(force, "base") == 0) want = 0;
        else if (strcmp(force, "avx2") == 0) want = 1;
        else if (strcmp(force, "avx512") == 0) want = 2;
        if (want < isa) isa = want;
    }
    return isa;
}

int sk_has_vnni(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") ? 1 : 0;
#else
    return 0;
#endif
}

int sk_divide_is_fast(void) {
    const char *force = getenv("SENTEI_SIGMOID");
    if (force && strcmp(force, "divide") == 0) return 1;
    if (force && strcmp(force, "reciprocal") == 0) return 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") && __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

// AMX needs the CPU's tile units (CPUID 7.0 EDX bits 24/25), the OS saving tile state (XCR0 bits 17/18) and, on
// Linux, this process's permission to use it (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA), asked once.
static int amx_usable;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!((c >> 27) & 1)) return;  // OSXSAVE: xgetbv is usable
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) return;
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) return;
    const char *off = getenv("SENTEI_AMX");
    amx_usable = !(off && strcmp(off, "off") == 0);
#endif
}

int sk_has_amx(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_usable;
}

int sk_futex_wait(uint32_t *addr, uint32_t expected) {
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    return r == 0 ? 0 : -errno;
}

int sk_futex_wake(uint32_t *addr, int n) {
    long r = syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}

void sk_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

unsigned sk_flush_denormals(void) {
#if defined(__x86_64__)
    unsigned saved = __builtin_ia32_stmxcsr();
    const unsigned flushToZero = 1u << 15, denormalsAreZero = 1u << 6;
    if ((saved & (flushToZero | denormalsAreZero)) != (flushToZero | denormalsAreZero))
        __builtin_ia32_ldmxcsr(saved | flushToZero | denormalsAreZero);
    return saved;
#else
    return 0;
#endif
}

void sk_restore_float_mode(unsigned saved) {
#if defined(__x86_64__)
    if (__builtin_ia32_stmxcsr() != saved) __builtin_ia32_ldmxcsr(saved);
#else
    (void)saved;
#endif
}

// The process's CPU mask as it was at load time, before any pool pinned the thread that asks.
static cpu_set_t sk_initial_mask;
static int sk_initial_mask_ok;
__attribute__((constructor)) static void sk_capture_mask(void) {
    sk_initial_mask_ok = sched_getaffinity(0, sizeof(sk_initial_mask), &sk_initial_mask) == 0;
}

// Several pools share one calling thread (one pool per ladder level), so the pin is the thread's, not a pool's.
static __thread int sk_pinned_cpu = -1;

int sk_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return -errno;
    sk_pinned_cpu = cpu;
    return 0;
}

int sk_unpin_thread(void) {
    if (!sk_initial_mask_ok) return -EINVAL;
    if (sched_setaffinity(0, sizeof(sk_initial_mask), &sk_initial_mask) != 0) return -errno;
    sk_pinned_cpu = -1;
    return 0;
}

int sk_thread_pinned_cpu(void) { return sk_pinned_cpu; }

int sk_allowed_cpu_count(void) {
    if (!sk_initial_mask_ok) return 1;
    int n = CPU_COUNT(&sk_initial_mask);
    return n > 0 ? n : 1;
}

int sk_allowed_cpu(int index) {
    if (!sk_initial_mask_ok) return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &sk_initial_mask) && index-- == 0) return cpu;
    }
    return -1;
}

void sk_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

// Per-thread kernel scratch: grown on demand, kept for the thread's life (freed by the key's destructor), so the
// steady state of inference allocates nothing.
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static __thread void *scratch_block;
static __thread size_t scratch_capacity;

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

void *sk_thread_scratch(size_t bytes) {
    if (bytes <= scratch_capacity) return scratch_block;
    pthread_once(&scratch_once, make_scratch_key);
    size_t capacity = bytes < 65536 ? 65536 : (bytes + 4095) & ~(size_t)4095;
    void *block = NULL;
    if (posix_memalign(&block, 64, capacity) != 0) return NULL;
    free(scratch_block);
    scratch_block = block;
    scratch_capacity = capacity;
    pthread_setspecific(scratch_key, block);
    return block;
}
