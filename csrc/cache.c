/* The bounded replication cache (SPEC 6, 7, 9.4). Design and invariants: cache.h and
 * docs/CACHE.md. Everything is allocated in srp_cache_new, at its bound; only the indexes and
 * the pre-filter grow afterwards, up to those bounds (oa_index.h, seen.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bigalloc.h"
#include "cache_expiry.h"
#include "framecopy.h"

/* ---- sizing: the whole footprint is computed before allocating, so it fits the bound ---- */

static size_t pow2_at_least(size_t x) {
    size_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

static unsigned seen_log2(size_t slots) {
    unsigned l = 6;
    while (((size_t)1 << l) < 2 * slots) l++;
    return l;
}

static size_t footprint(size_t n) {
    size_t tab = pow2_at_least(2 * n), chain = pow2_at_least(n);
    return sizeof(struct srp_cache) + n * (SRP_PACKET_BYTES + sizeof(entry) + sizeof(src_rec) +
                                           sizeof(cl_rec) + sizeof(heap_item)) +
           3 * tab * sizeof(uint64_t) + 2 * chain * sizeof(uint32_t) +
           srp_seen_bytes_for(seen_log2(n));
}

/* ---- tree buckets ---- */

static void tree_toggle(srp_cache *c, const uint8_t *id, int add) {
    uint64_t v = be64(id + 8);
    /* (the leaf level is the leaf list itself: cache_impl.h, "prefix tree") */
    bucket *bs[3] = {&c->root, &c->tree1[id[0] >> 4], &c->tree2[id[0]]};
    for (int i = 0; i < 3; i++) {
        bs[i]->hash ^= v;
        if (add) bs[i]->count++;
        else bs[i]->count--;
    }
}

/* ---- doubly-linked list helpers on entry fields, by member offset ---- */

#define LIST_PUSH(c, headp, i, PREV, NEXT)                        \
    do {                                                          \
        uint32_t h_ = *(headp);                                   \
        (c)->e[i].PREV = NIL;                                     \
        (c)->e[i].NEXT = h_;                                      \
        if (h_ != NIL) (c)->e[h_].PREV = (i);                     \
        *(headp) = (i);                                           \
    } while (0)

#define LIST_UNLINK(c, headp, i, PREV, NEXT)                      \
    do {                                                          \
        uint32_t p_ = (c)->e[i].PREV, n_ = (c)->e[i].NEXT;        \
        if (p_ != NIL) (c)->e[p_].NEXT = n_;                      \
        else *(headp) = n_;                                       \
        if (n_ != NIL) (c)->e[n_].PREV = p_;                      \
    } while (0)

/* The same for the heads stored complemented (HEAD_Z, cache_impl.h: zero = empty). */
#define LIST_PUSH_Z(c, headp, i, PREV, NEXT)                      \
    do {                                                          \
        uint32_t h_ = ~*(headp);                                  \
        (c)->e[i].PREV = NIL;                                     \
        (c)->e[i].NEXT = h_;                                      \
        if (h_ != NIL) (c)->e[h_].PREV = (i);                     \
        *(headp) = ~(uint32_t)(i);                                \
    } while (0)

#define LIST_UNLINK_Z(c, headp, i, PREV, NEXT)                    \
    do {                                                          \
        uint32_t p_ = (c)->e[i].PREV, n_ = (c)->e[i].NEXT;        \
        if (p_ != NIL) (c)->e[p_].NEXT = n_;                      \
        else *(headp) = ~n_;                                      \
        if (n_ != NIL) (c)->e[n_].PREV = p_;                      \
    } while (0)

/* ---- remove / insert ---- */

static void remove_entry(srp_cache *c, uint32_t i, int counter) {
    entry *x = &c->e[i];
    const uint8_t *f = frame_at(c, i);
    oa_grown_del(&c->ids, &c->ids_g, c->pf_victim == i ? c->pf_hash : h32(x->id, 32, c->seed),
                 i);
    c->pf_victim = NIL;
    expiry_remove(c, i);
    LIST_UNLINK(c, &c->hop_heads[x->hopb], i, hop_prev, hop_next);

    cl_rec *cr = &c->cls[x->cl];
    LIST_UNLINK(c, &cr->heads[x->hopb], i, cl_prev, cl_next);
    if (--cr->count == 0) {
        oa_grown_del(&c->cl_ix, &c->cl_g, h32(cr->tag, 16, c->seed), x->cl);
        cr->heads[0] = c->free_cl;
        c->free_cl = x->cl;
    }

    src_rec *sr = &c->srcs[x->src];
    if (x->src_prev != NIL) c->e[x->src_prev].src_next = x->src_next;
    else sr->head = x->src_next;
    if (x->src_next != NIL) c->e[x->src_next].src_prev = x->src_prev;
    else sr->tail = x->src_prev;
    if (--sr->count == 0) {
        oa_grown_del(&c->src_ix, &c->src_g, h32(&sr->key, 8, c->seed), x->src);
        sr->head = c->free_src;
        c->free_src = x->src;
    }

    if (x->chained & 1) {
        size_t b = h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask;
        LIST_UNLINK_Z(c, &c->pv_heads[b], i, pv_prev, pv_next);
    }
    if (x->chained & 2) {
        size_t b = h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask;
        LIST_UNLINK_Z(c, &c->nx_heads[b], i, nx_prev, nx_next);
    }
    LIST_UNLINK_Z(c, &c->leaf_heads[leaf_of(x->id)], i, leaf_prev, leaf_next);
    tree_toggle(c, x->id, 0);

    x->used = 0;
    x->hop_next = c->free_entry;
    c->free_entry = i;
    if (c->newest == i) c->newest = NIL;
    c->count--;
    c->counters[counter]++;
}

/* Capacity victim (SPEC 7): non-members before members; nearest expiry first; never the newest
 * (cache_expiry.h: the first of the class's order that is not the newest). */
static uint32_t pick_victim(const srp_cache *c) {
    for (int k = 0; k < 2; k++) {
        uint32_t v = expiry_first_but(c, k, c->newest);
        if (v != NIL) return v;
    }
    return c->newest; /* only reachable with one entry in total, never with slots >= 4 */
}

/* The next insert of this source at capacity replaces the next victim: the oldest of the
 * source (its share full) or the first of the expiry order (the cache full). Its removal is
 * prefetched now (prefetch_removal: its id slot, list neighbours, chain buckets and the frame
 * slot the new frame overwrites), so those misses overlap the rest of the batch's work
 * instead of stalling the next insert; the record of the victim after it is requested, so
 * that prefetch_removal, one insert later, finds it in cache. Both orders know the victim
 * after next: a source's FIFO (its next entry) and the expiry run (its next entry: with one
 * ttl every insert is a run append, cache_expiry.h); the heap does not (its victim's record
 * and frame slot are only requested). Without that, a relay's removals waited on the id slot (oa_del)
 * and its inserts on their neighbours (docs/NET.md, "relay"); a full cache's inserts waited
 * on the victim's id slot (~7% of an insert at capacity). A wrong guess (another source
 * comes next) costs a few prefetches. */
static void prefetch_next_victim(srp_cache *c, const src_rec *sr) {
    uint32_t v, after;
    if (sr->count >= c->share_slots && c->share_slots < c->slots) {
        v = sr->head;
        if (v == NIL) return;
        after = c->e[v].src_next;
    } else if (c->count >= c->slots) {
        v = pick_victim(c);
        if (v == NIL) return;
        if (v != c->runs[0].head && v != c->runs[1].head) {
            /* A heap's victim (a run's is its head): its record was not requested before,
             * and reading it here would wait on it; it and its frame slot are requested, for
             * the next insert to read. */
            prefetch_record(c, v);
            prefetch_frame(frame_at(c, v));
            return;
        }
        after = c->e[v].exp_next;
    } else {
        return;
    }
    c->pf_hash = prefetch_removal(c, v);
    c->pf_victim = v;
    if (after != NIL) prefetch_record(c, after);
}

/* Same packet = same immutable bytes (everything but hops, ttl, postage): then the packetId is
 * equal too, so this confirms a pre-filter hit without SHA-256. */
static int same_packet(const uint8_t *a, const uint8_t *b) {
    return memcmp(a, b, SRP_OFF_HOPS) == 0 &&
           memcmp(a + SRP_OFF_FLAGS, b + SRP_OFF_FLAGS, SRP_OFF_TTL - SRP_OFF_FLAGS) == 0 &&
           memcmp(a + SRP_OFF_RESERVED, b + SRP_OFF_RESERVED,
                  SRP_PACKET_BYTES - SRP_OFF_RESERVED) == 0;
}

/* hid: h32(id, 32, c->seed), which the caller may have from prefetch_slots. */
static int insert_core(srp_cache *c, const uint8_t *frame, const uint8_t *id, uint32_t hid,
                       uint64_t fp, uint64_t source, double expires, int member,
                       uint32_t *slot_out) {
    uint32_t dup = find_id(c, hid, id);
    if (dup != NIL) {
        *slot_out = dup;
        if (!same_packet(frame_at(c, dup), frame)) {
            c->counters[SRP_CC_VARIANTS]++;
            return SRP_CACHE_VARIANT;
        }
        c->counters[SRP_CC_DUPLICATES]++;
        return SRP_CACHE_DUPLICATE;
    }
    /* The last insert's source record when it is this source (a relay's or subscriber's
     * stream comes from one sender: no hash, no probe), else the index's. A live record
     * (count > 0) holding this key is the one the index names; a freed one counts 0. */
    uint32_t s = c->last_src;
    if (s == NIL || c->srcs[s].count == 0 || c->srcs[s].key != source)
        s = find_src(c, h32(&source, 8, c->seed), source);
    /* A share of the whole cache (source_share = 1) is no limit: capacity eviction applies. */
    if (s != NIL && c->srcs[s].count >= c->share_slots && c->share_slots < c->slots) {
        if (c->policy == SRP_SHARE_REFUSE) {
            c->counters[SRP_CC_REFUSED_SHARE]++;
            return SRP_CACHE_REFUSED_SHARE;
        }
        remove_entry(c, c->srcs[s].head, SRP_CC_SHARE_REPLACED);
    } else if (c->count >= c->slots) {
        remove_entry(c, pick_victim(c), SRP_CC_EVICTED);
    }
    /* The source's record is freed if the removal took its last entry (a live record counts
     * at least one): then it is looked up no more but made anew below. */
    if (s != NIL && c->srcs[s].count == 0) s = NIL;

    uint32_t i = c->free_entry;
    if (i != NIL) c->free_entry = c->e[i].hop_next;
    else i = c->fresh_entry++; /* a free slot exists: count < slots here */
    entry *x = &c->e[i];
    uint8_t *f = frame_at(c, i);
    srp_copy_frame(f, frame);
    memcpy(x->id, id, 32);
    x->fp = fp;
    x->seq = ++c->seq;
    x->expires = expires;
    x->hopb = f[SRP_OFF_HOPS] < SRP_CACHE_HOP_BUCKETS ? f[SRP_OFF_HOPS] : SRP_CACHE_HOP_BUCKETS - 1;
    x->member = member ? 1 : 0;
    x->used = 1;
    x->chained = 0;

    oa_grown_put(&c->ids, &c->ids_g, hid, i);
    expiry_push(c, i);
    LIST_PUSH(c, &c->hop_heads[x->hopb], i, hop_prev, hop_next);

    /* (the last insert's cluster record likewise: one stream, one cluster) */
    uint32_t cl = c->last_cl;
    if (cl == NIL || c->cls[cl].count == 0 || memcmp(c->cls[cl].tag, f + SRP_OFF_CLUSTER, 16))
        cl = find_cl(c, h32(f + SRP_OFF_CLUSTER, 16, c->seed), f + SRP_OFF_CLUSTER);
    if (cl == NIL) { /* a free record exists: live clusters <= live entries < slots */
        cl = c->free_cl;
        if (cl != NIL) c->free_cl = c->cls[cl].heads[0];
        else cl = c->fresh_cl++;
        memcpy(c->cls[cl].tag, f + SRP_OFF_CLUSTER, 16);
        c->cls[cl].count = 0;
        for (int b = 0; b < SRP_CACHE_HOP_BUCKETS; b++) c->cls[cl].heads[b] = NIL;
        oa_grown_put(&c->cl_ix, &c->cl_g, h32(f + SRP_OFF_CLUSTER, 16, c->seed), cl);
    }
    x->cl = cl;
    c->cls[cl].count++;
    LIST_PUSH(c, &c->cls[cl].heads[x->hopb], i, cl_prev, cl_next);

    if (s == NIL) {
        s = c->free_src;
        if (s != NIL) c->free_src = c->srcs[s].head;
        else s = c->fresh_src++;
        c->srcs[s].key = source;
        c->srcs[s].count = 0;
        c->srcs[s].head = c->srcs[s].tail = NIL;
        oa_grown_put(&c->src_ix, &c->src_g, h32(&source, 8, c->seed), s);
    }
    src_rec *sr = &c->srcs[s];
    x->src = s;
    x->src_next = NIL;
    x->src_prev = sr->tail;
    if (sr->tail != NIL) c->e[sr->tail].src_next = i;
    else sr->head = i;
    sr->tail = i;
    sr->count++;

    if (!is_zero32(f + SRP_OFF_PREVIOUS)) {
        size_t b = h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask;
        LIST_PUSH_Z(c, &c->pv_heads[b], i, pv_prev, pv_next);
        x->chained |= 1;
    }
    if (!is_zero32(f + SRP_OFF_NEXT)) {
        size_t b = h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask;
        LIST_PUSH_Z(c, &c->nx_heads[b], i, nx_prev, nx_next);
        x->chained |= 2;
    }
    LIST_PUSH_Z(c, &c->leaf_heads[leaf_of(id)], i, leaf_prev, leaf_next);
    tree_toggle(c, id, 1);

    c->newest = i;
    c->last_src = s;
    c->last_cl = cl;
    c->count++;
    c->counters[SRP_CC_INSERTED]++;
    *slot_out = i;
    prefetch_next_victim(c, sr);
    return SRP_CACHE_INSERTED;
}

/* ---- public: lifetime ---- */

srp_cache *srp_cache_new(size_t capacity_bytes, double source_share) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&ts;
    }
    return srp_cache_new_ex(capacity_bytes, source_share, SRP_SHARE_REPLACE, 120.0, seed);
}

srp_cache *srp_cache_new_ex(size_t capacity_bytes, double source_share, int share_policy,
                            double seen_horizon, uint64_t seed) {
    if (!(source_share > 0.0 && source_share <= 1.0) || !(seen_horizon > 0.0)) return NULL;
    if (share_policy != SRP_SHARE_REPLACE && share_policy != SRP_SHARE_REFUSE) return NULL;
    /* Largest n whose whole footprint fits (footprint is increasing in n). */
    size_t lo = 0, hi = capacity_bytes / SRP_PACKET_BYTES;
    if (hi > 0x3fffffff) hi = 0x3fffffff;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (footprint(mid) <= capacity_bytes) lo = mid;
        else hi = mid - 1;
    }
    size_t n = lo;
    if (n < SRP_CACHE_MIN_SLOTS) return NULL;

    /* ~22 KiB (the tree's upper levels, its leaf lists): pages of its own, so the leaf heads
     * stay untouched until frames come (HEAD_Z), where a malloc chunk would be cleared */
    srp_cache *c = srp_big_calloc_paged(1, sizeof *c);
    if (!c) return NULL;
    size_t tab = pow2_at_least(2 * n), chain = pow2_at_least(n);
    c->slots = n;
    c->share_slots = (size_t)((double)n * source_share);
    if (c->share_slots < 1) c->share_slots = 1;
    c->policy = share_policy;
    c->seed = seed;
    c->memory_bytes = footprint(n);
    c->entry_bytes = c->memory_bytes / n;
    c->frames = srp_big_calloc(n, SRP_PACKET_BYTES);
    c->e = srp_big_calloc(n, sizeof(entry));
    c->srcs = srp_big_calloc_paged(n, sizeof(src_rec));
    c->cls = srp_big_calloc_paged(n, sizeof(cl_rec));
    int ix_failed = oa_grown_init(&c->ids, &c->ids_g, tab) |
                    oa_grown_init(&c->src_ix, &c->src_g, tab) |
                    oa_grown_init(&c->cl_ix, &c->cl_g, tab);
    c->pv_heads = srp_big_calloc_paged(chain, sizeof(uint32_t));
    c->nx_heads = srp_big_calloc_paged(chain, sizeof(uint32_t));
    c->chain_mask = chain - 1;
    heap_item *items = srp_big_calloc_paged(n, sizeof(heap_item));
    c->heaps[0].a = items;
    c->heaps[0].step = 1;
    c->heaps[1].a = items ? items + (n - 1) : NULL;
    c->heaps[1].step = -1;
    c->runs[0].head = c->runs[0].tail = c->runs[1].head = c->runs[1].tail = NIL;
    c->seen = srp_seen_new(seen_log2(n), seen_horizon, seed ^ 0x5EE45EE45EE45EE4ull);
    if (!c->frames || !c->e || !c->srcs || !c->cls || ix_failed ||
        !c->pv_heads || !c->nx_heads || !items || !c->seen) {
        srp_cache_free(c);
        return NULL;
    }
    /* (pv_heads, nx_heads and leaf_heads are empty as mapped: HEAD_Z, cache_impl.h) */
    for (size_t i = 0; i < SRP_CACHE_HOP_BUCKETS; i++) c->hop_heads[i] = NIL;
    /* No free list threaded through the records: the fresh_* counters (cache_impl.h). */
    c->free_entry = c->free_src = c->free_cl = NIL;
    c->fresh_entry = c->fresh_src = c->fresh_cl = 0;
    c->newest = c->last_src = c->last_cl = c->pf_victim = NIL;
    return c;
}

void srp_cache_free(srp_cache *c) {
    if (!c) return;
    /* Sizes as srp_cache_new_ex allocated them (its fields are set before any table). */
    size_t n = c->slots, chain = c->chain_mask + 1;
    srp_big_free(c->frames, n, SRP_PACKET_BYTES);
    srp_big_free(c->e, n, sizeof(entry));
    srp_big_free_paged(c->srcs, n, sizeof(src_rec));
    srp_big_free_paged(c->cls, n, sizeof(cl_rec));
    oa_grown_free(&c->ids, &c->ids_g);
    oa_grown_free(&c->src_ix, &c->src_g);
    oa_grown_free(&c->cl_ix, &c->cl_g);
    srp_big_free_paged(c->pv_heads, chain, sizeof(uint32_t));
    srp_big_free_paged(c->nx_heads, chain, sizeof(uint32_t));
    srp_big_free_paged(c->heaps[0].a, n, sizeof(heap_item)); /* both heaps' array */
    srp_seen_free(c->seen);
    srp_big_free_paged(c, 1, sizeof *c);
}

/* ---- public: insert ---- */

static double expiry(double now, const uint8_t *frame) {
    return now + (double)srp_be32(frame + SRP_OFF_TTL);
}

int srp_cache_insert(srp_cache *c, const uint8_t *frame, const uint8_t id[32], uint64_t source_key,
                     double now, int member) {
    return srp_cache_insert_expiring(c, frame, id, source_key, now, expiry(now, frame), member);
}

int srp_cache_insert_expiring(srp_cache *c, const uint8_t *frame, const uint8_t id[32],
                              uint64_t source_key, double now, double expires, int member) {
    /* The caller already paid SHA-256, so the pre-filter is not consulted here (fp 0 =
     * unknown). A later copy offered through srp_cache_offer misses the filter once, is found
     * by id, and is recognised by the filter from then on. */
    uint32_t slot;
    (void)now;
    return insert_core(c, frame, id, h32(id, 32, c->seed), 0, source_key, expires, member,
                       &slot);
}

uint32_t srp_cache_prefetch_insert(const srp_cache *c, const uint8_t *d, const uint8_t id[32],
                                   uint64_t fp) {
    srp_seen_prefetch(c->seen, fp);
    return prefetch_slots(c, d, id);
}

void srp_cache_prefetch_leaf(const srp_cache *c, const uint8_t id[32]) {
    uint32_t h = HEAD_Z(c->leaf_heads[leaf_of(id)]);
    if (h != NIL) PF(&c->e[h]);
}

uint64_t srp_cache_filter_key(const srp_cache *c, const uint8_t *d) {
    return srp_cache_filter_key_tail(c, d, NULL);
}

uint64_t srp_cache_filter_key_tail(const srp_cache *c, const uint8_t *d, uint64_t *tail) {
    uint64_t fp = srp_seen_key_tail(c->seen, d, tail);
    srp_seen_prefetch(c->seen, fp);
    return fp;
}

int srp_cache_prefilter(srp_cache *c, const uint8_t *d, double now, uint64_t *fp_out,
                        uint8_t *id_out) {
    *fp_out = srp_seen_key(c->seen, d);
    return srp_cache_prefilter_key(c, d, now, *fp_out, id_out);
}

int srp_cache_prefilter_key(srp_cache *c, const uint8_t *d, double now, uint64_t fp,
                            uint8_t *id_out) {
    uint32_t hint;
    if (!srp_seen_check_and_add(c->seen, fp, now, &hint)) return 0;
    if (hint == SRP_SEEN_VARIANT) {
        /* This exact copy was already seen as a variant (never cached, so there is nothing
         * to compare with): the 64-bit keyed fingerprint decides. Without this, each copy of
         * a variant would be forwarded again at every relay until MAX_HOPS. */
        c->counters[SRP_CC_DUPLICATES]++;
        c->counters[SRP_CC_DUP_PREFILTER]++;
        if (id_out) memset(id_out, 0, 32);
        return 1;
    }
    if (hint < c->slots) {
        const entry *x = &c->e[hint];
        if (x->used && (x->fp == fp || x->fp == 0) && same_packet(frame_at(c, hint), d)) {
            c->counters[SRP_CC_DUPLICATES]++;
            c->counters[SRP_CC_DUP_PREFILTER]++;
            if (id_out) memcpy(id_out, x->id, 32);
            return 1;
        }
    }
    return 0;
}

int srp_cache_insert_fp(srp_cache *c, const uint8_t *d, const uint8_t id[32], uint64_t fp,
                        uint64_t source_key, double now, int member) {
    return srp_cache_insert_fp_h(c, d, id, h32(id, 32, c->seed), fp, source_key, now, member);
}

int srp_cache_insert_fp_h(srp_cache *c, const uint8_t *d, const uint8_t id[32], uint32_t id_hash,
                          uint64_t fp, uint64_t source_key, double now, int member) {
    uint32_t slot;
    int v = insert_core(c, d, id, id_hash, fp, source_key, expiry(now, d), member, &slot);
    if (v == SRP_CACHE_VARIANT) srp_seen_set_value(c->seen, fp, SRP_SEEN_VARIANT);
    else if (v != SRP_CACHE_REFUSED_SHARE) srp_seen_set_value(c->seen, fp, slot);
    return v;
}

int srp_cache_offer(srp_cache *c, const uint8_t *d, size_t n, uint64_t source_key, double now,
                    int member, uint8_t *id_out) {
    if (srp_frame_validate(d, n) != SRP_OK) {
        c->counters[SRP_CC_INVALID]++;
        return SRP_CACHE_INVALID;
    }
    uint64_t fp;
    if (srp_cache_prefilter(c, d, now, &fp, id_out)) return SRP_CACHE_DUPLICATE;
    uint8_t id[32];
    srp_frame_packet_id(d, id);
    if (id_out) memcpy(id_out, id, 32);
    return srp_cache_insert_fp(c, d, id, fp, source_key, now, member);
}

size_t srp_cache_offer_batch(srp_cache *c, const uint8_t *buf, size_t stride, const uint32_t *lens,
                             size_t count, const uint64_t *sources, int one_source, double now,
                             int member, uint8_t *verdicts) {
    size_t inserted = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = lens ? lens[i] : SRP_PACKET_BYTES;
        if (n > stride) n = 0; /* longer than its slot: truncated, so invalid */
        int v = srp_cache_offer(c, buf + i * stride, n, sources[one_source ? 0 : i], now, member,
                                NULL);
        if (verdicts) verdicts[i] = (uint8_t)v;
        inserted += v == SRP_CACHE_INSERTED;
    }
    return inserted;
}

/* ---- public: remove ---- */

int srp_cache_remove(srp_cache *c, const uint8_t id[32]) {
    uint32_t i = find_id(c, h32(id, 32, c->seed), id);
    if (i == NIL) return 0;
    remove_entry(c, i, SRP_CC_REMOVED);
    return 1;
}

/* ---- public: expiry ---- */

size_t srp_cache_expire(srp_cache *c, double now, uint8_t *out, size_t max_out) {
    size_t written = 0;
    for (;;) {
        uint32_t i = NIL; /* the class's first that expires first, if either is due */
        for (int k = 0; k < 2; k++) {
            uint32_t r = expiry_first(c, k);
            if (r == NIL || !(c->e[r].expires <= now)) continue;
            if (i == NIL || key_before(c->e[r].expires, c->e[r].seq, c->e[i].expires, c->e[i].seq))
                i = r;
        }
        if (i == NIL) break;
        const uint8_t *f = frame_at(c, i);
        uint8_t postage = f[SRP_OFF_POSTAGE];
        if (postage > 1) { /* decremented postage still > 0: re-broadcast once (SPEC 6) */
            if (written == max_out) break;
            uint8_t *o = out + written * SRP_PACKET_BYTES;
            memcpy(o, f, SRP_PACKET_BYTES);
            o[SRP_OFF_POSTAGE] = (uint8_t)(postage - 1);
            written++;
            c->counters[SRP_CC_REBROADCAST]++;
        }
        remove_entry(c, i, SRP_CC_EXPIRED);
    }
    return written;
}

