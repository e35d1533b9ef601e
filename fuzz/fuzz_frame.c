/* Sanitizer fuzz driver for csrc/frame.c + csrc/sha256.c (issue 2: `make fuzz`).
 * Built with -fsanitize=address,undefined. Feeds random and mutated datagrams (valid frames
 * with flipped bytes, wrong sizes, extreme lengths) to validate, packet_id and the batch
 * checker for a bounded time, and checks invariants: a valid frame's id equals a reference
 * recomputation through srp_sha256 over a contiguous copy; the batch agrees with single calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "sha256.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_u64(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static void make_valid(uint8_t *d) {
    srp_header h;
    uint8_t ids[96];
    for (int i = 0; i < 96; i++) ids[i] = (uint8_t)next_u64();
    uint8_t msg[SRP_MESSAGE_BYTES];
    for (int i = 0; i < SRP_MESSAGE_BYTES; i++) msg[i] = (uint8_t)next_u64();
    memset(&h, 0, sizeof h);
    h.type = (uint8_t)(1 + next_u64() % 9);
    h.version = SRP_VERSION;
    h.flags = (uint8_t)(next_u64() & 3);
    h.length = (uint16_t)(next_u64() % (SRP_MESSAGE_BYTES + 1));
    h.cluster = ids; h.to = ids + 16; h.previous = ids + 32; h.next = ids + 64;
    h.message = msg;
    if (srp_frame_encode(d, &h) != SRP_OK) abort();
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10.0;
    rng ^= (uint64_t)time(NULL);
    enum { BATCH = 16, STRIDE = SRP_PACKET_BYTES + 2 };
    static uint8_t buf[BATCH * STRIDE];
    uint32_t lens[BATCH];
    uint8_t verdicts[BATCH], ids[BATCH * 32];
    uint64_t counters[SRP_VERDICTS] = {0};
    unsigned long iterations = 0;
    clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (clock() < end) {
        for (int i = 0; i < BATCH; i++) {
            uint8_t *d = buf + i * STRIDE;
            make_valid(d);
            int mutations = (int)(next_u64() % 4);
            for (int m = 0; m < mutations; m++) d[next_u64() % STRIDE] ^= (uint8_t)(1u << (next_u64() % 8));
            if (next_u64() % 8 == 0) srp_put16(d + SRP_OFF_LENGTH, (uint16_t)next_u64());
            lens[i] = (next_u64() % 10 == 0) ? (uint32_t)(next_u64() % STRIDE) : SRP_PACKET_BYTES;
        }
        srp_frame_check_batch(buf, STRIDE, lens, BATCH, verdicts, ids, counters);
        for (int i = 0; i < BATCH; i++) {
            const uint8_t *d = buf + i * STRIDE;
            int v = srp_frame_validate(d, lens[i]);
            if (v != verdicts[i]) { fprintf(stderr, "batch/single verdict mismatch\n"); return 1; }
            if (v == SRP_OK) {
                uint8_t flat[32 + SRP_MESSAGE_BYTES + 32], ref[32];
                uint16_t n = srp_be16(d + SRP_OFF_LENGTH);
                memcpy(flat, d + SRP_OFF_PREVIOUS, 32);
                memcpy(flat + 32, d + SRP_OFF_MESSAGE, n);
                memcpy(flat + 32 + n, d + SRP_OFF_NEXT, 32);
                srp_sha256(flat, 64u + n, ref);
                if (memcmp(ref, ids + 32 * i, 32)) { fprintf(stderr, "packetId mismatch\n"); return 1; }
            }
        }
        iterations++;
    }
    printf("fuzz_frame: %lu batches (%lu datagrams), sha256=%s, verdicts:", iterations,
           iterations * BATCH, srp_sha256_impl());
    for (int v = 0; v < SRP_VERDICTS; v++) printf(" %s=%llu", srp_verdict_name(v), (unsigned long long)counters[v]);
    printf("\n");
    return 0;
}
