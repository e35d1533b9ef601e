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
#include "cache_impl.h" /* (the indexes' sizes: a check of the whole cache follows each doubling) */
#include "dataplane.h"
#include "fuzz_tables.h"
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

/* The whole of a round's cache against its slots: every live entry found by its id (the id
 * index), each index's live count that of the records it indexes (ids: entries; sources and
 * clusters: the distinct ones of the live entries), and the summary tree (SPEC 6), its leaf
 * buckets computed from their lists (cache_query.c leaf_bucket), equal at every level to the
 * count and hash of the live ids under each prefix. */
static void check_round_cache(srp_cache *c, size_t cap) {
    static uint32_t leaf_n[LEAVES];
    static uint64_t leaf_h[LEAVES];
    static uint8_t src_seen[1u << 14], cl_seen[1u << 14];
    size_t n = srp_cache_slots(c), live = 0, srcs = 0, cls = 0;
    if (srp_cache_count(c) > n || srp_cache_memory_bytes(c) > cap || n > sizeof src_seen) abort();
    memset(leaf_n, 0, sizeof leaf_n);
    memset(leaf_h, 0, sizeof leaf_h);
    memset(src_seen, 0, n);
    memset(cl_seen, 0, n);
    for (size_t s = 0; s < n; s++) {
        if (!c->e[s].used) continue;
        const entry *x = &c->e[s];
        uint8_t ref[32];
        srp_frame_packet_id(frame_at(c, (uint32_t)s), ref);
        if (memcmp(ref, x->id, 32) || find_id(c, h32(x->id, 32, c->seed), x->id) != s) {
            fprintf(stderr, "cache round: entry %zu not found by its id (%zu index slots)\n", s,
                    c->ids.mask + 1);
            abort();
        }
        if (find_src(c, h32(&c->srcs[x->src].key, 8, c->seed), c->srcs[x->src].key) != x->src ||
            find_cl(c, h32(c->cls[x->cl].tag, 16, c->seed), c->cls[x->cl].tag) != x->cl) {
            fprintf(stderr, "cache round: entry %zu's source or cluster record lost\n", s);
            abort();
        }
        srcs += !src_seen[x->src]; src_seen[x->src] = 1;
        cls += !cl_seen[x->cl]; cl_seen[x->cl] = 1;
        leaf_n[leaf_of(x->id)]++;
        leaf_h[leaf_of(x->id)] ^= be64(x->id + 8);
        live++;
    }
    if (live != c->count || c->ids_g.live != live || c->src_g.live != srcs || c->cl_g.live != cls) {
        fprintf(stderr, "cache round: live %zu/%zu, index counts %zu %zu %zu (sources %zu, clusters %zu)\n",
                live, c->count, c->ids_g.live, c->src_g.live, c->cl_g.live, srcs, cls);
        abort();
    }
    /* the tree: each level's (count, hash) from the one below, the leaves from the ids */
    static uint32_t tn[4][LEAVES];
    static uint64_t th[4][LEAVES];
    memcpy(tn[3], leaf_n, sizeof leaf_n);
    memcpy(th[3], leaf_h, sizeof leaf_h);
    for (int depth = 2; depth >= 0; depth--)
        for (size_t v = 0; v < ((size_t)1 << (4 * depth)); v++) {
            tn[depth][v] = 0; th[depth][v] = 0;
            for (size_t j = 0; j < 16; j++) {
                tn[depth][v] += tn[depth + 1][v * 16 + j];
                th[depth][v] ^= th[depth + 1][v * 16 + j];
            }
        }
    for (int depth = 0; depth <= 3; depth++)
        for (size_t v = 0; v < ((size_t)1 << (4 * depth)); v++) {
            uint8_t nib[3] = {0, 0, 0};
            uint32_t cnt, counts[16];
            uint64_t hash, hashes[16];
            for (int d = 0; d < depth; d++) nib[d] = (uint8_t)(v >> (4 * (depth - 1 - d)) & 15);
            if (srp_cache_bucket(c, nib, (size_t)depth, &cnt, &hash) || cnt != tn[depth][v] ||
                hash != th[depth][v]) {
                fprintf(stderr, "cache round: tree bucket depth %d prefix %zx: %u/%llx, ids give %u/%llx\n",
                        depth, v, cnt, (unsigned long long)hash, tn[depth][v],
                        (unsigned long long)th[depth][v]);
                abort();
            }
            if (depth < 3 && (depth < 2 || fz_below(16) == 0)) { /* its children, as SYNC asks */
                if (srp_cache_summary(c, nib, (size_t)depth, counts, hashes)) abort();
                for (size_t j = 0; j < 16; j++)
                    if (counts[j] != tn[depth + 1][v * 16 + j] || hashes[j] != th[depth + 1][v * 16 + j]) {
                        fprintf(stderr, "cache round: summary depth %d prefix %zx child %zu\n", depth, v, j);
                        abort();
                    }
            }
        }
}

/* A round of its own (session 16): a fresh cache of 4 to ~2,000 entries whose three indexes
 * start at 512 slots and double up to 2 per entry, fed several times its size in frames of
 * many sources and clusters (so every index doubles, some several times), with repeats,
 * variants, removals and expiry, every insert past the bound evicting: after each doubling and
 * every few steps, the whole cache against its slots (check_round_cache). */
static unsigned long cr_rounds, cr_inserts, cr_doublings;

static void cache_round(void) {
    /* (the struct alone is ~22 KiB of the bound: 20 KiB more is a cache of 4 entries) */
    size_t cap = 42000u + fz_below(fz_below(3) == 0 ? 300 : 2600) * 1300u;
    srp_cache *c = srp_cache_new_ex(cap, fz_below(2) ? 1.0 : 1.0 / (1 + fz_below(8)),
                                    (int)fz_below(2), 1.0 + fz_below(5), fz_u64());
    if (!c) { fprintf(stderr, "cache round: no cache of %zu bytes\n", cap); abort(); }
    size_t n = srp_cache_slots(c);
    static uint8_t tags[2048][16], frame[SRP_PACKET_BYTES];
    size_t ntags = 1 + fz_below((unsigned)(n < 2048 ? n : 2048)), nsrc = 1 + fz_below(2 * (unsigned)n);
    fz_bytes(&tags[0][0], sizeof tags);
    uint64_t salt = fz_u64();
    double now = 1000.0;
    size_t steps = 2 * n + fz_below(4 * (unsigned)n);
    for (size_t step = 0; step < steps; step++) {
        size_t masks = c->ids.mask + c->src_ix.mask + c->cl_ix.mask;
        unsigned op = fz_below(16);
        uint8_t id[32];
        if (op == 0 && c->count) { /* a removal */
            size_t s = fz_below((unsigned)n);
            while (!c->e[s].used) s = (s + 1) % n;
            memcpy(id, c->e[s].id, 32);
            if (srp_cache_remove(c, id) != 1 || srp_cache_contains(c, id)) abort();
        } else if (op == 1 && fz_below(4) == 0) { /* time passes: expiry */
            static uint8_t out[16 * SRP_PACKET_BYTES];
            now += fz_below(8);
            while (srp_cache_expire(c, now, out, 16) == 16) {}
        } else if (op == 2 && c->count) { /* a copy of a live entry: duplicate or variant */
            size_t s = fz_below((unsigned)n), before = c->count;
            while (!c->e[s].used) s = (s + 1) % n;
            memcpy(frame, frame_at(c, (uint32_t)s), SRP_PACKET_BYTES);
            memcpy(id, c->e[s].id, 32);
            if (fz_below(2)) frame[SRP_OFF_HOPS] ^= 1;
            int v = srp_cache_insert(c, frame, id, tb_mix(salt ^ fz_below((unsigned)nsrc)), now, 0);
            if ((v != SRP_CACHE_DUPLICATE && v != SRP_CACHE_VARIANT) || c->count != before) abort();
        } else { /* a new frame */
            /* (8 random bytes at least: the packetId covers previousId, message, nextId only,
             * and fz_frame draws those ids from a pool of 8) */
            fz_frame(frame, SRP_PUBLISH, 8 + fz_below(SRP_MESSAGE_BYTES - 7));
            memcpy(frame + SRP_OFF_CLUSTER, tags[fz_below((unsigned)ntags)], 16);
            /* most live long enough for the cache to fill; some expire within the round */
            srp_put32(frame + SRP_OFF_TTL, 1 + fz_below(fz_below(4) ? 100000 : 30));
            srp_frame_packet_id(frame, id);
            if (srp_cache_contains(c, id)) { fprintf(stderr, "cache round: an id never inserted is found\n"); abort(); }
            int v = srp_cache_insert(c, frame, id, tb_mix(salt ^ fz_below((unsigned)nsrc)), now,
                                     (int)fz_below(2));
            if (v == SRP_CACHE_INSERTED) {
                cr_inserts++;
                if (!srp_cache_contains(c, id)) { fprintf(stderr, "cache round: the insert is not found\n"); abort(); }
            } else if (v != SRP_CACHE_REFUSED_SHARE) {
                abort();
            }
        }
        if (c->ids.mask + c->src_ix.mask + c->cl_ix.mask != masks) {
            cr_doublings++;
            check_round_cache(c, cap);
        } else if (fz_below(64) == 0) {
            check_round_cache(c, cap);
        }
    }
    check_round_cache(c, cap);
    srp_cache_free(c);
    cr_rounds++;
}

int main(int argc, char **argv) {
    fz_seed("fuzz_cache");
    clock_t end = fz_deadline(argc, argv);
    srp_cache *c = srp_cache_new_ex(CAP, 1.0 / 8, (int)fz_below(2), 5.0, fz_u64());
    if (!c) abort();
    /* a copy filter of 16 to 65,536 keys (csrc/keyset.h): a small one reaches its bound */
    srp_dataplane *dp = srp_dp_new_ex(c, 3, 16, fz_u64(), (size_t)16 << fz_below(13));
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
        if (fz_below(1024) == 0) { /* the growth rounds (fuzz_tables.h, cache_round) */
            if ((fz_u64() >> 33) & 1) cache_round(); /* (high bits: the low ones follow the test above) */
            else tables_round();
        }
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
    printf("fuzz_cache: growth rounds: %lu caches (%lu inserts, %lu index doublings), %lu key sets, "
           "%lu pre-filters, %lu open-addressing indexes (%lu doublings), %lu whole-model checks\n",
           cr_rounds, cr_inserts, cr_doublings, tb_rounds[0], tb_rounds[1], tb_rounds[2],
           tb_doublings, tb_checks);
    srp_dp_free(dp);
    srp_cache_free(c);
    srp_seen_free(seen);
    return 0;
}
