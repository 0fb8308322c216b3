// LD_PRELOAD allocation counter for scripts/check-allocations.py: counts malloc-family calls (and bytes) per thread
// into a table that another process can read while this one runs. Only counts; every call goes to glibc's own
// allocator (__libc_*), so the program behaves as without it.
//
//   cc -O2 -shared -fPIC -o alloc-counter.so Tests/alloc/alloc-counter.c
//   SENTEI_ALLOC_TABLE=/tmp/t LD_PRELOAD=./alloc-counter.so senteid ...
//
// Table (little-endian): u32 magic 0x53414c43, u32 slots used, then 256 slots of
// {i32 tid, u32 unused, u64 calls, u64 bytes}. A thread takes a slot on its first allocation; threads past 256
// share the last slot.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define SLOTS 256
struct slot { int32_t tid; uint32_t unused; uint64_t calls; uint64_t bytes; };
struct table { uint32_t magic; uint32_t used; struct slot slots[SLOTS]; };

static struct table early;            // counts made before the constructor mapped the shared table
static struct table *table = &early;
static __thread int my_slot = -1;

static void count(size_t bytes) {
    if (my_slot < 0) {
        uint32_t s = __atomic_fetch_add(&table->used, 1, __ATOMIC_RELAXED);
        my_slot = s < SLOTS ? (int)s : SLOTS - 1;
        __atomic_store_n(&table->slots[my_slot].tid, (int32_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&table->slots[my_slot].calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&table->slots[my_slot].bytes, bytes, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void map_table(void) {
    early.magic = 0x53414c43;
    const char *path = getenv("SENTEI_ALLOC_TABLE");
    if (!path) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (ftruncate(fd, sizeof(struct table)) == 0) {
        void *p = mmap(NULL, sizeof(struct table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            // Single-threaded here: the early counts move over and the main thread keeps its slot.
            memcpy(p, &early, sizeof early);
            table = p;
        }
    }
    close(fd);
}

void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { count(k * n); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *valloc(size_t n) { count(n); return __libc_valloc(n); }
void *pvalloc(size_t n) { count(n); return __libc_pvalloc(n); }
int posix_memalign(void **out, size_t a, size_t n) {
    if (a < sizeof(void *) || (a & (a - 1)) != 0) return 22; // EINVAL, as glibc
    count(n);
    void *p = __libc_memalign(a, n);
    if (!p) return 12; // ENOMEM
    *out = p;
    return 0;
}
