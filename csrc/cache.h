/* The bounded replication cache (SPEC 6, 7, 9.4): whole 1158-byte frames keyed by packetId.
 *
 * - Bounded by bytes: every structure is allocated once by srp_cache_new and the total
 *   (srp_cache_memory_bytes) never exceeds capacity_bytes; each entry is charged
 *   srp_cache_entry_bytes() = that total / slots (1158 bytes of frame plus its metadata and its
 *   share of every index, heap, table and the seen pre-filter).
 * - O(1) insert / lookup / remove (open-addressing index on a seeded hash of the id).
 * - Expiry in order of expiry time (a run of in-order inserts, O(1), merged with a heap for
 *   the others: cache_expiry.h): work proportional to what expires.
 * - Eviction at capacity: non-member packets first, then member ones; within a class the one
 *   nearest to expiry (ties: oldest arrival); never the most recently inserted packet.
 * - Fairness: a source holds at most floor(slots * source_share) entries (at least 1); at its
 *   share, its own oldest packet is replaced (SRP_SHARE_REPLACE, default) or the insert is
 *   refused (SRP_SHARE_REFUSE).
 * - Selection by hop count (17 buckets 0..16, globally and per cluster tag), chains by
 *   previousId / nextId, and a 16-way prefix tree of depth 3 with XOR hashes for SYNC.
 * Plain C, no Python; not thread-safe (one cache per data-plane thread). */
#ifndef SRP_CACHE_H
#define SRP_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define SRP_CACHE_HOP_BUCKETS 17  /* hops 0..16 (MAX_HOPS); larger hop counts share bucket 16 */
#define SRP_CACHE_TREE_DEPTH 3    /* prefix tree levels below the root, one hex nibble each */
#define SRP_CACHE_MIN_SLOTS 4

enum srp_cache_verdict {
    SRP_CACHE_INSERTED = 0,
    SRP_CACHE_DUPLICATE,       /* already cached (same packetId) */
    SRP_CACHE_REFUSED_SHARE,   /* source at its share and policy is REFUSE */
    SRP_CACHE_INVALID,         /* srp_cache_offer only: failed srp_frame_validate */
    SRP_CACHE_VARIANT,         /* same packetId as a cached packet, other immutable header
                                * (clock, index, type, flags, cluster, to): not cached. A relay
                                * cannot tell which copy is genuine (SPEC 9.1), so it forwards
                                * this one too; members decide by opening it. */
    SRP_CACHE_VERDICTS
};

enum srp_share_policy { SRP_SHARE_REPLACE = 0, SRP_SHARE_REFUSE = 1 };

/* Counter indexes for srp_cache_counters (stable: exported to Python by name). */
enum srp_cache_counter {
    SRP_CC_INSERTED = 0,
    SRP_CC_DUPLICATES,      /* all duplicates, including ... */
    SRP_CC_DUP_PREFILTER,   /* ... those dropped by the seen pre-filter without SHA-256 */
    SRP_CC_REFUSED_SHARE,
    SRP_CC_SHARE_REPLACED,  /* own oldest packet replaced because the source was at its share */
    SRP_CC_EVICTED,         /* dropped for capacity */
    SRP_CC_EXPIRED,
    SRP_CC_REBROADCAST,     /* expired with postage left: handed back to re-broadcast once */
    SRP_CC_INVALID,
    SRP_CC_REMOVED,         /* srp_cache_remove by the caller */
    SRP_CC_VARIANTS,        /* SRP_CACHE_VARIANT verdicts (first sight of each variant) */
    SRP_CC_COUNT
};
const char *srp_cache_counter_name(int counter);

typedef struct srp_cache srp_cache;

/* NULL when capacity_bytes cannot hold SRP_CACHE_MIN_SLOTS entries, source_share is not in
 * (0, 1], or memory is short. srp_cache_new = REPLACE policy, 120 s pre-filter horizon, a
 * random hashing seed. */
srp_cache *srp_cache_new(size_t capacity_bytes, double source_share);
srp_cache *srp_cache_new_ex(size_t capacity_bytes, double source_share, int share_policy,
                            double seen_horizon, uint64_t seed);
void srp_cache_free(srp_cache *c);

size_t srp_cache_count(const srp_cache *c);
size_t srp_cache_slots(const srp_cache *c);         /* max entries */
size_t srp_cache_share_slots(const srp_cache *c);   /* max entries per source */
size_t srp_cache_entry_bytes(const srp_cache *c);   /* bytes charged per entry */
size_t srp_cache_bytes_used(const srp_cache *c);    /* count * entry_bytes */
size_t srp_cache_memory_bytes(const srp_cache *c);  /* everything allocated, <= capacity */
void srp_cache_counters(const srp_cache *c, uint64_t out[SRP_CC_COUNT]);
uint64_t srp_cache_seed(const srp_cache *c);

/* Insert a frame already validated, with its packetId (e.g. from srp_frame_check_batch). ttl
 * and postage are read from the frame; expiry = now + ttl. Returns an srp_cache_verdict. Does
 * not touch the seen pre-filter (the SHA-256 is already paid): a later copy offered through
 * srp_cache_offer is found by id once, then by the filter. */
int srp_cache_insert(srp_cache *c, const uint8_t *frame, const uint8_t id[32], uint64_t source_key,
                     double now, int member);
/* srp_cache_insert of count frames (count x 1158 bytes) with their ids (count x 32) from one
 * source; returns how many were inserted. The same results, one insert after the other,
 * with the memory the next inserts touch prefetched (csrc/cache_batch.c). */
size_t srp_cache_insert_batch(srp_cache *c, const uint8_t *frames, const uint8_t *ids,
                              size_t count, uint64_t source_key, double now, int member);
/* Same with an explicit expiry time (restoring a saved cache). */
int srp_cache_insert_expiring(srp_cache *c, const uint8_t *frame, const uint8_t id[32],
                              uint64_t source_key, double now, double expires, int member);
/* The data-plane path: validate n bytes, drop a duplicate through the seen pre-filter when it
 * can be confirmed without SHA-256, else compute the packetId and insert. id_out (may be NULL)
 * receives the packetId unless the verdict is SRP_CACHE_INVALID. */
int srp_cache_offer(srp_cache *c, const uint8_t *d, size_t n, uint64_t source_key, double now,
                    int member, uint8_t *id_out);
/* srp_cache_offer in two phases, so a batch caller can hash the survivors in pairs
 * (srp_frame_packet_id_x2): prefilter returns 1 for a duplicate confirmed without SHA-256
 * (counted; id_out, if not NULL, gets its id), else 0 and the filter key in *fp_out, which
 * srp_cache_insert_fp then takes with the computed id. d must be a valid frame. */
int srp_cache_prefilter(srp_cache *c, const uint8_t *d, double now, uint64_t *fp_out,
                        uint8_t *id_out);
/* srp_cache_prefilter split once more for batches: the filter key of d (its pre-filter
 * bucket is prefetched), then the check with that key. */
uint64_t srp_cache_filter_key(const srp_cache *c, const uint8_t *d);
/* The same, and the keyed hash of d's bytes 22..1157 it was made from (srp_seen_key_tail). */
uint64_t srp_cache_filter_key_tail(const srp_cache *c, const uint8_t *d, uint64_t *tail);
/* A hint before inserting frame d with packetId id and filter key fp (a few inserts ahead):
 * the cache memory its insert reads (its id slot, chain and leaf buckets, the pre-filter
 * bucket srp_cache_insert_fp writes its slot into) is requested now. No effect on any
 * result. Returns the id's hash in this cache, for srp_cache_insert_fp_h. */
uint32_t srp_cache_prefetch_insert(const srp_cache *c, const uint8_t *d, const uint8_t id[32],
                                   uint64_t fp);
/* A second hint, some inserts after srp_cache_prefetch_insert requested id's leaf slot and
 * some before the insert: the record at the head of id's summary-tree leaf list, whose link
 * the insert writes (a record at random: the rest an insert links to is the last insert of
 * its source, hop count or cluster, mostly still in cache). No effect on any result. */
void srp_cache_prefetch_leaf(const srp_cache *c, const uint8_t id[32]);
int srp_cache_prefilter_key(srp_cache *c, const uint8_t *d, double now, uint64_t fp,
                            uint8_t *id_out);
int srp_cache_insert_fp(srp_cache *c, const uint8_t *d, const uint8_t id[32], uint64_t fp,
                        uint64_t source_key, double now, int member);
/* srp_cache_insert_fp given the hash srp_cache_prefetch_insert returned for this id on this
 * cache (the data plane hints every insert ahead: the 32 bytes are not hashed twice). */
int srp_cache_insert_fp_h(srp_cache *c, const uint8_t *d, const uint8_t id[32], uint32_t id_hash,
                          uint64_t fp, uint64_t source_key, double now, int member);
/* srp_cache_offer over count datagrams every `stride` bytes of buf with sizes lens (NULL: all
 * 1158), sources[i] (or sources[0] for all when one_source), verdicts[i] out. Returns inserted. */
size_t srp_cache_offer_batch(srp_cache *c, const uint8_t *buf, size_t stride, const uint32_t *lens,
                             size_t count, const uint64_t *sources, int one_source, double now,
                             int member, uint8_t *verdicts);

/* Stored frame (1158 bytes) or NULL. The pointer is valid until the next mutating call. */
const uint8_t *srp_cache_get(const srp_cache *c, const uint8_t id[32]);
int srp_cache_contains(const srp_cache *c, const uint8_t id[32]);
/* out[i] = 1 when ids[32*i..] is cached. Returns how many are. */
size_t srp_cache_contains_batch(const srp_cache *c, const uint8_t *ids, size_t count, uint8_t *out);
int srp_cache_remove(srp_cache *c, const uint8_t id[32]); /* 1 removed, 0 absent */

/* Expire everything with expiry <= now. Packets whose decremented postage is still > 0 are
 * written to out (1158 bytes each, byte 20 = the decremented postage) and dropped; the others
 * are dropped. Stops early (leaving the rest for the next call) when max_out frames are written:
 * call again while it returns max_out. */
size_t srp_cache_expire(srp_cache *c, double now, uint8_t *out, size_t max_out);
/* Earliest expiry time in the cache, or +infinity when empty (to arm a timer). */
double srp_cache_next_expiry(const srp_cache *c);

/* Up to k ids (32 bytes each into ids_out) of the lowest hop counts, restricted to one 16-byte
 * cluster tag unless cluster is NULL. Cost O(k + 17). Returns how many were written. */
size_t srp_cache_lowest_hops(const srp_cache *c, size_t k, const uint8_t *cluster,
                             uint8_t *ids_out);

/* Ids of cached packets whose previousId is prev (not all-zero); up to max. */
size_t srp_cache_by_previous(const srp_cache *c, const uint8_t prev[32], uint8_t *ids_out,
                             size_t max);
/* The cached packet whose nextId is next (the fragment before it): 1 and id_out, or 0. */
int srp_cache_by_next(const srp_cache *c, const uint8_t next[32], uint8_t id_out[32]);

/* SYNC summary. A prefix is `depth` hex nibbles of packetIds (nibbles[i] in 0..15, high nibble
 * of byte 0 first). Bucket hash = XOR over member ids of bytes 8..15 read big-endian.
 * srp_cache_summary (depth 0..2): count and hash of the 16 child buckets. */
int srp_cache_summary(const srp_cache *c, const uint8_t *nibbles, size_t depth, uint32_t counts[16],
                      uint64_t hashes[16]);
/* Count and hash of one bucket (depth 0..3); depth 0 is the whole cache. */
int srp_cache_bucket(const srp_cache *c, const uint8_t *nibbles, size_t depth, uint32_t *count,
                     uint64_t *hash);
/* Ids with this prefix (depth 0..64 nibbles), up to max. Walks 16^(3-min(depth,3)) leaf lists. */
size_t srp_cache_ids_with_prefix(const srp_cache *c, const uint8_t *nibbles, size_t depth,
                                 uint8_t *ids_out, size_t max);

/* Iteration for persistence: slot in 0..srp_cache_slots()-1. Returns 0 for an empty slot. */
int srp_cache_slot(const srp_cache *c, size_t slot, const uint8_t **frame, const uint8_t **id,
                   double *expires, uint64_t *source_key, int *member);

#endif
