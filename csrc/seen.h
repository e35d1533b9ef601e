/* The "seen" pre-filter (SPEC 6, 9.4): a bounded, expiring, set-associative table that lets the
 * data plane drop a gossip duplicate BEFORE paying SHA-256 for its packetId.
 *
 * Key = XXH3-64 (seeded, secret per process) of the frame's immutable bytes: everything except
 * hops (6), ttl (16..19) and postage (20), i.e. bytes 0..5, 7..15, 21..1157 (seen.c: the 16
 * bytes 0..5, 7..15, 21 hashed with the seed XOR the seeded hash of 22..1157). A hit only means
 * "maybe seen": the caller must confirm it (srp_cache compares the immutable bytes with the
 * cached frame the hint points at, or falls back to the full packetId) before dropping, so a
 * first copy is never dropped by a filter collision. Plain C, no Python. */
#ifndef SRP_SEEN_H
#define SRP_SEEN_H
#include <stddef.h>
#include <stdint.h>

#define SRP_SEEN_WAYS 4           /* slots per bucket: one 64-byte cache line */
#define SRP_SEEN_NONE UINT32_MAX  /* "no value stored yet" */
#define SRP_SEEN_VARIANT (UINT32_MAX - 1) /* "this exact copy was a variant" (cache.c) */

typedef struct srp_seen srp_seen;

/* 2^log2_slots slots (rounded up to whole buckets; log2_slots in 4..28). A key stays remembered
 * for at least `horizon` seconds and at most 2x that (two generations), unless pushed out of its
 * bucket by newer keys. Returns NULL on bad arguments or out of memory. */
srp_seen *srp_seen_new(unsigned log2_slots, double horizon, uint64_t seed);
void srp_seen_free(srp_seen *s);
size_t srp_seen_memory_bytes(const srp_seen *s);
/* What srp_seen_new(log2_slots, ...) allocates, before creating it (for budgeting). */
size_t srp_seen_bytes_for(unsigned log2_slots);

/* The filter key of one 1158-byte frame (immutable bytes only, seeded XXH3-64). */
uint64_t srp_seen_key(const srp_seen *s, const uint8_t *frame);
/* The same, and (tail_out, if not NULL) the seeded hash of bytes 22..1157 it was made from:
 * everything below the header a relay may not alter (cluster, to, previousId, nextId and the
 * message area), for a caller keying the same frame otherwise without hashing it again. */
uint64_t srp_seen_key_tail(const srp_seen *s, const uint8_t *frame, uint64_t *tail_out);

/* Start loading the bucket of key into the CPU cache (a batch computes every key first, then
 * checks: the table is far larger than the caches, so each check is otherwise a miss). */
void srp_seen_prefetch(const srp_seen *s, uint64_t key);

/* Seeded XXH3-64 of any bytes (used for source keys and table hashing). */
uint64_t srp_hash64(const void *data, size_t len, uint64_t seed);

/* Look key up at time now. Present and alive: refresh it, store its value in *value (may be
 * SRP_SEEN_NONE) and return 1 ("maybe seen"). Absent: add it with value SRP_SEEN_NONE and
 * return 0 (certainly new since the horizon, barring eviction from a full bucket). */
int srp_seen_check_and_add(srp_seen *s, uint64_t key, double now, uint32_t *value);

/* Attach a value (e.g. the cache slot of the frame) to a key already present; no-op if absent. */
void srp_seen_set_value(srp_seen *s, uint64_t key, uint32_t value);

#endif
