/* Bounded, expiring "seen" pre-filter: see seen.h. */
#include "seen.h"

#include <stdlib.h>
#include <string.h>

#include "bigalloc.h"
#include "frame.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

typedef struct {
    uint64_t key;
    uint32_t stamp; /* generation + 1; 0 = empty */
    uint32_t value;
} seen_slot;

struct srp_seen {
    seen_slot *slots;
    uint64_t bucket_mask; /* buckets - 1 */
    double period;        /* seconds per generation (= horizon) */
    uint64_t seed;
};

uint64_t srp_hash64(const void *data, size_t len, uint64_t seed) {
    return XXH3_64bits_withSeed(data, len, seed);
}

srp_seen *srp_seen_new(unsigned log2_slots, double horizon, uint64_t seed) {
    if (log2_slots < 4 || log2_slots > 28 || !(horizon > 0.0)) return NULL;
    srp_seen *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t buckets = ((size_t)1 << log2_slots) / SRP_SEEN_WAYS;
    /* pages of their own at any size: keys land at random, so a small filter on a reused
     * heap chunk would be resident whole from the start (bigalloc.h) */
    s->slots = srp_big_calloc_paged(buckets * SRP_SEEN_WAYS, sizeof(seen_slot));
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->bucket_mask = buckets - 1;
    s->period = horizon;
    s->seed = seed;
    return s;
}

void srp_seen_free(srp_seen *s) {
    if (!s) return;
    srp_big_free_paged(s->slots, (s->bucket_mask + 1) * SRP_SEEN_WAYS, sizeof(seen_slot));
    free(s);
}

size_t srp_seen_memory_bytes(const srp_seen *s) {
    return sizeof *s + (size_t)(s->bucket_mask + 1) * SRP_SEEN_WAYS * sizeof(seen_slot);
}

size_t srp_seen_bytes_for(unsigned log2_slots) {
    return sizeof(srp_seen) + ((size_t)1 << log2_slots) * sizeof(seen_slot);
}

uint64_t srp_seen_key(const srp_seen *s, const uint8_t *frame) {
    /* Skip the fields a relay changes (hops, ttl, postage: SPEC 2), so every copy of a packet
     * has the same key whatever path it took: the 15 immutable header bytes before ttl are
     * hashed first and seed the hash of bytes 21..1157 (no streaming state to set up). */
    uint8_t head[15];
    memcpy(head, frame, SRP_OFF_HOPS);
    memcpy(head + SRP_OFF_HOPS, frame + SRP_OFF_FLAGS, SRP_OFF_TTL - SRP_OFF_FLAGS);
    uint64_t h = XXH3_64bits_withSeed(head, sizeof head, s->seed);
    return XXH3_64bits_withSeed(frame + SRP_OFF_RESERVED, SRP_PACKET_BYTES - SRP_OFF_RESERVED, h);
}

static uint32_t generation(const srp_seen *s, double now) {
    double g = now / s->period;
    if (!(g > 0.0)) return 1;                   /* negative or NaN clocks: generation 0 */
    if (g >= 4.0e9) g = 4.0e9;                  /* stays inside uint32 */
    return (uint32_t)g + 1;
}

void srp_seen_prefetch(const srp_seen *s, uint64_t key) {
    __builtin_prefetch(s->slots + (size_t)(key & s->bucket_mask) * SRP_SEEN_WAYS, 1, 1);
}

int srp_seen_check_and_add(srp_seen *s, uint64_t key, double now, uint32_t *value) {
    uint32_t gen = generation(s, now);
    seen_slot *b = s->slots + (size_t)(key & s->bucket_mask) * SRP_SEEN_WAYS;
    int victim = 0;
    uint32_t oldest = UINT32_MAX;
    for (int i = 0; i < SRP_SEEN_WAYS; i++) {
        /* alive = stamped in this generation or the previous one */
        int alive = b[i].stamp != 0 && gen - b[i].stamp <= 1 && b[i].stamp <= gen;
        if (alive && b[i].key == key) {
            b[i].stamp = gen;
            *value = b[i].value;
            return 1;
        }
        uint32_t age_rank = alive ? b[i].stamp : 0; /* dead slots are reused first */
        if (age_rank < oldest) {
            oldest = age_rank;
            victim = i;
        }
    }
    b[victim].key = key;
    b[victim].stamp = gen;
    b[victim].value = SRP_SEEN_NONE;
    *value = SRP_SEEN_NONE;
    return 0;
}

void srp_seen_set_value(srp_seen *s, uint64_t key, uint32_t value) {
    seen_slot *b = s->slots + (size_t)(key & s->bucket_mask) * SRP_SEEN_WAYS;
    for (int i = 0; i < SRP_SEEN_WAYS; i++) {
        if (b[i].stamp != 0 && b[i].key == key) {
            b[i].value = value;
            return;
        }
    }
}
