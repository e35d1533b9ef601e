/* Large tables (the cache's frames and indices, the seen and delivered-id tables, the data
 * plane) straight from the kernel: zeroed pages that become resident only when touched, and
 * go back to the OS when the table is freed.
 *
 * Why not calloc: glibc serves a large calloc from mmap only while the request is above its
 * *dynamic* mmap threshold, and freeing an mmapped chunk raises that threshold to the chunk's
 * size (mallopt(3), M_MMAP_THRESHOLD). So once the first peer of a process closed, the tables
 * of every later peer came from the brk heap, where calloc clears (so makes resident) every
 * page at once and free keeps them: the soak's RSS rose 222 -> 247 MiB over its last third
 * while the live memory was flat (docs/SECURITY.md section 11, issue 13). A process-wide
 * mallopt is not ours to set (srpfast is a library inside the user's process), so the tables
 * take their memory from mmap themselves, whatever the allocator's state.
 *
 * Below SRP_BIG_MIN bytes a table stays on malloc: mmap rounds to pages and costs a kernel
 * mapping per table, and a few pages are not what makes a process grow. Under ASan
 * (SRPFAST_SANITIZE builds, fuzz/) every size uses calloc, so the sanitizer still sees the
 * tables' bounds and use after free. The caller passes the same (n, size) to srp_big_free as
 * to srp_big_calloc: both derive the same choice and length from it. */
#ifndef SRP_BIGALLOC_H
#define SRP_BIGALLOC_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SRP_BIG_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SRPFAST_SANITIZE)
#define SRP_BIG_SANITIZED 1
#endif

#if !defined(SRP_BIG_SANITIZED) && (defined(__unix__) || defined(__APPLE__))
#include <sys/mman.h>
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif
#endif

#define SRP_BIG_MIN ((size_t)64 * 1024)

/* n * size bytes, zeroed, or NULL (overflow, out of memory). */
static inline void *srp_big_calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
#if !defined(SRP_BIG_SANITIZED) && defined(MAP_ANONYMOUS)
    size_t bytes = n * size;
    if (bytes >= SRP_BIG_MIN) { /* anonymous pages are zero: nothing touched here */
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
#endif
    /* Line-aligned like the pages above, not calloc's 16 bytes: a struct may require it
     * (dataplane.c's did, while its seen filter was an _Alignas(64) member; from calloc, in
     * sanitizer builds, UBSan reported its every member access as misaligned). */
    size_t want = n * size;
    if (want > SIZE_MAX - 63) return NULL;
    void *q = aligned_alloc(64, want ? (want + 63) & ~(size_t)63 : 64);
    if (q) memset(q, 0, want);
    return q;
}

/* n * size bytes, zeroed, always pages of their own (except under ASan), whatever the size:
 * for tables that are written sparsely (a record at a time, as entries arrive) and may be
 * under SRP_BIG_MIN, where calloc of a reused heap chunk would clear, so make resident, all
 * of it. A simulator's small caches (1 MiB: 580 frames) hold a handful of frames each. Free
 * with srp_big_free_paged(p, n, size). */
static inline void *srp_big_calloc_paged(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
#if !defined(SRP_BIG_SANITIZED) && defined(MAP_ANONYMOUS)
    if (n * size == 0) return calloc(n, size);
    void *p = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
#else
    return calloc(n, size);
#endif
}

/* munmap what was mapped (n * size >= mapped_from), free the rest: the one release path of
 * srp_big_free and srp_big_free_paged, which differ only in where mapping starts. */
static inline void srp_big_release(void *p, size_t n, size_t size, size_t mapped_from) {
    if (!p) return;
#if !defined(SRP_BIG_SANITIZED) && defined(MAP_ANONYMOUS)
    if (n * size != 0 && n * size >= mapped_from) {
        munmap(p, n * size);
        return;
    }
#else
    (void)n;
    (void)size;
    (void)mapped_from;
#endif
    free(p);
}

static inline void srp_big_free_paged(void *p, size_t n, size_t size) {
    srp_big_release(p, n, size, 1);
}

/* Frees what srp_big_calloc(n, size) returned (NULL is a no-op). */
static inline void srp_big_free(void *p, size_t n, size_t size) {
    srp_big_release(p, n, size, SRP_BIG_MIN);
}

#endif
