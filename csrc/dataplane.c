/* The relay data plane: see dataplane.h. No allocation per packet (the copy filter doubles
 * as copies come, a few times an engine, up to its bound: keyset.h); the candidate table is a
 * flat array with a Walker alias table over the weights, so a weighted pick is O(1) and
 * almost branch-free (a binary search on prefix sums cost ~11% of the relay in a profile). */
#include "dataplane.h"
#include "bigalloc.h"
#include "framecopy.h"
#include "keyset.h"
#include "seen.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

typedef struct {
    uint8_t addr[SRP_DP_ADDR_BYTES];
    uint64_t key;
    uint32_t alias;      /* Walker alias table: the other outcome of this column */
    uint32_t threshold;  /* pick this peer when the low 32 random bits are below it */
    uint8_t hard;
} dp_peer;

typedef struct {
    const uint8_t *frame;  /* the received frame (valid for the whole process call) */
    uint32_t peer;         /* index of the chosen next hop */
} dp_emit;

#define SEEN_COPIES 65536  /* srp_dp_new's: 512 KiB, the default Config.seen_ids */

struct srp_dataplane {
    srp_cache *cache;
    dp_peer *peers;
    size_t npeers;
    unsigned fanout, max_hops;
    int policy;              /* enum srp_dp_policy */
    unsigned spray_depth;
    int self_hard;
    uint8_t tags[SRP_DP_MAX_MEMBERS][16];
    size_t ntags;
    uint8_t subs[SRP_DP_MAX_MEMBERS][32];
    size_t nsubs;
    uint64_t rng;
    uint64_t counters[SRP_DPC_COUNT];
    /* Forwarding decisions of one srp_dp_process call, emitted grouped at its end. */
    dp_emit *emits;
    size_t emits_cap;
    uint32_t group[SRP_DP_MAX_PEERS];  /* per peer: frames in this call */
    uint32_t slot[SRP_DP_MAX_PEERS];   /* per peer: its next output slot */
    /* Copies handled before (keyed hash of the copy key: packetId + the header bytes a relay
     * could alter, replication._copy_key), beyond the cache: an expired or evicted frame
     * that comes again (an expiry re-broadcast, a forged copy we evicted) is a duplicate,
     * as on the control plane's path, not a new packet to cache and relay again. Without it
     * expiry re-broadcasts and evicted forgeries circulated until their hops ran out. */
    uint64_t seen_seed;
    /* Config.seen_ids keys at its bound (csrc/keyset.h: it grows to it as copies come). Its
     * buckets are cache lines, the ones pass 3 prefetches (a bucket straddling two lines
     * stalled the probe on the second: ~17% of srp_dp_process's own time in a relay
     * profile). */
    srp_keyset seen;
};

static const char *const counter_names[SRP_DPC_COUNT] = {
    "valid", "size", "magic", "type", "version", "flags", "length", "padding",
    "duplicate", "refused", "cached", "forwarded", "hop_limit", "no_peers", "up_control",
    "up_deliver", "out_full", "variant", "hops", "rate", "seen", "spray_wait",
};

/* The copy key (replication._copy_key: the packetId and the header fields a relay could alter
 * unnoticed: type, version, flags, clock, index, length, cluster, to), keyed, made from the
 * pre-filter's hash of bytes 22..1157 (srp_cache_filter_key_tail) and the header bytes 4, 5,
 * 7..15. In a valid frame bytes 22..1157 are the cluster tag, `to`, previousId, nextId and
 * the message area, zero past `length`: they determine the packetId (SPEC 2) and, barring a
 * SHA-256 collision, the packetId and `length` determine them, so both keys name the same
 * copies. It was XXH3 of the packetId and 72 masked header bytes, computed after SHA-256: a
 * second hash of each new frame's bytes, ~130 instructions a new PUBLISH where this is one
 * multiply (XXH3's 9..16-byte path). */
static uint64_t copy_key(const srp_dataplane *dp, const uint8_t *d, uint64_t tail) {
    uint8_t head[11];
    memcpy(head, d + SRP_OFF_TYPE, 2);
    memcpy(head + 2, d + SRP_OFF_FLAGS, SRP_OFF_TTL - SRP_OFF_FLAGS);
    uint64_t h = XXH3_64bits_withSeed(head, sizeof head, dp->seen_seed ^ tail);
    return h ? h : 1;
}

const char *srp_dp_counter_name(int counter) {
    return (counter >= 0 && counter < SRP_DPC_COUNT) ? counter_names[counter] : "unknown";
}

uint64_t srp_dp_counter(const srp_dataplane *dp, int counter) {
    return (counter >= 0 && counter < SRP_DPC_COUNT) ? dp->counters[counter] : 0;
}

static uint64_t next_rand(srp_dataplane *dp) { /* xorshift64*: deterministic per seed */
    uint64_t x = dp->rng;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    dp->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

srp_dataplane *srp_dp_new(srp_cache *cache, unsigned fanout, unsigned max_hops, uint64_t seed) {
    return srp_dp_new_ex(cache, fanout, max_hops, seed, SEEN_COPIES);
}

srp_dataplane *srp_dp_new_ex(srp_cache *cache, unsigned fanout, unsigned max_hops, uint64_t seed,
                             size_t seen_copies) {
    if (!cache || fanout == 0 || fanout > 16) return NULL;
    /* The struct in pages of its own (bigalloc.h): 8 KiB of it are per-peer arrays
     * (group, slot: SRP_DP_MAX_PEERS) that a peer with few candidates never reaches, where
     * a malloc chunk would be cleared, so made resident, whole. */
    srp_dataplane *dp = srp_big_calloc_paged(1, sizeof *dp);
    if (!dp) return NULL;
    /* The seen filter holds seen_copies rounded up to a power of two (at least 16 buckets);
     * a small device (the simulator's engines) sizes it with its cache. */
    int seen_failed = srp_ks_init(&dp->seen, seen_copies, 28);
    /* (48 KiB, written only as far as the candidates go: pages of its own, bigalloc.h) */
    dp->peers = srp_big_calloc_paged(SRP_DP_MAX_PEERS, sizeof *dp->peers);
    if (!dp->peers || seen_failed) {
        srp_dp_free(dp);
        return NULL;
    }
    dp->cache = cache;
    dp->fanout = fanout;
    dp->max_hops = max_hops;
    dp->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    dp->seen_seed = srp_hash64(&dp->rng, sizeof dp->rng, 0x5EE5EE5EE5ull);
    return dp;
}

void srp_dp_free(srp_dataplane *dp) {
    if (!dp) return;
    free(dp->emits); /* grown once to the caller's batch: a few KiB, stays on malloc */
    srp_big_free_paged(dp->peers, SRP_DP_MAX_PEERS, sizeof *dp->peers);
    srp_ks_free(&dp->seen);
    srp_big_free_paged(dp, 1, sizeof *dp);
}

size_t srp_dp_set_peers(srp_dataplane *dp, size_t n, const uint8_t *addrs, const uint64_t *keys,
                        const double *weights, const uint8_t *hard) {
    if (n > SRP_DP_MAX_PEERS) n = SRP_DP_MAX_PEERS;
    /* The alias construction's working arrays (16 KiB) are this call's, on the stack: in the
     * struct they were pages every engine kept resident for a table it builds now and then
     * (a simulator holds thousands of engines). */
    double scratch[SRP_DP_MAX_PEERS];
    uint32_t small[SRP_DP_MAX_PEERS], large[SRP_DP_MAX_PEERS];
    double total = 0.0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(weights[i] > 0.0) || weights[i] > 1e300) continue; /* rejects NaN, inf, <= 0 */
        dp_peer *p = &dp->peers[kept];
        memcpy(p->addr, addrs + i * SRP_DP_ADDR_BYTES, SRP_DP_ADDR_BYTES);
        p->key = keys[i];
        p->hard = hard ? hard[i] : 0;
        scratch[kept++] = weights[i];
        total += weights[i];
    }
    dp->npeers = kept;
    /* Vose's construction of the alias table: scaled weights (mean 1) split into columns. */
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < kept; i++) {
        scratch[i] *= (double)kept / total;
        if (scratch[i] < 1.0) small[ns++] = (uint32_t)i; else large[nl++] = (uint32_t)i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        dp->peers[s].threshold = (uint32_t)(scratch[s] * 4294967295.0);
        dp->peers[s].alias = l;
        scratch[l] -= 1.0 - scratch[s];
        if (scratch[l] < 1.0) { nl--; small[ns++] = l; }
    }
    while (nl) { uint32_t l = large[--nl]; dp->peers[l].threshold = UINT32_MAX; dp->peers[l].alias = l; }
    while (ns) { uint32_t s = small[--ns]; dp->peers[s].threshold = UINT32_MAX; dp->peers[s].alias = s; }
    return kept;
}

void srp_dp_set_self_hard(srp_dataplane *dp, int hard) { dp->self_hard = hard != 0; }

void srp_dp_set_policy(srp_dataplane *dp, int policy, unsigned spray_depth) {
    dp->policy = (policy == SRP_DP_FLOOD || policy == SRP_DP_SPRAY) ? policy : SRP_DP_WEIGHTED;
    dp->spray_depth = spray_depth;
}

void srp_dp_set_membership(srp_dataplane *dp, size_t ntags, const uint8_t *tags, size_t nsubs,
                           const uint8_t *subs) {
    if (ntags > SRP_DP_MAX_MEMBERS) ntags = SRP_DP_MAX_MEMBERS;
    if (nsubs > SRP_DP_MAX_MEMBERS) nsubs = SRP_DP_MAX_MEMBERS;
    memcpy(dp->tags, tags, ntags * 16);
    memcpy(dp->subs, subs, nsubs * 32);
    dp->ntags = ntags;
    dp->nsubs = nsubs;
}

static int eligible(const srp_dataplane *dp, size_t i, uint64_t exclude_key,
                    const uint32_t *picked, size_t npicked) {
    const dp_peer *p = &dp->peers[i];
    if (exclude_key && p->key == exclude_key) return 0;
    if (dp->self_hard && p->hard) return 0; /* SPEC 6: a Hard peer never picks Hard peers */
    for (size_t j = 0; j < npicked; j++)
        if (picked[j] == i) return 0;
    return 1;
}

size_t srp_dp_choose(srp_dataplane *dp, uint64_t exclude_key, size_t k, uint32_t *idx_out) {
    size_t n = 0;
    if (dp->npeers == 0 || k == 0) return 0;
    /* Few candidates (a relay's table is often hardly bigger than its fan-out): when at most
     * k are eligible, the sample without replacement is all of them, found in one sweep. The
     * draws below would keep hitting the excluded sender and the peers already picked: ~7
     * draws for 3 of 4 with the sender excluded, 3% of a relay's CPU (docs/NET.md). */
    if (dp->npeers <= k + 1) {
        size_t m = 0;
        for (size_t i = 0; i < dp->npeers; i++) m += (size_t)eligible(dp, i, exclude_key, NULL, 0);
        if (m <= k) {
            for (size_t i = 0; i < dp->npeers; i++)
                if (eligible(dp, i, exclude_key, NULL, 0)) idx_out[n++] = (uint32_t)i;
            return n;
        }
    }
    /* Weighted sampling without replacement: a few alias-table draws, then a linear sweep
     * from a random start if draws keep colliding with excluded or already picked peers. */
    for (unsigned attempt = 0; n < k && attempt < 4 * k; attempt++) {
        uint64_t r = next_rand(dp);
        size_t col = (size_t)(((r >> 32) * (uint64_t)dp->npeers) >> 32);
        size_t pick = (uint32_t)r < dp->peers[col].threshold ? col : dp->peers[col].alias;
        if (eligible(dp, pick, exclude_key, idx_out, n)) idx_out[n++] = (uint32_t)pick;
    }
    if (n < k) {
        size_t start = (size_t)(next_rand(dp) % dp->npeers);
        for (size_t s = 0; s < dp->npeers && n < k; s++) {
            size_t i = (start + s) % dp->npeers;
            if (eligible(dp, i, exclude_key, idx_out, n)) idx_out[n++] = (uint32_t)i;
        }
    }
    return n;
}

static int is_member(const srp_dataplane *dp, const uint8_t *d, int *deliver) {
    const uint8_t *tag = d + SRP_OFF_CLUSTER, *to = d + SRP_OFF_TO;
    int in_cluster = 0;
    for (size_t i = 0; i < dp->ntags; i++)
        if (!memcmp(dp->tags[i], tag, 16)) { in_cluster = 1; break; }
    *deliver = 0;
    if (!in_cluster) return 0;
    for (size_t i = 0; i < dp->nsubs; i++)
        if (!memcmp(dp->subs[i], to, 32)) { *deliver = 1; break; }
    return 1;
}

/* Per-item state within one chunk of a batch. */
enum { ST_DROP = 0, ST_CONTROL, ST_NEW };
/* Pass 3 prefetches the seen-filter bucket and the cache's insert slots this many items
 * ahead. 16, not 8, since it also requests the cache's lines (srp_cache_prefetch_insert):
 * relay CPU per input 3-5% lower in two interleaved A/B sets of 6 runs (bench relay row). */
#define SEEN_AHEAD 16
/* ... and the record its insert links in front of, in its leaf list (srp_cache_prefetch_leaf),
 * this many ahead: by then the leaf slot that names it, requested SEEN_AHEAD items ahead, has
 * come. In a relay of 16 sources and 7 hop counts into a 16 MiB cache, 2% less CPU per new
 * PUBLISH; on the bench's one stream into 4 MiB, +0.3% (within noise): same-process A/B,
 * session 16. */
#define LEAF_AHEAD 8
#define DP_CHUNK 256

/* Record the next hops of a new PUBLISH; frames are copied out, grouped, by emit_grouped. */
static void forward(srp_dataplane *dp, const uint8_t *d, uint64_t src, size_t out_cap,
                    size_t *nout) {
    uint32_t picks[16];
    if (d[SRP_OFF_HOPS] >= dp->max_hops) { dp->counters[SRP_DPC_HOP_LIMIT]++; return; }
    size_t k;
    if (dp->policy == SRP_DP_FLOOD) {  /* every eligible peer but the sender */
        k = 0;
        for (size_t i = 0; i < dp->npeers; i++) {
            if (!eligible(dp, i, src, NULL, 0)) continue;
            if (*nout >= out_cap) { dp->counters[SRP_DPC_OUT_FULL]++; return; }
            dp->emits[*nout].frame = d;
            dp->emits[*nout].peer = (uint32_t)i;
            (*nout)++;
            dp->counters[SRP_DPC_FORWARDED]++;
            k++;
        }
        if (k == 0) dp->counters[SRP_DPC_NO_PEERS]++;
        return;
    }
    if (dp->policy == SRP_DP_SPRAY && (unsigned)d[SRP_OFF_HOPS] + 1 >= dp->spray_depth) {
        dp->counters[SRP_DPC_SPRAY_WAIT]++;
        return;
    }
    /* A subscriber whose one peer is the publisher: nobody to forward to, known without the
     * dozen alias-table draws srp_dp_choose would make to find that out, per frame. */
    if (dp->npeers == 1 && !eligible(dp, 0, src, NULL, 0)) {
        dp->counters[SRP_DPC_NO_PEERS]++;
        return;
    }
    k = srp_dp_choose(dp, src, dp->policy == SRP_DP_SPRAY ? 2 : dp->fanout, picks);
    if (k == 0) { dp->counters[SRP_DPC_NO_PEERS]++; return; }
    for (size_t j = 0; j < k; j++) {
        if (*nout >= out_cap) { dp->counters[SRP_DPC_OUT_FULL]++; return; }
        dp->emits[*nout].frame = d;
        dp->emits[*nout].peer = picks[j];
        (*nout)++;
        dp->counters[SRP_DPC_FORWARDED]++;
    }
}

/* Copy the recorded emits out grouped by next hop (a stable counting sort), runs of at least
 * SRP_DP_RUN_MIN first: see dataplane.h. Returns the number of runs written to runs. */
static size_t emit_grouped(srp_dataplane *dp, size_t n, uint8_t *out_frames, uint8_t *out_addrs,
                           uint32_t *runs) {
    uint32_t *count = dp->group, *slot = dp->slot;
    memset(count, 0, dp->npeers * sizeof *count);
    for (size_t e = 0; e < n; e++) count[dp->emits[e].peer]++;
    size_t nruns = 0;
    uint32_t at = 0;
    for (size_t p = 0; p < dp->npeers; p++)
        if (count[p] >= SRP_DP_RUN_MIN) {
            runs[2 * nruns] = at;
            runs[2 * nruns + 1] = count[p];
            nruns++;
            slot[p] = at;
            at += count[p];
        }
    for (size_t p = 0; p < dp->npeers; p++)
        if (count[p] && count[p] < SRP_DP_RUN_MIN) {
            slot[p] = at;
            at += count[p];
        }
    for (size_t e = 0; e < n; e++) {
        const dp_emit *m = &dp->emits[e];
        uint32_t k = slot[m->peer]++;
        uint8_t *o = out_frames + (size_t)k * SRP_PACKET_BYTES;
        srp_copy_frame(o, m->frame);
        o[SRP_OFF_HOPS] = (uint8_t)(m->frame[SRP_OFF_HOPS] + 1);
        memcpy(out_addrs + (size_t)k * SRP_DP_ADDR_BYTES, dp->peers[m->peer].addr,
               SRP_DP_ADDR_BYTES);
    }
    return nruns;
}

void srp_dp_process(srp_dataplane *dp, const uint8_t *buf, size_t stride, const uint32_t *lens,
                    const uint64_t *src_keys, const uint8_t *drop, size_t count, double now,
                    uint8_t *out_frames, uint8_t *out_addrs, size_t out_cap, size_t *n_out,
                    uint32_t *runs, size_t *n_runs,
                    uint32_t *up_index, uint8_t *up_kind, size_t *n_up, uint8_t *ids) {
    size_t nout = 0, nup = 0;
    if (out_cap > dp->emits_cap) { /* grows to the caller's batch once, never per packet */
        dp_emit *e = realloc(dp->emits, out_cap * sizeof *e);
        if (e) { dp->emits = e; dp->emits_cap = out_cap; }
        else out_cap = dp->emits_cap; /* out of memory: forward less, counted as out_full */
    }
    uint8_t state[DP_CHUNK];
    uint64_t fps[DP_CHUNK];
    uint64_t tails[DP_CHUNK];  /* (the pre-filter's hash of bytes 22..1157: copy_key) */
    uint32_t need[DP_CHUNK];
    uint64_t cks[DP_CHUNK];
    uint32_t hids[DP_CHUNK];   /* (each new frame's id hash in the cache: its insert hint's) */
    for (size_t base = 0; base < count; base += DP_CHUNK) {
        size_t m = count - base < DP_CHUNK ? count - base : DP_CHUNK, nneed = 0;
        /* Pass 1: validate; control packets go up; each PUBLISH gets its pre-filter key,
         * and the filter's bucket is prefetched for pass 1b. */
        for (size_t j = 0; j < m; j++) {
            size_t i = base + j;
            const uint8_t *d = buf + i * stride;
            size_t n = lens ? lens[i] : SRP_PACKET_BYTES;
            state[j] = ST_DROP;
            if (drop && drop[i]) { dp->counters[SRP_DPC_RATE]++; continue; }
            if (n > stride) n = stride + 1; /* truncated in its slot: certainly not a frame */
            int v = srp_frame_validate(d, n);
            dp->counters[v]++;
            if (v != SRP_OK) continue;
            /* The control plane drops any frame past max_hops (drop.hops); so does C, before
             * the cache: an over-hop PUBLISH must not take cache room (SPEC 6, 7). */
            if (d[SRP_OFF_HOPS] > dp->max_hops) { dp->counters[SRP_DPC_HOPS]++; continue; }
            if (d[SRP_OFF_TYPE] != 5 /* PUBLISH */) { state[j] = ST_CONTROL; continue; }
            fps[j] = srp_cache_filter_key_tail(dp->cache, d, &tails[j]);
            state[j] = ST_NEW;
        }
        /* Pass 1b: PUBLISH duplicates die in the pre-filter before any SHA-256 (SPEC 6:
         * gossip delivers most packets several times). */
        for (size_t j = 0; j < m; j++) {
            if (state[j] != ST_NEW) continue;
            size_t i = base + j;
            if (srp_cache_prefilter_key(dp->cache, buf + i * stride, now, fps[j], ids + 32 * i)) {
                dp->counters[SRP_DPC_DUPLICATE]++;
                state[j] = ST_DROP;
                continue;
            }
            cks[j] = copy_key(dp, buf + i * stride, tails[j]);
            need[nneed++] = (uint32_t)j;
        }
        /* Pass 2: packetIds two at a time (SHA-NI is latency-bound per stream), frames of
         * equal hashed length paired (frame.c). */
        srp_frame_packet_ids(buf + base * stride, stride, need, nneed, ids + 32 * base);
        /* The seen-filter buckets of the new frames (by copy key) and their cache insert slots
         * (by packetId) prefetched for pass 3: the 512 KiB filter is rarely in cache under
         * load, and probing it cold stalled pass 3 (~8% of a relay's data-plane time in a
         * profile, bench engine relay). The first SEEN_AHEAD here, the rest SEEN_AHEAD items
         * ahead of pass 3: a whole batch's worth issued at once queued behind each other and
         * most came too late (the probe in pass 3 was still ~4% of a subscriber's CPU). */
        for (size_t k = 0; k < nneed && need[k] < SEEN_AHEAD; k++) {
            size_t j = need[k];
            __builtin_prefetch(srp_ks_bucket(&dp->seen, cks[j]), 1, 3);
            hids[j] = srp_cache_prefetch_insert(dp->cache, buf + (base + j) * stride,
                                                ids + 32 * (base + j), fps[j]);
        }
        /* Pass 3, in arrival order: insert, hand up, forward with hops+1. */
        for (size_t j = 0; j < m; j++) {
            size_t i = base + j;
            const uint8_t *d = buf + i * stride;
            if (j + SEEN_AHEAD < m && state[j + SEEN_AHEAD] == ST_NEW) {
                __builtin_prefetch(srp_ks_bucket(&dp->seen, cks[j + SEEN_AHEAD]), 1, 3);
                /* and what its cache insert reads (the id slot, leaf and tree buckets: cold
                 * in a cache larger than L2, a relay's insert waited on them; the pre-filter
                 * bucket it writes the frame's slot into, out of L1 since pass 1b) */
                hids[j + SEEN_AHEAD] =
                    srp_cache_prefetch_insert(dp->cache, buf + (i + SEEN_AHEAD) * stride,
                                              ids + 32 * (i + SEEN_AHEAD), fps[j + SEEN_AHEAD]);
            }
            if (j + LEAF_AHEAD < m && state[j + LEAF_AHEAD] == ST_NEW)
                srp_cache_prefetch_leaf(dp->cache, ids + 32 * (i + LEAF_AHEAD));
            if (state[j] == ST_CONTROL) {
                up_index[nup] = (uint32_t)i;
                up_kind[nup++] = SRP_DP_UP_CONTROL;
                dp->counters[SRP_DPC_UP_CONTROL]++;
                continue;
            }
            if (state[j] != ST_NEW) continue;
            int deliver;
            int member = is_member(dp, d, &deliver);
            uint64_t src = src_keys ? src_keys[i] : 0;
            uint64_t ck = cks[j];
            int known = srp_ks_has(&dp->seen, ck);
            if (known && !srp_cache_contains(dp->cache, ids + 32 * i)) {
                dp->counters[SRP_DPC_SEEN]++;
                continue;
            }
            /* (every new frame's insert was hinted, SEEN_AHEAD items ahead or before pass 3,
             * so hids[j] is its id's hash) */
            int r = srp_cache_insert_fp_h(dp->cache, d, ids + 32 * i, hids[j], fps[j], src, now,
                                          member);
            if (r == SRP_CACHE_DUPLICATE) { dp->counters[SRP_DPC_DUPLICATE]++; continue; }
            /* (a key the filter holds is not added twice: repeats of one variant filled its
             * bucket with one key, and the filter then doubled to its bound in one call) */
            if ((r == SRP_CACHE_INSERTED || r == SRP_CACHE_VARIANT) && !known)
                srp_ks_add(&dp->seen, ck);
            if (r == SRP_CACHE_VARIANT) {
                /* Same packetId, another header: one copy was altered on the way and a relay
                 * cannot tell which (SPEC 9.1). Forward this one as well so a forged copy that
                 * came first cannot stop the real one; members decide by opening it. */
                dp->counters[SRP_DPC_VARIANT]++;
                if (deliver) {
                    up_index[nup] = (uint32_t)i;
                    up_kind[nup++] = SRP_DP_UP_VARIANT;
                }
                forward(dp, d, src, out_cap, &nout);
                continue;
            }
            if (r != SRP_CACHE_INSERTED) { dp->counters[SRP_DPC_REFUSED]++; continue; }
            dp->counters[SRP_DPC_CACHED]++;
            if (deliver) {
                up_index[nup] = (uint32_t)i;
                up_kind[nup++] = SRP_DP_UP_DELIVER;
                dp->counters[SRP_DPC_UP_DELIVER]++;
            }
            forward(dp, d, src, out_cap, &nout);
        }
    }
    *n_runs = emit_grouped(dp, nout, out_frames, out_addrs, runs);
    *n_out = nout;
    *n_up = nup;
}

void srp_dp_counters(const srp_dataplane *dp, uint64_t out[SRP_DPC_COUNT]) {
    memcpy(out, dp->counters, sizeof dp->counters);
}
