/* Benchmark ceilings in bench-only C (never part of the runtime extensions): the bare work a
 * figure's path must do, in a C loop, so bench/ tables have a true limit to stand beside.
 * Built on demand by bench/ceilings.py (gcc, -O3, against csrc/ and libsodium). */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "seal.h"

/* Open (XChaCha20-Poly1305 with 123 bytes of AD) one ciphertext of plain_len bytes,
 * `iterations` times: the primitive open_batch runs per frame (csrc/seal.c srp_xchacha_open:
 * one wide keystream call, Poly1305, verify, XOR), without framing: no header, no AD
 * gathering, no copy back, no status. Returns the number that failed (0 expected). */
long srp_ceiling_open(const uint8_t key[32], long iterations, long plain_len) {
    uint8_t m[1024], c[1024], out[1024], ad[123], nonce[24];
    unsigned long long clen = 0;
    long bad = 0;
    if (plain_len < 0 || plain_len > 984) return -1;
    for (int i = 0; i < 1024; i++) m[i] = (uint8_t)i;
    for (int i = 0; i < 123; i++) ad[i] = (uint8_t)i;
    for (int i = 0; i < 24; i++) nonce[i] = (uint8_t)(7 * i);
    crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, m, (unsigned long long)plain_len, ad,
                                               sizeof ad, NULL, nonce, key);
    for (long i = 0; i < iterations; i++)
        bad += srp_xchacha_open(out, c, (size_t)plain_len, ad, sizeof ad, nonce, key) != 0;
    return bad;
}

/* Seal (XChaCha20-Poly1305, 123 bytes of AD) plain_len bytes `iterations` times: the
 * primitive seal_batch and the publish chain run per frame (csrc/seal.c srp_xchacha_seal,
 * byte for byte libsodium's AEAD encrypt in one keystream pass), without framing. */
long srp_ceiling_seal(const uint8_t key[32], long iterations, long plain_len) {
    uint8_t m[1024 + 16], ad[123], nonce[24];
    if (plain_len < 0 || plain_len > 984) return -1;
    for (int i = 0; i < 1024; i++) m[i] = (uint8_t)i;
    for (int i = 0; i < 123; i++) ad[i] = (uint8_t)i;
    for (int i = 0; i < 24; i++) nonce[i] = (uint8_t)(7 * i);
    for (long i = 0; i < iterations; i++) {
        nonce[0] = (uint8_t)i;
        srp_xchacha_seal(m, (size_t)plain_len, ad, sizeof ad, nonce, key);
    }
    return m[0];
}

/* The bare per-packet work SPEC 6/7 asks of a relay for a NEW PUBLISH, with srpfast's fastest
 * primitives and none of its bookkeeping: validate the frame (SPEC 2), its packetId
 * (SHA-256, two frames interleaved as csrc/frame.c does), store a copy findable by that id
 * (frames written in turn into a ring of `slots`, the id's XXH3 indexing a table of ring
 * positions: no metadata, eviction order, share accounting or duplicate filter) and `fanout`
 * copies out with hops+1 (a relay must write each next hop's datagram; 0: a subscriber with
 * nobody to forward to). `frames` holds
 * `nframes` (a multiple of 64) valid frames taken 64 at a time, `rounds` passes over them.
 * Returns frames that failed validation (0 expected), -1 on bad arguments or no memory. */
#define XXH_INLINE_ALL
#include <stdlib.h>
#include <xxhash.h>

#include "frame.h"

/* glibc's memcpy (vectorised, chosen for this CPU at load time) through a pointer gcc cannot
 * see through: a fixed-size 1158-byte memcpy is otherwise inlined as `rep movsq`, which was
 * no faster on the bench machine (AMD EPYC), and a ceiling takes the fastest copy there is. */
static void *(*volatile copy_frame)(void *, const void *, size_t) = memcpy;

/* With `seen` != 0 the store also does the bookkeeping SPEC 6/7/9.4 ask of every receiver
 * per new packet, in its cheapest form: drop what was seen before by packetId (the id's
 * index bucket probed and its stored id compared before the store; the index entry of the
 * frame a store overwrites cleared), and keep the summary bucket of the sync prefix tree
 * current (the new id XORed into its bucket's hash, the overwritten one's out: SPEC 6 Sync,
 * SPEC 7 "computing a summary bucket never scan[s] the whole cache"). Each round's ids are
 * salted with the round number, so the `rounds` passes over the same frames are new
 * packets to the seen check, not duplicates (the same probe, a different answer). */
static long ceiling_store(const uint8_t *frames, long nframes, long rounds, long slots,
                          long fanout, int seen) {
    enum { B = 64 };
    if (nframes <= 0 || nframes % B || slots <= 0 || fanout < 0 || fanout > 16) return -1;
    size_t buckets = 1;
    while (buckets < 2 * (size_t)slots) buckets <<= 1;
    uint8_t *store = malloc((size_t)slots * SRP_PACKET_BYTES);
    uint32_t *index = calloc(buckets, sizeof *index);
    uint8_t *out = malloc((size_t)B * (size_t)(fanout ? fanout : 1) * SRP_PACKET_BYTES);
    enum { SUMMARY = 4096 };
    uint8_t (*stored)[32] = seen ? calloc((size_t)slots, 32) : NULL;  /* each slot's key */
    uint32_t *where = seen ? calloc((size_t)slots, sizeof *where) : NULL; /* its bucket */
    uint8_t (*summary)[32] = seen ? calloc(SUMMARY, 32) : NULL;
    if (!store || !index || !out || (seen && (!stored || !where || !summary))) {
        free(store); free(index); free(out); free(stored); free(where); free(summary);
        return -1;
    }
    memset(store, 0, (size_t)slots * SRP_PACKET_BYTES);  /* resident, as a warm cache is */
    uint8_t ids[B][32];
    long bad = 0;
    size_t next = 0;
    for (long r = 0; r < rounds; r++)
        for (long base = 0; base < nframes; base += B) {
            const uint8_t *d = frames + (size_t)base * SRP_PACKET_BYTES;
            /* the batch's frames pulled towards L1 while validating: the SHA-256 rounds then
             * read them from cache, not from the receive ring in L3 (the data plane's
             * pre-filter hash does the same for it as a side effect) */
            for (int i = 0; i < B; i++) {
                const uint8_t *f = d + (size_t)i * SRP_PACKET_BYTES;
                for (size_t line = 0; line < SRP_PACKET_BYTES; line += 64)
                    __builtin_prefetch(f + line, 0, 3);
                bad += srp_frame_validate(f, SRP_PACKET_BYTES) != SRP_OK;
            }
            /* per pair: ids, then its store and copies, so the copies (memory-bound) overlap
             * the next pair's SHA-256 rounds (compute-bound) in the out-of-order core */
            size_t o = 0;
            for (int i = 0; i < B; i += 2) {
                srp_frame_packet_id_x2(d + (size_t)i * SRP_PACKET_BYTES, ids[i],
                                       d + (size_t)(i + 1) * SRP_PACKET_BYTES, ids[i + 1]);
                for (int h = i; h < i + 2; h++) {
                    const uint8_t *f = d + (size_t)h * SRP_PACKET_BYTES;
                    if (seen) {
                        uint8_t key[32];
                        memcpy(key, ids[h], 32);
                        key[31] ^= (uint8_t)r;  /* (the round's salt, above) */
                        size_t b = XXH3_64bits(key, 32) & (buckets - 1);
                        uint32_t at = index[b];  /* 1 + slot; 0: empty */
                        if (at && !memcmp(stored[at - 1], key, 32)) continue; /* seen */
                        if (where[next]) {  /* the frame this store overwrites: forgotten */
                            if (index[where[next] - 1] == next + 1) index[where[next] - 1] = 0;
                            uint8_t *old = summary[stored[next][0] % SUMMARY];
                            for (int k = 0; k < 32; k++) old[k] ^= stored[next][k];
                        }
                        uint8_t *sum = summary[key[0] % SUMMARY];
                        for (int k = 0; k < 32; k++) sum[k] ^= key[k];
                        memcpy(stored[next], key, 32);
                        where[next] = (uint32_t)b + 1;
                        index[b] = (uint32_t)next + 1;
                    } else {
                        index[XXH3_64bits(ids[h], 32) & (buckets - 1)] = (uint32_t)next;
                    }
                    copy_frame(store + next * SRP_PACKET_BYTES, f, SRP_PACKET_BYTES);
                    next = next + 1 == (size_t)slots ? 0 : next + 1;
                    for (long k = 0; k < fanout; k++, o++) {
                        uint8_t *c = out + o * SRP_PACKET_BYTES;
                        copy_frame(c, f, SRP_PACKET_BYTES);
                        c[SRP_OFF_HOPS] = (uint8_t)(f[SRP_OFF_HOPS] + 1);
                    }
                }
            }
            __asm__ volatile("" : : "r"(out), "r"(store), "r"(index), "r"(summary) : "memory");
        }
    free(store);
    free(index);
    free(out);
    free(stored);
    free(where);
    free(summary);
    return bad;
}

long srp_ceiling_relay(const uint8_t *frames, long nframes, long rounds, long slots,
                       long fanout) {
    return ceiling_store(frames, nframes, rounds, slots, fanout, 0);
}

/* The store part of a subscriber's ceiling (bench_network _deliver_ceiling): the relay
 * work with no copies out, plus the seen check and the summary bucket (ceiling_store). */
long srp_ceiling_store_seen(const uint8_t *frames, long nframes, long rounds, long slots) {
    return ceiling_store(frames, nframes, rounds, slots, 0, 1);
}
