/* A bounded set of nonzero 64-bit keys (keyed hashes the caller makes): 8-way buckets of one
 * cache line each, newest first, the oldest of a full bucket out. Two tables use it: the data
 * plane's copy filter (dataplane.c) and the delivery's delivered ids (deliver_impl.h).
 *
 * It starts at 64 buckets (4 KiB) and doubles as keys come, up to the bucket count of its
 * bound: keys land at random, so a table at its bound from the first key was resident almost
 * whole after a few dozen (a simulated peer: 32 KiB of copy filter for ~60 copies, 42 KiB of
 * delivered ids for ~90 messages; docs/SIMULATION_SCALE_LOG.md, session 15). It doubles when
 * its keys reach a quarter of its slots, and before a full bucket would push a key out: below
 * its bound it forgets nothing, as a table at its bound would not. A failed allocation keeps
 * it at its size (bounded, still correct). Pages of their own (bigalloc.h): page-aligned, so
 * a bucket is one line, and a prefetch of it (srp_ks_bucket) loads the whole bucket. */
#ifndef SRP_KEYSET_H
#define SRP_KEYSET_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bigalloc.h"

#define SRP_KS_WAYS 8
#define SRP_KS_FIRST_BITS 6 /* 64 buckets: 4 KiB */

typedef struct {
    uint64_t *t;
    unsigned bits, max_bits; /* log2 of the buckets now, and at the bound */
    size_t added;            /* keys added while below the bound */
} srp_keyset;

/* An empty set of at least `capacity` keys at its bound (16 buckets at the least, 2^cap_bits
 * at the most); 0, or -1 out of memory. */
static inline int srp_ks_init(srp_keyset *s, size_t capacity, unsigned cap_bits) {
    unsigned bits = 4;
    while (bits < cap_bits && ((size_t)SRP_KS_WAYS << bits) < capacity) bits++;
    s->max_bits = bits;
    s->bits = bits < SRP_KS_FIRST_BITS ? bits : SRP_KS_FIRST_BITS;
    s->added = 0;
    s->t = srp_big_calloc_paged((size_t)SRP_KS_WAYS << s->bits, sizeof *s->t);
    return s->t ? 0 : -1;
}

static inline void srp_ks_free(srp_keyset *s) {
    srp_big_free_paged(s->t, (size_t)SRP_KS_WAYS << s->bits, sizeof *s->t);
    s->t = NULL;
}

#define SRP_KS_MUL 0x9E3779B97F4A7C15ull /* Fibonacci hashing: the top bits of k x this */

/* The bucket of ``k`` in a table of 2^bits buckets (also the fuzz models', fuzz_tables.h). */
static inline size_t srp_ks_index(uint64_t k, unsigned bits) {
    return (size_t)((k * SRP_KS_MUL) >> (64 - bits));
}

static inline uint64_t *srp_ks_bucket(const srp_keyset *s, uint64_t k) {
    return s->t + SRP_KS_WAYS * srp_ks_index(k, s->bits);
}

static inline int srp_ks_has(const srp_keyset *s, uint64_t k) {
    const uint64_t *b = srp_ks_bucket(s, k);
    for (int w = 0; w < SRP_KS_WAYS; w++)
        if (b[w] == k) return 1;
    return 0;
}

static inline void srp_ks_put(srp_keyset *s, uint64_t k) { /* newest first, oldest out */
    uint64_t *b = srp_ks_bucket(s, k), keep[SRP_KS_WAYS - 1];
    /* through a copy of fixed size, which gcc inlines as a few moves: an overlapping memmove
     * was a call into libc for 56 bytes per new PUBLISH */
    memcpy(keep, b, sizeof keep);
    memcpy(b + 1, keep, sizeof keep);
    b[0] = k;
}

/* Twice the buckets, each old bucket's keys re-put oldest first (so newest-first order holds
 * in the new ones: with top-bit bucketing each new bucket takes keys of one old bucket). */
static inline void srp_ks_grow(srp_keyset *s) {
    size_t old_keys = (size_t)SRP_KS_WAYS << s->bits;
    uint64_t *old = s->t, *t = srp_big_calloc_paged(old_keys * 2, sizeof *t);
    if (!t) {
        s->max_bits = s->bits;
        return;
    }
    s->t = t;
    s->bits++;
    for (size_t b = 0; b < old_keys; b += SRP_KS_WAYS)
        for (int w = SRP_KS_WAYS - 1; w >= 0; w--)
            if (old[b + (size_t)w]) srp_ks_put(s, old[b + (size_t)w]);
    srp_big_free_paged(old, old_keys, sizeof *old);
}

/* Add k (nonzero, not in the set), growing first where the struct's comment says. */
static inline void srp_ks_add(srp_keyset *s, uint64_t k) {
    if (s->bits < s->max_bits) {
        ++s->added;
        while (s->bits < s->max_bits && (s->added > ((size_t)SRP_KS_WAYS << s->bits) / 4 ||
                                         srp_ks_bucket(s, k)[SRP_KS_WAYS - 1] != 0))
            srp_ks_grow(s);
    }
    srp_ks_put(s, k);
}
#endif
