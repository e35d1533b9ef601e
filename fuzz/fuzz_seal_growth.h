/* fuzz_seal's growth round (session 16): the delivery's two tables that start small and double
 * up to their bound (csrc/deliver.c roots_grow: the verified batch roots, 2-way buckets; the
 * delivered ids: csrc/keyset.h, 8-way), in a fresh srp_deliver of a small random bound, fed
 * several times its bound in genuine one-message batches (each its own signed root, so each a
 * new root and a new delivered id), with messages of the last 256 offered again. Exact models
 * (the struct is read through deliver_impl.h):
 *   delivered ids: a message offered again is a duplicate iff fewer than 8 ids were added to
 *     its id's bucket at the bound since its own (fuzz_tables.h ks_model_has); else it is
 *     delivered again (a forgotten id, as the bound allows, SPEC 9.4) and added anew;
 *   roots: a root is in the table iff fewer than 2 other roots of its bucket at the bound were
 *     used (verified, or found) since its own last use (each bucket is most-recent-first); a
 *     message delivered again finds its root (SIG_CACHED) or verifies it (SIG_CHECKED) as that
 *     says, and after each doubling the table holds exactly the roots the model says. */
#ifndef FUZZ_SEAL_GROWTH_H
#define FUZZ_SEAL_GROWTH_H
#include "deliver_impl.h"
#include "fuzz_tables.h"

static unsigned long dg_rounds, dg_messages, dg_again, dg_root_doublings, dg_id_doublings;

static inline int dg_root_in_table(const srp_deliver *dl, const uint8_t *author, const uint8_t *root) {
    const dl_root *b = dl->roots + 2 * dl_root_bucket(dl->seed, author, 1, root, dl->mask);
    for (int w = 0; w < 2; w++)
        if (b[w].used && b[w].count == 1 && !memcmp(b[w].root, root, 32) &&
            !memcmp(b[w].author, author, 32))
            return 1;
    return 0;
}

/* uses[]: the message whose root each use was, in order. Held iff < 2 other roots of its
 * bucket at the bound used since its last use. */
static inline int dg_root_model(const srp_deliver *dl, const uint8_t (*roots)[32], const uint8_t *author,
                         const uint32_t *uses, size_t nu, uint32_t m) {
    size_t b = dl_root_bucket(dl->seed, author, 1, roots[m], dl->roots_max_mask);
    uint32_t other = UINT32_MAX;
    for (size_t j = nu; j-- > 0;) {
        if (uses[j] == m) return 1;
        if (dl_root_bucket(dl->seed, author, 1, roots[uses[j]], dl->roots_max_mask) != b) continue;
        if (other == UINT32_MAX) other = uses[j];
        else if (uses[j] != other) return 0;
    }
    return 0; /* (never used: not in the table) */
}

static inline void dg_check_roots(const srp_deliver *dl, const uint8_t (*roots)[32], const uint8_t *author,
                           const uint32_t *uses, size_t nu, size_t nm) {
    size_t from = nm > 512 ? nm - 512 : 0;
    for (size_t m = from; m < nm; m++)
        if (dg_root_in_table(dl, author, roots[m]) != dg_root_model(dl, roots, author, uses, nu, (uint32_t)m)) {
            fprintf(stderr, "deliver roots: message %zu's root %s (%zu buckets of %zu)\n", m,
                    dg_root_in_table(dl, author, roots[m]) ? "kept past its bucket" : "lost",
                    dl->mask + 1, dl->roots_max_mask + 1);
            abort();
        }
}

static inline void dl_growth_round(const uint8_t key[32], const uint8_t sub[32], const uint8_t tag[16],
                            const uint8_t pk[32], const uint8_t sk[64]) {
    enum { MAXM = 8192, KEEP = 256 };
    static uint8_t frames[KEEP][SRP_PACKET_BYTES], ids[MAXM][32], roots[MAXM][32];
    static uint8_t plain[SRP_DL_PLAIN_BYTES];
    static uint64_t dkeys[2 * MAXM];
    static uint32_t uses[2 * MAXM];
    size_t bound_roots = 1 + fz_below(fz_below(2) ? 256 : 4096);
    size_t bound_ids = 1 + fz_below(fz_below(2) ? 512 : 8192);
    srp_deliver *dl = srp_dl_new(bound_roots, bound_ids);
    if (!dl) abort();
    srp_dl_set_keys(dl, 1, sub, tag, key);
    size_t big = 2 * (dl->roots_max_mask + 1) > ((size_t)SRP_KS_WAYS << dl->done.max_bits)
                     ? 2 * (dl->roots_max_mask + 1) : ((size_t)SRP_KS_WAYS << dl->done.max_bits);
    size_t target = big / 2 + fz_below(3 * (unsigned)big);
    if (target > MAXM) target = MAXM;
    size_t nm = 0, nd = 0, nu = 0;
    while (nm < target) {
        size_t mask = dl->mask;
        unsigned bits = dl->done.bits;
        uint64_t c0[SRP_DLC_COUNT], c1[SRP_DLC_COUNT];
        srp_dl_counters(dl, c0);
        srp_dl_msg msg;
        if (nm && fz_below(3) == 0) { /* one of the last KEEP again */
            uint32_t m = (uint32_t)(nm - 1 - fz_below(nm < KEEP ? (unsigned)nm : KEEP));
            uint64_t k = done_key(dl, ids[m]);
            size_t last = SIZE_MAX;
            for (size_t j = nd; j-- > 0;) if (dkeys[j] == k) { last = j; break; }
            int held = last != SIZE_MAX && ks_model_has(dkeys, nd, last, dl->done.max_bits);
            int root_held = dg_root_model(dl, roots, pk, uses, nu, m);
            int st = srp_dl_open_one(dl, frames[m % KEEP], ids[m], &msg, plain);
            srp_dl_counters(dl, c1);
            if (held ? st != SRP_DL_DUPLICATE : st != SRP_DL_OK) {
                fprintf(stderr, "deliver ids: message %u offered again: %d, the model says %s\n",
                        m, st, held ? "a duplicate" : "forgotten");
                abort();
            }
            if (!held) {
                if (c1[root_held ? SRP_DLC_SIG_CACHED : SRP_DLC_SIG_CHECKED] !=
                    c0[root_held ? SRP_DLC_SIG_CACHED : SRP_DLC_SIG_CHECKED] + 1) {
                    fprintf(stderr, "deliver roots: message %u's root %s\n", m,
                            root_held ? "lost" : "kept past its bucket");
                    abort();
                }
                dkeys[nd++] = k;
                uses[nu++] = m;
                dg_again++;
            }
        } else { /* a new one-message batch: its leaf is its signed root */
            uint8_t *frame = frames[nm % KEEP], ctx[SRP_ENV_CTX_BYTES], env[SRP_SEAL_MAX_PLAIN];
            size_t payload_len = 16 + fz_below(SRP_SEAL_MAX_PLAIN - SRP_ENV_FIXED_BYTES - 16 + 1);
            fz_frame(frame, SRP_PUBLISH, 0);
            frame[SRP_OFF_FLAGS] = 0;
            srp_put16(frame + SRP_OFF_INDEX, 0);
            memset(frame + SRP_OFF_NEXT, 0, 32);
            memcpy(frame + SRP_OFF_CLUSTER, tag, 16);
            memcpy(frame + SRP_OFF_TO, sub, 32);
            memcpy(ctx, frame + SRP_OFF_CLUSTER, 80);
            memcpy(ctx + 80, frame + SRP_OFF_CLOCK, 4);
            env[0] = SRP_ENV_VERSION;
            srp_put16(env + 1, 1);
            srp_put16(env + 3, 0);
            memcpy(env + 5, pk, 32);
            fz_bytes(env + SRP_ENV_FIXED_BYTES, payload_len);
            uint8_t leaf[32], paths[32];
            srp_env_leaf(ctx, env + SRP_ENV_FIXED_BYTES, payload_len, leaf);
            if (srp_env_tree(leaf, 1, roots[nm], paths)) abort();
            srp_env_sign(sk, pk, 1, roots[nm], env + 37);
            size_t n = SRP_ENV_FIXED_BYTES + payload_len;
            memcpy(frame + SRP_OFF_MESSAGE, env, n);
            memset(frame + SRP_OFF_MESSAGE + n, 0, SRP_MESSAGE_BYTES - n);
            srp_put16(frame + SRP_OFF_LENGTH, (uint16_t)n);
            if (srp_seal_frame(key, frame, NULL) != SRP_SEAL_OK) abort();
            srp_frame_packet_id(frame, ids[nm]);
            int st = srp_dl_open_one(dl, frame, ids[nm], &msg, plain);
            srp_dl_counters(dl, c1);
            if (st != SRP_DL_OK || c1[SRP_DLC_SIG_CHECKED] != c0[SRP_DLC_SIG_CHECKED] + 1) {
                fprintf(stderr, "deliver: a new message: %d\n", st);
                abort();
            }
            dkeys[nd++] = done_key(dl, ids[nm]);
            uses[nu++] = (uint32_t)nm;
            nm++;
            dg_messages++;
        }
        if (dl->mask != mask || dl->done.bits != bits || fz_below(256) == 0) {
            dg_root_doublings += dl->mask != mask;
            dg_id_doublings += dl->done.bits != bits;
            dg_check_roots(dl, roots, pk, uses, nu, nm);
            ks_check_all(&dl->done, dkeys, nd);
        }
    }
    dg_check_roots(dl, roots, pk, uses, nu, nm);
    ks_check_all(&dl->done, dkeys, nd);
    srp_dl_free(dl);
    dg_rounds++;
}
#endif
