/* The relay data plane (ARCHITECTURE: "a PUBLISH that only needs relaying never enters Python";
 * SPEC 6 STATE_4, 7, 9). One call per receive batch:
 *   validate -> (PUBLISH) seen pre-filter + packetId + dedup + cache (srp_cache_offer)
 *   -> choose FANOUT next hops by weight (excluding the sender; a Hard peer never picks Hard
 *   peers) -> copy with hops+1 into the output batch, addressed for sendmmsg.
 * What the control plane must see is handed up by index: control packets (every other type)
 * and PUBLISH packets newly cached for a subcluster this peer holds keys for (to deliver).
 * Plain C, no Python; the control plane pushes the candidate table down when it changes. */
#ifndef SRP_DATAPLANE_H
#define SRP_DATAPLANE_H
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "frame.h"

#define SRP_DP_MAX_PEERS 1024
#define SRP_DP_MAX_MEMBERS 64   /* subclusters / cluster tags this peer belongs to */
#define SRP_DP_ADDR_BYTES 28    /* an opaque sockaddr (srp_sockaddr of udp.h) */

/* Why a datagram was handed up to the control plane. */
enum srp_dp_up {
    SRP_DP_UP_CONTROL = 1,
    SRP_DP_UP_DELIVER = 2,  /* new, cached and forwarded, for a subcluster we hold */
    SRP_DP_UP_VARIANT = 3,  /* forwarded, NOT cached: the cache holds another copy with the
                             * same packetId and another header (SPEC 9.1); members open it
                             * and keep whichever copy opens */
};

/* Counters (stable order: exported to Python by name). The first SRP_VERDICTS are frame
 * verdicts (index 0 counts valid datagrams). */
enum srp_dp_counter {
    SRP_DPC_DUPLICATE = SRP_VERDICTS, /* PUBLISH already seen/cached: dropped */
    SRP_DPC_REFUSED,                  /* cache refused (source at its share) */
    SRP_DPC_CACHED,                   /* new PUBLISH cached */
    SRP_DPC_FORWARDED,                /* frames emitted to next hops */
    SRP_DPC_HOP_LIMIT,                /* new PUBLISH not forwarded: hops reached max_hops */
    SRP_DPC_NO_PEERS,                 /* new PUBLISH with no eligible next hop */
    SRP_DPC_UP_CONTROL,
    SRP_DPC_UP_DELIVER,
    SRP_DPC_OUT_FULL,                 /* output batch full: forward skipped (counted) */
    SRP_DPC_VARIANT,                  /* SRP_CACHE_VARIANT: forwarded, not cached */
    SRP_DPC_HOPS,                     /* hops above max_hops: dropped, like the control plane's
                                       * drop.hops (one hop rule on both paths, SPEC 2/6) */
    SRP_DPC_RATE,                     /* the caller's rate mask dropped it (SPEC 9.6) */
    SRP_DPC_SEEN,                     /* a copy handled before, no longer cached (expired,
                                       * evicted): not cached or forwarded again (SPEC 6) */
    SRP_DPC_SPRAY_WAIT,               /* spray-and-wait policy: cached, not forwarded (its
                                       * copies are spent: the "wait" phase) */
    SRP_DPC_COUNT
};
const char *srp_dp_counter_name(int counter);

typedef struct srp_dataplane srp_dataplane;
/* One counter's current value (0 for an unknown index). */
uint64_t srp_dp_counter(const srp_dataplane *dp, int counter);

srp_dataplane *srp_dp_new(srp_cache *cache, unsigned fanout, unsigned max_hops, uint64_t seed);
/* The same with a seen filter (copies handled before, beyond the cache) of seen_copies keys,
 * rounded up to a power of two (Config.seen_ids); srp_dp_new's holds 65,536 (512 KiB). */
srp_dataplane *srp_dp_new_ex(srp_cache *cache, unsigned fanout, unsigned max_hops, uint64_t seed,
                             size_t seen_copies);
void srp_dp_free(srp_dataplane *dp);

/* Replace the candidate table: n peers, addrs n*SRP_DP_ADDR_BYTES, keys (source keys of their
 * addresses, to recognise the sender), weights (> 0), hard (1 = Hard NAT). Returns n kept. */
size_t srp_dp_set_peers(srp_dataplane *dp, size_t n, const uint8_t *addrs, const uint64_t *keys,
                        const double *weights, const uint8_t *hard);
void srp_dp_set_self_hard(srp_dataplane *dp, int hard);

/* The replication policy (Config.replication, a simulation/research knob: docs/SIMULATION.md).
 * WEIGHTED (the default, SPEC 6): fanout next hops by weight. FLOOD: every eligible peer
 * (plain epidemic flooding). SPRAY: binary spray-and-wait on the hops byte: 2 next hops by
 * weight while hops + 1 < spray_depth, then none (the copies wait in caches for a pull). */
enum srp_dp_policy { SRP_DP_WEIGHTED = 0, SRP_DP_FLOOD = 1, SRP_DP_SPRAY = 2 };
void srp_dp_set_policy(srp_dataplane *dp, int policy, unsigned spray_depth);
/* Cluster tags (16 bytes each) this peer is in, and subcluster ids (32 bytes) it can open. */
void srp_dp_set_membership(srp_dataplane *dp, size_t ntags, const uint8_t *tags, size_t nsubs,
                           const uint8_t *subs);

/* Process count datagrams (buf at stride, true lengths lens, sender keys src_keys).
 * Forwarded frames go to out_frames (1158 bytes each) with their destination sockaddrs in
 * out_addrs; *n_out receives the count (at most out_cap). They come out GROUPED BY NEXT HOP,
 * in arrival order within each group (only the order between destinations changes, which no
 * receiver can observe): first every group of at least SRP_DP_RUN_MIN frames, each described
 * in runs as (start, count) (*n_runs pairs, runs has room for out_cap pairs), then the
 * smaller groups packed together. A driver sends each run as one UDP GSO super-datagram
 * and the rest with one sendmmsg. Items to hand up are written as (index into the batch,
 * srp_dp_up kind) to up_index/up_kind; *n_up receives the count (at most count). ids
 * (count*32) receives the packetId of each valid PUBLISH. drop (NULL: none) marks datagrams
 * whose sender is over its rate limit (nonzero): they are counted (SRP_DPC_RATE) and skipped,
 * while the rest of the batch is processed as usual (SPEC 9.6: one over-limit sender must not
 * push its neighbours off this path). A frame whose hops exceed max_hops is dropped and
 * counted (SRP_DPC_HOPS) whatever its type, never cached, forwarded or handed up. */
#define SRP_DP_RUN_MIN 4
void srp_dp_process(srp_dataplane *dp, const uint8_t *buf, size_t stride, const uint32_t *lens,
                    const uint64_t *src_keys, const uint8_t *drop, size_t count, double now,
                    uint8_t *out_frames, uint8_t *out_addrs, size_t out_cap, size_t *n_out,
                    uint32_t *runs, size_t *n_runs,
                    uint32_t *up_index, uint8_t *up_kind, size_t *n_up, uint8_t *ids);

/* Choose up to k next hops for a frame from `exclude_key` (0: nobody) into idx_out; returns
 * the count. Exposed for the control plane's own sends (publish) and for tests. */
size_t srp_dp_choose(srp_dataplane *dp, uint64_t exclude_key, size_t k, uint32_t *idx_out);

void srp_dp_counters(const srp_dataplane *dp, uint64_t out[SRP_DPC_COUNT]);
#endif
