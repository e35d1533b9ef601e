/* Sanitizer fuzz driver for csrc/seal.c, csrc/deliver.c and csrc/deliver_chains.c (issue 13).
 * Built with -fsanitize=address,undefined, linked with libsodium.
 * Frames are built the way a member builds them (author envelope with a Merkle path, signed
 * batch root, sealed with the subcluster key), then attacked in one of three ways: the
 * plaintext is corrupted BEFORE sealing (so the envelope parser sees hostile bytes that passed
 * the AEAD, as a key holder could send), the sealed frame is corrupted AFTER sealing (the seal
 * must refuse it), or the frame is random. Invariants: an untouched frame opens and delivers
 * exactly once (then SRP_DL_DUPLICATE); a frame changed after sealing in an authenticated byte
 * never opens (SPEC 4, 9.1); srp_open_frame leaves a frame it refuses unchanged. One round
 * in four is a batch of fragmented messages instead (fuzz_seal_chains.h). */
#include <sodium.h>

#include "fuzz_common.h"
#include "deliver.h"
#include "fuzz_seal_chains.h"
#include "fuzz_seal_growth.h"
#include "seal.h"

static const uint8_t zero32[32];

/* The AD-covered header bytes: all but magic(0..3), hops(6), ttl(16..19), postage(20),
 * reserved(21) (seal.h). The message area is covered by the tag. */
static int authenticated(size_t off) {
    return !(off < 4 || off == 6 || (off >= 16 && off <= 21));
}

/* srp_env_parse_memo against srp_env_parse (no memo) over a sequence of envelopes of a few
 * small batches, in order, shuffled, repeated and tampered with (a path node, the index, the
 * signature field that picks the memo's slot, the payload, a truncation): the memo is an
 * exact cache, so every result must be the same, byte for byte. */
static unsigned long memo_round(srp_env_memo *memo) {
    enum { BATCHES = 3, MAXN = 40, PAY = 48 };
    static uint8_t env[BATCHES][MAXN][SRP_ENV_FIXED_BYTES + 8 * 32 + PAY];
    static size_t len[BATCHES][MAXN];
    static uint8_t leaves[MAXN * 32], paths[MAXN * 8 * 32];
    unsigned count[BATCHES];
    uint8_t ctx[SRP_ENV_CTX_BYTES];
    fz_bytes(ctx, sizeof ctx);
    for (unsigned b = 0; b < BATCHES; b++) {
        count[b] = 1 + fz_below(fz_below(2) ? MAXN : 5);
        unsigned depth = srp_env_depth(count[b]);
        size_t head = SRP_ENV_FIXED_BYTES + depth * 32;
        uint8_t sig[64], author[32], root[32];
        fz_bytes(sig, 64);
        fz_bytes(author, 32);
        if (fz_below(4) == 0 && b) memcpy(sig, env[b - 1][0] + 37, 64); /* a slot's tag reused */
        for (unsigned i = 0; i < count[b]; i++) {
            uint8_t *e = env[b][i];
            len[b][i] = head + fz_below(PAY + 1);
            fz_bytes(e + head, len[b][i] - head);
            srp_env_leaf(ctx, e + head, len[b][i] - head, leaves + i * 32);
            e[0] = SRP_ENV_VERSION;
            srp_put16(e + 1, (uint16_t)count[b]);
            srp_put16(e + 3, (uint16_t)i);
            memcpy(e + 5, author, 32);
            memcpy(e + 37, sig, 64);
        }
        if (srp_env_tree(leaves, count[b], root, paths)) abort();
        for (unsigned i = 0; i < count[b]; i++)
            memcpy(env[b][i] + SRP_ENV_FIXED_BYTES, paths + (size_t)i * depth * 32, depth * 32);
    }
    unsigned long checked = 0;
    unsigned b = 0, i = 0;
    for (int step = 0; step < 64; step++) {
        int how = (int)fz_below(8);
        if (how < 4) {           /* the next message of this batch (the usual order) */
            if (++i >= count[b]) i = 0;
        } else if (how == 4) {   /* another batch */
            b = fz_below(BATCHES);
            i = fz_below(count[b]);
        } else if (how == 5) {   /* any message of this batch */
            i = fz_below(count[b]);
        }                        /* else the same message again */
        uint8_t e[sizeof env[0][0]];
        size_t n = len[b][i];
        memcpy(e, env[b][i], n);
        if (fz_below(3) == 0) {  /* tampered: a node, the index, the signature, anything */
            unsigned depth = srp_env_depth(count[b]);
            unsigned what = fz_below(5);
            if (what == 0 && depth)
                e[SRP_ENV_FIXED_BYTES + fz_below(depth * 32)] ^= (uint8_t)(1u << fz_below(8));
            else if (what == 1)
                srp_put16(e + 3, (uint16_t)(i ^ (1u << fz_below(depth + 1))));
            else if (what == 2)
                memcpy(e + 37, env[fz_below(BATCHES)][0] + 37, 64);
            else if (what == 3)
                n = fz_below((unsigned)n + 1);
            else
                e[fz_below((unsigned)n)] ^= (uint8_t)(1u << fz_below(8));
        }
        unsigned c0 = 0, c1 = 0;
        const uint8_t *a0 = NULL, *a1 = NULL, *s0 = NULL, *s1 = NULL, *p0 = NULL, *p1 = NULL;
        size_t l0 = 0, l1 = 0;
        uint8_t r0[32] = {0}, r1[32] = {0};
        int rc0 = srp_env_parse(e, n, ctx, &c0, &a0, &s0, &p0, &l0, r0);
        int rc1 = srp_env_parse_memo(memo, e, n, ctx, &c1, &a1, &s1, &p1, &l1, r1);
        if (rc0 != rc1 || (rc0 == 0 && (c0 != c1 || a0 != a1 || s0 != s1 || p0 != p1 ||
                                        l0 != l1 || memcmp(r0, r1, 32)))) {
            fprintf(stderr, "memo walk differs: batch %u index %u\n", b, i);
            abort();
        }
        checked++;
    }
    return checked;
}

int main(int argc, char **argv) {
    fz_seed("fuzz_seal");
    if (srp_seal_init() < 0) abort();
    clock_t end = fz_deadline(argc, argv);
    uint8_t key[32], sub[32], tag[16] = {7}, pk[32], sk[64];
    fz_bytes(key, 32); fz_bytes(sub, 32);
    crypto_sign_keypair(pk, sk);
    srp_deliver *dl = srp_dl_new(64, 4096);
    if (!dl) abort();
    srp_dl_set_keys(dl, 1, sub, tag, key);
    static uint8_t frame[SRP_PACKET_BYTES], copy[SRP_PACKET_BYTES], plain[SRP_DL_PLAIN_BYTES];
    static uint8_t batchbuf[4 * SRP_PACKET_BYTES], ids[4 * 32], arena[4 * SRP_DL_PLAIN_BYTES];
    unsigned long iters = 0, delivered = 0, refused_after_tamper = 0, env_hostile = 0;
    unsigned long memo_checked = 0;
    static srp_env_memo memo; /* (zeroed: static) */
    while (fz_running(end)) {
        if (fz_below(4) == 0) {
            chains_round(dl, key, sub, tag, pk, sk);
            continue;
        }
        if (fz_below(8) == 0) {
            memo_checked += memo_round(&memo);
            continue;
        }
        if (fz_below(4096) == 0) { /* the tables that grow, in a deliver of their own */
            dl_growth_round(key, sub, tag, pk, sk);
            continue;
        }
        /* A genuine one-frame message: batch of `count` leaves, this one at `index`. */
        unsigned count = 1 + fz_below(fz_below(4) ? 4 : 256), index = fz_below(count);
        unsigned depth = srp_env_depth(count);
        size_t payload_len = fz_below((unsigned)(SRP_SEAL_MAX_PLAIN - SRP_ENV_FIXED_BYTES - depth * 32 + 1));
        uint8_t ctx[SRP_ENV_CTX_BYTES], env[SRP_SEAL_MAX_PLAIN];
        fz_frame(frame, SRP_PUBLISH, 0);
        frame[SRP_OFF_FLAGS] = 0; srp_put16(frame + SRP_OFF_INDEX, 0);
        memcpy(frame + SRP_OFF_NEXT, zero32, 32);
        memcpy(frame + SRP_OFF_CLUSTER, tag, 16);
        memcpy(frame + SRP_OFF_TO, sub, 32);
        memcpy(ctx, frame + SRP_OFF_CLUSTER, 80);
        memcpy(ctx + 80, frame + SRP_OFF_CLOCK, 4);
        size_t head = SRP_ENV_FIXED_BYTES + depth * 32;
        env[0] = SRP_ENV_VERSION; srp_put16(env + 1, (uint16_t)count); srp_put16(env + 3, (uint16_t)index);
        memcpy(env + 5, pk, 32);
        fz_bytes(env + head, payload_len);
        /* The tree: our leaf among random siblings (paths computed by srp_env_tree). */
        static uint8_t leaves[256 * 32], paths[256 * 8 * 32];
        fz_bytes(leaves, count * 32);
        srp_env_leaf(ctx, env + head, payload_len, leaves + index * 32);
        uint8_t root[32];
        if (srp_env_tree(leaves, count, root, paths)) abort();
        memcpy(env + SRP_ENV_FIXED_BYTES, paths + (size_t)index * depth * 32, depth * 32);
        srp_env_sign(sk, pk, count, root, env + 37);
        size_t n = head + payload_len;
        int mode = (int)fz_below(4);  /* 0 genuine, 1 hostile plaintext, 2 tampered seal, 3 random */
        if (mode == 1) {
            for (int m = 1 + (int)fz_below(4); m > 0; m--) env[fz_below((unsigned)n)] ^= (uint8_t)(1u << fz_below(8));
            if (fz_below(4) == 0) n = fz_below((unsigned)n + 1);
            env_hostile++;
            /* the parser alone, on the same bytes */
            unsigned c2; const uint8_t *a2, *s2, *p2; size_t l2; uint8_t r2[32];
            if (srp_env_parse(env, n, ctx, &c2, &a2, &s2, &p2, &l2, r2) == 0 &&
                (p2 + l2 != env + n || c2 < 1 || c2 > SRP_ENV_MAX_LEAVES)) abort();
        }
        memcpy(frame + SRP_OFF_MESSAGE, env, n);
        memset(frame + SRP_OFF_MESSAGE + n, 0, SRP_MESSAGE_BYTES - n);
        srp_put16(frame + SRP_OFF_LENGTH, (uint16_t)n);
        uint8_t nonce[24]; fz_bytes(nonce, 24);
        if (srp_seal_frame(key, frame, fz_below(2) ? nonce : NULL) != SRP_SEAL_OK) abort();
        size_t flipped = SIZE_MAX;
        if (mode == 2) {
            flipped = fz_below(SRP_PACKET_BYTES);
            frame[flipped] ^= (uint8_t)(1u << fz_below(8));
        } else if (mode == 3) {
            fz_bytes(frame + SRP_OFF_MESSAGE, SRP_MESSAGE_BYTES);
        }
        uint8_t id[32];
        srp_frame_packet_id(frame, id);
        srp_dl_msg msg;
        int st = srp_dl_open_one(dl, frame, id, &msg, plain);
        if (mode == 0) {
            if (st != SRP_DL_OK) { fprintf(stderr, "genuine frame refused: %d\n", st); abort(); }
            if (msg.payload_len != payload_len || msg.payload_off + payload_len > SRP_DL_PLAIN_BYTES) abort();
            if (srp_dl_open_one(dl, frame, id, &msg, plain) != SRP_DL_DUPLICATE) abort();
            delivered++;
        } else if (mode == 2 && authenticated(flipped) &&
                   flipped < SRP_OFF_MESSAGE + 40u + n) {
            /* flags/index/next/to/cluster flips may route it elsewhere first; never OK */
            if (st == SRP_DL_OK) { fprintf(stderr, "tampered byte %zu delivered\n", flipped); abort(); }
            refused_after_tamper++;
        }
        /* The plain seal API on a copy: a refused frame stays unchanged. */
        memcpy(copy, frame, sizeof copy);
        int os = srp_open_frame(fz_below(8) ? key : sub, copy);
        if (os != SRP_SEAL_OK && memcmp(copy, frame, sizeof copy)) abort();
        if (os == SRP_SEAL_OK && mode == 2 && authenticated(flipped) && flipped < SRP_OFF_MESSAGE + 40u + n) abort();
        /* Batch paths over copies */
        for (int k = 0; k < 4; k++) memcpy(batchbuf + k * SRP_PACKET_BYTES, frame, SRP_PACKET_BYTES);
        uint8_t status[4]; uint64_t ctr[SRP_SEAL_STATUSES] = {0};
        srp_open_batch(key, batchbuf, 4, status, ctr);
        uint32_t up_index[4] = {0, 1, 2, 3}; uint8_t up_kind[4] = {2, 2, 1, 2}; size_t n_up = 4;
        for (int k = 0; k < 4; k++) memcpy(ids + 32 * k, id, 32);
        srp_dl_msg msgs[4];
        memcpy(batchbuf, frame, SRP_PACKET_BYTES);
        srp_dl_take(dl, batchbuf, SRP_PACKET_BYTES, ids, up_index, up_kind, &n_up, 2, msgs, arena);
        if (n_up > 4) abort();
        iters++;
    }
    uint64_t c[SRP_DLC_COUNT];
    srp_dl_counters(dl, c);
    printf("fuzz_seal: %lu frames (genuine delivered once each: %lu, hostile envelopes: %lu, "
           "tampered refused: %lu), deliver:", iters, delivered, env_hostile, refused_after_tamper);
    for (int k = 0; k < SRP_DLC_COUNT; k++) printf(" %s=%llu", srp_dl_counter_name(k), (unsigned long long)c[k]);
    printf("\nfuzz_seal: %lu rounds of fragmented messages, %lu delivered\n", ch_rounds,
           ch_delivered);
    printf("fuzz_seal: %lu envelopes parsed with and without the walk memo, the same; %llu "
           "node hashes with it\n", memo_checked, (unsigned long long)memo.hashed);
    printf("fuzz_seal: %lu growth rounds (%lu messages, %lu offered again and delivered as "
           "forgotten; %lu root table and %lu delivered-id doublings)\n", dg_rounds, dg_messages,
           dg_again, dg_root_doublings, dg_id_doublings);
    srp_dl_free(dl);
    return 0;
}
