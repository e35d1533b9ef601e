/* Read-only queries of the replication cache: lookups, accounting, selection by hop count,
 * chains, the SYNC prefix tree, iteration. Structures: cache_impl.h; design: docs/CACHE.md. */
#include <math.h>

#include "cache_expiry.h"

static const char *const counter_names[SRP_CC_COUNT] = {
    "inserted", "duplicates", "dup_prefilter", "refused_share", "share_replaced",
    "evicted", "expired", "rebroadcast", "invalid", "removed", "variants",
};

const char *srp_cache_counter_name(int counter) {
    if (counter < 0 || counter >= SRP_CC_COUNT) return "unknown";
    return counter_names[counter];
}

size_t srp_cache_count(const srp_cache *c) { return c->count; }
size_t srp_cache_slots(const srp_cache *c) { return c->slots; }
size_t srp_cache_share_slots(const srp_cache *c) { return c->share_slots; }
size_t srp_cache_entry_bytes(const srp_cache *c) { return c->entry_bytes; }
size_t srp_cache_bytes_used(const srp_cache *c) { return c->count * c->entry_bytes; }
size_t srp_cache_memory_bytes(const srp_cache *c) { return c->memory_bytes; }
uint64_t srp_cache_seed(const srp_cache *c) { return c->seed; }

void srp_cache_counters(const srp_cache *c, uint64_t out[SRP_CC_COUNT]) {
    memcpy(out, c->counters, sizeof c->counters);
}

/* ---- lookup ---- */

const uint8_t *srp_cache_get(const srp_cache *c, const uint8_t id[32]) {
    uint32_t i = find_id(c, h32(id, 32, c->seed), id);
    return i == NIL ? NULL : frame_at(c, i);
}

int srp_cache_contains(const srp_cache *c, const uint8_t id[32]) {
    return find_id(c, h32(id, 32, c->seed), id) != NIL;
}

size_t srp_cache_contains_batch(const srp_cache *c, const uint8_t *ids, size_t count,
                                uint8_t *out) {
    size_t found = 0;
    for (size_t i = 0; i < count; i++) {
        int has = srp_cache_contains(c, ids + 32 * i);
        if (out) out[i] = (uint8_t)has;
        found += (size_t)has;
    }
    return found;
}

double srp_cache_next_expiry(const srp_cache *c) {
    double t = INFINITY;
    for (int k = 0; k < 2; k++) {
        uint32_t f = expiry_first(c, k);
        if (f != NIL && c->e[f].expires < t) t = c->e[f].expires;
    }
    return t;
}

/* ---- public: selection and chains ---- */

size_t srp_cache_lowest_hops(const srp_cache *c, size_t k, const uint8_t *cluster,
                             uint8_t *ids_out) {
    const uint32_t *heads = c->hop_heads;
    if (cluster) {
        uint32_t cl = find_cl(c, h32(cluster, 16, c->seed), cluster);
        if (cl == NIL) return 0;
        heads = c->cls[cl].heads;
    }
    size_t n = 0;
    for (int b = 0; b < SRP_CACHE_HOP_BUCKETS && n < k; b++) {
        for (uint32_t i = heads[b]; i != NIL && n < k;
             i = cluster ? c->e[i].cl_next : c->e[i].hop_next)
            memcpy(ids_out + 32 * n++, c->e[i].id, 32);
    }
    return n;
}

size_t srp_cache_by_previous(const srp_cache *c, const uint8_t prev[32], uint8_t *ids_out,
                             size_t max) {
    if (is_zero32(prev)) return 0;
    size_t n = 0;
    size_t b = h32(prev, 32, c->seed) & c->chain_mask;
    for (uint32_t i = HEAD_Z(c->pv_heads[b]); i != NIL && n < max; i = c->e[i].pv_next)
        if (memcmp(frame_at(c, i) + SRP_OFF_PREVIOUS, prev, 32) == 0)
            memcpy(ids_out + 32 * n++, c->e[i].id, 32);
    return n;
}

int srp_cache_by_next(const srp_cache *c, const uint8_t next[32], uint8_t id_out[32]) {
    if (is_zero32(next)) return 0;
    size_t b = h32(next, 32, c->seed) & c->chain_mask;
    for (uint32_t i = HEAD_Z(c->nx_heads[b]); i != NIL; i = c->e[i].nx_next)
        if (memcmp(frame_at(c, i) + SRP_OFF_NEXT, next, 32) == 0) {
            memcpy(id_out, c->e[i].id, 32);
            return 1;
        }
    return 0;
}

/* ---- public: summary tree ---- */

static int prefix_index(const uint8_t *nibbles, size_t depth, size_t *idx) {
    size_t v = 0;
    for (size_t i = 0; i < depth; i++) {
        if (nibbles[i] > 15) return -1;
        if (i < SRP_CACHE_TREE_DEPTH) v = v * 16 + nibbles[i];
    }
    *idx = v;
    return 0;
}

/* A leaf bucket's (count, hash), from its list (the leaves are not stored: cache_impl.h).
 * A list holds the entries whose ids share 3 nibbles: ~n/4096 of them, more only for ids
 * ground to one prefix, which the per-source share bounds as it bounds ids_with_prefix's
 * walk of the same list. */
static void leaf_bucket(const srp_cache *c, size_t leaf, uint32_t *count, uint64_t *hash) {
    uint32_t n = 0;
    uint64_t h = 0;
    for (uint32_t i = HEAD_Z(c->leaf_heads[leaf]); i != NIL; i = c->e[i].leaf_next) {
        h ^= be64(c->e[i].id + 8);
        n++;
    }
    *count = n;
    *hash = h;
}

int srp_cache_bucket(const srp_cache *c, const uint8_t *nibbles, size_t depth, uint32_t *count,
                     uint64_t *hash) {
    size_t v;
    if (depth > SRP_CACHE_TREE_DEPTH || prefix_index(nibbles, depth, &v)) return -1;
    if (depth == SRP_CACHE_TREE_DEPTH) {
        leaf_bucket(c, v, count, hash);
        return 0;
    }
    const bucket *levels[3] = {&c->root, c->tree1, c->tree2};
    *count = levels[depth][v].count;
    *hash = levels[depth][v].hash;
    return 0;
}

int srp_cache_summary(const srp_cache *c, const uint8_t *nibbles, size_t depth, uint32_t counts[16],
                      uint64_t hashes[16]) {
    size_t v;
    if (depth >= SRP_CACHE_TREE_DEPTH || prefix_index(nibbles, depth, &v)) return -1;
    if (depth == SRP_CACHE_TREE_DEPTH - 1) {
        for (size_t j = 0; j < 16; j++) leaf_bucket(c, v * 16 + j, &counts[j], &hashes[j]);
        return 0;
    }
    const bucket *child = depth == 0 ? c->tree1 : c->tree2;
    for (size_t j = 0; j < 16; j++) {
        counts[j] = child[v * 16 + j].count;
        hashes[j] = child[v * 16 + j].hash;
    }
    return 0;
}

static int id_has_prefix(const uint8_t *id, const uint8_t *nibbles, size_t depth) {
    for (size_t i = SRP_CACHE_TREE_DEPTH; i < depth; i++) {
        uint8_t nib = (i & 1) ? (id[i / 2] & 15) : (uint8_t)(id[i / 2] >> 4);
        if (nib != nibbles[i]) return 0;
    }
    return 1;
}

size_t srp_cache_ids_with_prefix(const srp_cache *c, const uint8_t *nibbles, size_t depth,
                                 uint8_t *ids_out, size_t max) {
    size_t v;
    if (depth > 64 || prefix_index(nibbles, depth, &v)) return 0;
    size_t shift = depth >= SRP_CACHE_TREE_DEPTH ? 0 : 4 * (SRP_CACHE_TREE_DEPTH - depth);
    size_t first = v << shift, last = (v + 1) << shift, n = 0;
    for (size_t leaf = first; leaf < last && n < max; leaf++)
        for (uint32_t i = HEAD_Z(c->leaf_heads[leaf]); i != NIL && n < max; i = c->e[i].leaf_next)
            if (id_has_prefix(c->e[i].id, nibbles, depth))
                memcpy(ids_out + 32 * n++, c->e[i].id, 32);
    return n;
}

int srp_cache_slot(const srp_cache *c, size_t slot, const uint8_t **frame, const uint8_t **id,
                   double *expires, uint64_t *source_key, int *member) {
    if (slot >= c->slots || !c->e[slot].used) return 0;
    const entry *x = &c->e[slot];
    *frame = frame_at(c, (uint32_t)slot);
    *id = x->id;
    *expires = x->expires;
    *source_key = c->srcs[x->src].key;
    *member = x->member;
    return 1;
}
