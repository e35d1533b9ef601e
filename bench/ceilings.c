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

/* Open one-frame messages the way the data plane's delivery does (csrc/deliver.c
 * srp_dl_take): the HChaCha20 subkeys of 16 frames sealed under one key made in one pass
 * where the CPU has AVX-512, two with AVX2 (chacha16.h srp_hchacha20_x16), then each opened
 * with its subkey (srp_xchacha_open_sub); elsewhere srp_xchacha_open per frame, as the data
 * plane falls back (both gate on srp_hchacha_batch_ok).
 * Sixteen ciphertexts with distinct nonces, opened `iterations` times in all (rounded up to
 * 16). Returns the number that failed (0 expected), -1 on a bad plain_len. */
#include "chacha16.h"

long srp_ceiling_open_x16(const uint8_t key[32], long iterations, long plain_len) {
    uint8_t m[1024], c[16][1024], out[1024], ad[123], nonce[16][24], sub[16][32];
    const uint8_t *nonces[16];
    unsigned long long clen = 0;
    long bad = 0;
    if (plain_len < 0 || plain_len > 984) return -1;
    for (int i = 0; i < 1024; i++) m[i] = (uint8_t)i;
    for (int i = 0; i < 123; i++) ad[i] = (uint8_t)i;
    for (int k = 0; k < 16; k++) {
        for (int i = 0; i < 24; i++) nonce[k][i] = (uint8_t)(7 * i + 31 * k);
        nonces[k] = nonce[k];
        crypto_aead_xchacha20poly1305_ietf_encrypt(c[k], &clen, m, (unsigned long long)plain_len,
                                                   ad, sizeof ad, NULL, nonce[k], key);
    }
    int x16 = srp_hchacha_batch_ok();
    for (long i = 0; i < iterations; i += 16) {
        if (x16) {
            srp_hchacha20_x16(sub, nonces, 16, key);
            for (int k = 0; k < 16; k++)
                bad += srp_xchacha_open_sub(out, c[k], (size_t)plain_len, ad, sizeof ad,
                                            nonce[k], sub[k]) != 0;
        } else {
            for (int k = 0; k < 16; k++)
                bad += srp_xchacha_open(out, c[k], (size_t)plain_len, ad, sizeof ad, nonce[k],
                                        key) != 0;
        }
    }
    sodium_memzero(sub, sizeof sub);
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

/* The bare per-packet work SPEC 6/7 asks of a relay for a NEW PUBLISH, with srpfast's fastest
 * primitives and none of its bookkeeping: validate the frame (SPEC 2), its packetId
 * (SHA-256, two frames interleaved as csrc/frame.c does), store a copy findable by that id
 * (frames written in turn into a ring of `slots`, the id's XXH3 indexing a table of ring
 * positions: no metadata, eviction order, share accounting or duplicate filter) and `fanout`
 * copies out with hops+1 (a relay must write each next hop's datagram; 0: a subscriber with
 * nobody to forward to). `frames` holds
 * `nframes` (a multiple of 64) valid frames taken 64 at a time, `rounds` passes over them.
 * Returns frames that failed validation (0 expected), -1 on bad arguments or no memory. */
#define XXH_INLINE_ALL
#include <stdlib.h>
#include <xxhash.h>

#include "frame.h"

/* glibc's memcpy (vectorised, chosen for this CPU at load time) through a pointer gcc cannot
 * see through: a fixed-size 1158-byte memcpy is otherwise inlined as `rep movsq`, which was
 * no faster on the bench machine (AMD EPYC), and a ceiling takes the fastest copy there is. */
static void *(*volatile copy_frame)(void *, const void *, size_t) = memcpy;

/* With `seen` != 0 the store also does the bookkeeping SPEC 6/7/9.4 ask of every receiver
 * per new packet, in its cheapest form: drop what was seen before by packetId (the id's
 * index bucket probed and its stored id compared before the store; the index entry of the
 * frame a store overwrites cleared), and keep the summary bucket of the sync prefix tree
 * current (the new id XORed into its bucket's hash, the overwritten one's out: SPEC 6 Sync,
 * SPEC 7 "computing a summary bucket never scan[s] the whole cache"). Each round's ids are
 * salted with the round number, so the `rounds` passes over the same frames are new
 * packets to the seen check, not duplicates (the same probe, a different answer). */
enum { B = 64, SUMMARY = 4096 };
typedef struct {
    long slots, fanout;
    int seen;
    size_t buckets, next;
    uint8_t *store;
    uint32_t *index;
    uint8_t (*stored)[32];  /* each slot's key (seen) */
    uint32_t *where;        /* its bucket (seen) */
    uint8_t (*summary)[32]; /* (seen) */
} store_state;

static void state_free(store_state *s) {
    free(s->store); free(s->index); free(s->stored); free(s->where); free(s->summary);
}

static int state_init(store_state *s, long slots, long fanout, int seen) {
    memset(s, 0, sizeof *s);
    if (slots <= 0 || fanout < 0 || fanout > 16) return -1;
    s->slots = slots;
    s->fanout = fanout;
    s->seen = seen;
    s->buckets = 1;
    while (s->buckets < 2 * (size_t)slots) s->buckets <<= 1;
    s->store = malloc((size_t)slots * SRP_PACKET_BYTES);
    s->index = calloc(s->buckets, sizeof *s->index);
    if (seen) {
        s->stored = calloc((size_t)slots, 32);
        s->where = calloc((size_t)slots, sizeof *s->where);
        s->summary = calloc(SUMMARY, 32);
    }
    if (!s->store || !s->index || (seen && (!s->stored || !s->where || !s->summary))) {
        state_free(s);
        return -1;
    }
    memset(s->store, 0, (size_t)slots * SRP_PACKET_BYTES);  /* resident, as a warm cache is */
    return 0;
}

/* The store and copies of the frame at output position h of `total`: copy k goes to
 * out[k * total + h], grouped by next hop as a relay sends them (one GSO run per next hop). */
static void store_one(store_state *s, const uint8_t *f, const uint8_t id[32], long r, size_t h,
                      size_t total, uint8_t *out) {
    if (s->seen) {
        uint8_t key[32];
        memcpy(key, id, 32);
        key[31] ^= (uint8_t)r;  /* (the round's salt, above) */
        size_t b = XXH3_64bits(key, 32) & (s->buckets - 1);
        uint32_t at = s->index[b];  /* 1 + slot; 0: empty */
        if (at && !memcmp(s->stored[at - 1], key, 32)) return; /* seen */
        size_t next = s->next;
        if (s->where[next]) {  /* the frame this store overwrites: forgotten */
            if (s->index[s->where[next] - 1] == next + 1) s->index[s->where[next] - 1] = 0;
            uint8_t *old = s->summary[s->stored[next][0] % SUMMARY];
            for (int k = 0; k < 32; k++) old[k] ^= s->stored[next][k];
        }
        uint8_t *sum = s->summary[key[0] % SUMMARY];
        for (int k = 0; k < 32; k++) sum[k] ^= key[k];
        memcpy(s->stored[next], key, 32);
        s->where[next] = (uint32_t)b + 1;
        s->index[b] = (uint32_t)next + 1;
    } else {
        s->index[XXH3_64bits(id, 32) & (s->buckets - 1)] = (uint32_t)s->next;
    }
    copy_frame(s->store + s->next * SRP_PACKET_BYTES, f, SRP_PACKET_BYTES);
    s->next = s->next + 1 == (size_t)s->slots ? 0 : s->next + 1;
    for (long k = 0; k < s->fanout; k++) {
        uint8_t *c = out + ((size_t)k * total + h) * SRP_PACKET_BYTES;
        copy_frame(c, f, SRP_PACKET_BYTES);
        c[SRP_OFF_HOPS] = (uint8_t)(f[SRP_OFF_HOPS] + 1);
    }
}

/* n (<= B) contiguous frames at d, output positions at.. of `total` (store_one). Returns how
 * many failed validation. */
static long store_batch(store_state *s, const uint8_t *d, size_t n, long r, uint8_t *out,
                        size_t at, size_t total) {
    uint8_t ids[B][32];
    long bad = 0;
    /* the batch's frames pulled towards L1 while validating: the SHA-256 rounds then read
     * them from cache, not from the receive ring in L3 (the data plane's pre-filter hash
     * does the same for it as a side effect) */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *f = d + i * SRP_PACKET_BYTES;
        for (size_t line = 0; line < SRP_PACKET_BYTES; line += 64)
            __builtin_prefetch(f + line, 0, 3);
        bad += srp_frame_validate(f, SRP_PACKET_BYTES) != SRP_OK;
    }
    /* per pair: ids, then its store and copies, so the copies (memory-bound) overlap the
     * next pair's SHA-256 rounds (compute-bound) in the out-of-order core */
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        srp_frame_packet_id_x2(d + i * SRP_PACKET_BYTES, ids[i],
                               d + (i + 1) * SRP_PACKET_BYTES, ids[i + 1]);
        for (size_t h = i; h < i + 2; h++)
            store_one(s, d + h * SRP_PACKET_BYTES, ids[h], r, at + h, total, out);
    }
    if (i < n) {  /* an odd batch's last frame */
        srp_frame_packet_id(d + i * SRP_PACKET_BYTES, ids[i]);
        store_one(s, d + i * SRP_PACKET_BYTES, ids[i], r, at + i, total, out);
    }
    __asm__ volatile("" : : "r"(out), "r"(s->store), "r"(s->index), "r"(s->summary) : "memory");
    return bad;
}

static long ceiling_store(const uint8_t *frames, long nframes, long rounds, long slots,
                          long fanout, int seen) {
    store_state s;
    if (nframes <= 0 || nframes % B || state_init(&s, slots, fanout, seen)) return -1;
    uint8_t *out = malloc((size_t)B * (size_t)(fanout ? fanout : 1) * SRP_PACKET_BYTES);
    if (!out) { state_free(&s); return -1; }
    long bad = 0;
    for (long r = 0; r < rounds; r++)
        for (long base = 0; base < nframes; base += B)
            bad += store_batch(&s, frames + (size_t)base * SRP_PACKET_BYTES, B, r, out, 0, B);
    free(out);
    state_free(&s);
    return bad;
}

long srp_ceiling_relay(const uint8_t *frames, long nframes, long rounds, long slots,
                       long fanout, long seen) {
    return ceiling_store(frames, nframes, rounds, slots, fanout, seen != 0);
}

/* The store part of a subscriber's ceiling (bench_network _deliver_ceiling): the relay
 * work with no copies out, plus the seen check and the summary bucket (ceiling_store). */
long srp_ceiling_store_seen(const uint8_t *frames, long nframes, long rounds, long slots) {
    return ceiling_store(frames, nframes, rounds, slots, 0, 1);
}

/* ---- the relay's work live, in the relay's environment (bench_relay.py) ----------------
 * What a relay must do per input, in one C loop with nothing else: receive from `fd` (the
 * caller's socket, built as the relay's: frame filter, UDP GRO, the same buffers; read here
 * with srpfast's own receive, srp_udp_recv over a GRO landing area, `batch` frames a call),
 * the bare relay work on each batch (store_batch: validate, packetId, the seen check by
 * packetId, store, the summary bucket, `nsinks` copies with hops+1, grouped by next hop: what
 * SPEC 6/7 ask of every receiver, plus a relay's copies) and the batch's copies sent as the
 * relay's driver sends them (srp_udp_send_runs: a UDP GSO run per sink, one sendmmsg for the
 * batch); a send the kernel refuses for a full buffer waits for POLLOUT and goes on, so
 * nothing is dropped. It waits with poll() when the
 * socket is empty (the relay's event loop waits in epoll). Fed by the relay row's sender,
 * whose process also reads the sinks: the same input stream, the same drained sinks and the
 * same wake-ups of their reader as the relay's. Returns when `idle` seconds pass with no
 * input after the first, or after `limit` seconds. */
#include <poll.h>
#include <time.h>

#include "udp.h"

typedef struct {
    long inputs, outputs, bad, batches, eagain_waits;
    double first_in, last_out;  /* CLOCK_MONOTONIC seconds (Python's time.monotonic) */
    double cpu;                 /* this thread's CPU seconds from the call to the last output */
} srp_ceiling_live;

static double now_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long srp_ceiling_relay_live(int fd, const uint8_t *sinks, long nsinks, long batch, long slots,
                            double idle, double limit, srp_ceiling_live *st) {
    store_state s;
    srp_udp_rx rx;
    srp_udp_counters ctr;
    memset(st, 0, sizeof *st);
    memset(&ctr, 0, sizeof ctr);
    if (nsinks < 1 || nsinks > 16 || batch < 2 || batch > 1024) return -1;
    if (state_init(&s, slots, nsinks, 1)) return -1;
    uint8_t *out = malloc((size_t)batch * (size_t)nsinks * SRP_PACKET_BYTES);
    srp_sockaddr *addrs = malloc((size_t)batch * (size_t)nsinks * sizeof *addrs);
    if (!out || !addrs ||
        srp_udp_rx_init(&rx, (size_t)batch, SRP_PACKET_BYTES, NULL, NULL, NULL, NULL)) {
        free(out);
        free(addrs);
        state_free(&s);
        return -1;
    }
    if (srp_udp_rx_enable_gro(fd, &rx, 8) != 0) {  /* 8 reads of 64 KiB, as UDPSocket */
        srp_udp_rx_free(&rx);
        free(out);
        free(addrs);
        state_free(&s);
        return -2;
    }
    const srp_sockaddr *to = (const srp_sockaddr *)sinks;
    int gso = 1;
    double t0 = now_s(CLOCK_MONOTONIC), cpu0 = now_s(CLOCK_THREAD_CPUTIME_ID), last_in = 0.0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        long n = srp_udp_recv(fd, &rx, (size_t)batch, &ctr);
        if (n < 0) break;
        if (n == 0) {
            double t = now_s(CLOCK_MONOTONIC);
            if ((st->inputs && t - last_in >= idle) || t - t0 >= limit) break;
            pfd.events = POLLIN;
            poll(&pfd, 1, 10);
            continue;
        }
        if (!st->inputs) st->first_in = now_s(CLOCK_MONOTONIC);
        st->inputs += n;
        st->batches++;
        for (long base = 0; base < n; base += B) {
            size_t m = (size_t)(n - base < B ? n - base : B);
            st->bad += store_batch(&s, rx.buf + (size_t)base * SRP_PACKET_BYTES, m, 0, out,
                                   (size_t)base, (size_t)n);
        }
        /* every copy's next hop, and the runs (one per sink), as the data plane hands them
         * to the driver; all sent by one srp_udp_send_runs (one sendmmsg for the batch) */
        size_t total = (size_t)n * (size_t)nsinks, done = 0;
        for (long k = 0; k < nsinks; k++)
            for (long i = 0; i < n; i++) addrs[k * n + i] = to[k];
        while (done < total) {
            uint32_t runs[32];
            size_t nruns = 0;
            for (long k = 0; k < nsinks; k++) {  /* what is left of each sink's run */
                size_t from = (size_t)(k * n) > done ? (size_t)(k * n) : done;
                size_t end = (size_t)((k + 1) * n);
                if (end > from + 1) {  /* (a lone frame goes as a plain datagram) */
                    runs[2 * nruns] = (uint32_t)(from - done);
                    runs[2 * nruns + 1] = (uint32_t)(end - from);
                    nruns++;
                }
            }
            long r = srp_udp_send_runs(fd, out + done * SRP_PACKET_BYTES, SRP_PACKET_BYTES,
                                       total - done, addrs + done, runs, nruns, &gso, &ctr);
            if (r < 0) goto done;
            done += (size_t)r;
            if (done < total) {  /* a full send buffer: wait, never drop */
                st->eagain_waits++;
                pfd.events = POLLOUT;
                poll(&pfd, 1, 10);
            }
        }
        st->outputs += (long)total;
        last_in = st->last_out = now_s(CLOCK_MONOTONIC);
        st->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    }
done:
    srp_udp_rx_free(&rx);
    free(out);
    free(addrs);
    state_free(&s);
    return st->outputs;
}

/* Make `n` frames new packets again: (counter + i) big-endian in the first 8 message bytes of
 * frame i (SRP_OFF_MESSAGE; the frames stay valid). A bench that cycles a pool of frames
 * through a relay calls it once a pass, so every frame is new to the cache AND to the data
 * plane's seen filter, which remembers copies beyond the cache (bench_dataplane.py). */
void srp_bench_stamp(uint8_t *frames, long n, uint64_t counter) {
    for (long i = 0; i < n; i++) {
        uint64_t v = counter + (uint64_t)i;
        uint8_t *m = frames + (size_t)i * SRP_PACKET_BYTES + SRP_OFF_MESSAGE;
        for (int k = 0; k < 8; k++) m[k] = (uint8_t)(v >> (56 - 8 * k));
    }
}

/* The cache group's two ceilings (bench/bench_cache.py), moved here from the runtime extension
 * _cache.pyx (issue 17: ceilings are bench code). XXH3 is inlined with the length a constant,
 * as csrc/cache_impl.h's srp_hash64 calls are since session 10: with a call into XXH3's
 * length dispatch here, the cache's contains_batch read 1.32x ABOVE this limit.
 *
 * Inserts: per frame only what any store of whole frames must do: XXH3 of a 32-byte key
 * (message bytes 134..165), one probe of a plain table, a copy of 1158 bytes into a ring of
 * `slots`. No metadata, eviction order, dedup or SHA-256. Returns the probes that found a
 * slot taken (to keep the loop honest), -1 on bad arguments or no memory. */
long srp_ceiling_store_loop(const uint8_t *frames, long count, long slots) {
    if (count <= 0 || slots <= 0) return -1;
    size_t m = 1;
    while (m < (size_t)slots * 2) m <<= 1;
    uint8_t *ring = malloc((size_t)slots * SRP_PACKET_BYTES);
    uint64_t *table = calloc(m, sizeof *table);
    if (!ring || !table) {
        free(ring);
        free(table);
        return -1;
    }
    long hits = 0;
    for (size_t i = 0; i < (size_t)count; i++) {
        const uint8_t *f = frames + i * SRP_PACKET_BYTES;
        size_t h = XXH3_64bits_withSeed(f + 134, 32, 1) & (m - 1);
        hits += table[h] != 0;
        table[h] = i + 1;
        copy_frame(ring + (i % (size_t)slots) * SRP_PACKET_BYTES, f, SRP_PACKET_BYTES);
    }
    free(ring);
    free(table);
    return hits;
}

/* Lookups: XXH3 of each 32-byte id and one probe of a plain power-of-two table of at least
 * 2 x slots words (no key comparison, no collision handling), `rounds` passes over the ids
 * (each with its own seed, so no pass repeats another's work): one pass is ~10 us, and a
 * ctypes call per pass cost ~10% of it (the cache's contains_batch is one Cython call).
 * Returns the hits. */
long srp_ceiling_probe_loop(const uint8_t *ids, long n, long slots, long rounds) {
    if (n <= 0 || slots <= 0 || rounds <= 0) return -1;
    size_t m = 1;
    while (m < (size_t)slots * 2) m <<= 1;
    uint64_t *table = malloc(m * sizeof *table);
    if (!table) return -1;
    for (size_t i = 0; i < m; i++) table[i] = i & 1;
    long hits = 0;
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < (size_t)n; i++)
            hits += table[XXH3_64bits_withSeed(ids + 32 * i, 32, 1 + (uint64_t)r) & (m - 1)] != 0;
    free(table);
    return hits;
}
