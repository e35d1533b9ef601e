/* srp_cache_insert_batch: srp_cache_insert over a run of frames, with the cache memory the
 * next inserts touch prefetched (cache.h). A publisher inserts every frame it publishes
 * (SPEC 6: its own frames answer QUERYs and lazy-push pulls), a run of ~275 per emit_many
 * call, right after sealing them: the sealing streams ~300 KB through the CPU caches, so
 * each insert found its lines cold: the id slot, the list heads and neighbours it links
 * into, the victim it evicts (its record, its frame's chain ids, its neighbours) and the
 * 1158-byte slot it overwrites, ~30 misses one after the other (0.7 us a frame in a
 * publisher's process against 0.2 us warm). Prefetched one and two inserts ahead, they
 * overlap. Hints only: what they predict wrongly (a duplicate, another eviction path) costs
 * a wasted prefetch, never a different result. */
#include "cache_impl.h"

#define PF(p) __builtin_prefetch((const void *)(p), 1, 3)

/* Everything a record's removal touches besides the record itself, which must be in the
 * CPU cache already (it is read here): its id slot, list neighbours, chain buckets (the
 * frame's header lines, read for their hashes, too) and the frame slot a new frame will
 * overwrite. */
static void prefetch_removal(const srp_cache *c, uint32_t v) {
    const entry *x = &c->e[v];
    const uint8_t *f = frame_at(c, v);
    PF(&c->ids.t[h32(x->id, 32, c->seed) & c->ids.mask]);
    uint32_t near[] = {x->hop_prev, x->hop_next, x->cl_prev, x->cl_next, x->src_next,
                       x->pv_prev,  x->pv_next,  x->nx_prev, x->nx_next, x->leaf_prev,
                       x->leaf_next};
    for (size_t k = 0; k < sizeof near / sizeof near[0]; k++)
        if (near[k] != NIL) PF(&c->e[near[k]]);
    if (x->chained & 1) PF(&c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask]);
    if (x->chained & 2) PF(&c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask]);
    PF(&c->leaf_heads[leaf_of(x->id)]);
    PF(&c->tree3[leaf_of(x->id)]);
    for (size_t off = 0; off < SRP_PACKET_BYTES; off += 64) PF(f + off);
    PF(f + SRP_PACKET_BYTES - 1);
}

/* A record and the header lines of its frame (chain ids), one insert before
 * prefetch_removal reads them. */
static void prefetch_record(const srp_cache *c, uint32_t v) {
    const uint8_t *f = frame_at(c, v);
    PF(&c->e[v]);
    PF((const uint8_t *)&c->e[v] + sizeof(entry) - 1);
    PF(f + SRP_OFF_PREVIOUS);
    PF(f + SRP_OFF_NEXT + 31);
}

/* The slots a new frame's insert reads: its id slot, its chain buckets, leaf list and tree
 * bucket (the frame itself is the caller's, just written). */
static void prefetch_slots(const srp_cache *c, const uint8_t *f, const uint8_t *id) {
    PF(&c->ids.t[h32(id, 32, c->seed) & c->ids.mask]);
    if (!is_zero32(f + SRP_OFF_PREVIOUS))
        PF(&c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask]);
    if (!is_zero32(f + SRP_OFF_NEXT))
        PF(&c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask]);
    PF(&c->leaf_heads[leaf_of(id)]);
    PF(&c->tree3[leaf_of(id)]);
}

/* The records a new frame is linked in front of (the heads of its chain and leaf lists),
 * once prefetch_slots brought the heads in. */
static void prefetch_heads(const srp_cache *c, const uint8_t *f, const uint8_t *id) {
    uint32_t h;
    if (!is_zero32(f + SRP_OFF_PREVIOUS) &&
        (h = HEAD_Z(c->pv_heads[h32(f + SRP_OFF_PREVIOUS, 32, c->seed) & c->chain_mask])) != NIL)
        PF(&c->e[h]);
    if (!is_zero32(f + SRP_OFF_NEXT) &&
        (h = HEAD_Z(c->nx_heads[h32(f + SRP_OFF_NEXT, 32, c->seed) & c->chain_mask])) != NIL)
        PF(&c->e[h]);
    if ((h = HEAD_Z(c->leaf_heads[leaf_of(id)])) != NIL) PF(&c->e[h]);
}

size_t srp_cache_insert_batch(srp_cache *c, const uint8_t *frames, const uint8_t *ids,
                              size_t count, uint64_t source_key, double now, int member) {
    size_t inserted = 0;
    /* The victims to come when this source is at its share (the share rule replaces its
     * oldest frame: the head of its FIFO, then the next, ...); else none is predicted. */
    uint32_t s = find_src(c, h32(&source_key, 8, c->seed), source_key);
    int replacing = s != NIL && c->srcs[s].count >= c->share_slots && c->share_slots < c->slots;
    uint32_t next = NIL; /* the victim after the current one: its record prefetched */
    if (replacing) {
        uint32_t head = c->srcs[s].head;
        prefetch_record(c, head);
        next = c->e[head].src_next;
        if (next != NIL) prefetch_record(c, next);
        prefetch_removal(c, head);
    }
    if (count > 0) prefetch_slots(c, frames, ids);
    if (count > 1) prefetch_slots(c, frames + SRP_PACKET_BYTES, ids + 32);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *f = frames + i * SRP_PACKET_BYTES, *id = ids + 32 * i;
        if (replacing && next != NIL) { /* one victim ahead: its removal; two: its record */
            prefetch_removal(c, next);
            next = c->e[next].src_next;
            if (next != NIL) prefetch_record(c, next);
        }
        if (i + 2 < count) prefetch_slots(c, f + 2 * SRP_PACKET_BYTES, id + 64);
        if (i + 1 < count) prefetch_heads(c, f + SRP_PACKET_BYTES, id + 32);
        inserted += srp_cache_insert(c, f, id, source_key, now, member) == SRP_CACHE_INSERTED;
    }
    return inserted;
}
