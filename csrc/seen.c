/* Bounded, expiring "seen" pre-filter: see seen.h. */
#include "seen.h"

#include <stdlib.h>
#include <string.h>

#include "bigalloc.h"
#include "frame.h"

#define XXH_INLINE_ALL
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX2__)
/* XXH3's AVX2 long-input loop beside the build's SSE2 one, picked at run time (srp_seen_new):
 * the pre-filter key hashes 1137 bytes of every received PUBLISH. Its accumulator must be
 * 32-byte aligned for AVX2 loads. */
#include <immintrin.h>
#define SRP_SEEN_AVX2 1
#define XXH_DISPATCH_AVX2 1
#define XXH_TARGET_AVX2 __attribute__((__target__("avx2")))
#define XXH_ACC_ALIGN 64
#endif
#include <xxhash.h>

/* Bytes of a frame from the cluster tag on (22..1157): the long part of the pre-filter key.
 * It starts after the reserved byte (hashed with the header) so that the same tail hash,
 * which then covers exactly what a relay may not alter below the header, also keys the data
 * plane's copy filter (srp_seen_key_tail, dataplane.c): one pass over each frame, not two. */
#define TAIL_BYTES (SRP_PACKET_BYTES - SRP_OFF_CLUSTER)

typedef struct {
    uint64_t key;
    uint32_t stamp; /* generation + 1; 0 = empty */
    uint32_t value;
} seen_slot;

/* The slots start at 64 buckets (4 KiB) and double as keys come, up to the bound the cache
 * gave (log2_slots): keys land at random, so a filter at its bound from the first frame was
 * resident almost whole after a few dozen (a 1 MiB cache's 32 KiB filter: 93% resident at
 * ~60 frames in a 300-peer simulation). It doubles when the keys it took reach a quarter of
 * its slots, and before a live key would be pushed out: below its bound it drops nothing a
 * filter at its bound would have kept. A failed allocation keeps it at its size. */
#define FIRST_BUCKETS 64

struct srp_seen {
    seen_slot *slots;
    uint64_t bucket_mask; /* buckets - 1 */
    uint64_t max_mask;    /* ... at the bound */
    size_t added;         /* keys taken while below the bound */
    double period;        /* seconds per generation (= horizon) */
    uint64_t seed;
    int avx2;             /* the tail is hashed with XXH3's AVX2 loop */
    /* XXH3's secret for `seed` (XXH3_initCustomSecret), derived once: XXH3_64bits_withSeed
     * derives it on every call of more than 240 bytes (~1.5% of a relay's CPU). */
    uint8_t secret[XXH_SECRET_DEFAULT_SIZE];
};

/* XXH3_64bits_withSeed(frame + 22, 1136, seed) with the seed's secret already derived: for
 * inputs over 240 bytes XXH3 with a seed is XXH3 with the secret XXH3_initCustomSecret derives
 * from it (xxhash.h, XXH3_hashLong_64b_withSeed), so XXH3's public withSecret call gives the
 * same value, in the build's vector loop (SSE2 on x86-64). */
static uint64_t tail_hash(const uint8_t *frame, const uint8_t *secret) {
    return XXH3_64bits_withSecret(frame + SRP_OFF_CLUSTER, TAIL_BYTES, secret,
                                  XXH_SECRET_DEFAULT_SIZE);
}

/* The AVX2 loop is called through xxhash.h's internals (XXH3_hashLong_64b_internal and its
 * accumulate function), whose shape differs between releases: 0.8.1 passes a one-stripe
 * XXH3_accumulate_512, 0.8.2 a many-stripe XXH3_accumulate (0.8.1's arguments there compile,
 * with a warning, into a hash that skips most of the input), 0.8.0 has no XXH_DISPATCH_AVX2.
 * Only the releases whose shape is known here use it; others keep the public call. */
#if defined(SRP_SEEN_AVX2) && XXH_VERSION_NUMBER == 801
#define SRP_XXH_ACC_AVX2 XXH3_accumulate_512_avx2
#elif defined(SRP_SEEN_AVX2) && XXH_VERSION_NUMBER == 802
#define SRP_XXH_ACC_AVX2 XXH3_accumulate_avx2
#else
#undef SRP_SEEN_AVX2
#endif

#ifdef SRP_SEEN_AVX2
XXH_TARGET_AVX2 static uint64_t tail_hash_avx2(const uint8_t *frame, const uint8_t *secret) {
    return XXH3_hashLong_64b_internal(frame + SRP_OFF_CLUSTER, TAIL_BYTES, secret,
                                      XXH_SECRET_DEFAULT_SIZE, SRP_XXH_ACC_AVX2,
                                      XXH3_scrambleAcc_avx2);
}

/* AVX2 usable (the CPU and the OS: libgcc checks XCR0) and giving XXH3's own value, with the
 * seed, on a test pattern (checked once per filter: ~0.2 us): a mismatch keeps the public
 * call. */
static int use_avx2(const uint8_t *secret, uint64_t seed) {
    if (!__builtin_cpu_supports("avx2")) return 0;
    uint8_t probe[SRP_PACKET_BYTES];
    for (size_t i = 0; i < sizeof probe; i++) probe[i] = (uint8_t)(i * 131u + 7u);
    return tail_hash_avx2(probe, secret) ==
           XXH3_64bits_withSeed(probe + SRP_OFF_CLUSTER, TAIL_BYTES, seed);
}
#endif

uint64_t srp_hash64(const void *data, size_t len, uint64_t seed) {
    return XXH3_64bits_withSeed(data, len, seed);
}

srp_seen *srp_seen_new(unsigned log2_slots, double horizon, uint64_t seed) {
    if (log2_slots < 4 || log2_slots > 28 || !(horizon > 0.0)) return NULL;
    srp_seen *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t buckets = ((size_t)1 << log2_slots) / SRP_SEEN_WAYS;
    s->max_mask = buckets - 1;
    if (buckets > FIRST_BUCKETS) buckets = FIRST_BUCKETS;
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
    {   /* (derived where XXH3 wants it aligned; the loops read it unaligned) */
        XXH_ALIGN(XXH_SEC_ALIGN) uint8_t secret[XXH_SECRET_DEFAULT_SIZE];
        XXH3_initCustomSecret(secret, seed);
        memcpy(s->secret, secret, sizeof secret);
    }
#ifdef SRP_SEEN_AVX2
    s->avx2 = use_avx2(s->secret, seed);
#endif
    return s;
}

void srp_seen_free(srp_seen *s) {
    if (!s) return;
    srp_big_free_paged(s->slots, (s->bucket_mask + 1) * SRP_SEEN_WAYS, sizeof(seen_slot));
    free(s);
}

size_t srp_seen_memory_bytes(const srp_seen *s) { /* at the bound it may grow to */
    return sizeof *s + (size_t)(s->max_mask + 1) * SRP_SEEN_WAYS * sizeof(seen_slot);
}

/* Twice the buckets: an old bucket's slots go to the two buckets its keys now split into
 * (at most SRP_SEEN_WAYS each: they fit), stamps and values kept. */
static void grow(srp_seen *s) {
    size_t old_buckets = s->bucket_mask + 1, buckets = old_buckets * 2;
    seen_slot *old = s->slots, *t = srp_big_calloc_paged(buckets * SRP_SEEN_WAYS, sizeof *t);
    if (!t) {
        s->max_mask = s->bucket_mask;
        return;
    }
    for (size_t i = 0; i < old_buckets * SRP_SEEN_WAYS; i++) {
        if (!old[i].stamp) continue;
        seen_slot *b = t + (size_t)(old[i].key & (buckets - 1)) * SRP_SEEN_WAYS;
        int w = 0;
        while (b[w].stamp) w++;
        b[w] = old[i];
    }
    srp_big_free_paged(old, old_buckets * SRP_SEEN_WAYS, sizeof *old);
    s->slots = t;
    s->bucket_mask = buckets - 1;
}

size_t srp_seen_bytes_for(unsigned log2_slots) {
    return sizeof(srp_seen) + ((size_t)1 << log2_slots) * sizeof(seen_slot);
}

uint64_t srp_seen_key_tail(const srp_seen *s, const uint8_t *frame, uint64_t *tail_out) {
    /* Skip the fields a relay changes (hops, ttl, postage: SPEC 2), so every copy of a packet
     * has the same key whatever path it took: the seeded hash of bytes 22..1157 seeds the
     * hash of the 16 other immutable bytes (0..5, 7..15 and the reserved byte 21: XXH3's
     * 9..16-byte path, one multiply). (It was the tail's hash seeded with the header's, which
     * made XXH3 derive a new secret per frame.) */
    uint64_t tail;
#ifdef SRP_SEEN_AVX2
    tail = s->avx2 ? tail_hash_avx2(frame, s->secret) : tail_hash(frame, s->secret);
#else
    tail = tail_hash(frame, s->secret);
#endif
    uint8_t head[16];
    memcpy(head, frame, SRP_OFF_HOPS);
    memcpy(head + SRP_OFF_HOPS, frame + SRP_OFF_FLAGS, SRP_OFF_TTL - SRP_OFF_FLAGS);
    head[15] = frame[SRP_OFF_RESERVED];
    if (tail_out) *tail_out = tail;
    return XXH3_64bits_withSeed(head, sizeof head, s->seed ^ tail);
}

uint64_t srp_seen_key(const srp_seen *s, const uint8_t *frame) {
    return srp_seen_key_tail(s, frame, NULL);
}

static uint32_t generation(const srp_seen *s, double now) {
    double g = now / s->period;
    if (!(g > 0.0)) return 1;                   /* negative or NaN clocks: generation 0 */
    if (g >= 4.0e9) g = 4.0e9;                  /* stays inside uint32 */
    return (uint32_t)g + 1;
}

void srp_seen_prefetch(const srp_seen *s, uint64_t key) {
    /* Into L1 (locality 3): with locality 1 (prefetcht2) the bucket was not there when the
     * check came, one pass later, on the bench machine (AMD EPYC): the first read of the
     * bucket was ~3% of a relay's CPU per new PUBLISH, ~1% after. */
    __builtin_prefetch(s->slots + (size_t)(key & s->bucket_mask) * SRP_SEEN_WAYS, 1, 3);
}

int srp_seen_check_and_add(srp_seen *s, uint64_t key, double now, uint32_t *value) {
    uint32_t gen = generation(s, now);
    for (;;) {
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
        if (s->bucket_mask < s->max_mask &&
            (oldest != 0 /* a live key would go */ ||
             s->added + 1 > (s->bucket_mask + 1) * SRP_SEEN_WAYS / 4)) {
            uint64_t before = s->bucket_mask;
            grow(s);
            if (s->bucket_mask != before) continue;
        }
        if (s->bucket_mask < s->max_mask) s->added++;
        b[victim].key = key;
        b[victim].stamp = gen;
        b[victim].value = SRP_SEEN_NONE;
        *value = SRP_SEEN_NONE;
        return 0;
    }
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
