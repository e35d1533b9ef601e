/* Sealing of SRP frames and author envelopes (SPEC section 4), over libsodium.
 *
 * Per packet: XChaCha20-Poly1305-IETF. The sealed message area is
 *   nonce(24) ‖ ciphertext(L) ‖ tag(16),   header length = L + 40,
 * with the immutable header fields (everything except magic, hops, ttl, postage, reserved)
 * as additional data, so a relay cannot change them without the recipient noticing (SPEC 2).
 *
 * Per message (inside the plaintext): an author envelope whose signature is amortised over a
 * batch with a Merkle tree. Layout and security argument: docs/SEALING.md. */
#ifndef SRP_SEAL_H
#define SRP_SEAL_H
#include <stddef.h>
#include <stdint.h>

#define SRP_SEAL_KEY_BYTES 32
#define SRP_SEAL_NONCE_BYTES 24
#define SRP_SEAL_TAG_BYTES 16
#define SRP_SEAL_OVERHEAD 40          /* nonce + tag */
#define SRP_SEAL_MAX_PLAIN 984        /* 1024 - 40 */
/* AD = type, version, flags, clock(4), index(2), length(2), cluster(16), to, previous, next */
#define SRP_SEAL_AD_BYTES 123

/* Per-frame results of seal/open (stable numbering: exported to Python as counters). */
enum srp_seal_status {
    SRP_SEAL_OK = 0,
    SRP_SEAL_TOO_LONG,     /* seal: plaintext length > 984 */
    SRP_SEAL_NOT_SEALED,   /* open: FLAG_SEALED clear */
    SRP_SEAL_BAD_LENGTH,   /* open: length < 40 or > 1024 */
    SRP_SEAL_FORGED,       /* open: tag does not verify (wrong key, tampered header/body) */
    SRP_SEAL_STATUSES
};

/* sodium_init(); returns 0 (first call) / 1 (already) / -1 (failure). */
int srp_seal_init(void);

/* Additional data of a frame, read by offset (SPEC 2 table). */
void srp_seal_ad(const uint8_t *frame, uint8_t ad[SRP_SEAL_AD_BYTES]);

/* Seal one 1158-byte frame in place: the message area holds `length` bytes of plaintext.
 * Sets FLAG_SEALED and length = plaintext + 40, writes nonce ‖ ct ‖ tag, zeroes the rest.
 * nonce may be NULL (then a fresh random one). Returns an srp_seal_status. */
int srp_seal_frame(const uint8_t key[32], uint8_t *frame, const uint8_t *nonce);

/* XChaCha20-Poly1305-IETF decryption, byte-for-byte what libsodium's
 * crypto_aead_xchacha20poly1305_ietf_decrypt accepts and returns, built from libsodium's own
 * primitives (HChaCha20, the ChaCha20-IETF keystream, Poly1305, crypto_verify_16) so the
 * keystream for the Poly1305 key AND the whole message comes from ONE keystream call, its
 * length rounded up to whichever of 64, 256 or 512 bytes libsodium's chunked vector code
 * makes cheapest (seal.c keystream_len): its AEAD pays two passes and a slow
 * one-block-at-a-time tail, ~2x the cost for a typical 300-450 byte frame. On a CPU with
 * AVX-512 the keystream is chacha16.h's, eight or sixteen blocks at a time.
 * ct is ctlen bytes of ciphertext followed by the 16-byte tag; m receives ctlen bytes of
 * plaintext if the tag verifies. Returns 0, or -1 on a tag mismatch (then m holds nothing
 * of the plaintext: untouched, or zeroed by libsodium for ctlen > 1216, never used). */
/* XChaCha20-Poly1305 (IETF) encrypt of m[0..mlen) in place, the 16-byte tag written at
 * m + mlen: byte for byte libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt, in one
 * keystream pass. */
void srp_xchacha_seal(uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                      const uint8_t nonce[24], const uint8_t key[32]);
int srp_xchacha_open(uint8_t *m, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                     size_t adlen, const uint8_t nonce[24], const uint8_t key[32]);
/* srp_xchacha_open with the HChaCha20 subkey of (key, nonce[0..16)) already made (a
 * message's fragments: chacha16.h srp_hchacha20_x16); ctlen at most 1216, else -1. */
int srp_xchacha_open_sub(uint8_t *m, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                         size_t adlen, const uint8_t nonce[24], const uint8_t subkey[32]);

/* Open one sealed frame in place: on success the message area holds the plaintext with
 * length = plaintext length (rest zeroed; flags untouched). On failure the frame is unchanged.
 * Returns an srp_seal_status. */
int srp_open_frame(const uint8_t key[32], uint8_t *frame);

/* Batches of `count` frames laid out every 1158 bytes in buf. status[i] gets each result;
 * counters (may be NULL, size SRP_SEAL_STATUSES) += 1 per result. Returns frames that succeeded. */
size_t srp_seal_batch(const uint8_t key[32], uint8_t *buf, size_t count, uint8_t *status);
size_t srp_open_batch(const uint8_t key[32], uint8_t *buf, size_t count, uint8_t *status,
                      uint64_t *counters);

/* ---- Author envelopes: batch signatures over a Merkle tree (docs/SEALING.md) ---- */
/* 2: SHA-256 leaves and nodes (1 hashed with BLAKE2b-256 and is rejected as malformed). */
#define SRP_ENV_VERSION 2
#define SRP_ENV_CTX_BYTES 84          /* cluster(16) ‖ to(32) ‖ previous(32) ‖ clock(4) */
#define SRP_ENV_FIXED_BYTES 101       /* version(1) count(2) index(2) author(32) sig(64) */
#define SRP_ENV_MAX_LEAVES 256
#define SRP_ENV_MAX_DEPTH 8

/* Tree depth for a batch of count leaves: ceil(log2(count)); 0 for count 1. */
unsigned srp_env_depth(unsigned count);

/* leaf = SHA-256(0x00 ‖ ctx(84) ‖ payload). */
void srp_env_leaf(const uint8_t ctx[SRP_ENV_CTX_BYTES], const uint8_t *payload, size_t n,
                  uint8_t out[32]);

/* Two leaves, their SHA-256 interleaved (sha256.c srp_sha256_3_x2). */
void srp_env_leaf_x2(const uint8_t ctx0[SRP_ENV_CTX_BYTES], const uint8_t *payload0, size_t n0,
                     uint8_t out0[32], const uint8_t ctx1[SRP_ENV_CTX_BYTES],
                     const uint8_t *payload1, size_t n1, uint8_t out1[32]);

/* An inner node: SHA-256(0x01 ‖ left ‖ right). */
void srp_env_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

/* Two inner nodes, interleaved. */
void srp_env_node_x2(const uint8_t left0[32], const uint8_t right0[32], uint8_t out0[32],
                     const uint8_t left1[32], const uint8_t right1[32], uint8_t out1[32]);

/* Build the tree over count leaves (32 bytes each, 1..256) padded to 2^depth with zero
 * leaves; write the root and, for each leaf i, its path (depth x 32 bytes, bottom-up) at
 * paths + i*depth*32 (paths may be NULL). Returns 0, or -1 if count is out of range. */
int srp_env_tree(const uint8_t *leaves, unsigned count, uint8_t root[32], uint8_t *paths);

/* Root from a leaf, its index and its path (depth nodes, bottom-up). */
void srp_env_root_from_path(const uint8_t leaf[32], unsigned index, unsigned depth,
                            const uint8_t *path, uint8_t root[32]);

/* The bytes the author signs: "srp-batch-v2" ‖ author(32) ‖ count(2) ‖ root(32). */
#define SRP_ENV_SIGNED_BYTES 78
void srp_env_signed_message(const uint8_t author[32], unsigned count, const uint8_t root[32],
                            uint8_t out[SRP_ENV_SIGNED_BYTES]);

/* Sign / verify a batch root with an ed25519 key (sk: libsodium 64-byte form). */
void srp_env_sign(const uint8_t sk[64], const uint8_t author[32], unsigned count,
                  const uint8_t root[32], uint8_t sig[64]);
int srp_env_verify(const uint8_t author[32], unsigned count, const uint8_t root[32],
                   const uint8_t sig[64]);

/* Parse an envelope of n bytes: checks version, 1 <= count <= 256, index < count, room for
 * the path; computes the root implied by leaf(ctx, payload) and the path. Sets the out
 * pointers into env. Returns 0, or -1 if malformed. Does NOT check the signature. */
int srp_env_parse(const uint8_t *env, size_t n, const uint8_t ctx[SRP_ENV_CTX_BYTES],
                  unsigned *count, const uint8_t **author, const uint8_t **sig,
                  const uint8_t **payload, size_t *payload_len, uint8_t root[32]);

/* The newest Merkle walks of an envelope parser (srp_env_parse_memo), one per batch for the
 * last SRP_ENV_WALKS batches (told apart by their signature field). A walk is the leaf, the
 * node computed at each level up to the root, and the path it was folded with. Its nodes are
 * plain SHA-256 values, true whatever the envelope was, so the memo is an exact cache of the
 * function (leaf, index, path) -> root: it never decides what verifies. */
#define SRP_ENV_WALKS 4
typedef struct {
    uint8_t node[SRP_ENV_MAX_DEPTH + 1][32]; /* node[0] leaf .. node[depth] root */
    uint8_t path[SRP_ENV_MAX_DEPTH][32];
    uint8_t tag[16];                         /* the envelope's signature field, first bytes */
    uint16_t index;
    uint8_t depth;
    uint8_t used;
} srp_env_walk;
typedef struct {
    srp_env_walk walk[SRP_ENV_WALKS];
    unsigned next;   /* the slot a walk of a new batch replaces (round robin) */
    uint64_t hashed; /* node hashes computed so far (tests and profiles: the memo's effect) */
} srp_env_memo;

/* srp_env_parse with a memo (zeroed before first use; NULL: none): the same result for every
 * input, and the root of a message of the batch just walked costs ~1 node hash instead of
 * depth: its walk stops where it meets the previous walk (same node or its sibling, the
 * rest of the path identical), whose nodes above are then this walk's too. */
int srp_env_parse_memo(srp_env_memo *memo, const uint8_t *env, size_t n,
                       const uint8_t ctx[SRP_ENV_CTX_BYTES], unsigned *count,
                       const uint8_t **author, const uint8_t **sig, const uint8_t **payload,
                       size_t *payload_len, uint8_t root[32]);
#endif
