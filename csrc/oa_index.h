/* Linear-probing index of uint32 record numbers, shared by the cache (cache_impl.h) and the
 * delivered-id set (idset.c): slot = (h32 << 32) | (idx + 1), 0 = empty. Keeping 32 bits of
 * the hash in the slot skips most record reads on a probe and lets backward-shift deletion
 * find each slot's home without rehashing (no tombstones, probe runs stay unbroken). */
#ifndef SRP_OA_INDEX_H
#define SRP_OA_INDEX_H
#include <stddef.h>
#include <stdint.h>

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
#endif
