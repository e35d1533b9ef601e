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
