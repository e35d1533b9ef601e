/* Sanitizer fuzz driver for csrc/chain.c (issue 13): the send side's sealed fragment chains.
 * Messages of random length (0 bytes to past the fragment bound, so the refusal path runs
 * too) and random header fields are built into chains; then every frame is checked the way
 * a receiver would: it validates (srp_frame_validate), its index and MORE flag are its place,
 * nextId is the packetId of the next frame (the last: zero), ids[] are the packetIds, it
 * opens with the key (srp_open_frame) and the plaintexts joined are the message; with a
 * byte flipped in an authenticated position it never opens. Counts chains and frames.
 * Then srp_chain_build_many (two chains per step, SHA-256 interleaved) over 1..5 random
 * messages, each given as two pieces cut at a random point (head ‖ msg: how a publish chains
 * an envelope head beside its payload, the fragment spanning both gathered), must write,
 * for each, exactly what srp_chain_build writes for the whole message alone. */
#include <sodium.h>

#include "fuzz_common.h"
#include "chain.h"
#include "seal.h"
#include "sha256.h"

#define MAX_FRAGS 8
#define MANY 5

/* Build MANY-or-fewer random messages together and each alone; 1 if the outputs match. */
static int many_matches_alone(const uint8_t key[32], const uint8_t nkey[32],
                              const srp_chain_header *h) {
    static uint8_t msgs[MANY][3 * SRP_CHAIN_CHUNK], out[MANY][3 * SRP_PACKET_BYTES];
    static uint8_t ids[MANY][3 * 32], one[3 * SRP_PACKET_BYTES], one_ids[3 * 32];
    srp_chain_job jobs[MANY];
    size_t count = 1 + fz_below(MANY);
    for (size_t i = 0; i < count; i++) {
        size_t len = fz_below(3 * SRP_CHAIN_CHUNK);
        fz_bytes(msgs[i], len);
        size_t cut = fz_below((unsigned)len + 1);  /* 0: no head; len: no payload */
        jobs[i] = (srp_chain_job){.head = cut ? msgs[i] : NULL, .head_len = cut,
                                  .msg = msgs[i] + cut, .len = len - cut,
                                  .clock = (uint32_t)fz_u64(), .out = out[i], .ids = ids[i]};
    }
    if (srp_chain_build_many(key, nkey, h, jobs, count, 3) != 0) return 0;
    for (size_t i = 0; i < count; i++) {
        srp_chain_header alone = *h;
        alone.clock = jobs[i].clock;
        size_t n = srp_chain_build(key, nkey, &alone, msgs[i], jobs[i].head_len + jobs[i].len, 3,
                                   one, one_ids);
        if (n == 0 || memcmp(one, out[i], n * SRP_PACKET_BYTES) || memcmp(one_ids, ids[i], n * 32))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    fz_seed("fuzz_chain");
    if (srp_seal_init() < 0) abort();
    clock_t end = fz_deadline(argc, argv);
    static uint8_t msg[MAX_FRAGS * SRP_CHAIN_CHUNK + 64], out[MAX_FRAGS * SRP_PACKET_BYTES];
    static uint8_t ids[MAX_FRAGS * 32], copy[SRP_PACKET_BYTES], joined[sizeof msg];
    uint8_t key[32], nkey[32], cluster[16], to[32], prev[32], id[32], zero[32] = {0};
    unsigned long chains = 0, frames = 0, refused = 0, tampered = 0;
    while (fz_running(end)) {
        fz_bytes(key, 32); fz_bytes(nkey, 32); fz_bytes(cluster, 16); fz_bytes(to, 32);
        fz_bytes(prev, 32);
        size_t len = fz_below(4) ? fz_below(3 * SRP_CHAIN_CHUNK) : fz_below((unsigned)sizeof msg);
        fz_bytes(msg, len);
        srp_chain_header h = {.type = (uint8_t)(fz_below(2) ? 5 : 1 + fz_below(9)),
                              .postage = (uint8_t)fz_u64(), .clock = (uint32_t)fz_u64(),
                              .ttl = (uint32_t)fz_u64(), .cluster = cluster, .to = to,
                              .previous = prev};
        size_t want = srp_chain_count(len);
        size_t n = srp_chain_build(key, nkey, &h, msg, len, MAX_FRAGS, out, ids);
        if (want > MAX_FRAGS) {
            if (n != 0) abort();  /* over the bound: refused, nothing claimed */
            refused++;
            continue;
        }
        if (n != want || n < 1) abort();
        size_t at = 0;
        for (size_t k = 0; k < n; k++) {
            uint8_t *d = out + k * SRP_PACKET_BYTES;
            if (srp_frame_validate(d, SRP_PACKET_BYTES) != SRP_OK) abort();
            if (((d[SRP_OFF_INDEX] << 8) | d[SRP_OFF_INDEX + 1]) != (int)k) abort();
            if (!(d[SRP_OFF_FLAGS] & SRP_FLAG_SEALED)) abort();
            if (!!(d[SRP_OFF_FLAGS] & SRP_FLAG_MORE) != (k + 1 < n)) abort();
            srp_frame_packet_id(d, id);
            if (memcmp(id, ids + 32 * k, 32)) abort();
            const uint8_t *next = k + 1 < n ? ids + 32 * (k + 1) : zero;
            if (memcmp(d + SRP_OFF_NEXT, next, 32)) abort();
            if (memcmp(d + SRP_OFF_PREVIOUS, prev, 32)) abort();
            memcpy(copy, d, SRP_PACKET_BYTES);
            if (fz_below(2)) {  /* an authenticated byte changed: must not open */
                size_t off;
                do off = fz_below(SRP_PACKET_BYTES); while (off < 4 || off == SRP_OFF_HOPS ||
                    (off >= SRP_OFF_TTL && off <= SRP_OFF_RESERVED) ||
                    off >= SRP_OFF_MESSAGE + (size_t)((copy[SRP_OFF_LENGTH] << 8) | copy[SRP_OFF_LENGTH + 1]));
                copy[off] ^= (uint8_t)(1u << fz_below(8));
                if (srp_open_frame(key, copy) == 0) abort();
                tampered++;
                memcpy(copy, d, SRP_PACKET_BYTES);
            }
            if (srp_open_frame(key, copy) != 0) abort();
            size_t plen = (size_t)((copy[SRP_OFF_LENGTH] << 8) | copy[SRP_OFF_LENGTH + 1]);
            if (plen > SRP_CHAIN_CHUNK || at + plen > len + (len == 0)) abort();
            memcpy(joined + at, copy + SRP_OFF_MESSAGE, plen);
            at += plen;
            frames++;
        }
        if (at != len || memcmp(joined, msg, len)) abort();
        if (!many_matches_alone(key, nkey, &h)) abort();
        chains++;
    }
    printf("fuzz_chain: %lu chains (%lu frames, each validated, linked, opened; %lu tampered "
           "copies refused), %lu over the bound refused\n", chains, frames, tampered, refused);
    return 0;
}
