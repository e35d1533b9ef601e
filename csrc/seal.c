/* Sealing of SRP frames and author envelopes (SPEC section 4). See seal.h and docs/SEALING.md. */
#include "seal.h"

#include <sodium.h>
#include <string.h>

#include "chacha16.h"
#include "frame.h"
#include "sha256.h"

int srp_seal_init(void) { return sodium_init(); }

/* Every header field except magic, hops(6), ttl(16..19), postage(20), reserved(21): those
 * change in transit or carry nothing (SPEC 2). Three memcpy, no per-field work. */
void srp_seal_ad(const uint8_t *frame, uint8_t ad[SRP_SEAL_AD_BYTES]) {
    memcpy(ad, frame + SRP_OFF_TYPE, 2);                 /* type, version */
    memcpy(ad + 2, frame + SRP_OFF_FLAGS, 9);            /* flags, clock, index, length */
    memcpy(ad + 11, frame + SRP_OFF_CLUSTER, 112);       /* cluster, to, previousId, nextId */
}

int srp_seal_frame(const uint8_t key[32], uint8_t *frame, const uint8_t *nonce) {
    uint8_t ad[SRP_SEAL_AD_BYTES];
    uint8_t *m = frame + SRP_OFF_MESSAGE;
    size_t len = srp_be16(frame + SRP_OFF_LENGTH);
    if (len > SRP_SEAL_MAX_PLAIN) return SRP_SEAL_TOO_LONG;
    /* Header first: the AD must carry the final flags and length the receiver will see. */
    frame[SRP_OFF_FLAGS] = (uint8_t)(frame[SRP_OFF_FLAGS] | SRP_FLAG_SEALED);
    srp_put16(frame + SRP_OFF_LENGTH, (uint16_t)(len + SRP_SEAL_OVERHEAD));
    srp_seal_ad(frame, ad);
    memmove(m + SRP_SEAL_NONCE_BYTES, m, len);
    if (nonce)
        memcpy(m, nonce, SRP_SEAL_NONCE_BYTES);
    else
        randombytes_buf(m, SRP_SEAL_NONCE_BYTES);
    /* In place; the same bytes as libsodium's XChaCha20-Poly1305 encrypt, in one pass. */
    srp_xchacha_seal(m + SRP_SEAL_NONCE_BYTES, len, ad, SRP_SEAL_AD_BYTES, m, key);
    memset(m + len + SRP_SEAL_OVERHEAD, 0, SRP_MESSAGE_BYTES - len - SRP_SEAL_OVERHEAD);
    return SRP_SEAL_OK;
}

/* Poly1305 of the AEAD's authenticated data: ad, pad, ct, pad, lengths (RFC 8439 2.8). */
static void aead_tag(const uint8_t otk[32], const uint8_t *ad, size_t adlen, const uint8_t *ct,
                     size_t ctlen, uint8_t tag[16]) {
    static const uint8_t zeros[16];
    uint8_t lens[16];
    crypto_onetimeauth_poly1305_state st;
    crypto_onetimeauth_poly1305_init(&st, otk);
    crypto_onetimeauth_poly1305_update(&st, ad, adlen);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - adlen) & 15);
    crypto_onetimeauth_poly1305_update(&st, ct, ctlen);
    crypto_onetimeauth_poly1305_update(&st, zeros, (16 - ctlen) & 15);
    for (int i = 0; i < 8; i++) {
        lens[i] = (uint8_t)((uint64_t)adlen >> (8 * i));
        lens[8 + i] = (uint8_t)((uint64_t)ctlen >> (8 * i));
    }
    crypto_onetimeauth_poly1305_update(&st, lens, 16);
    crypto_onetimeauth_poly1305_final(&st, tag);
    sodium_memzero(&st, sizeof st);
}

/* Keystream bytes to ask libsodium for, covering `need`: its ChaCha20 runs 512-byte chunks
 * (AVX2), then one 256-byte chunk, then single 64-byte blocks, ~0.21, ~0.18 and ~0.09 us each
 * here. Of `need` rounded up to 64, 256 and 512 bytes, the cheapest by that count: a full
 * frame (64 + 984 bytes) takes 1088 (0.51 us; 1280 took 0.60), 64 + 300 takes 512 (0.22 us;
 * 384 took 0.36). */
static unsigned keystream_cost(size_t n) {
    return (unsigned)(21 * (n / 512) + ((n & 511) >= 256 ? 18 : 0) + 9 * ((n & 255) / 64));
}

static size_t keystream_len(size_t need, size_t cap) { /* need <= cap, cap a multiple of 64 */
    size_t best = (need + 63) & ~(size_t)63;
    for (size_t align = 256; align <= 512; align *= 2) {
        size_t n = (need + align - 1) & ~(align - 1);
        if (n <= cap && keystream_cost(n) < keystream_cost(best)) best = n;
    }
    return best;
}

/* The keystream buffer of one seal or open: a full frame's 1088 bytes (the Poly1305 key and
 * 984 bytes) fit, which keystream() below writes whole on the AVX-512 path. */
#define KS_BYTES 1280
_Static_assert(KS_BYTES >= 1088 && KS_BYTES % 64 == 0, "keystream() writes up to 1088 bytes");

/* Keystream blocks 0, 1, ... covering `need` bytes (need <= cap, cap a multiple of 64 and at
 * least 1088) into ks; returns the bytes written (to wipe). Where the CPU has AVX-512
 * (chacha16.h) the blocks come 8 or 16 at a time: measured here, 8 blocks 0.13 us against
 * libsodium's 0.20 for 256 bytes and 0.22 for 512; 16 blocks 0.20 us, and a full frame's
 * 1088 bytes (16 blocks and one in SSE2) 0.31 against 0.52. One block (an empty message)
 * stays libsodium's. */
static size_t keystream(uint8_t *ks, size_t need, size_t cap, const uint8_t nonce12[12],
                        const uint8_t subkey[32]) {
    if (need > 64 && need <= 512 && srp_chacha8_ok()) {
        srp_chacha8(ks, subkey, nonce12, 0);
        return 512;
    }
    if (need > 512 && need <= 1088 && srp_chacha16_ok()) {
        srp_chacha16(ks, subkey, nonce12, 0);
        if (need <= 1024) return 1024;
        srp_chacha_block1(ks + 1024, subkey, nonce12, 16);
        return 1088;
    }
    size_t n = keystream_len(need, cap);
    crypto_stream_chacha20_ietf(ks, n, nonce12, subkey);
    return n;
}

void srp_xchacha_seal(uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                      const uint8_t nonce[24], const uint8_t key[32]) {
    /* As srp_xchacha_open: one keystream call for the Poly1305 key and every block (libsodium
     * makes two passes), its length from keystream_len; frames carry at most 984 bytes. */
    uint8_t ks[KS_BYTES] __attribute__((aligned(64)));
    uint8_t subkey[32], nonce12[12] = {0};
    if (mlen > sizeof ks - 64) { /* longer than any frame: the plain library call */
        crypto_aead_xchacha20poly1305_ietf_encrypt(m, NULL, m, mlen, ad, adlen, NULL, nonce,
                                                   key);
        return;
    }
    crypto_core_hchacha20(subkey, nonce, key, NULL);
    memcpy(nonce12 + 4, nonce + 16, 8);
    size_t n = keystream(ks, 64 + mlen, sizeof ks, nonce12, subkey);
    for (size_t i = 0; i < mlen; i++) m[i] ^= ks[64 + i];
    aead_tag(ks, ad, adlen, m, mlen, m + mlen);
    sodium_memzero(ks, n);
    sodium_memzero(subkey, sizeof subkey);
}

int srp_xchacha_open_sub(uint8_t *m, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                         size_t adlen, const uint8_t nonce[24], const uint8_t subkey[32]) {
    /* Keystream blocks 0 (Poly1305 key) .. ceil(ctlen/64), as keystream() makes them.
     * Frames carry at most 1024 - 40 bytes of ciphertext: 17 blocks, 1088 bytes. */
    uint8_t ks[KS_BYTES] __attribute__((aligned(64)));
    uint8_t nonce12[12] = {0}, tag[16];
    if (ctlen > sizeof ks - 64) return -1; /* (srp_xchacha_open takes those to libsodium) */
    memcpy(nonce12 + 4, nonce + 16, 8);
    size_t n = keystream(ks, 64 + ctlen, sizeof ks, nonce12, subkey);
    aead_tag(ks, ad, adlen, ct, ctlen, tag);
    int bad = crypto_verify_16(tag, ct + ctlen);
    if (bad == 0)
        for (size_t i = 0; i < ctlen; i++) m[i] = ct[i] ^ ks[64 + i];
    sodium_memzero(ks, n);
    return bad ? -1 : 0;
}

int srp_xchacha_open(uint8_t *m, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                     size_t adlen, const uint8_t nonce[24], const uint8_t key[32]) {
    if (ctlen > KS_BYTES - 64) { /* longer than any frame: the plain library call */
        unsigned long long mlen;
        return crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, ct, ctlen + 16, ad,
                                                          adlen, nonce, key);
    }
    uint8_t subkey[32];
    crypto_core_hchacha20(subkey, nonce, key, NULL);
    int r = srp_xchacha_open_sub(m, ct, ctlen, ad, adlen, nonce, subkey);
    sodium_memzero(subkey, sizeof subkey);
    return r;
}

int srp_open_frame(const uint8_t key[32], uint8_t *frame) {
    uint8_t ad[SRP_SEAL_AD_BYTES];
    /* libsodium zeroes its output on a failed decrypt, so decrypt beside the frame: a frame
     * that fails stays intact for counting/forwarding. */
    uint8_t plain[SRP_SEAL_MAX_PLAIN];
    unsigned long long plen = 0;
    uint8_t *m = frame + SRP_OFF_MESSAGE;
    size_t len = srp_be16(frame + SRP_OFF_LENGTH);
    if (!(frame[SRP_OFF_FLAGS] & SRP_FLAG_SEALED)) return SRP_SEAL_NOT_SEALED;
    if (len < SRP_SEAL_OVERHEAD || len > SRP_MESSAGE_BYTES) return SRP_SEAL_BAD_LENGTH;
    srp_seal_ad(frame, ad);
    plen = len - SRP_SEAL_OVERHEAD;
    if (srp_xchacha_open(plain, m + SRP_SEAL_NONCE_BYTES, (size_t)plen, ad, SRP_SEAL_AD_BYTES, m,
                         key) != 0)
        return SRP_SEAL_FORGED;
    memcpy(m, plain, (size_t)plen);
    memset(m + plen, 0, SRP_MESSAGE_BYTES - (size_t)plen);
    srp_put16(frame + SRP_OFF_LENGTH, (uint16_t)plen);
    return SRP_SEAL_OK;
}

/* Nonces for a batch: one OS-random seed per 256 frames expanded by libsodium's ChaCha20
 * CSPRNG (randombytes_buf_deterministic). The output is indistinguishable from fresh random
 * 192-bit nonces, without one getrandom() syscall per frame. */
#define NONCE_CHUNK 256
size_t srp_seal_batch(const uint8_t key[32], uint8_t *buf, size_t count, uint8_t *status) {
    uint8_t nonces[NONCE_CHUNK * SRP_SEAL_NONCE_BYTES];
    uint8_t seed[randombytes_SEEDBYTES];
    size_t ok = 0;
    for (size_t base = 0; base < count; base += NONCE_CHUNK) {
        size_t n = count - base < NONCE_CHUNK ? count - base : NONCE_CHUNK;
        randombytes_buf(seed, sizeof seed);
        randombytes_buf_deterministic(nonces, n * SRP_SEAL_NONCE_BYTES, seed);
        for (size_t i = 0; i < n; i++) {
            int st = srp_seal_frame(key, buf + (base + i) * SRP_PACKET_BYTES,
                                    nonces + i * SRP_SEAL_NONCE_BYTES);
            status[base + i] = (uint8_t)st;
            ok += st == SRP_SEAL_OK;
        }
    }
    sodium_memzero(seed, sizeof seed);
    return ok;
}

size_t srp_open_batch(const uint8_t key[32], uint8_t *buf, size_t count, uint8_t *status,
                      uint64_t *counters) {
    size_t ok = 0;
    for (size_t i = 0; i < count; i++) {
        int st = srp_open_frame(key, buf + i * SRP_PACKET_BYTES);
        status[i] = (uint8_t)st;
        if (counters) counters[st] += 1;
        ok += st == SRP_SEAL_OK;
    }
    return ok;
}

/* ---- Author envelopes ---- */

unsigned srp_env_depth(unsigned count) {
    unsigned d = 0;
    while ((1u << d) < count) d++;
    return d;
}

/* Domain prefixes: a leaf and an inner node are never preimages of each other's kind. */
static const uint8_t LEAF_PREFIX = 0x00, NODE_PREFIX = 0x01;

void srp_env_leaf(const uint8_t ctx[SRP_ENV_CTX_BYTES], const uint8_t *payload, size_t n,
                  uint8_t out[32]) {
    srp_sha256_3(&LEAF_PREFIX, 1, ctx, SRP_ENV_CTX_BYTES, payload, n, out);
}

void srp_env_leaf_x2(const uint8_t ctx0[SRP_ENV_CTX_BYTES], const uint8_t *payload0, size_t n0,
                     uint8_t out0[32], const uint8_t ctx1[SRP_ENV_CTX_BYTES],
                     const uint8_t *payload1, size_t n1, uint8_t out1[32]) {
    srp_sha256_3_x2(&LEAF_PREFIX, 1, ctx0, SRP_ENV_CTX_BYTES, payload0, n0, out0,
                    &LEAF_PREFIX, 1, ctx1, SRP_ENV_CTX_BYTES, payload1, n1, out1);
}

void srp_env_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    srp_sha256_node(NODE_PREFIX, left, right, out);
}

void srp_env_node_x2(const uint8_t left0[32], const uint8_t right0[32], uint8_t out0[32],
                     const uint8_t left1[32], const uint8_t right1[32], uint8_t out1[32]) {
    srp_sha256_3_x2(&NODE_PREFIX, 1, left0, 32, right0, 32, out0,
                    &NODE_PREFIX, 1, left1, 32, right1, 32, out1);
}

int srp_env_tree(const uint8_t *leaves, unsigned count, uint8_t root[32], uint8_t *paths) {
    /* All levels of a tree of at most 256 leaves: 511 nodes x 32 bytes on the stack. */
    uint8_t nodes[(2 * SRP_ENV_MAX_LEAVES - 1) * 32];
    size_t level_off[SRP_ENV_MAX_DEPTH + 1];
    if (count < 1 || count > SRP_ENV_MAX_LEAVES) return -1;
    unsigned depth = srp_env_depth(count);
    size_t width = (size_t)1 << depth;
    memcpy(nodes, leaves, (size_t)count * 32);
    /* Padding leaves are all-zero: never an index a receiver accepts (index < count, and
     * count is signed), and finding a payload whose leaf hash is zero is a preimage attack. */
    memset(nodes + (size_t)count * 32, 0, (width - count) * 32);
    level_off[0] = 0;
    size_t off = 0;
    for (unsigned l = 0; l < depth; l++) {
        size_t next = off + width * 32;
        const uint8_t *in = nodes + off;
        uint8_t *up = nodes + next;
        size_t j = 0;
        for (; j + 1 < width / 2; j += 2) /* two parents at a time (interleaved SHA-256) */
            srp_env_node_x2(in + 64 * j, in + 64 * j + 32, up + 32 * j,
                            in + 64 * j + 64, in + 64 * j + 96, up + 32 * j + 32);
        if (j < width / 2) srp_env_node(in + 64 * j, in + 64 * j + 32, up + 32 * j);
        off = next;
        width /= 2;
        level_off[l + 1] = off;
    }
    memcpy(root, nodes + off, 32);
    if (paths) {
        for (unsigned i = 0; i < count; i++) {
            uint8_t *p = paths + (size_t)i * depth * 32;
            for (unsigned l = 0; l < depth; l++) {
                size_t sib = (size_t)((i >> l) ^ 1u);
                memcpy(p + l * 32, nodes + level_off[l] + sib * 32, 32);
            }
        }
    }
    return 0;
}

void srp_env_root_from_path(const uint8_t leaf[32], unsigned index, unsigned depth,
                            const uint8_t *path, uint8_t root[32]) {
    uint8_t cur[32];
    memcpy(cur, leaf, 32);
    for (unsigned l = 0; l < depth; l++) {
        if ((index >> l) & 1u)
            srp_env_node(path + l * 32, cur, cur);
        else
            srp_env_node(cur, path + l * 32, cur);
    }
    memcpy(root, cur, 32);
}

void srp_env_signed_message(const uint8_t author[32], unsigned count, const uint8_t root[32],
                            uint8_t out[SRP_ENV_SIGNED_BYTES]) {
    memcpy(out, "srp-batch-v2", 12);
    memcpy(out + 12, author, 32);
    srp_put16(out + 44, (uint16_t)count);
    memcpy(out + 46, root, 32);
}

void srp_env_sign(const uint8_t sk[64], const uint8_t author[32], unsigned count,
                  const uint8_t root[32], uint8_t sig[64]) {
    uint8_t msg[SRP_ENV_SIGNED_BYTES];
    srp_env_signed_message(author, count, root, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
}

int srp_env_verify(const uint8_t author[32], unsigned count, const uint8_t root[32],
                   const uint8_t sig[64]) {
    uint8_t msg[SRP_ENV_SIGNED_BYTES];
    srp_env_signed_message(author, count, root, msg);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, author);
}

int srp_env_parse(const uint8_t *env, size_t n, const uint8_t ctx[SRP_ENV_CTX_BYTES],
                  unsigned *count, const uint8_t **author, const uint8_t **sig,
                  const uint8_t **payload, size_t *payload_len, uint8_t root[32]) {
    return srp_env_parse_memo(NULL, env, n, ctx, count, author, sig, payload, payload_len, root);
}

/* Does the walk now at node cur of level l (index, path: this envelope's) join w? When
 * cur and path[l] are w's two nodes of level l, in the same places (the same position, or
 * sibling positions swapped), their parent is w's node of level l + 1, and from there the
 * two walks fold the same path, so w's nodes above are exactly what this walk would compute. */
static int walk_joins(const srp_env_walk *w, const uint8_t cur[32], unsigned index, unsigned l,
                      const uint8_t *path, unsigned depth) {
    unsigned p = index >> l, q = (unsigned)w->index >> l;
    const uint8_t *mine, *sibling;
    if (p == q) {
        mine = w->node[l];
        sibling = w->path[l];
    } else if ((p ^ 1u) == q) {
        mine = w->path[l];
        sibling = w->node[l];
    } else {
        return 0;
    }
    return !memcmp(cur, mine, 32) && !memcmp(path + (size_t)l * 32, sibling, 32) &&
           (l + 1 == depth ||
            !memcmp(path + (size_t)(l + 1) * 32, w->path[l + 1], (size_t)(depth - l - 1) * 32));
}

/* The walk of the envelope whose signature field starts with tag: its batch's slot, else the
 * next slot in turn, cleared. */
static srp_env_walk *walk_slot(srp_env_memo *m, const uint8_t *tag) {
    for (unsigned k = 0; k < SRP_ENV_WALKS; k++)
        if (m->walk[k].used && !memcmp(m->walk[k].tag, tag, sizeof m->walk[k].tag))
            return &m->walk[k];
    srp_env_walk *w = &m->walk[m->next];
    m->next = (m->next + 1) % SRP_ENV_WALKS;
    w->used = 0;
    return w;
}

int srp_env_parse_memo(srp_env_memo *memo, const uint8_t *env, size_t n,
                       const uint8_t ctx[SRP_ENV_CTX_BYTES], unsigned *count,
                       const uint8_t **author, const uint8_t **sig, const uint8_t **payload,
                       size_t *payload_len, uint8_t root[32]) {
    uint8_t node[SRP_ENV_MAX_DEPTH + 1][32];
    if (n < SRP_ENV_FIXED_BYTES || env[0] != SRP_ENV_VERSION) return -1;
    unsigned c = srp_be16(env + 1);
    unsigned index = srp_be16(env + 3);
    if (c < 1 || c > SRP_ENV_MAX_LEAVES || index >= c) return -1;
    unsigned depth = srp_env_depth(c);
    size_t head = SRP_ENV_FIXED_BYTES + (size_t)depth * 32;
    if (n < head) return -1;
    const uint8_t *path = env + SRP_ENV_FIXED_BYTES;
    *count = c;
    *author = env + 5;
    *sig = env + 37;
    *payload = env + head;
    *payload_len = n - head;
    srp_env_leaf(ctx, env + head, n - head, node[0]);
    if (!memo) {
        srp_env_root_from_path(node[0], index, depth, path, root);
        return 0;
    }
    srp_env_walk *w = walk_slot(memo, env + 37);
    int known = w->used && w->depth == depth;
    for (unsigned l = 0; l < depth; l++) {
        if (known && walk_joins(w, node[l], index, l, path, depth)) {
            memcpy(node[l + 1], w->node[l + 1], (size_t)(depth - l) * 32);
            break;
        }
        if ((index >> l) & 1u)
            srp_env_node(path + (size_t)l * 32, node[l], node[l + 1]);
        else
            srp_env_node(node[l], path + (size_t)l * 32, node[l + 1]);
        memo->hashed++;
    }
    memcpy(root, node[depth], 32);
    memcpy(w->node, node, (size_t)(depth + 1) * 32);
    memcpy(w->path, path, (size_t)depth * 32);
    memcpy(w->tag, env + 37, sizeof w->tag);
    w->index = (uint16_t)index;
    w->depth = (uint8_t)depth;
    w->used = 1;
    return 0;
}
