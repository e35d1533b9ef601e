/* fuzz_seal's fragmented-message round (csrc/deliver_chains.c: messages assembled and verified
 * two at a time). 1..5 genuine messages of 2..3 fragments, signed as one batch and built by
 * csrc/chain.c, reach srp_dl_take shuffled, sometimes with one message's plaintext
 * altered inside its seal, a fragment missing, or a message's frames twice. Invariants: a
 * record is always a genuine message's exact payload under the author's key; no message is
 * delivered twice; every complete, unaltered message is delivered; the hand-up list keeps
 * exactly the items not taken. */
#ifndef FUZZ_SEAL_CHAINS_H
#define FUZZ_SEAL_CHAINS_H
#include "chain.h"
#include "deliver.h"
#include "fuzz_common.h"
#include "seal.h"

#define CH_MSGS 5
#define CH_FRAGS 3
#define CH_ITEMS (2 * CH_MSGS * CH_FRAGS)

static unsigned long ch_rounds, ch_delivered;

static void chains_round(srp_deliver *dl, const uint8_t key[32], const uint8_t sub[32],
                         const uint8_t tag[16], const uint8_t pk[32], const uint8_t sk[64]) {
    static uint8_t env[CH_MSGS][CH_FRAGS * SRP_CHAIN_CHUNK];
    static uint8_t frames[CH_MSGS][CH_FRAGS * SRP_PACKET_BYTES], fids[CH_MSGS][CH_FRAGS * 32];
    static uint8_t batch[CH_ITEMS * SRP_PACKET_BYTES], ids[CH_ITEMS * 32];
    static uint8_t arena[CH_ITEMS * SRP_DL_PLAIN_BYTES];
    uint8_t prev[32], nkey[32], ctx[CH_MSGS][SRP_ENV_CTX_BYTES], leaves[CH_MSGS * 32];
    uint8_t paths[CH_MSGS * 3 * 32], root[32], sig[64];
    size_t len[CH_MSGS], nfrags[CH_MSGS], payload_len[CH_MSGS];
    fz_bytes(prev, 32);
    fz_bytes(nkey, 32);
    uint32_t clock0 = (uint32_t)fz_u64();
    unsigned count = 1 + fz_below(CH_MSGS), depth = srp_env_depth(count);
    size_t head = SRP_ENV_FIXED_BYTES + (size_t)depth * 32;
    for (unsigned i = 0; i < count; i++) { /* 2..3 fragments of plaintext */
        len[i] = SRP_CHAIN_CHUNK + 1 + fz_below(2 * SRP_CHAIN_CHUNK - 1);
        payload_len[i] = len[i] - head;
        memcpy(ctx[i], tag, 16);
        memcpy(ctx[i] + 16, sub, 32);
        memcpy(ctx[i] + 48, prev, 32);
        srp_put32(ctx[i] + 80, clock0 + i);
        fz_bytes(env[i] + head, payload_len[i]);
        srp_env_leaf(ctx[i], env[i] + head, payload_len[i], leaves + 32 * i);
    }
    if (srp_env_tree(leaves, count, root, paths)) abort();
    srp_env_sign(sk, pk, count, root, sig);
    int altered = fz_below(4) == 0 ? (int)fz_below(count) : -1;
    for (unsigned i = 0; i < count; i++) {
        uint8_t *e = env[i];
        e[0] = SRP_ENV_VERSION;
        srp_put16(e + 1, (uint16_t)count);
        srp_put16(e + 3, (uint16_t)i);
        memcpy(e + 5, pk, 32);
        memcpy(e + 37, sig, 64);
        memcpy(e + SRP_ENV_FIXED_BYTES, paths + (size_t)i * depth * 32, (size_t)depth * 32);
    }
    size_t at = altered >= 0 ? fz_below((unsigned)len[altered]) : 0;
    uint8_t bit = (uint8_t)(1u << fz_below(8));
    if (altered >= 0) /* a key holder's edit: header, path or payload, inside a valid seal */
        env[altered][at] ^= bit;
    for (unsigned i = 0; i < count; i++) {
        srp_chain_header h = {.type = SRP_PUBLISH, .postage = 1, .clock = clock0 + i,
                              .ttl = 600, .cluster = tag, .to = sub, .previous = prev};
        nfrags[i] = srp_chain_build(key, nkey, &h, env[i], len[i], CH_FRAGS, frames[i], fids[i]);
        if (nfrags[i] < 2) abort();
    }
    if (altered >= 0) env[altered][at] ^= bit; /* env holds the genuine bytes again */
    /* The batch: every fragment, maybe one missing, maybe one message twice; shuffled. */
    uint16_t item_msg[CH_ITEMS], item_frag[CH_ITEMS];
    size_t n = 0;
    int missing = fz_below(4) == 0 ? (int)fz_below(count) : -1;
    int twice = fz_below(3) == 0 ? (int)fz_below(count) : -1;
    for (unsigned i = 0; i < count; i++)
        for (int copy = 0; copy < (i == (unsigned)twice ? 2 : 1); copy++)
            for (size_t k = 0; k < nfrags[i]; k++) {
                if ((int)i == missing && copy == 0 && k == nfrags[i] - 1) continue;
                item_msg[n] = (uint16_t)i;
                item_frag[n++] = (uint16_t)k;
            }
    for (size_t j = n; j > 1; j--) {
        size_t r = fz_below((unsigned)j);
        uint16_t tm = item_msg[j - 1], tf = item_frag[j - 1];
        item_msg[j - 1] = item_msg[r]; item_frag[j - 1] = item_frag[r];
        item_msg[r] = tm; item_frag[r] = tf;
    }
    uint32_t up_index[CH_ITEMS];
    uint8_t up_kind[CH_ITEMS];
    for (size_t j = 0; j < n; j++) {
        memcpy(batch + j * SRP_PACKET_BYTES,
               frames[item_msg[j]] + (size_t)item_frag[j] * SRP_PACKET_BYTES, SRP_PACKET_BYTES);
        memcpy(ids + 32 * j, fids[item_msg[j]] + 32 * (size_t)item_frag[j], 32);
        up_index[j] = (uint32_t)j;
        up_kind[j] = 2;
    }
    srp_dl_msg msgs[CH_ITEMS];
    size_t n_up = n, taken = 0;
    size_t nmsg = srp_dl_take(dl, batch, SRP_PACKET_BYTES, ids, up_index, up_kind, &n_up, 2,
                              msgs, arena);
    int seen[CH_MSGS] = {0};
    for (size_t r = 0; r < nmsg; r++) {
        const srp_dl_msg *m = &msgs[r];
        unsigned i = item_msg[m->item];
        if (item_frag[m->item] != 0 || seen[i]++) abort();  /* a head, and only once */
        const uint8_t *p = arena + m->arena_off;
        if (m->payload_len != payload_len[i] || memcmp(p + m->author_off, pk, 32) ||
            memcmp(p + m->payload_off, env[i] + head, payload_len[i]))
            abort();
        taken += nfrags[i];
    }
    for (unsigned i = 0; i < count; i++) /* complete and unaltered: delivered */
        if ((int)i != altered && (int)i != missing && !seen[i]) abort();
    if (n_up != n - taken) abort();
    ch_rounds++;
    ch_delivered += nmsg;
}
#endif
