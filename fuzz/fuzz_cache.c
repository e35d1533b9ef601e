/* Sanitizer fuzz driver for csrc/cache.c, cache_query.c, seen.c and dataplane.c (issue 13).
 * Built with -fsanitize=address,undefined. A small cache (so eviction, the per-source share and
 * expiry run constantly) takes random operations: offers of valid, mutated, truncated and
 * duplicate frames from many sources, batch offers, runs of inserts from one source
 * (srp_cache_insert_batch), data-plane batches with a random candidate
 * table and rate mask, expiry with postage, removals, and every query (summary, bucket, prefix
 * lists with out-of-range nibbles and depths, lowest hops, chains). Invariants checked after
 * every step: count <= slots, memory <= capacity, per-source share, and that an id the cache
 * says it holds returns a frame whose recomputed packetId is that id. */
#include "fuzz_common.h"
#include "cache.h"
#include "dataplane.h"
#include "seen.h"

#define CAP (400u * 1158u)
enum { BATCH = 24, STRIDE = SRP_PACKET_BYTES + 2 };

static void check_cache(srp_cache *c) {
    if (srp_cache_count(c) > srp_cache_slots(c) || srp_cache_memory_bytes(c) > CAP) {
        fprintf(stderr, "cache over its bound\n"); abort();
    }
    for (size_t s = 0; s < srp_cache_slots(c); s++) {
        const uint8_t *frame, *id; double exp; uint64_t src; int member;
        if (!srp_cache_slot(c, s, &frame, &id, &exp, &src, &member)) continue;
        uint8_t ref[32];
        srp_frame_packet_id(frame, ref);
        if (memcmp(ref, id, 32) || !srp_cache_contains(c, id)) { fprintf(stderr, "cache id mismatch\n"); abort(); }
    }
}

int main(int argc, char **argv) {
    fz_seed("fuzz_cache");
    clock_t end = fz_deadline(argc, argv);
    srp_cache *c = srp_cache_new_ex(CAP, 1.0 / 8, (int)fz_below(2), 5.0, fz_u64());
    if (!c) abort();
    srp_dataplane *dp = srp_dp_new(c, 3, 16, fz_u64());
    srp_seen *seen = srp_seen_new(4 + fz_below(6), 3.0, fz_u64());
    if (!dp || !seen) abort();
    static uint8_t buf[BATCH * STRIDE], out[BATCH * 16 * SRP_PACKET_BYTES], out_addrs[BATCH * 16 * 28];
    static uint8_t ids[BATCH * 32], expired[8 * SRP_PACKET_BYTES];
    uint32_t lens[BATCH], runs[2 * BATCH * 16], up_index[BATCH];
    uint64_t keys[BATCH];
    uint8_t up_kind[BATCH], drop[BATCH], verdicts[BATCH];
    double now = 1000.0;
    unsigned long steps = 0, offered = 0;
    while (fz_running(end)) {
        now += fz_below(4) == 0 ? 1.0 + fz_below(20) : 0.001;
        size_t n = 1 + fz_below(BATCH);
        for (size_t i = 0; i < n; i++) {
            uint8_t *d = buf + i * STRIDE;
            if (i > 0 && fz_below(4) == 0) memcpy(d, buf + fz_below((unsigned)i) * STRIDE, STRIDE);  /* dups */
            else fz_frame(d, fz_below(3) ? SRP_PUBLISH : 0, fz_below(SRP_MESSAGE_BYTES + 1));
            if (fz_below(3) == 0) fz_mutate(d, STRIDE);
            if (fz_below(5) == 0) d[SRP_OFF_HOPS] = (uint8_t)fz_u64();    /* mutable fields: */
            if (fz_below(5) == 0) d[SRP_OFF_POSTAGE] = (uint8_t)fz_u64(); /* variants of one id */
            lens[i] = fz_below(12) == 0 ? fz_below(STRIDE) : SRP_PACKET_BYTES;
            keys[i] = fz_below(3) ? 1 + fz_below(12) : fz_u64();
            drop[i] = fz_below(8) == 0;
        }
        switch (fz_below(8)) {
        case 0: case 1: case 2: {  /* the data plane over a batch */
            if (fz_below(16) == 0) {
                size_t np = fz_below(8);
                uint8_t addrs[8 * 28]; uint64_t pk[8]; double w[8]; uint8_t hard[8];
                fz_bytes(addrs, sizeof addrs);
                for (size_t p = 0; p < np; p++) { pk[p] = 1 + fz_below(12); w[p] = 0.1 + fz_below(5); hard[p] = fz_below(2); }
                srp_dp_set_peers(dp, np, addrs, pk, w, hard);
                srp_dp_set_self_hard(dp, (int)fz_below(2));
                uint8_t tags[2 * 16] = {0}, subs[2 * 32];
                tags[16] = 1; fz_bytes(subs, sizeof subs);
                srp_dp_set_membership(dp, fz_below(3), tags, fz_below(3), subs);
            }
            size_t n_out = 0, n_runs = 0, n_up = 0;
            srp_dp_process(dp, buf, STRIDE, lens, keys, fz_below(2) ? drop : NULL, n, now, out,
                           out_addrs, fz_below(BATCH * 16 + 1), &n_out, runs, &n_runs, up_index, up_kind,
                           &n_up, ids);
            if (n_up > n) abort();
            for (size_t u = 0; u < n_up; u++) if (up_index[u] >= n) abort();
            break;
        }
        case 3:
            if (fz_below(2)) {
                srp_cache_offer_batch(c, buf, STRIDE, lens, n, keys, (int)fz_below(2), now,
                                      (int)fz_below(2), verdicts);
                break;
            }
            /* a publisher's run: the valid frames, ids computed, one source, one call
             * (srp_cache_insert_batch, cache_batch.c: prefetch hints on every path) */
            static uint8_t run[BATCH * SRP_PACKET_BYTES], run_ids[BATCH * 32];
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                if (lens[i] != SRP_PACKET_BYTES ||
                    srp_frame_validate(buf + i * STRIDE, SRP_PACKET_BYTES) != SRP_OK)
                    continue;
                memcpy(run + m * SRP_PACKET_BYTES, buf + i * STRIDE, SRP_PACKET_BYTES);
                srp_frame_packet_id(run + m * SRP_PACKET_BYTES, run_ids + 32 * m);
                m++;
            }
            if (srp_cache_insert_batch(c, run, run_ids, m, keys[0], now, (int)fz_below(2)) > m)
                abort();
            break;
        case 4: {
            uint8_t id[32];
            for (size_t i = 0; i < n; i++) srp_cache_offer(c, buf + i * STRIDE, lens[i], keys[i], now, (int)fz_below(2), id);
            break;
        }
        case 5: {
            size_t w;
            while ((w = srp_cache_expire(c, now, expired, 8)) == 8) {}
            (void)w;
            srp_cache_next_expiry(c);
            break;
        }
        case 6: {  /* queries with hostile nibbles and depths */
            uint8_t nib[70]; uint32_t counts[16]; uint64_t hashes[16], h; uint32_t cnt;
            static uint8_t list[64 * 32];
            for (size_t i = 0; i < sizeof nib; i++) nib[i] = (uint8_t)(fz_below(8) ? fz_below(16) : fz_u64());
            size_t depth = fz_below(70);
            srp_cache_summary(c, nib, depth % 5, counts, hashes);
            srp_cache_bucket(c, nib, depth % 5, &cnt, &h);
            srp_cache_ids_with_prefix(c, nib, depth, list, fz_below(65));
            uint8_t tag[16] = {0};
            srp_cache_lowest_hops(c, fz_below(65), fz_below(2) ? tag : NULL, list);
            srp_cache_by_previous(c, buf + SRP_OFF_PREVIOUS, list, fz_below(65));
            srp_cache_by_next(c, buf + SRP_OFF_NEXT, list);
            break;
        }
        default: {  /* lookups/removals by ids, seen filter directly */
            uint8_t id[32];
            if (srp_frame_validate(buf, lens[0]) == SRP_OK) {
                srp_frame_packet_id(buf, id);
                const uint8_t *f = srp_cache_get(c, id);
                if (f && memcmp(f + SRP_OFF_PREVIOUS, buf + SRP_OFF_PREVIOUS, 32)) abort();
                if (fz_below(2)) srp_cache_remove(c, id);
            }
            uint32_t v;
            uint64_t k = srp_seen_key(seen, buf);
            srp_seen_prefetch(seen, k);
            if (srp_seen_check_and_add(seen, k, now, &v) == 0) srp_seen_set_value(seen, k, (uint32_t)fz_u64());
            else if (!srp_seen_check_and_add(seen, k, now, &v)) { fprintf(stderr, "seen forgot a key\n"); abort(); }
            srp_hash64(buf, fz_below(STRIDE), fz_u64());
        }
        }
        offered += n;
        check_cache(c);
        steps++;
    }
    uint64_t cc[SRP_CC_COUNT], dc[SRP_DPC_COUNT];
    srp_cache_counters(c, cc);
    srp_dp_counters(dp, dc);
    printf("fuzz_cache: %lu steps (%lu datagrams), cache %zu/%zu entries, inserted=%llu "
           "evicted=%llu expired=%llu variants=%llu, dataplane cached=%llu forwarded=%llu\n",
           steps, offered, srp_cache_count(c), srp_cache_slots(c), (unsigned long long)cc[SRP_CC_INSERTED],
           (unsigned long long)cc[SRP_CC_EVICTED], (unsigned long long)cc[SRP_CC_EXPIRED],
           (unsigned long long)cc[SRP_CC_VARIANTS], (unsigned long long)dc[SRP_DPC_CACHED],
           (unsigned long long)dc[SRP_DPC_FORWARDED]);
    srp_dp_free(dp);
    srp_cache_free(c);
    srp_seen_free(seen);
    return 0;
}
