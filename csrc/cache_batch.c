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

size_t srp_cache_insert_batch(srp_cache *c, const uint8_t *frames, const uint8_t *ids,
                              size_t count, uint64_t source_key, double now, int member) {
    size_t inserted = 0;
    /* The victims to come when this source is at its share (the share rule replaces its
     * oldest frame: the head of its FIFO, then the next, ...): the first one's removal and
     * the second's record here; each insert then prefetches the next two (cache.c,
     * prefetch_next_victim). */
    uint32_t s = find_src(c, h32(&source_key, 8, c->seed), source_key);
    if (s != NIL && c->srcs[s].count >= c->share_slots && c->share_slots < c->slots) {
        uint32_t head = c->srcs[s].head;
        prefetch_record(c, head);
        if (c->e[head].src_next != NIL) prefetch_record(c, c->e[head].src_next);
        (void)prefetch_removal(c, head);
    }
    if (count > 0) prefetch_slots(c, frames, ids);
    if (count > 1) prefetch_slots(c, frames + SRP_PACKET_BYTES, ids + 32);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *f = frames + i * SRP_PACKET_BYTES, *id = ids + 32 * i;
        /* The frame prefetch_slots reads (chain ids) two inserts on, and copies: requested
         * here so neither that read nor the copy waits on memory (a run of received frames
         * larger than the CPU caches: most of an insert's time was that read's stall). */
        if (i + 4 < count)
            for (size_t off = 0; off < SRP_PACKET_BYTES; off += 64)
                __builtin_prefetch(f + 4 * SRP_PACKET_BYTES + off, 0, 3);
        if (i + 2 < count) prefetch_slots(c, f + 2 * SRP_PACKET_BYTES, id + 64);
        if (i + 1 < count) prefetch_heads(c, f + SRP_PACKET_BYTES, id + 32);
        inserted += srp_cache_insert(c, f, id, source_key, now, member) == SRP_CACHE_INSERTED;
    }
    return inserted;
}
