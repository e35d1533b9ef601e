/* Shared helpers of the sanitizer fuzz drivers (issue 13: `make fuzz` covers every C file that
 * parses network input or tables). Deterministic xorshift RNG (seeded from the clock unless
 * FUZZ_SEED is set, printed so a finding can be replayed), a bounded time loop, and frame
 * builders that give the parsers mostly-valid input with a few flipped bits: uniform random
 * bytes would almost all be rejected by the first size/magic check. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"

static uint64_t fz_rng = 88172645463325252ull;
static inline uint64_t fz_u64(void) { fz_rng ^= fz_rng << 13; fz_rng ^= fz_rng >> 7; fz_rng ^= fz_rng << 17; return fz_rng; }
/* From the high bits: xorshift64's low bits are weak (after fz_below(1024) == 0 the next
 * fz_below(2) was always 0, so a rare event always took the same branch next: session 16). */
static inline unsigned fz_below(unsigned n) { return (unsigned)(((fz_u64() >> 32) * (uint64_t)n) >> 32); }
static inline void fz_bytes(uint8_t *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(fz_u64() >> 56); }

static inline void fz_seed(const char *name) {
    const char *env = getenv("FUZZ_SEED");
    uint64_t s = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    fz_rng ^= s * 0x9E3779B97F4A7C15ull;
    if (!fz_rng) fz_rng = 1;
    printf("%s: FUZZ_SEED=%llu\n", name, (unsigned long long)s);
}

static inline int fz_running(clock_t end) { return clock() < end; }
static inline clock_t fz_deadline(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10.0;
    return clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
}

/* A valid frame of the given type (0: random type) whose ids come from a small pool, so
 * chains, duplicates and prefix collisions happen often. */
static inline void fz_frame(uint8_t *d, uint8_t type, size_t len) {
    static uint8_t pool[8][32];
    static int pool_ready;
    if (!pool_ready) { fz_bytes(&pool[0][0], sizeof pool); pool_ready = 1; }
    uint8_t cluster[16] = {0}, to[32] = {0}, msg[SRP_MESSAGE_BYTES];
    cluster[0] = (uint8_t)fz_below(3);
    if (fz_below(2)) fz_bytes(to, 32);
    fz_bytes(msg, len);
    srp_header h;
    memset(&h, 0, sizeof h);
    h.type = type ? type : (uint8_t)(1 + fz_below(9));
    h.version = SRP_VERSION;
    h.hops = (uint8_t)fz_below(20);
    h.flags = (uint8_t)fz_below(4);
    h.clock = (uint32_t)fz_u64();
    h.index = (uint16_t)fz_below(4);
    h.length = (uint16_t)len;
    h.ttl = fz_below(4) ? (uint32_t)fz_below(30) : (uint32_t)fz_u64();
    h.postage = (uint8_t)fz_below(4);
    h.cluster = cluster; h.to = to;
    h.previous = fz_below(3) ? pool[fz_below(8)] : (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    h.next = fz_below(3) ? pool[fz_below(8)] : (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    h.message = msg;
    if (srp_frame_encode(d, &h) != SRP_OK) abort();
}

/* Flip 0..3 random bits, sometimes smash the length field. */
static inline void fz_mutate(uint8_t *d, size_t n) {
    int m = (int)fz_below(4);
    for (int i = 0; i < m; i++) d[fz_below((unsigned)n)] ^= (uint8_t)(1u << fz_below(8));
    if (fz_below(16) == 0) srp_put16(d + SRP_OFF_LENGTH, (uint16_t)fz_u64());
}
#endif
