/* ChaCha20-IETF keystream, 16 blocks at a time with AVX-512: see chacha16.h. */
#include "chacha16.h"

#include <sodium.h>
#include <string.h>

static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The initial state of block ctr (RFC 8439 2.3): constants, key, counter, nonce. */
static void chacha_init(uint32_t s[16], const uint8_t key[32], const uint8_t nonce[12],
                        uint32_t ctr) {
    s[0] = 0x61707865u;
    s[1] = 0x3320646eu;
    s[2] = 0x79622d32u;
    s[3] = 0x6b206574u;
    for (int i = 0; i < 8; i++) s[4 + i] = load_le32(key + 4 * i);
    s[12] = ctr;
    for (int i = 0; i < 3; i++) s[13 + i] = load_le32(nonce + 4 * i);
}

/* ChaCha20's double round (RFC 8439 2.3): four column quarter rounds, then four diagonal
 * ones, on x[0..15] with the quarter round QR (one block's words, or one vector per word). */
#define DOUBLE_ROUND(QR, x)                      \
    do {                                         \
        QR(x[0], x[4], x[8], x[12]);             \
        QR(x[1], x[5], x[9], x[13]);             \
        QR(x[2], x[6], x[10], x[14]);            \
        QR(x[3], x[7], x[11], x[15]);            \
        QR(x[0], x[5], x[10], x[15]);            \
        QR(x[1], x[6], x[11], x[12]);            \
        QR(x[2], x[7], x[8], x[13]);             \
        QR(x[3], x[4], x[9], x[14]);             \
    } while (0)

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR1(a, b, c, d)                        \
    do {                                       \
        a += b; d ^= a; d = ROTL32(d, 16);     \
        c += d; b ^= c; b = ROTL32(b, 12);     \
        a += b; d ^= a; d = ROTL32(d, 8);      \
        c += d; b ^= c; b = ROTL32(b, 7);      \
    } while (0)

void srp_chacha_block(uint8_t out[64], const uint8_t key[32], const uint8_t nonce[12],
                      uint32_t ctr) {
    uint32_t s[16], x[16];
    chacha_init(s, key, nonce, ctr);
    memcpy(x, s, sizeof x);
    for (int r = 0; r < 10; r++) DOUBLE_ROUND(QR1, x);
    for (int i = 0; i < 16; i++) store_le32(out + 4 * i, x[i] + s[i]);
    /* (the key-derived state is the caller's to wipe with the keystream: seal.c) */
    memset(s, 0, sizeof s);
    memset(x, 0, sizeof x);
    __asm__ __volatile__("" : : "r"(s), "r"(x) : "memory");
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* AVX-512F (and AVX-512VL with `vl`) usable, cached in *slot (-1: not yet known). Relaxed
 * atomics: threads may race to compute it and all get the same answer (a plain int would be
 * a C11 data race). libgcc's check includes the OS's support (XCR0). */
static int cpu_check(int *slot, int vl) {
    int v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && (!vl || __builtin_cpu_supports("avx512vl"));
        __atomic_store_n(slot, v, __ATOMIC_RELAXED);
    }
    return v;
}

int srp_chacha16_ok(void) {
    static int ok = -1;
    return cpu_check(&ok, 0);
}

/* The quarter round on vectors of W bits (512 or 256), one word of a block per lane, with
 * AVX-512's rotations (vprold). */
#define QRV(W, a, b, c, d)                                                                  \
    do {                                                                                    \
        a = _mm##W##_add_epi32(a, b); d = _mm##W##_rol_epi32(_mm##W##_xor_si##W(d, a), 16); \
        c = _mm##W##_add_epi32(c, d); b = _mm##W##_rol_epi32(_mm##W##_xor_si##W(b, c), 12); \
        a = _mm##W##_add_epi32(a, b); d = _mm##W##_rol_epi32(_mm##W##_xor_si##W(d, a), 8);  \
        c = _mm##W##_add_epi32(c, d); b = _mm##W##_rol_epi32(_mm##W##_xor_si##W(b, c), 7);  \
    } while (0)
#define QR16(a, b, c, d) QRV(512, a, b, c, d)

/* One block with SSE2 (every x86-64 CPU), a row of the state per vector: the seventeenth
 * block of a full frame's keystream, ~3x faster than the scalar loop (srp_chacha_block). */
#define ROT4(v, n) _mm_or_si128(_mm_slli_epi32(v, n), _mm_srli_epi32(v, 32 - (n)))
#define QR4(a, b, c, d)                                                   \
    do {                                                                  \
        a = _mm_add_epi32(a, b); d = ROT4(_mm_xor_si128(d, a), 16);       \
        c = _mm_add_epi32(c, d); b = ROT4(_mm_xor_si128(b, c), 12);       \
        a = _mm_add_epi32(a, b); d = ROT4(_mm_xor_si128(d, a), 8);        \
        c = _mm_add_epi32(c, d); b = ROT4(_mm_xor_si128(b, c), 7);        \
    } while (0)

void srp_chacha_block1(uint8_t out[64], const uint8_t key[32], const uint8_t nonce[12],
                       uint32_t ctr) {
    uint32_t s[16];
    chacha_init(s, key, nonce, ctr);
    const __m128i a0 = _mm_loadu_si128((const __m128i *)&s[0]);
    const __m128i b0 = _mm_loadu_si128((const __m128i *)&s[4]);
    const __m128i c0 = _mm_loadu_si128((const __m128i *)&s[8]);
    const __m128i d0 = _mm_loadu_si128((const __m128i *)&s[12]);
    __m128i a = a0, b = b0, c = c0, d = d0;
    for (int r = 0; r < 10; r++) {
        QR4(a, b, c, d); /* columns */
        b = _mm_shuffle_epi32(b, 0x39); /* lane i now holds the diagonal's words */
        c = _mm_shuffle_epi32(c, 0x4E);
        d = _mm_shuffle_epi32(d, 0x93);
        QR4(a, b, c, d); /* diagonals */
        b = _mm_shuffle_epi32(b, 0x93);
        c = _mm_shuffle_epi32(c, 0x4E);
        d = _mm_shuffle_epi32(d, 0x39);
    }
    _mm_storeu_si128((__m128i *)(out + 0), _mm_add_epi32(a, a0));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_add_epi32(b, b0));
    _mm_storeu_si128((__m128i *)(out + 32), _mm_add_epi32(c, c0));
    _mm_storeu_si128((__m128i *)(out + 48), _mm_add_epi32(d, d0));
    memset(s, 0, sizeof s);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}

/* Lane k of every vector is block ctr + k: word i of all sixteen blocks in x[i]. */
__attribute__((target("avx512f"))) void srp_chacha16(uint8_t out[1024], const uint8_t key[32],
                                                      const uint8_t nonce[12], uint32_t ctr) {
    uint32_t s[16];
    __m512i x[16], in[16], t[16], u[16];
    chacha_init(s, key, nonce, ctr);
    for (int i = 0; i < 16; i++) in[i] = _mm512_set1_epi32((int)s[i]);
    in[12] = _mm512_add_epi32(in[12], _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                                       4, 3, 2, 1, 0));
    for (int i = 0; i < 16; i++) x[i] = in[i];
    for (int r = 0; r < 10; r++) DOUBLE_ROUND(QR16, x);
    for (int i = 0; i < 16; i++) x[i] = _mm512_add_epi32(x[i], in[i]);
    /* Transpose 16 x 16 words to 16 blocks. Within each 128-bit lane L: the 32-bit unpacks
     * pair words 2k, 2k+1 of blocks 4L..4L+3; the 64-bit unpacks leave in u[4m + j] words
     * 4m..4m+3 of block 4L + j. The lane shuffles then gather lane L of u[j], u[4+j],
     * u[8+j], u[12+j]: all of block 4L + j. */
    for (int k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_epi32(x[k], x[k + 1]);
        t[k + 1] = _mm512_unpackhi_epi32(x[k], x[k + 1]);
    }
    for (int m = 0; m < 16; m += 4) {
        u[m] = _mm512_unpacklo_epi64(t[m], t[m + 2]);
        u[m + 1] = _mm512_unpackhi_epi64(t[m], t[m + 2]);
        u[m + 2] = _mm512_unpacklo_epi64(t[m + 1], t[m + 3]);
        u[m + 3] = _mm512_unpackhi_epi64(t[m + 1], t[m + 3]);
    }
    for (int j = 0; j < 4; j++) {
        __m512i p = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88);  /* lanes 0, 2 of each */
        __m512i q = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xDD);  /* lanes 1, 3 */
        __m512i r = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88);
        __m512i v = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xDD);
        _mm512_storeu_si512((void *)(out + 64 * (0 + j)), _mm512_shuffle_i32x4(p, r, 0x88));
        _mm512_storeu_si512((void *)(out + 64 * (8 + j)), _mm512_shuffle_i32x4(p, r, 0xDD));
        _mm512_storeu_si512((void *)(out + 64 * (4 + j)), _mm512_shuffle_i32x4(q, v, 0x88));
        _mm512_storeu_si512((void *)(out + 64 * (12 + j)), _mm512_shuffle_i32x4(q, v, 0xDD));
    }
    /* (the key-derived words on the stack; the keystream is the caller's to wipe) */
    memset(s, 0, sizeof s);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}
/* HChaCha20 of one key and n <= 16 nonces, lane k the k-th: the key's words and the
 * constants broadcast, each lane's nonce words gathered; out[k] = words 0..3 and 12..15 of
 * lane k after the 20 rounds (no final addition: draft-irtf-cfrg-xchacha 2.2). */
__attribute__((target("avx512f"))) static void hchacha20_avx512(uint8_t (*out)[32],
                                                                const uint8_t *const *nonces,
                                                                size_t n,
                                                                const uint8_t key[32]) {
    uint32_t s[16], nw[4][16], w[8][16];
    __m512i x[16];
    chacha_init(s, key, key, 0); /* (words 12..15 are the nonce's: set per lane below) */
    memset(nw, 0, sizeof nw);
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 4; i++) nw[i][k] = load_le32(nonces[k] + 4 * i);
    for (int i = 0; i < 12; i++) x[i] = _mm512_set1_epi32((int)s[i]);
    for (int i = 0; i < 4; i++) x[12 + i] = _mm512_loadu_si512((const void *)nw[i]);
    for (int r = 0; r < 10; r++) DOUBLE_ROUND(QR16, x);
    for (int i = 0; i < 4; i++) {
        _mm512_storeu_si512((void *)w[i], x[i]);
        _mm512_storeu_si512((void *)w[4 + i], x[12 + i]);
    }
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 8; i++) store_le32(out[k] + 4 * i, w[i][k]);
    /* (key-derived: the state, the nonces' words beside it, the subkey words) */
    memset(s, 0, sizeof s);
    memset(w, 0, sizeof w);
    __asm__ __volatile__("" : : "r"(s), "r"(w) : "memory");
}

int srp_chacha8_ok(void) {
    static int ok = -1;
    return cpu_check(&ok, 1);
}

int srp_hchacha8_ok(void) {
    static int ok = -1;
    int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") != 0;
        __atomic_store_n(&ok, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* The quarter round on eight lanes with AVX2, which has no rotation: by 16 and 8 a byte
 * shuffle, by 12 and 7 two shifts and an or (as libsodium's AVX2 ChaCha20). */
#define ROT8X(v, n) _mm256_or_si256(_mm256_slli_epi32(v, n), _mm256_srli_epi32(v, 32 - (n)))
#define QR8X(a, b, c, d)                                                                   \
    do {                                                                                   \
        a = _mm256_add_epi32(a, b); d = _mm256_shuffle_epi8(_mm256_xor_si256(d, a), r16);  \
        c = _mm256_add_epi32(c, d); b = ROT8X(_mm256_xor_si256(b, c), 12);                 \
        a = _mm256_add_epi32(a, b); d = _mm256_shuffle_epi8(_mm256_xor_si256(d, a), r8);   \
        c = _mm256_add_epi32(c, d); b = ROT8X(_mm256_xor_si256(b, c), 7);                  \
    } while (0)

/* HChaCha20 of one key and n <= 8 nonces with AVX2, lane k the k-th, as hchacha20_avx512:
 * a CPU without AVX-512 (session 15's EPYC) opens a receive batch's frames with one pass
 * per eight instead of one libsodium call each. */
__attribute__((target("avx2"))) void srp_hchacha20_x8(uint8_t (*out)[32],
                                                      const uint8_t *const *nonces, size_t n,
                                                      const uint8_t key[32]) {
    const __m256i r16 = _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
                                        13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
    const __m256i r8 = _mm256_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3,
                                       14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3);
    uint32_t s[16], nw[4][8], w[8][8];
    __m256i x[16];
    chacha_init(s, key, key, 0); /* (words 12..15 are the nonce's: set per lane below) */
    memset(nw, 0, sizeof nw);
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 4; i++) nw[i][k] = load_le32(nonces[k] + 4 * i);
    for (int i = 0; i < 12; i++) x[i] = _mm256_set1_epi32((int)s[i]);
    for (int i = 0; i < 4; i++) x[12 + i] = _mm256_loadu_si256((const __m256i *)nw[i]);
    for (int r = 0; r < 10; r++) DOUBLE_ROUND(QR8X, x);
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_si256((__m256i *)w[i], x[i]);
        _mm256_storeu_si256((__m256i *)w[4 + i], x[12 + i]);
    }
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 8; i++) store_le32(out[k] + 4 * i, w[i][k]);
    /* (key-derived: the state, the subkey words) */
    memset(s, 0, sizeof s);
    memset(w, 0, sizeof w);
    __asm__ __volatile__("" : : "r"(s), "r"(w) : "memory");
}

int srp_hchacha_batch_ok(void) { return srp_chacha16_ok() || srp_hchacha8_ok(); }

void srp_hchacha20_x16(uint8_t (*out)[32], const uint8_t *const *nonces, size_t n,
                       const uint8_t key[32]) {
    if (srp_chacha16_ok()) {
        hchacha20_avx512(out, nonces, n, key);
    } else if (srp_hchacha8_ok()) {
        srp_hchacha20_x8(out, nonces, n < 8 ? n : 8, key);
        if (n > 8) srp_hchacha20_x8(out + 8, nonces + 8, n - 8, key);
    } else {
        for (size_t k = 0; k < n; k++) crypto_core_hchacha20(out[k], nonces[k], key, NULL);
    }
}

#define QR8(a, b, c, d) QRV(256, a, b, c, d)

/* Eight blocks in 256-bit vectors with AVX-512VL's rotations: lane k is block ctr + k. */
__attribute__((target("avx512f,avx512vl"))) void srp_chacha8(uint8_t out[512],
                                                            const uint8_t key[32],
                                                            const uint8_t nonce[12],
                                                            uint32_t ctr) {
    uint32_t s[16];
    __m256i x[16], in[16], t[8], u[8];
    chacha_init(s, key, nonce, ctr);
    for (int i = 0; i < 16; i++) in[i] = _mm256_set1_epi32((int)s[i]);
    in[12] = _mm256_add_epi32(in[12], _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
    for (int i = 0; i < 16; i++) x[i] = in[i];
    for (int r = 0; r < 10; r++) DOUBLE_ROUND(QR8, x);
    for (int i = 0; i < 16; i++) x[i] = _mm256_add_epi32(x[i], in[i]);
    /* Words 0..7, then 8..15, of the eight blocks: an 8 x 8 transpose each. Within each
     * 128-bit half h the unpacks leave in u[j] words g..g+3 and in u[4 + j] words
     * g+4..g+7 of block 4h + j; the half permutes pair them up. */
    for (int g = 0; g < 16; g += 8) {
        for (int k = 0; k < 8; k += 2) {
            t[k] = _mm256_unpacklo_epi32(x[g + k], x[g + k + 1]);
            t[k + 1] = _mm256_unpackhi_epi32(x[g + k], x[g + k + 1]);
        }
        for (int m = 0; m < 8; m += 4) {
            u[m] = _mm256_unpacklo_epi64(t[m], t[m + 2]);
            u[m + 1] = _mm256_unpackhi_epi64(t[m], t[m + 2]);
            u[m + 2] = _mm256_unpacklo_epi64(t[m + 1], t[m + 3]);
            u[m + 3] = _mm256_unpackhi_epi64(t[m + 1], t[m + 3]);
        }
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_si256((__m256i *)(out + 64 * j + 4 * g),
                                _mm256_permute2x128_si256(u[j], u[4 + j], 0x20));
            _mm256_storeu_si256((__m256i *)(out + 64 * (4 + j) + 4 * g),
                                _mm256_permute2x128_si256(u[j], u[4 + j], 0x31));
        }
    }
    memset(s, 0, sizeof s);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}
#else
int srp_chacha16_ok(void) { return 0; }
int srp_hchacha8_ok(void) { return 0; }
int srp_hchacha_batch_ok(void) { return 0; }

void srp_hchacha20_x8(uint8_t (*out)[32], const uint8_t *const *nonces, size_t n,
                      const uint8_t key[32]) {
    for (size_t k = 0; k < n; k++) crypto_core_hchacha20(out[k], nonces[k], key, NULL);
}

void srp_hchacha20_x16(uint8_t (*out)[32], const uint8_t *const *nonces, size_t n,
                       const uint8_t key[32]) {
    for (size_t k = 0; k < n; k++) crypto_core_hchacha20(out[k], nonces[k], key, NULL);
}

int srp_chacha8_ok(void) { return 0; }

void srp_chacha8(uint8_t out[512], const uint8_t key[32], const uint8_t nonce[12],
                 uint32_t ctr) {
    for (uint32_t k = 0; k < 8; k++) srp_chacha_block(out + 64 * k, key, nonce, ctr + k);
}

void srp_chacha_block1(uint8_t out[64], const uint8_t key[32], const uint8_t nonce[12],
                       uint32_t ctr) {
    srp_chacha_block(out, key, nonce, ctr);
}

void srp_chacha16(uint8_t out[1024], const uint8_t key[32], const uint8_t nonce[12],
                  uint32_t ctr) {
    for (uint32_t k = 0; k < 16; k++) srp_chacha_block(out + 64 * k, key, nonce, ctr + k);
}
#endif
