/* SHA-256 (FIPS 180-4) for srpfast's hot paths: packetId (SPEC 2), nonce HMACs, Merkle trees.
 *
 * Two block-compression functions, both taking any number of consecutive 64-byte blocks:
 *   - compress_shani: x86 SHA extensions (SHA-NI), enabled per function with a target
 *     attribute so the build needs no -march flags;
 *   - compress_portable: plain C, used when the CPU lacks SHA-NI, on non-x86 targets, or
 *     when forced (tests, benchmark comparison).
 * The choice is made once from cpuid (lazily, idempotently; a race only repeats the same
 * detection and stores the same value). */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SRP_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t nblocks);

static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u,
};

static const uint32_t H0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

/* Zero memory that held key-derived state; the empty asm tells the compiler the zeroes are
 * read, so the stores are not dropped as dead (sha256.c does not link libsodium). */
static inline void wipe(void *p, size_t n) {
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ------------------------------------------------------------------ portable */

static inline uint32_t rotr32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define BSIG0(x) (rotr32((x), 2) ^ rotr32((x), 13) ^ rotr32((x), 22))
#define BSIG1(x) (rotr32((x), 6) ^ rotr32((x), 11) ^ rotr32((x), 25))
#define SSIG0(x) (rotr32((x), 7) ^ rotr32((x), 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr32((x), 17) ^ rotr32((x), 19) ^ ((x) >> 10))
#define CH(x, y, z) (((x) & ((y) ^ (z))) ^ (z))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

static void compress_portable(uint32_t state[8], const uint8_t *p, size_t nblocks) {
    uint32_t w[16];
    while (nblocks--) {
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
#pragma GCC unroll 64
        for (int t = 0; t < 64; t++) {
            uint32_t wt;
            if (t < 16) {
                wt = load_be32(p + 4 * t);
            } else {
                wt = SSIG1(w[(t - 2) & 15]) + w[(t - 7) & 15] + SSIG0(w[(t - 15) & 15]) +
                     w[t & 15];
            }
            w[t & 15] = wt;
            uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + K256[t] + wt;
            uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
        p += 64;
    }
}

/* ------------------------------------------------------------------ SHA-NI */

#ifdef SRP_SHA256_X86
#define SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds i*4 .. i*4+3 with message vector m (W[4i..4i+3], lane 0 = lowest index).
 * abef/cdgh are the packed working state in the layout sha256rnds2 expects. */
#define SHANI_4ROUNDS(m, i)                                                         \
    do {                                                                            \
        __m128i wk_ = _mm_add_epi32((m), _mm_load_si128((const __m128i *)&K256[4 * (i)])); \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);                              \
        wk_ = _mm_shuffle_epi32(wk_, 0x0E);                                         \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, wk_);                              \
    } while (0)

/* New schedule vector from the previous four: W[t..t+3] with x0 = W[t-16..t-13],
 * x1 = W[t-12..t-9], x2 = W[t-8..t-5], x3 = W[t-4..t-1]. Result replaces x0. */
#define SHANI_SCHED(x0, x1, x2, x3)                                                 \
    (x0) = _mm_sha256msg2_epu32(                                                    \
        _mm_add_epi32(_mm_sha256msg1_epu32((x0), (x1)), _mm_alignr_epi8((x3), (x2), 4)), (x3))

/* The 64 rounds of one block whose message words (byte-swapped) are m0..m3. */
#define SHANI_64ROUNDS(m0, m1, m2, m3)                                              \
    do {                                                                            \
        SHANI_4ROUNDS(m0, 0);                                                       \
        SHANI_4ROUNDS(m1, 1);                                                       \
        SHANI_4ROUNDS(m2, 2);                                                       \
        SHANI_4ROUNDS(m3, 3);                                                       \
        SHANI_SCHED(m0, m1, m2, m3); SHANI_4ROUNDS(m0, 4);                          \
        SHANI_SCHED(m1, m2, m3, m0); SHANI_4ROUNDS(m1, 5);                          \
        SHANI_SCHED(m2, m3, m0, m1); SHANI_4ROUNDS(m2, 6);                          \
        SHANI_SCHED(m3, m0, m1, m2); SHANI_4ROUNDS(m3, 7);                          \
        SHANI_SCHED(m0, m1, m2, m3); SHANI_4ROUNDS(m0, 8);                          \
        SHANI_SCHED(m1, m2, m3, m0); SHANI_4ROUNDS(m1, 9);                          \
        SHANI_SCHED(m2, m3, m0, m1); SHANI_4ROUNDS(m2, 10);                         \
        SHANI_SCHED(m3, m0, m1, m2); SHANI_4ROUNDS(m3, 11);                         \
        SHANI_SCHED(m0, m1, m2, m3); SHANI_4ROUNDS(m0, 12);                         \
        SHANI_SCHED(m1, m2, m3, m0); SHANI_4ROUNDS(m1, 13);                         \
        SHANI_SCHED(m2, m3, m0, m1); SHANI_4ROUNDS(m2, 14);                         \
        SHANI_SCHED(m3, m0, m1, m2); SHANI_4ROUNDS(m3, 15);                         \
    } while (0)

SHANI_TARGET
static void compress_shani(uint32_t state[8], const uint8_t *p, size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i s0 = _mm_loadu_si128((const __m128i *)&state[0]); /* A B C D (lane 0..3) */
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]); /* E F G H */
    __m128i t0 = _mm_shuffle_epi32(s0, 0xB1);                 /* B A D C */
    __m128i t1 = _mm_shuffle_epi32(s1, 0x1B);                 /* H G F E */
    __m128i abef = _mm_alignr_epi8(t0, t1, 8);                /* F E B A */
    __m128i cdgh = _mm_blend_epi16(t1, t0, 0xF0);             /* H G D C */

    while (nblocks--) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

        SHANI_64ROUNDS(m0, m1, m2, m3);
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
        p += 64;
    }

    t0 = _mm_shuffle_epi32(abef, 0x1B);                        /* A B E F */
    t1 = _mm_shuffle_epi32(cdgh, 0xB1);                        /* G H C D */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(t0, t1, 0xF0)); /* A B C D */
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(t1, t0, 8));   /* E F G H */
}

/* SHA-256 of prefix ‖ a(32) ‖ b(32) (a Merkle node) with the message words made in
 * registers from the children: the 65 bytes are shifted into place by one byte (alignr),
 * never staged in memory, where a block's 16-byte loads would straddle the narrower stores
 * that wrote it (a store-forwarding stall per load: that staged version was ~12% slower
 * than the streaming context's). Block 2 is b[31], 0x80, zeros, then the length in bits,
 * 520 = 0x0208 (FIPS 180-4 5.1.1). */
SHANI_TARGET
static void node_shani(uint8_t prefix, const uint8_t *a, const uint8_t *b, uint8_t out[32]) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const __m128i a0 = _mm_loadu_si128((const __m128i *)a);
    const __m128i a1 = _mm_loadu_si128((const __m128i *)(a + 16));
    const __m128i b0 = _mm_loadu_si128((const __m128i *)b);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(b + 16));
    __m128i t0 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&H0[0]), 0xB1);
    __m128i t1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&H0[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(t0, t1, 8);
    __m128i cdgh = _mm_blend_epi16(t1, t0, 0xF0);
    const __m128i abef_h0 = abef, cdgh_h0 = cdgh;
    __m128i m0 = _mm_or_si128(_mm_slli_si128(a0, 1), _mm_cvtsi32_si128(prefix));
    __m128i m1 = _mm_alignr_epi8(a1, a0, 15);
    __m128i m2 = _mm_alignr_epi8(b0, a1, 15);
    __m128i m3 = _mm_alignr_epi8(b1, b0, 15);
    m0 = _mm_shuffle_epi8(m0, bswap);
    m1 = _mm_shuffle_epi8(m1, bswap);
    m2 = _mm_shuffle_epi8(m2, bswap);
    m3 = _mm_shuffle_epi8(m3, bswap);
    SHANI_64ROUNDS(m0, m1, m2, m3);
    abef = _mm_add_epi32(abef, abef_h0);
    cdgh = _mm_add_epi32(cdgh, cdgh_h0);
    const __m128i abef_1 = abef, cdgh_1 = cdgh;
    m0 = _mm_shuffle_epi8(_mm_or_si128(_mm_srli_si128(b1, 15), _mm_cvtsi32_si128(0x8000)), bswap);
    m1 = _mm_setzero_si128();
    m2 = _mm_setzero_si128();
    m3 = _mm_shuffle_epi8(_mm_set_epi8(0x08, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                          bswap);
    SHANI_64ROUNDS(m0, m1, m2, m3);
    abef = _mm_add_epi32(abef, abef_1);
    cdgh = _mm_add_epi32(cdgh, cdgh_1);
    t0 = _mm_shuffle_epi32(abef, 0x1B);
    t1 = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(_mm_blend_epi16(t0, t1, 0xF0), bswap));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_shuffle_epi8(_mm_alignr_epi8(t1, t0, 8), bswap));
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 19)) || !(c & (1u << 9))) return 0; /* SSE4.1, SSSE3 */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0; /* SHA */
}
#endif /* SRP_SHA256_X86 */

/* ------------------------------------------------------------------ dispatch */

static volatile int g_force_portable = 0;

#ifdef SRP_SHA256_X86
static volatile int g_detected = -1; /* -1 unknown, 0 no SHA-NI, 1 SHA-NI */

static int detect(void) {
    int d = g_detected;
    if (d < 0) {
        d = cpu_has_shani();
        g_detected = d; /* idempotent: concurrent callers store the same value */
    }
    return d;
}
#endif

static compress_fn select_compress(void) {
#ifdef SRP_SHA256_X86
    if (!g_force_portable && detect()) return compress_shani;
#endif
    return compress_portable;
}

const char *srp_sha256_impl(void) {
    return select_compress() == compress_portable ? "portable" : "sha-ni";
}

void srp_sha256_force_portable(int on) { g_force_portable = on ? 1 : 0; }

/* ------------------------------------------------------------------ streaming */

typedef struct {
    uint32_t state[8];
    uint64_t total;  /* bytes absorbed */
    size_t buflen;   /* bytes staged in buf (< 64) */
    compress_fn fn;
    uint8_t buf[64];
} sha_ctx;

static inline void ctx_init(sha_ctx *c) {
    memcpy(c->state, H0, sizeof H0);
    c->total = 0;
    c->buflen = 0;
    c->fn = select_compress();
}

/* Resume from a midstate: its blocks count in the length the padding carries. */
static inline void ctx_init_mid(sha_ctx *c, const srp_sha256_mid *m) {
    memcpy(c->state, m->h, sizeof c->state);
    c->total = m->bytes;
    c->buflen = 0;
    c->fn = select_compress();
}

static void ctx_update(sha_ctx *c, const uint8_t *p, size_t n) {
    if (n == 0) return;
    c->total += n;
    if (c->buflen) {
        size_t take = 64 - c->buflen;
        if (take > n) take = n;
        memcpy(c->buf + c->buflen, p, take);
        c->buflen += take;
        p += take;
        n -= take;
        if (c->buflen < 64) return;
        c->fn(c->state, c->buf, 1);
        c->buflen = 0;
    }
    if (n >= 64) {
        size_t nb = n / 64;
        c->fn(c->state, p, nb);
        p += nb * 64;
        n -= nb * 64;
    }
    if (n) {
        memcpy(c->buf, p, n);
        c->buflen = n;
    }
}

static void ctx_final(sha_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->total * 8;
    size_t n = c->buflen;
    c->buf[n++] = 0x80;
    if (n > 56) {
        memset(c->buf + n, 0, 64 - n);
        c->fn(c->state, c->buf, 1);
        n = 0;
    }
    memset(c->buf + n, 0, 56 - n);
    for (int i = 0; i < 8; i++) c->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    c->fn(c->state, c->buf, 1);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, c->state[i]);
}

void srp_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    sha_ctx c;
    ctx_init(&c);
    ctx_update(&c, data, len);
    ctx_final(&c, out);
}

void srp_sha256_3(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  const uint8_t *c3, size_t clen, uint8_t out[32]) {
    sha_ctx c;
    ctx_init(&c);
    ctx_update(&c, a, alen);
    ctx_update(&c, b, blen);
    ctx_update(&c, c3, clen);
    ctx_final(&c, out);
}

void srp_sha256_node(uint8_t prefix, const uint8_t a[32], const uint8_t b[32], uint8_t out[32]) {
#ifdef SRP_SHA256_X86
    if (select_compress() == compress_shani) {
        node_shani(prefix, a, b, out);
        return;
    }
#endif
    /* 65 bytes: prefix ‖ a ‖ b, 0x80, zeros, then the length in bits (520 = 0x208) in the
     * last two bytes of the second block (FIPS 180-4 5.1.1). */
    uint8_t blocks[128];
    uint32_t st[8];
    blocks[0] = prefix;
    memcpy(blocks + 1, a, 32);
    memcpy(blocks + 33, b, 32);
    blocks[65] = 0x80;
    memset(blocks + 66, 0, 60);
    blocks[126] = 0x02;
    blocks[127] = 0x08;
    memcpy(st, H0, sizeof st);
    select_compress()(st, blocks, 2);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, st[i]);
}

void srp_sha256_mid_init(srp_sha256_mid *m, const uint8_t block[64]) {
    memcpy(m->h, H0, sizeof H0);
    select_compress()(m->h, block, 1);
    m->bytes = 64;
}

void srp_sha256_mid_3(const srp_sha256_mid *m, const uint8_t *a, size_t alen, const uint8_t *b,
                      size_t blen, const uint8_t *c3, size_t clen, uint8_t out[32]) {
    sha_ctx c;
    ctx_init_mid(&c, m);
    ctx_update(&c, a, alen);
    ctx_update(&c, b, blen);
    ctx_update(&c, c3, clen);
    ctx_final(&c, out);
    wipe(&c, sizeof c); /* an HMAC midstate is key material; so is what follows it */
}

/* ------------------------------------------------------------------ two streams at once
 *
 * SHA256RNDS2 is latency-bound (one message's rounds form a single dependency chain), so a
 * second, independent message interleaved into the same loop fills the idle issue slots.
 * Measured on Zen 5: one chain 2.5 TSC ticks per rnds2, two chains 1.5 (unit throughput),
 * so ~1.65x is the ceiling; the full loop gets ~1.4x for the batch packetId path (SPEC 2).
 *
 * Each message is fed block by block from a "feeder" that walks a ‖ b ‖ c and then the
 * FIPS 180-4 padding, so the padding blocks are interleaved too. A block lying inside one
 * part is read in place; a block straddling parts (or holding padding) is staged.
 * Without x86 there is nothing to interleave: srp_sha256_3_x2 is two srp_sha256_3 calls. */

#ifdef SRP_SHA256_X86
typedef struct {
    const uint8_t *p[3];
    size_t n[3];
    size_t part;     /* index of the part the cursor is in */
    size_t off;      /* cursor offset inside that part */
    uint64_t total;  /* message bytes (a + b + c) */
    uint64_t pre;    /* bytes already absorbed in the starting midstate (whole blocks) */
    size_t nblocks;  /* padded blocks */
    size_t done;     /* blocks handed out so far */
    uint8_t stage[64];
} feeder;

static void feeder_init(feeder *f, uint64_t pre, const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen, const uint8_t *c, size_t clen) {
    f->p[0] = a;
    f->p[1] = b;
    f->p[2] = c;
    f->n[0] = alen;
    f->n[1] = blen;
    f->n[2] = clen;
    f->part = 0;
    f->off = 0;
    f->total = (uint64_t)alen + blen + clen;
    f->pre = pre;
    /* Data, one 0x80 byte, 64-bit length, rounded up to whole blocks. */
    f->nblocks = (size_t)((f->total + 8) / 64 + 1);
    f->done = 0;
}

/* Copy k message bytes from the cursor (the caller knows they exist). */
static void feeder_take(feeder *f, uint8_t *dst, size_t k) {
    while (k && f->part < 3) {
        size_t avail = f->n[f->part] - f->off;
        if (avail == 0) {
            f->part++;
            f->off = 0;
            continue;
        }
        size_t t = avail < k ? avail : k;
        memcpy(dst, f->p[f->part] + f->off, t);
        dst += t;
        f->off += t;
        k -= t;
    }
}

/* The next 64-byte padded block; valid until the next call. Requires done < nblocks. */
static inline const uint8_t *feeder_next(feeder *f) {
    uint64_t pos = (uint64_t)f->done * 64;
    f->done++;
    if (pos + 64 <= f->total) {
        while (f->part < 2 && f->off == f->n[f->part]) {
            f->part++;
            f->off = 0;
        }
        if (f->n[f->part] - f->off >= 64) {
            const uint8_t *r = f->p[f->part] + f->off;
            f->off += 64;
            return r;
        }
        feeder_take(f, f->stage, 64);
        return f->stage;
    }
    size_t have = pos < f->total ? (size_t)(f->total - pos) : 0; /* < 64 here */
    feeder_take(f, f->stage, have);
    memset(f->stage + have, 0, 64 - have);
    if (pos <= f->total) f->stage[have] = 0x80; /* else it went in the previous block */
    if (f->done == f->nblocks) {
        uint64_t bits = (f->pre + f->total) * 8;
        for (int i = 0; i < 8; i++) f->stage[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    return f->stage;
}

static void feeder_digest(const uint32_t state[8], uint8_t out[32]) {
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, state[i]);
}

/* Four rounds of both streams: the two rnds2 chains alternate so each hides the other's
 * latency. */
#define SHANI_4ROUNDS_X2(ma, mb, i)                                                 \
    do {                                                                            \
        const __m128i k_ = _mm_load_si128((const __m128i *)&K256[4 * (i)]);         \
        __m128i wa_ = _mm_add_epi32((ma), k_);                                      \
        __m128i wb_ = _mm_add_epi32((mb), k_);                                      \
        cdgh0 = _mm_sha256rnds2_epu32(cdgh0, abef0, wa_);                           \
        cdgh1 = _mm_sha256rnds2_epu32(cdgh1, abef1, wb_);                           \
        wa_ = _mm_shuffle_epi32(wa_, 0x0E);                                         \
        wb_ = _mm_shuffle_epi32(wb_, 0x0E);                                         \
        abef0 = _mm_sha256rnds2_epu32(abef0, cdgh0, wa_);                           \
        abef1 = _mm_sha256rnds2_epu32(abef1, cdgh1, wb_);                           \
    } while (0)

#define SHANI_SCHED_X2(a0, a1, a2, a3, b0, b1, b2, b3) \
    do {                                               \
        SHANI_SCHED(a0, a1, a2, a3);                   \
        SHANI_SCHED(b0, b1, b2, b3);                   \
    } while (0)

/* Pack A..H into the (ABEF, CDGH) register pair sha256rnds2 works on, and back. */
SHANI_TARGET
static inline void shani_pack(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i t0 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);
    __m128i t1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);
    *abef = _mm_alignr_epi8(t0, t1, 8);
    *cdgh = _mm_blend_epi16(t1, t0, 0xF0);
}

SHANI_TARGET
static inline void shani_unpack(__m128i abef, __m128i cdgh, uint32_t state[8]) {
    __m128i t0 = _mm_shuffle_epi32(abef, 0x1B);
    __m128i t1 = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(t0, t1, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(t1, t0, 8));
}

/* Compress blocks of f0 and f1 in lockstep while both have blocks left. */
SHANI_TARGET
static void shani_x2(feeder *f0, uint32_t st0[8], feeder *f1, uint32_t st1[8]) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef0, cdgh0, abef1, cdgh1;
    shani_pack(st0, &abef0, &cdgh0);
    shani_pack(st1, &abef1, &cdgh1);
    while (f0->done < f0->nblocks && f1->done < f1->nblocks) {
        const uint8_t *p = feeder_next(f0);
        const uint8_t *q = feeder_next(f1);
        const __m128i abef0_in = abef0, cdgh0_in = cdgh0, abef1_in = abef1, cdgh1_in = cdgh1;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i n0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i n1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i n2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        __m128i n3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 48)), bswap);

        SHANI_4ROUNDS_X2(m0, n0, 0);
        SHANI_4ROUNDS_X2(m1, n1, 1);
        SHANI_4ROUNDS_X2(m2, n2, 2);
        SHANI_4ROUNDS_X2(m3, n3, 3);
        for (int r = 4; r < 16; r += 4) {
            SHANI_SCHED_X2(m0, m1, m2, m3, n0, n1, n2, n3); SHANI_4ROUNDS_X2(m0, n0, r);
            SHANI_SCHED_X2(m1, m2, m3, m0, n1, n2, n3, n0); SHANI_4ROUNDS_X2(m1, n1, r + 1);
            SHANI_SCHED_X2(m2, m3, m0, m1, n2, n3, n0, n1); SHANI_4ROUNDS_X2(m2, n2, r + 2);
            SHANI_SCHED_X2(m3, m0, m1, m2, n3, n0, n1, n2); SHANI_4ROUNDS_X2(m3, n3, r + 3);
        }

        abef0 = _mm_add_epi32(abef0, abef0_in);
        cdgh0 = _mm_add_epi32(cdgh0, cdgh0_in);
        abef1 = _mm_add_epi32(abef1, abef1_in);
        cdgh1 = _mm_add_epi32(cdgh1, cdgh1_in);
    }
    shani_unpack(abef0, cdgh0, st0);
    shani_unpack(abef1, cdgh1, st1);
}
#endif /* SRP_SHA256_X86 */

/* Digests of m0 ‖ a0 ‖ b0 ‖ c0 and m1 ‖ a1 ‖ b1 ‖ c1 (m: a midstate, NULL = none). */
static void x2_from(const srp_sha256_mid *m0, const uint8_t *a0, size_t alen0, const uint8_t *b0,
                    size_t blen0, const uint8_t *c0, size_t clen0, uint8_t out0[32],
                    const srp_sha256_mid *m1, const uint8_t *a1, size_t alen1, const uint8_t *b1,
                    size_t blen1, const uint8_t *c1, size_t clen1, uint8_t out1[32]) {
#ifdef SRP_SHA256_X86
    if (select_compress() == compress_shani) {
        feeder f0, f1;
        uint32_t st0[8], st1[8];
        memcpy(st0, m0 ? m0->h : H0, sizeof st0);
        memcpy(st1, m1 ? m1->h : H0, sizeof st1);
        feeder_init(&f0, m0 ? m0->bytes : 0, a0, alen0, b0, blen0, c0, clen0);
        feeder_init(&f1, m1 ? m1->bytes : 0, a1, alen1, b1, blen1, c1, clen1);
        shani_x2(&f0, st0, &f1, st1);
        /* The longer message's remaining blocks (at most one of these loops runs). */
        while (f0.done < f0.nblocks) compress_shani(st0, feeder_next(&f0), 1);
        while (f1.done < f1.nblocks) compress_shani(st1, feeder_next(&f1), 1);
        feeder_digest(st0, out0);
        feeder_digest(st1, out1);
        if (m0 || m1) { /* HMAC: states and staged blocks derive from the key */
            wipe(st0, sizeof st0);
            wipe(st1, sizeof st1);
            wipe(f0.stage, sizeof f0.stage);
            wipe(f1.stage, sizeof f1.stage);
        }
        return;
    }
#endif
    if (m0)
        srp_sha256_mid_3(m0, a0, alen0, b0, blen0, c0, clen0, out0);
    else
        srp_sha256_3(a0, alen0, b0, blen0, c0, clen0, out0);
    if (m1)
        srp_sha256_mid_3(m1, a1, alen1, b1, blen1, c1, clen1, out1);
    else
        srp_sha256_3(a1, alen1, b1, blen1, c1, clen1, out1);
}

void srp_sha256_3_x2(const uint8_t *a0, size_t alen0, const uint8_t *b0, size_t blen0,
                     const uint8_t *c0, size_t clen0, uint8_t out0[32],
                     const uint8_t *a1, size_t alen1, const uint8_t *b1, size_t blen1,
                     const uint8_t *c1, size_t clen1, uint8_t out1[32]) {
    x2_from(NULL, a0, alen0, b0, blen0, c0, clen0, out0, NULL, a1, alen1, b1, blen1, c1, clen1,
            out1);
}

void srp_sha256_mid_3_x2(const srp_sha256_mid *m0, const uint8_t *a0, size_t alen0,
                         const uint8_t *b0, size_t blen0, const uint8_t *c0, size_t clen0,
                         uint8_t out0[32], const srp_sha256_mid *m1, const uint8_t *a1,
                         size_t alen1, const uint8_t *b1, size_t blen1, const uint8_t *c1,
                         size_t clen1, uint8_t out1[32]) {
    x2_from(m0, a0, alen0, b0, blen0, c0, clen0, out0, m1, a1, alen1, b1, blen1, c1, clen1, out1);
}
