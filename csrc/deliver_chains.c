/* Member delivery in C, messages of several fragments (deliver.h: 2..SRP_DL_MAX_FRAGS
 * fragments in one receive batch, or carried over from earlier ones by
 * srpfast/control/carry.py): find each message's chain of fragments by nextId, open them into
 * consecutive arena space, verify the envelope over the whole plaintext, two messages at a
 * time. The seal, envelope and delivered-id steps are deliver.c's (deliver_impl.h). */
#include "deliver_impl.h"

#include <sodium.h>

#include "chacha16.h"

/* The UP_DELIVER items still in the list after single frames were taken: assemble every
 * message whose head and all following fragments are among them (at most SRP_DL_MAX_FRAGS).
 * chain[] gets the list positions, head first. A forged or altered fragment fails its seal
 * or the envelope, and then the whole message is left to the control plane, which evicts and
 * counts as before (SPEC 9.1). */
static size_t find_chain(const uint8_t *buf, size_t stride, const uint8_t *ids,
                         const uint32_t *up_index, const uint8_t *up_kind, size_t n,
                         unsigned deliver_kind, size_t head, size_t chain[SRP_DL_MAX_FRAGS]) {
    const uint8_t *h = buf + (size_t)up_index[head] * stride;
    if (srp_be16(h + SRP_OFF_INDEX) != 0 || !(h[SRP_OFF_FLAGS] & SRP_FLAG_MORE))
        return 0;
    size_t len = 0, at = head;
    chain[len++] = head;
    const uint8_t *cur = h;
    while (cur[SRP_OFF_FLAGS] & SRP_FLAG_MORE) {
        if (len == SRP_DL_MAX_FRAGS || !memcmp(cur + SRP_OFF_NEXT, zero32, 32)) return 0;
        /* Searched from the item after the current fragment, wrapping: a chain arrives in
         * order most of the time (built and sent head first), so the next fragment is
         * usually the next item, and a batch's chains cost O(items), not O(items^2). Which
         * match is found first does not matter: the data plane hands up one copy of each
         * packetId, and whatever is taken is checked below and by its seal's AD. */
        size_t found = n;
        for (size_t k = 1; k <= n; k++) {
            size_t j = at + k < n ? at + k : at + k - n;
            if (up_kind[j] != deliver_kind) continue;
            if (!memcmp(ids + 32 * (size_t)up_index[j], cur + SRP_OFF_NEXT, 32)) {
                found = j;
                break;
            }
        }
        if (found == n) return 0;  /* a fragment is in another batch: the control plane */
        const uint8_t *f = buf + (size_t)up_index[found] * stride;
        /* fragments.py's rule: index k, the head's previousId, to and cluster */
        if (srp_be16(f + SRP_OFF_INDEX) != len ||
            memcmp(f + SRP_OFF_PREVIOUS, h + SRP_OFF_PREVIOUS, 32) ||
            memcmp(f + SRP_OFF_TO, h + SRP_OFF_TO, 32) ||
            memcmp(f + SRP_OFF_CLUSTER, h + SRP_OFF_CLUSTER, 16))
            return 0;
        chain[len++] = found;
        cur = f;
        at = found;
    }
    if (memcmp(cur + SRP_OFF_NEXT, zero32, 32)) return 0;
    return len;
}

/* Open a fragment's seal into plain (the same checks as deliver.c open_seal, without the
 * whole-message rule); its plaintext length, or 0 when it does not open. subkey: the
 * HChaCha20 subkey of its nonce under the sub's key, made with its message's other
 * fragments' (open_chain), or NULL. */
static size_t open_fragment(srp_deliver *dl, const uint8_t *d, int s, uint8_t *plain,
                            const uint8_t *subkey) {
    size_t len = srp_be16(d + SRP_OFF_LENGTH);
    if (!(d[SRP_OFF_FLAGS] & SRP_FLAG_SEALED) || len <= SRP_SEAL_OVERHEAD ||
        len > SRP_SEAL_OVERHEAD + SRP_DL_PLAIN_BYTES)
        return 0;
    uint8_t ad[SRP_SEAL_AD_BYTES];
    const uint8_t *m = d + SRP_OFF_MESSAGE;
    srp_seal_ad(d, ad);
    size_t plen = len - SRP_SEAL_OVERHEAD;
    int bad = subkey ? srp_xchacha_open_sub(plain, m + SRP_SEAL_NONCE_BYTES, plen, ad,
                                            SRP_SEAL_AD_BYTES, m, subkey)
                     : srp_xchacha_open(plain, m + SRP_SEAL_NONCE_BYTES, plen, ad,
                                        SRP_SEAL_AD_BYTES, m, dl->subs[s].key);
    return bad ? 0 : plen;
}

/* One pass of srp_dl_chains: the batch, its hand-up list, where records and plaintext go. */
typedef struct {
    srp_deliver *dl;
    const uint8_t *buf, *ids;
    size_t stride;
    const uint32_t *up_index;
    uint8_t *up_kind;
    srp_dl_msg *msgs;
    size_t nmsg;
    uint8_t *arena;
    size_t slot;  /* the next free arena slot */
} chain_pass;

/* A fragmented message whose fragments are opened (from arena slot on) and whose envelope is
 * parsed, not yet verified: two are verified together, their leaves in one SHA-256 pass. */
typedef struct {
    size_t chain[SRP_DL_MAX_FRAGS], len, slot;
    int sub;
    dl_env env;
} opened_chain;

static const uint8_t *item_frame(const chain_pass *cp, size_t j) {
    return cp->buf + (size_t)cp->up_index[j] * cp->stride;
}

static const uint8_t *item_id(const chain_pass *cp, size_t j) {
    return cp->ids + 32 * (size_t)cp->up_index[j];
}

/* SRP_DL_OK, or why the message stays with the control plane. */
static int open_chain(chain_pass *cp, opened_chain *c) {
    const uint8_t *h = item_frame(cp, c->chain[0]);
    if (done_has(cp->dl, item_id(cp, c->chain[0]))) return SRP_DL_DUPLICATE;
    int s = srp_dl_find_sub(cp->dl, h);
    if (s < 0) return SRP_DL_NO_KEY;
    uint8_t *plain = cp->arena + c->slot * SRP_DL_PLAIN_BYTES;
    size_t total = 0;
    /* The fragments' HChaCha20 subkeys (one key, a nonce each) sixteen at a time where the
     * CPU has AVX-512 (eight at a time with AVX2): ~0.15 (~0.065) us a fragment less than one
     * scalar call each (chacha16.h). */
    uint8_t sub[16][32];
    const uint8_t *nonces[16];
    int batch = srp_hchacha_batch_ok() && c->len > 1;
    int st = SRP_DL_OK;
    for (size_t k = 0; k < c->len; k++) {
        if (batch && k % 16 == 0) {
            size_t n = c->len - k < 16 ? c->len - k : 16;
            for (size_t j = 0; j < n; j++)
                nonces[j] = item_frame(cp, c->chain[k + j]) + SRP_OFF_MESSAGE;
            srp_hchacha20_x16(sub, nonces, n, cp->dl->subs[s].key);
        }
        size_t plen = open_fragment(cp->dl, item_frame(cp, c->chain[k]), s, plain + total,
                                    batch ? sub[k % 16] : NULL);
        if (plen == 0) {
            st = SRP_DL_SEAL;
            break;
        }
        total += plen;
    }
    if (batch) sodium_memzero(sub, sizeof sub);
    if (st != SRP_DL_OK) return st;
    c->sub = s;
    return srp_dl_env_parse(h, plain, total, &c->env);
}

/* Walk c's hashed leaf up to a signed root: a genuine message becomes the next record (its
 * plaintext moved down if one opened before it failed), its items taken. One that fails is
 * left to the control plane, which evicts forged copies and counts (SPEC 9.1). */
static void settle(chain_pass *cp, const opened_chain *c) {
    int st = srp_dl_env_walk(cp->dl, &c->env);
    cp->dl->counters[st == SRP_DL_OK ? SRP_DL_ASSEMBLED : st]++;
    if (st != SRP_DL_OK) return;
    if (c->slot != cp->slot) /* offsets in the record are relative: they survive the move */
        memmove(cp->arena + cp->slot * SRP_DL_PLAIN_BYTES,
                cp->arena + c->slot * SRP_DL_PLAIN_BYTES, c->len * SRP_DL_PLAIN_BYTES);
    srp_dl_msg *m = &cp->msgs[cp->nmsg++];
    fill_msg(item_frame(cp, c->chain[0]), c->sub, &c->env, m);
    m->item = cp->up_index[c->chain[0]];
    m->arena_off = (uint32_t)(cp->slot * SRP_DL_PLAIN_BYTES);
    done_add(cp->dl, item_id(cp, c->chain[0]));
    cp->slot += c->len;
    for (size_t k = 0; k < c->len; k++) cp->up_kind[c->chain[k]] = 0xFF;
}

/* Do two chains share an item, or heads with the same packetId (copies of one message)?
 * Then the first must be settled before the second is looked at again. */
static int clash(const chain_pass *cp, const opened_chain *a, const opened_chain *b) {
    if (!memcmp(item_id(cp, a->chain[0]), item_id(cp, b->chain[0]), 32)) return 1;
    for (size_t i = 0; i < a->len; i++)
        for (size_t k = 0; k < b->len; k++)
            if (a->chain[i] == b->chain[k]) return 1;
    return 0;
}

/* Whole fragmented messages among the items left, verified two at a time. Taken items are
 * marked (kind 0xFF) and compacted out at the end, order kept. Records go to msgs[nmsg..],
 * in head order, their plaintext to the arena from slot on (arena_off counts from the
 * arena's start). Returns the new nmsg. */
size_t srp_dl_chains(srp_deliver *dl, const uint8_t *buf, size_t stride, const uint8_t *ids,
                     uint32_t *up_index, uint8_t *up_kind, size_t *n_up, unsigned deliver_kind,
                     srp_dl_msg *msgs, size_t nmsg, uint8_t *arena, size_t slot) {
    chain_pass cp = {.dl = dl, .buf = buf, .ids = ids, .stride = stride, .up_index = up_index,
                     .up_kind = up_kind, .msgs = msgs, .nmsg = nmsg, .arena = arena,
                     .slot = slot};
    opened_chain two[2], *pend = NULL;
    size_t n = *n_up, kept;
    for (size_t j = 0; j < n; j++) { /* heads' delivered-id buckets (open_chain), as take's */
        const uint8_t *d = buf + (size_t)up_index[j] * stride;
        if (up_kind[j] == deliver_kind && srp_be16(d + SRP_OFF_INDEX) == 0)
            __builtin_prefetch(
                srp_ks_bucket(&dl->done, done_key(dl, ids + 32 * (size_t)up_index[j])));
    }
    for (size_t j = 0; j < n; j++) {
        if (up_kind[j] != deliver_kind) continue;
        opened_chain *c = pend == &two[0] ? &two[1] : &two[0];
        c->len = find_chain(buf, stride, ids, up_index, up_kind, n, deliver_kind, j, c->chain);
        if (c->len < 2) continue;
        if (pend && clash(&cp, pend, c)) { /* the earlier one first: it may take these items */
            env_leaf(&pend->env);
            settle(&cp, pend);
            pend = NULL;
            c->len = find_chain(buf, stride, ids, up_index, up_kind, n, deliver_kind, j,
                                c->chain);
            if (c->len < 2) continue;
        }
        c->slot = pend ? pend->slot + pend->len : cp.slot;
        int st = open_chain(&cp, c);
        if (st != SRP_DL_OK) { /* left up; a repeat too: its per-frame path tells a repeat */
            dl->counters[st]++; /* from an altered copy (SPEC 9.1) */
            continue;
        }
        if (!pend) { pend = c; continue; }
        env_leaf_x2(&pend->env, &c->env);
        settle(&cp, pend);
        settle(&cp, c);
        pend = NULL;
    }
    if (pend) {
        env_leaf(&pend->env);
        settle(&cp, pend);
    }
    kept = 0;
    for (size_t j = 0; j < n; j++) {
        if (up_kind[j] == 0xFF) continue;
        up_index[kept] = up_index[j];
        up_kind[kept++] = up_kind[j];
    }
    *n_up = kept;
    return cp.nmsg;
}

size_t srp_dl_take_chains(srp_deliver *dl, const uint8_t *buf, size_t stride,
                          const uint8_t *ids, uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                          unsigned deliver_kind, srp_dl_msg *msgs, uint8_t *arena) {
    return srp_dl_chains(dl, buf, stride, ids, up_index, up_kind, n_up, deliver_kind, msgs, 0,
                         arena, 0);
}

size_t srp_dl_take_fragments(const uint8_t *buf, size_t stride, const uint8_t *ids,
                             uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                             unsigned deliver_kind, uint8_t *frames, uint8_t *out_ids,
                             uint32_t *items) {
    size_t kept = 0, taken = 0, n = *n_up;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = up_index[j];
        const uint8_t *d = buf + (size_t)i * stride;
        /* control/carry.py is_fragment: MORE set, or an index past the head */
        if (up_kind[j] == deliver_kind &&
            ((d[SRP_OFF_FLAGS] & SRP_FLAG_MORE) || srp_be16(d + SRP_OFF_INDEX) != 0)) {
            memcpy(frames + taken * SRP_PACKET_BYTES, d, SRP_PACKET_BYTES);
            memcpy(out_ids + 32 * taken, ids + 32 * (size_t)i, 32);
            items[taken++] = i;
            continue;
        }
        up_index[kept] = i;
        up_kind[kept++] = up_kind[j];
    }
    *n_up = kept;
    return taken;
}
