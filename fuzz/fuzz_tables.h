/* Growth rounds of fuzz_cache (session 16): the hashed tables that start at about a page and
 * double up to their bound as entries come (session 15), each driven alone, with a small
 * random bound so that one round takes it through every doubling to the bound and on past it
 * (evictions), against a model of what the table must hold:
 *   ks_round    csrc/keyset.h (the data plane's copy filter, the delivery's delivered ids):
 *               exact model. A key is held iff fewer than 8 keys were added after it to its
 *               bucket at the bound (8-way, newest first; below the bound nothing is lost).
 *   seen_round  csrc/seen.c (the cache's pre-filter): a key touched in this generation or the
 *               last is found, with its value, unless 4 other keys of its bucket at the bound
 *               were touched since (the only way a live key goes); an older key is not found;
 *               a key never added is not found.
 *   oa_round    csrc/oa_index.h oa_growth (the cache's three indexes): exact model. Every live
 *               record is found by its hash, no removed one is, live counts agree, the load
 *               stays <= 1/2.
 * Keys are crafted into chosen buckets a quarter of the time, so full buckets (the growth on
 * a full bucket, the pushes at the bound) happen in every round, not only by chance. A growth
 * is a doubling only when it happens: every one is followed by a check of the whole model. */
#ifndef FUZZ_TABLES_H
#define FUZZ_TABLES_H
#include "fuzz_common.h"
#include "keyset.h"
#include "oa_index.h"
#include "seen.h"

static unsigned long tb_doublings, tb_checks, tb_rounds[3];

static inline uint64_t tb_mix(uint64_t x) { /* splitmix64's finalizer: a bijection, so distinct keys */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* ---- keyset.h ---- */

static inline uint64_t tb_phi_inv(void) { /* SRP_KS_MUL^-1 mod 2^64 (Newton: odd numbers invert) */
    uint64_t x = SRP_KS_MUL;
    for (int i = 0; i < 6; i++) x *= 2 - SRP_KS_MUL * x;
    return x;
}

/* Is keys[i] (its latest add) still held: fewer than 8 adds to its bucket at the bound since. */
static inline int ks_model_has(const uint64_t *keys, size_t n, size_t i, unsigned max_bits) {
    size_t b = srp_ks_index(keys[i], max_bits);
    unsigned later = 0;
    for (size_t j = i + 1; j < n; j++) {
        if (keys[j] == keys[i]) return 0; /* (re-added later: that add is the latest) */
        if (srp_ks_index(keys[j], max_bits) == b && ++later >= SRP_KS_WAYS) return 0;
    }
    return 1;
}

static inline void ks_check_all(const srp_keyset *s, const uint64_t *keys, size_t n) {
    /* newest first, counting each bucket's later adds: a key's latest add decides */
    static uint32_t later[1u << 16];
    static uint64_t decided[1u << 17];
    size_t dmask = (sizeof decided / sizeof decided[0]) - 1;
    memset(later, 0, ((size_t)1 << s->max_bits) * sizeof later[0]);
    memset(decided, 0, sizeof decided);
    for (size_t i = n; i-- > 0;) {
        uint64_t k = keys[i];
        size_t p = (size_t)tb_mix(k) & dmask;
        while (decided[p] && decided[p] != k) p = (p + 1) & dmask;
        size_t b = srp_ks_index(k, s->max_bits);
        if (!decided[p]) {
            decided[p] = k;
            int want = later[b] < SRP_KS_WAYS;
            if (srp_ks_has(s, k) != want) {
                fprintf(stderr, "keyset: key %zu of %zu %s (bits %u of %u)\n", i, n,
                        want ? "lost" : "kept past its bucket's 8", s->bits, s->max_bits);
                abort();
            }
        }
        later[b]++;
    }
    tb_checks++;
}

static inline void ks_round(void) {
    enum { MAXK = 1 << 15 };
    static uint64_t keys[MAXK];
    srp_keyset s;
    size_t cap = 1 + fz_below(fz_below(4) ? 1024 : 16384);
    if (srp_ks_init(&s, cap, fz_below(4) ? 24 : 4 + fz_below(10))) abort();
    if (s.max_bits > 13 || s.bits > s.max_bits) abort();
    const uint64_t inv = tb_phi_inv(), salt = fz_u64();
    size_t n = 0, slots = (size_t)SRP_KS_WAYS << s.max_bits;
    size_t target = slots / 2 + fz_below((unsigned)slots * 3);
    if (target > MAXK) target = MAXK;
    unsigned bits = s.bits;
    for (uint64_t ctr = 0; n < target; ctr++) {
        uint64_t k;
        size_t again = SIZE_MAX;
        unsigned how = fz_below(8);
        if (how < 2 && n) { /* one added before: held or not as the model says, then re-added */
            again = n - 1 - fz_below(fz_below(2) ? (unsigned)n : (n < 64 ? (unsigned)n : 64u));
            k = keys[again];
        } else if (how < 4) { /* into a chosen bucket at the bound (few buckets: they fill) */
            uint64_t top = (uint64_t)fz_below(1u + fz_below(4)) << (64 - s.max_bits);
            k = (top | (tb_mix(salt ^ ctr) >> s.max_bits)) * inv;
        } else {
            k = tb_mix(salt ^ ctr);
        }
        if (!k) continue;
        int has = srp_ks_has(&s, k);
        if (again != SIZE_MAX) {
            size_t last = again; /* its latest add */
            for (size_t j = again + 1; j < n; j++) if (keys[j] == k) last = j;
            if (has != ks_model_has(keys, n, last, s.max_bits)) {
                fprintf(stderr, "keyset: re-asked key %s\n", has ? "kept" : "lost"); abort();
            }
            if (has) continue;
        } else if (has) {
            fprintf(stderr, "keyset: a key never added is found\n"); abort();
        }
        srp_ks_add(&s, k);
        keys[n++] = k;
        if (!srp_ks_has(&s, k)) { fprintf(stderr, "keyset: the key just added is not found\n"); abort(); }
        if (s.bits != bits) {
            if (s.bits > s.max_bits) abort();
            tb_doublings += s.bits - bits;
            bits = s.bits;
            ks_check_all(&s, keys, n);
        } else if (fz_below(512) == 0) {
            ks_check_all(&s, keys, n);
        }
    }
    ks_check_all(&s, keys, n);
    if (n > slots / 4 && s.bits != s.max_bits) { fprintf(stderr, "keyset: not grown\n"); abort(); }
    srp_ks_free(&s);
    tb_rounds[0]++;
}

/* ---- seen.c ---- */

static inline void seen_round(void) {
    enum { MAXK = 1 << 13 };
    static uint64_t keys[MAXK];
    static uint32_t touched[MAXK], value[MAXK];
    unsigned log2 = 4 + fz_below(11); /* 16..16384 slots: up to 6 doublings from 64 buckets */
    double period = 0.5 + fz_below(4);
    srp_seen *s = srp_seen_new(log2, period, fz_u64());
    if (!s) abort();
    uint64_t max_mask = ((uint64_t)1 << log2) / SRP_SEEN_WAYS - 1, salt = fz_u64();
    size_t n = 0, target = ((size_t)1 << log2) / 2 + fz_below(3u << log2);
    if (target > MAXK) target = MAXK;
    double now = 1.0 + fz_below(1000);
    for (uint64_t ctr = 0; n < target || fz_below(8); ctr++) {
        if (fz_below(64) == 0) now += fz_below(4) ? 0.01 * fz_below(100) : period * fz_below(3);
        uint32_t gen = (uint32_t)(now / period) + 1; /* seen.c's generation() for now > 0 */
        size_t i = SIZE_MAX;
        uint64_t k;
        unsigned how = fz_below(8);
        if (n && (how < 3 || n >= target)) {
            i = n - 1 - fz_below(fz_below(2) ? (unsigned)n : (n < 32 ? (unsigned)n : 32u));
            k = keys[i];
        } else if (how < 5) { /* into a few chosen buckets at the bound */
            k = (tb_mix(salt ^ ctr) & ~max_mask) | fz_below(1u + fz_below(4));
        } else {
            k = tb_mix(salt ^ ctr);
        }
        uint32_t v = 0;
        int hit = srp_seen_check_and_add(s, k, now, &v);
        if (i == SIZE_MAX) {
            if (hit) { fprintf(stderr, "seen: a key never added is found\n"); abort(); }
            if (n >= MAXK) break;
            i = n++;
            keys[i] = k;
        } else {
            int alive = gen - touched[i] <= 1;
            if (hit && (!alive || v != value[i])) {
                fprintf(stderr, "seen: key %zu found %s (value %u, %u)\n", i,
                        alive ? "with another value" : "past its two generations", v, value[i]);
                abort();
            }
            if (!hit && alive) { /* only 4 others of its bucket at the bound, touched since */
                unsigned others = 0;
                for (size_t j = 0; j < n; j++)
                    others += j != i && ((keys[j] ^ k) & max_mask) == 0 && touched[j] >= touched[i];
                if (others < SRP_SEEN_WAYS) {
                    fprintf(stderr, "seen: live key %zu lost (%u others in its bucket)\n", i, others);
                    abort();
                }
            }
        }
        touched[i] = gen;
        if (!hit) {
            value[i] = SRP_SEEN_NONE;
            if (fz_below(2)) { srp_seen_set_value(s, k, (uint32_t)i); value[i] = (uint32_t)i; }
        }
    }
    tb_checks++;
    srp_seen_free(s);
    tb_rounds[1]++;
}

/* ---- oa_index.h ---- */

static inline uint64_t *oa_find(const oa_index *x, uint32_t h, uint32_t idx) {
    size_t p = h & x->mask;
    for (uint64_t v; (v = x->t[p]) != 0; p = (p + 1) & x->mask)
        if (v == oa_pack(h, idx)) return &x->t[p];
    return NULL;
}

static inline void oa_check_all(const oa_index *x, const oa_growth *g, const uint32_t *hash,
                         const uint8_t *live, size_t n, size_t nlive) {
    if (g->live != nlive || 2 * nlive > x->mask + 1 || x->mask > g->max_mask) {
        fprintf(stderr, "oa: live %zu of %zu slots, model %zu\n", g->live, x->mask + 1, nlive);
        abort();
    }
    size_t occupied = 0;
    for (size_t p = 0; p <= x->mask; p++) occupied += x->t[p] != 0;
    if (occupied != nlive) { fprintf(stderr, "oa: %zu slots used, %zu live\n", occupied, nlive); abort(); }
    for (size_t i = 0; i < n; i++)
        if ((oa_find(x, hash[i], (uint32_t)i) != NULL) != live[i]) {
            fprintf(stderr, "oa: record %zu %s\n", i, live[i] ? "lost" : "found after removal");
            abort();
        }
    tb_checks++;
}

static inline void oa_round(void) {
    enum { MAXR = 1 << 13 };
    static uint32_t hash[MAXR];
    static uint8_t live[MAXR];
    size_t slots = (size_t)2 << fz_below(14); /* 2..16384, as the cache's 2 per entry */
    oa_index x;
    oa_growth g;
    if (oa_grown_init(&x, &g, slots)) abort();
    size_t n = 0, nlive = 0, cap = slots / 2 < MAXR ? slots / 2 : MAXR;
    size_t steps = 4 * cap + fz_below(4 * (unsigned)cap + 1);
    uint32_t home = (uint32_t)fz_u64();
    for (size_t step = 0; step < steps; step++) {
        size_t mask_before = x.mask;
        if (nlive < cap && n < MAXR && fz_below(3)) {
            /* a quarter of the hashes share low bits: long probe runs across the wrap */
            uint32_t h = (uint32_t)fz_u64();
            if (fz_below(4) == 0) h = (h & ~0xFFu) | ((home + fz_below(3)) & 0xFFu);
            hash[n] = h;
            live[n] = 1;
            oa_grown_put(&x, &g, h, (uint32_t)n);
            n++, nlive++;
        } else if (nlive) {
            size_t i = fz_below((unsigned)n);
            while (!live[i]) i = (i + 1) % n;
            oa_grown_del(&x, &g, hash[i], (uint32_t)i);
            live[i] = 0;
            nlive--;
        }
        if (x.mask != mask_before) {
            tb_doublings++;
            oa_check_all(&x, &g, hash, live, n, nlive);
        } else if (fz_below(256) == 0) {
            oa_check_all(&x, &g, hash, live, n, nlive);
        }
    }
    oa_check_all(&x, &g, hash, live, n, nlive);
    oa_grown_free(&x, &g);
    tb_rounds[2]++;
}

static inline void tables_round(void) {
    switch (fz_below(3)) {
    case 0: ks_round(); break;
    case 1: seen_round(); break;
    default: oa_round();
    }
}
#endif
