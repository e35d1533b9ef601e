/* SHA-256 (FIPS 180-4): SHA-NI when the CPU has it (runtime cpuid dispatch), portable C
 * otherwise. Used on the hot paths for packetId (SPEC 2), the synthetic nonce's HMAC (chain.c)
 * and author-envelope Merkle trees (seal.c, docs/SEALING.md). Checked against hashlib in tests. */
#ifndef SRP_SHA256_H
#define SRP_SHA256_H
#include <stddef.h>
#include <stdint.h>

/* One-shot digest of len bytes. */
void srp_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Digest of a ‖ b ‖ c without copying them together first. */
void srp_sha256_3(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  const uint8_t *c, size_t clen, uint8_t out[32]);

/* Digest of prefix ‖ a(32) ‖ b(32), a Merkle node (seal.c). With SHA-NI its message words
 * are made in registers from the two children (no staging buffer, no streaming context). */
void srp_sha256_node(uint8_t prefix, const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);

/* Digests of two independent messages a0 ‖ b0 ‖ c0 and a1 ‖ b1 ‖ c1 in one call. With SHA-NI
 * the two compressions are interleaved (~1.4x the rate of two srp_sha256_3 calls on Zen 5,
 * where sha256rnds2 throughput caps two chains at ~1.65x); otherwise it is exactly two
 * srp_sha256_3 calls. Lengths may differ. */
void srp_sha256_3_x2(const uint8_t *a0, size_t alen0, const uint8_t *b0, size_t blen0,
                     const uint8_t *c0, size_t clen0, uint8_t out0[32],
                     const uint8_t *a1, size_t alen1, const uint8_t *b1, size_t blen1,
                     const uint8_t *c1, size_t clen1, uint8_t out1[32]);

/* A state after whole 64-byte blocks (HMAC's key blocks, RFC 2104: computed once per key,
 * not once per message). Key material when the block was: callers wipe it. */
typedef struct {
    uint32_t h[8];
    uint64_t bytes; /* absorbed so far, a multiple of 64 */
} srp_sha256_mid;

/* The state after one block. */
void srp_sha256_mid_init(srp_sha256_mid *m, const uint8_t block[64]);

/* Digest of (m's blocks) ‖ a ‖ b ‖ c. */
void srp_sha256_mid_3(const srp_sha256_mid *m, const uint8_t *a, size_t alen, const uint8_t *b,
                      size_t blen, const uint8_t *c, size_t clen, uint8_t out[32]);

/* srp_sha256_3_x2 resumed from two midstates (m0, m1 may be NULL: the initial state). */
void srp_sha256_mid_3_x2(const srp_sha256_mid *m0, const uint8_t *a0, size_t alen0,
                         const uint8_t *b0, size_t blen0, const uint8_t *c0, size_t clen0,
                         uint8_t out0[32], const srp_sha256_mid *m1, const uint8_t *a1,
                         size_t alen1, const uint8_t *b1, size_t blen1, const uint8_t *c1,
                         size_t clen1, uint8_t out1[32]);

/* "sha-ni" or "portable": which implementation srp_sha256 dispatches to. */
const char *srp_sha256_impl(void);

/* Force the portable path (for tests and the benchmark's comparison). 0 = auto. */
void srp_sha256_force_portable(int on);

#endif
