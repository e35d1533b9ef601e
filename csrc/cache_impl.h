/* Private to csrc/cache*.c: the cache's structures and the inline helpers its two files share
 * (cache.c mutates; cache_query.c only reads). Not part of the C API: use cache.h. */
#ifndef SRP_CACHE_IMPL_H
#define SRP_CACHE_IMPL_H
#include <stddef.h>
#include <string.h>

#include "cache.h"
#include "oa_index.h"
#include "seen.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#define NIL UINT32_MAX
#define LEAVES 4096 /* 16^SRP_CACHE_TREE_DEPTH */

/* Two cache lines (the records are line-aligned: bigalloc.h), every list link in the first:
 * linking a frame in or out writes only that line of its neighbours in the seven lists, and
 * the hints for them (prefetch_removal, prefetch_heads, srp_cache_prefetch_leaf:
 * PF(&c->e[k])) request exactly that line. With the id first, they requested the id's line
 * while the unlinks and pushes wrote the second (all links but the expiry run's), which then
 * missed: a relay of 16 sources and 7 hop counts into a 16 MiB cache took 2.5-3.5% more CPU
 * per new PUBLISH (same-process A/B, session 16). */
typedef struct {
    uint32_t exp_prev, exp_next;   /* expiry run (cache_expiry.h), when heap_pos == NIL */
    uint32_t hop_prev, hop_next;   /* global hop-bucket list (hop_next doubles as free list) */
    uint32_t cl_prev, cl_next;     /* per-cluster hop-bucket list */
    uint32_t src_prev, src_next;   /* per-source FIFO, oldest at head */
    uint32_t pv_prev, pv_next;     /* previousId hash chain */
    uint32_t nx_prev, nx_next;     /* nextId hash chain */
    uint32_t leaf_prev, leaf_next; /* summary-tree leaf list */
    uint32_t heap_pos;             /* in its class's heap; NIL: in its class's run */
    uint8_t hopb, member, used, chained; /* chained: bit0 in pv chain, bit1 in nx chain */
    /* (the second line) */
    uint8_t id[32];
    uint64_t fp;      /* seen pre-filter key of the frame; 0 = not computed (id given) */
    uint64_t seq;     /* insertion order: tie-break and "newest" */
    double expires;
    uint32_t src, cl; /* source (its key: srcs[src].key) / cluster record index */
} entry;
_Static_assert(sizeof(entry) == 128 && offsetof(entry, id) == 64,
               "entry: its list links fill its first cache line");

typedef struct {
    uint64_t key;
    uint32_t count, head, tail, pad; /* head doubles as free-list link */
} src_rec;

typedef struct {
    uint8_t tag[16];
    uint32_t count;
    uint32_t heads[SRP_CACHE_HOP_BUCKETS]; /* heads[0] doubles as free-list link */
} cl_rec;

typedef struct {
    uint64_t hash;
    uint32_t count, pad;
} bucket;

/* The indexes (ids, sources, clusters): oa_index.h. */

/* The expiry heaps are 4-ary and their elements carry their key (expiry, sequence) beside
 * the entry number: a sift compares elements of the heap array, never the entries they name.
 * (Binary and keyed by entry, removing the root of a heap of n read ~2 log2 n entry records
 * one after the other, each a cache miss in a publisher's or subscriber's process: the
 * largest cost of an insert at capacity once the rest was prefetched, csrc/cache_batch.c.
 * Now ~log4 n levels of four adjacent elements, the next level's prefetched.) */
typedef struct {
    double expires;
    uint64_t seq;
    uint32_t idx, pad;
} heap_item;

/* A class's expiry run (cache_expiry.h): entries in expiry order, oldest at head. */
typedef struct {
    uint32_t head, tail;
} exp_run;

/* Both heaps live in one array of n elements (an entry is in exactly one heap, so together
 * they hold at most n): heap [0] grows from its start (step +1), heap [1] from its end
 * (step -1). */
typedef struct {
    heap_item *a; /* element 0; element pos is a[pos * step] */
    ptrdiff_t step;
    size_t n;
} heap;

struct srp_cache {
    size_t slots, share_slots, count, entry_bytes, memory_bytes;
    int policy;
    uint64_t seed, seq;
    uint32_t free_entry, free_src, free_cl, newest;
    uint32_t last_src, last_cl; /* the last insert's source and cluster records (insert_core) */
    /* The next victim's id hash, computed when its removal was prefetched (prefetch_next_victim)
     * and taken by that removal (remove_entry), which would hash the same 32 bytes again;
     * NIL after any removal, so a stale hash is never used (an entry's id changes only after
     * it is removed). */
    uint32_t pf_victim, pf_hash;
    /* Records never used yet are handed out in slot order after the freed ones (free_* lists,
     * NIL when empty): the same order as a free list threaded through every slot at creation,
     * without writing every record then (an engine's mapped tables stay untouched, so not
     * resident, until frames arrive: a simulator holds thousands of mostly idle caches). */
    uint32_t fresh_entry, fresh_src, fresh_cl;
    uint8_t *frames;
    entry *e;
    src_rec *srcs;
    cl_rec *cls;
    oa_index ids, src_ix, cl_ix;
    oa_growth ids_g, src_g, cl_g;  /* each index grows to its bound as records come */
    /* Heads of the chain and leaf lists are stored complemented (HEAD_Z): a zero page is a
     * table of empty lists, so creating a cache writes none of them (the 4096 leaf heads
     * alone were 16 KiB resident per engine). */
    uint32_t *pv_heads, *nx_heads;
    size_t chain_mask;
    /* The expiry order of [0] non-member, [1] member packets (eviction empties [0] first):
     * each the merge of a run and a heap (cache_expiry.h). */
    heap heaps[2];
    exp_run runs[2];
    uint32_t hop_heads[SRP_CACHE_HOP_BUCKETS];
    /* The prefix tree's upper levels (SPEC 6 sync summary; docs/CACHE.md). Its 4096 leaf
     * buckets are not stored: srp_cache_bucket and srp_cache_summary compute a leaf's
     * (count, hash) from its leaf list when asked. Stored, they were a 64 KiB table written
     * at a random leaf per insert, so resident almost whole after a few dozen frames: 79 of
     * the struct's 85 KiB per engine in a 300-peer simulation holding ~60 frames each. */
    bucket root, tree1[16], tree2[256];
    uint32_t leaf_heads[LEAVES];
    srp_seen *seen;
    uint64_t counters[SRP_CC_COUNT];
};

/* ---- small helpers ---- */

/* The first record of a list whose head is stored complemented (0: empty, i.e. NIL). */
#define HEAD_Z(stored) (~(uint32_t)(stored))

static inline uint8_t *frame_at(const srp_cache *c, uint32_t i) {
    return c->frames + (size_t)i * SRP_PACKET_BYTES;
}

static inline int is_zero32(const uint8_t *p) {
    uint64_t w[4];
    memcpy(w, p, 32);
    return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static inline uint64_t be64(const uint8_t *p) {
    return ((uint64_t)srp_be32(p) << 32) | srp_be32(p + 4);
}

/* srp_hash64 (seeded XXH3-64), inlined: every call here has a constant length (32-byte ids and
 * chain ids, 16-byte cluster tags, 8-byte source keys), so each compiles to its length's
 * few instructions instead of a call into seen.c and XXH3's dispatch on the length (~3% of a
 * relay's CPU per new PUBLISH: ~6 of them per insert). Same function, same values. */
static inline uint32_t h32(const void *p, size_t n, uint64_t seed) {
    return (uint32_t)XXH3_64bits_withSeed(p, n, seed);
}

static inline size_t leaf_of(const uint8_t *id) {
    return ((size_t)id[0] << 4) | (id[1] >> 4);
}

static inline uint32_t find_id(const srp_cache *c, uint32_t h, const uint8_t *id) {
    size_t p = h & c->ids.mask;
    for (uint64_t s; (s = c->ids.t[p]) != 0; p = (p + 1) & c->ids.mask) {
        if ((uint32_t)(s >> 32) == h) {
            uint32_t i = (uint32_t)s - 1u;
            if (memcmp(c->e[i].id, id, 32) == 0) return i;
        }
    }
    return NIL;
}

static inline uint32_t find_src(const srp_cache *c, uint32_t h, uint64_t key) {
    size_t p = h & c->src_ix.mask;
    for (uint64_t s; (s = c->src_ix.t[p]) != 0; p = (p + 1) & c->src_ix.mask) {
        uint32_t i = (uint32_t)s - 1u;
        if ((uint32_t)(s >> 32) == h && c->srcs[i].key == key) return i;
    }
    return NIL;
}

static inline uint32_t find_cl(const srp_cache *c, uint32_t h, const uint8_t *tag) {
    size_t p = h & c->cl_ix.mask;
    for (uint64_t s; (s = c->cl_ix.t[p]) != 0; p = (p + 1) & c->cl_ix.mask) {
        uint32_t i = (uint32_t)s - 1u;
        if ((uint32_t)(s >> 32) == h && memcmp(c->cls[i].tag, tag, 16) == 0) return i;
    }
    return NIL;
}

static inline heap_item *heap_at(const heap *h, size_t pos) {
    return h->a + (ptrdiff_t)pos * h->step;
}

/* The expiry order: nearer expiry first, then older insertion. */
static inline int item_before(const heap_item *x, const heap_item *y) {
    return x->expires < y->expires || (x->expires == y->expires && x->seq < y->seq);
}

/* ---- prefetch hints (cache_batch.c, cache.c, srp_cache_prefetch_insert) ----
 * The cache memory an insert touches, requested ahead so the misses overlap other work.
 * Hints only: a wrong guess costs a wasted prefetch, never a different result. */

#define PF(p) __builtin_prefetch((const void *)(p), 1, 3)

/* Every line of a frame slot, unrolled: as a loop, ~4 instructions a line (~80 an insert at
 * capacity, ~8% of the cache insert's own instructions on the data plane's relay path). */
static inline void prefetch_frame(const uint8_t *f) {
#pragma GCC unroll 19
    for (size_t off = 0; off < SRP_PACKET_BYTES; off += 64) PF(f + off);
    PF(f + SRP_PACKET_BYTES - 1);
}

/* Everything a record's removal touches besides the record itself, which must be in the
 * CPU cache already (it is read here): its id slot, list neighbours, chain buckets (the
 * frame's header lines, read for their hashes, too) and the frame slot a new frame will
 * overwrite. Returns the id's hash (the id slot's). */
static inline uint32_t prefetch_removal(const srp_cache *c, uint32_t v) {
    const entry *x = &c->e[v];
    const uint8_t *f = frame_at(c, v);
    uint32_t hid = h32(x->id, 32, c->seed);
    PF(&c->ids.t[hid & c->ids.mask]);
    uint32_t near[] = {x->hop_prev, x->hop_next, x->cl_prev,  x->cl_next,   x->src_next,
                       x->pv_prev,  x->pv_next,  x->nx_prev,  x->nx_next,   x->leaf_prev,
                       x->leaf_next, x->heap_pos == NIL ? x->exp_prev : NIL,
                       x->heap_pos == NIL ? x->exp_next : NIL};
    for (size_t k = 0; k < sizeof near / sizeof near[0]; k++)
        if (near[k] != NIL) PF(&c->e[near[k]]);
    if (x->chained & 1) PF(&c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask]);
    if (x->chained & 2) PF(&c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask]);
    PF(&c->leaf_heads[leaf_of(x->id)]);
    prefetch_frame(f);
    return hid;
}

/* A record and the header lines of its frame (chain ids), one insert before
 * prefetch_removal reads them. */
static inline void prefetch_record(const srp_cache *c, uint32_t v) {
    const uint8_t *f = frame_at(c, v);
    PF(&c->e[v]);
    PF((const uint8_t *)&c->e[v] + sizeof(entry) - 1);
    PF(f + SRP_OFF_PREVIOUS);
    PF(f + SRP_OFF_NEXT + 31);
}

/* The slots a new frame's insert reads: its id slot, its chain buckets, leaf list and tree
 * bucket (the frame itself is the caller's, just written). Returns the id's hash. */
static inline uint32_t prefetch_slots(const srp_cache *c, const uint8_t *f, const uint8_t *id) {
    uint32_t hid = h32(id, 32, c->seed);
    PF(&c->ids.t[hid & c->ids.mask]);
    if (!is_zero32(f + SRP_OFF_PREVIOUS))
        PF(&c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask]);
    if (!is_zero32(f + SRP_OFF_NEXT))
        PF(&c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask]);
    PF(&c->leaf_heads[leaf_of(id)]);
    return hid;
}

/* The records a new frame is linked in front of (the heads of its chain and leaf lists),
 * once prefetch_slots brought the heads in. */
static inline void prefetch_heads(const srp_cache *c, const uint8_t *f, const uint8_t *id) {
    uint32_t h;
    if (!is_zero32(f + SRP_OFF_PREVIOUS) &&
        (h = HEAD_Z(c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask])) != NIL)
        PF(&c->e[h]);
    if (!is_zero32(f + SRP_OFF_NEXT) &&
        (h = HEAD_Z(c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask])) != NIL)
        PF(&c->e[h]);
    if ((h = HEAD_Z(c->leaf_heads[leaf_of(id)])) != NIL) PF(&c->e[h]);
}

#endif
