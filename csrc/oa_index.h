/* Linear-probing index of uint32 record numbers, shared by the cache (cache_impl.h) and the
 * delivered-id set (idset.c): slot = (h32 << 32) | (idx + 1), 0 = empty. Keeping 32 bits of
 * the hash in the slot skips most record reads on a probe and lets backward-shift deletion
 * find each slot's home without rehashing (no tombstones, probe runs stay unbroken). */
#ifndef SRP_OA_INDEX_H
#define SRP_OA_INDEX_H
#include <stddef.h>
#include <stdint.h>

#include "bigalloc.h"

typedef struct {
    uint64_t *t;
    size_t mask; /* slots - 1, slots a power of two */
} oa_index;

static inline uint64_t oa_pack(uint32_t h, uint32_t idx) {
    return ((uint64_t)h << 32) | (idx + 1u);
}

/* Record idx (hash h), known to be absent, into the first empty slot of its probe run. */
static inline void oa_put(oa_index *x, uint32_t h, uint32_t idx) {
    size_t p = h & x->mask;
    while (x->t[p]) p = (p + 1) & x->mask;
    x->t[p] = oa_pack(h, idx);
}

/* Remove record idx (hash h), known to be present: backward-shift deletion. */
static inline void oa_del(oa_index *x, uint32_t h, uint32_t idx) {
    size_t i = h & x->mask;
    while ((uint32_t)x->t[i] != idx + 1u) i = (i + 1) & x->mask;
    for (;;) {
        x->t[i] = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & x->mask;
            if (!x->t[j]) return;
            size_t k = (size_t)(x->t[j] >> 32) & x->mask; /* home of the slot at j */
            int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) break;
        }
        x->t[i] = x->t[j];
        i = j;
    }
}

/* An index that starts small and doubles as records come, up to the slots of its bound (the
 * cache's: 2 per entry). Its slots are written at random places, so an index made at its
 * bound is resident almost whole after a few hundred records whatever it holds; grown, it is
 * about 4 slots a record. The bound's table is mapped at the start (untouched, so not
 * resident) and is the last size: a doubling that cannot get memory goes straight to it, so
 * growing never fails and the load never passes 1/2. */
typedef struct {
    size_t live, max_mask;
    uint64_t *full;   /* the bound's table: the index's table once grown to it */
} oa_growth;

#define OA_FIRST_SLOTS 512 /* 4 KiB: one page */

/* An empty index of at most `slots` slots (a power of two); 0, or -1 out of memory. */
static inline int oa_grown_init(oa_index *x, oa_growth *g, size_t slots) {
    size_t first = slots < OA_FIRST_SLOTS ? slots : OA_FIRST_SLOTS;
    g->live = 0;
    g->max_mask = slots - 1;
    g->full = srp_big_calloc_paged(slots, sizeof(uint64_t));
    x->t = first == slots ? g->full : srp_big_calloc_paged(first, sizeof(uint64_t));
    x->mask = first - 1;
    return g->full && x->t ? 0 : -1;
}

static inline void oa_grown_free(oa_index *x, oa_growth *g) {
    if (x->t != g->full) srp_big_free_paged(x->t, x->mask + 1, sizeof(uint64_t));
    srp_big_free_paged(g->full, g->max_mask + 1, sizeof(uint64_t));
    x->t = g->full = NULL;
}

/* Twice the slots (or the bound's table), every record moved by the hash its slot keeps. */
static inline void oa_grown_double(oa_index *x, oa_growth *g) {
    size_t slots = (x->mask + 1) * 2;
    uint64_t *t = g->full;
    if (slots <= g->max_mask) { /* an intermediate size */
        uint64_t *m = srp_big_calloc_paged(slots, sizeof(uint64_t));
        if (m) t = m;
        else slots = g->max_mask + 1;
    }
    size_t mask = slots - 1;
    for (size_t i = 0; i <= x->mask; i++) {
        uint64_t v = x->t[i];
        if (!v) continue;
        size_t p = (size_t)(v >> 32) & mask;
        while (t[p]) p = (p + 1) & mask;
        t[p] = v;
    }
    srp_big_free_paged(x->t, x->mask + 1, sizeof(uint64_t));
    x->t = t;
    x->mask = mask;
}

static inline void oa_grown_put(oa_index *x, oa_growth *g, uint32_t h, uint32_t idx) {
    if (x->mask < g->max_mask && 2 * (g->live + 1) > x->mask + 1) oa_grown_double(x, g);
    oa_put(x, h, idx);
    g->live++;
}

static inline void oa_grown_del(oa_index *x, oa_growth *g, uint32_t h, uint32_t idx) {
    oa_del(x, h, idx);
    g->live--;
}
#endif
