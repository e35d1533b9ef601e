/* Sealed fragment chains built in C: see chain.h. */
#include "chain.h"

#include <sodium.h>
#include <string.h>

#include "frame.h"
#include "seal.h"
#include "sha256.h"

#define FRAME 1158

/* The synthetic nonce (PROTOCOL.md "Nonces"): HMAC-SHA256(key = K_n, frame with plaintext),
 * first 24 bytes. SHA-256 runs on SHA-NI where the CPU has it (sha256.c): ~5x cheaper than
 * the BLAKE2b-192 it replaced, which cost as much as sealing the frame. */
static void synthetic_nonce(const uint8_t nonce_key[32], const uint8_t *frame,
                            uint8_t nonce[24]) {
    uint8_t ipad[64], opad[64], inner[32], mac[32];
    for (int i = 0; i < 64; i++) {
        uint8_t k = i < 32 ? nonce_key[i] : 0;
        ipad[i] = (uint8_t)(k ^ 0x36);
        opad[i] = (uint8_t)(k ^ 0x5c);
    }
    srp_sha256_3(ipad, sizeof ipad, frame, FRAME, frame, 0, inner);
    srp_sha256_3(opad, sizeof opad, inner, sizeof inner, inner, 0, mac);
    memcpy(nonce, mac, 24);
    sodium_memzero(ipad, sizeof ipad);
    sodium_memzero(opad, sizeof opad);
}

size_t srp_chain_count(size_t len) {
    return len == 0 ? 1 : (len + SRP_CHAIN_CHUNK - 1) / SRP_CHAIN_CHUNK;
}

size_t srp_chain_build(const uint8_t key[32], const uint8_t nonce_key[32],
                       const srp_chain_header *h, const uint8_t *msg, size_t len,
                       size_t max_frags, uint8_t *out, uint8_t *ids) {
    static const uint8_t zero32[32];
    size_t n = srp_chain_count(len);
    if (n > max_frags || n > 0xFFFF) return 0;
    const uint8_t *next = zero32;
    for (size_t k = n; k-- > 0;) {
        size_t off = k * SRP_CHAIN_CHUNK;
        size_t take = len - off < SRP_CHAIN_CHUNK ? len - off : SRP_CHAIN_CHUNK;
        if (len == 0) take = 0;
        srp_header fh = {
            .type = h->type, .version = 1, .hops = 0,
            .flags = (uint8_t)(k < n - 1 ? SRP_FLAG_MORE : 0), .postage = h->postage,
            .clock = h->clock, .ttl = h->ttl, .index = (uint16_t)k, .length = (uint16_t)take,
            .cluster = h->cluster, .to = h->to, .previous = h->previous, .next = next,
            .message = take ? msg + off : NULL,
        };
        uint8_t *frame = out + k * FRAME;
        if (srp_frame_encode(frame, &fh) != 0) return 0;
        uint8_t nonce[24];
        synthetic_nonce(nonce_key, frame, nonce);
        if (srp_seal_frame(key, frame, nonce) != 0) return 0;
        srp_frame_packet_id(frame, ids + 32 * k);
        next = ids + 32 * k;
    }
    return n;
}
