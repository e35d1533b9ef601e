/* Member delivery in C, the one-frame path: see deliver.h. Open the seal, walk the author
 * envelope's Merkle path up to a signed batch root (verified roots and tree nodes
 * remembered), remember delivered ids; messages of several fragments are assembled by
 * deliver_chains.c with the same steps (deliver_impl.h). No allocation per packet. */
#include "deliver_impl.h"

#include <sodium.h>
#include <stdlib.h>

#include "bigalloc.h"
#include "chacha16.h"

static const char *const counter_names[SRP_DLC_COUNT] = {
    "ok", "fragment", "no_key", "seal", "envelope", "signature", "duplicate", "assembled",
    "sig_checked", "sig_cached",
};

const char *srp_dl_counter_name(int counter) {
    return (counter >= 0 && counter < SRP_DLC_COUNT) ? counter_names[counter] : "unknown";
}

/* The root table's first size (deliver_impl.h): 32 buckets (~4 KiB), never above its bound. */
#define ROOT_BUCKETS_FIRST 32

srp_deliver *srp_dl_new(size_t roots, size_t delivered) {
    size_t buckets = 32;
    while (buckets * 2 < roots && buckets < ((size_t)1 << 24)) buckets *= 2;
    srp_deliver *dl = calloc(1, sizeof *dl);
    if (!dl) return NULL;
    size_t roots_first = buckets < ROOT_BUCKETS_FIRST ? buckets : ROOT_BUCKETS_FIRST;
    dl->mask = roots_first - 1;
    dl->roots_max_mask = buckets - 1;
    dl->node_mask = buckets * 8 - 1;
    dl->roots = srp_big_calloc(roots_first * 2, sizeof *dl->roots);
    /* Nodes: 8 per root (a 256-leaf tree has 511; recent trees matter, old ones age out).
     * At their bound from the start: only batches of several messages write them. */
    dl->nodes = srp_big_calloc(buckets * 16, sizeof *dl->nodes);
    int done_failed = srp_ks_init(&dl->done, delivered, 24);
    if (!dl->roots || !dl->nodes || done_failed) {
        srp_dl_free(dl);
        return NULL;
    }
    randombytes_buf(&dl->seed, sizeof dl->seed);
    return dl;
}

void srp_dl_free(srp_deliver *dl) {
    if (!dl) return;
    sodium_memzero(dl->subs, sizeof dl->subs);
    /* Sizes as allocated now (the masks follow every growth). */
    srp_big_free(dl->roots, (dl->mask + 1) * 2, sizeof *dl->roots);
    srp_big_free(dl->nodes, (dl->node_mask + 1) * 2, sizeof *dl->nodes);
    srp_ks_free(&dl->done);
    free(dl);
}

void srp_dl_set_keys(srp_deliver *dl, size_t n, const uint8_t *ids, const uint8_t *tags,
                     const uint8_t *keys) {
    if (n > SRP_DL_MAX_SUBS) n = SRP_DL_MAX_SUBS;
    sodium_memzero(dl->subs, sizeof dl->subs);
    for (size_t i = 0; i < n; i++) {
        memcpy(dl->subs[i].id, ids + 32 * i, 32);
        memcpy(dl->subs[i].tag, tags + 16 * i, 16);
        memcpy(dl->subs[i].key, keys + 32 * i, 32);
    }
    dl->nsubs = n;
    dl->last = 0;
}

size_t srp_dl_nkeys(const srp_deliver *dl) { return dl->nsubs; }

static size_t bucket_of(const srp_deliver *dl, const uint8_t *author, unsigned count,
                        const uint8_t *root) {
    return dl_root_bucket(dl->seed, author, count, root, dl->mask);
}

static int root_match(const dl_root *r, const uint8_t *author, unsigned count,
                      const uint8_t *root) {
    return r->used && r->count == count && !memcmp(r->root, root, 32) &&
           !memcmp(r->author, author, 32);
}

/* Doubles the root table (deliver_impl.h, the struct's comment), the older entry of each
 * old bucket first so each new bucket keeps most-recent-first order. */
static void roots_grow(srp_deliver *dl) {
    size_t old_buckets = dl->mask + 1, buckets = old_buckets * 2;
    dl_root *old = dl->roots, *t = srp_big_calloc(buckets * 2, sizeof *t);
    if (!t) {
        dl->roots_max_mask = dl->mask;
        return;
    }
    dl->roots = t;
    dl->mask = buckets - 1;
    for (size_t i = 0; i < old_buckets; i++)
        for (int w = 1; w >= 0; w--) {
            const dl_root *r = &old[2 * i + (size_t)w];
            if (!r->used) continue;
            dl_root *b = dl->roots + 2 * bucket_of(dl, r->author, r->count, r->root);
            b[1] = b[0];
            b[0] = *r;
        }
    srp_big_free(old, old_buckets * 2, sizeof *old);
}

/* Is (author, count, root) signed by author? A table hit costs two compares; a miss costs
 * one Ed25519 verification and, if it passes, evicts the older entry of its bucket. */
static int root_authentic(srp_deliver *dl, const uint8_t *author, unsigned count,
                          const uint8_t *root, const uint8_t *sig) {
    dl_root *b = dl->roots + 2 * bucket_of(dl, author, count, root);
    if (root_match(&b[0], author, count, root)) {
        dl->counters[SRP_DLC_SIG_CACHED]++;
        return 1;
    }
    if (root_match(&b[1], author, count, root)) {
        dl_root t = b[0]; b[0] = b[1]; b[1] = t;
        dl->counters[SRP_DLC_SIG_CACHED]++;
        return 1;
    }
    dl->counters[SRP_DLC_SIG_CHECKED]++;
    if (srp_env_verify(author, count, root, sig) != 0) return 0;
    if (dl->mask < dl->roots_max_mask) {
        ++dl->roots_added;
        while (dl->mask < dl->roots_max_mask &&
               (dl->roots_added > (dl->mask + 1) / 2 || b[1].used)) {
            roots_grow(dl);
            b = dl->roots + 2 * bucket_of(dl, author, count, root);
        }
    }
    b[1] = b[0];
    memcpy(b[0].author, author, 32);
    memcpy(b[0].root, root, 32);
    b[0].count = (uint16_t)count;
    b[0].used = 1;
    return 1;
}

static dl_node *node_bucket(const srp_deliver *dl, const uint8_t *node) {
    uint64_t h = (load64(node) ^ dl->seed) * 0x9E3779B97F4A7C15ull;
    return dl->nodes + 2 * ((size_t)(h >> 40) & dl->node_mask);
}

static int node_match(const dl_node *e, const uint8_t *node, const uint8_t *author,
                      unsigned count, unsigned level, unsigned pos) {
    return e->used && e->level == level && e->pos == pos && e->count == count &&
           !memcmp(e->node, node, 32) && !memcmp(e->author, author, 32);
}

static int node_known(srp_deliver *dl, const uint8_t *node, const uint8_t *author,
                      unsigned count, unsigned level, unsigned pos) {
    dl_node *b = node_bucket(dl, node);
    if (node_match(&b[0], node, author, count, level, pos)) return 1;
    if (node_match(&b[1], node, author, count, level, pos)) {
        dl_node t = b[0]; b[0] = b[1]; b[1] = t;
        return 1;
    }
    return 0;
}

static void node_remember(srp_deliver *dl, const uint8_t *node, const uint8_t *author,
                          unsigned count, unsigned level, unsigned pos) {
    dl_node *b = node_bucket(dl, node);
    if (node_match(&b[0], node, author, count, level, pos)) return;
    b[1] = b[0];
    memcpy(b[0].node, node, 32);
    memcpy(b[0].author, author, 32);
    b[0].count = (uint16_t)count;
    b[0].level = (uint8_t)level;
    b[0].pos = (uint16_t)pos;
    b[0].used = 1;
}

/* The memo holds facts about (author, count) trees: switching to another signer moves its
 * facts to the node table (a message of the old signer arriving late still finds them). */
static int memo_current(srp_deliver *dl, const uint8_t *author, unsigned count) {
    if (dl->memo_on && dl->memo_count == count && !memcmp(dl->memo_author, author, 32))
        return 1;
    if (dl->memo_on)
        for (unsigned l = 0; l <= SRP_ENV_MAX_DEPTH; l++)
            for (unsigned w = 0; w < MEMO_WAYS; w++) {
                dl_memo_slot *m = &dl->memo[l][w];
                if (m->used)
                    node_remember(dl, m->node, dl->memo_author, dl->memo_count, l, m->pos);
                m->used = 0;
            }
    memcpy(dl->memo_author, author, 32);
    dl->memo_count = (uint16_t)count;
    dl->memo_on = 1;
    return 0;
}

static int memo_known(const srp_deliver *dl, const uint8_t *node, unsigned level, unsigned pos) {
    const dl_memo_slot *m = &dl->memo[level][pos % MEMO_WAYS];
    return m->used && m->pos == pos && !memcmp(m->node, node, 32);
}

static void memo_remember(srp_deliver *dl, const uint8_t *node, unsigned level, unsigned pos) {
    dl_memo_slot *m = &dl->memo[level][pos % MEMO_WAYS];
    memcpy(m->node, node, 32);
    m->pos = (uint16_t)pos;
    m->used = 1;
}

/* Parse the envelope in plain (plen bytes) of the message whose head frame is h, against the
 * header context the author signed (sealing.header_context: cluster ‖ to ‖ previousId,
 * contiguous in the header, ‖ clock). SRP_DL_OK or SRP_DL_ENVELOPE. */
int srp_dl_env_parse(const uint8_t *h, const uint8_t *plain, size_t plen, dl_env *e) {
    if (plen < SRP_ENV_FIXED_BYTES || plain[0] != SRP_ENV_VERSION) return SRP_DL_ENVELOPE;
    unsigned count = srp_be16(plain + 1), index = srp_be16(plain + 3);
    if (count < 1 || count > SRP_ENV_MAX_LEAVES || index >= count) return SRP_DL_ENVELOPE;
    unsigned depth = srp_env_depth(count);
    size_t head = SRP_ENV_FIXED_BYTES + (size_t)depth * 32;
    if (plen < head) return SRP_DL_ENVELOPE;
    *e = (dl_env){.env = plain, .author = plain + 5, .sig = plain + 37,
                  .path = plain + SRP_ENV_FIXED_BYTES, .payload = plain + head,
                  .payload_len = plen - head, .count = count, .index = index, .depth = depth};
    memcpy(e->ctx, h + SRP_OFF_CLUSTER, 80);
    memcpy(e->ctx + 80, h + SRP_OFF_CLOCK, 4);
    return SRP_DL_OK;
}

/* Is the hashed leaf of e in a tree whose root e's author signed for count leaves?
 * docs/SEALING.md: leaf = H(0x00 ‖ ctx ‖ payload), hashed up the Merkle path to the root.
 * The walk stops early at a node already known to belong to such a tree (same author, count,
 * level and position): by collision resistance the leaf is then that tree's leaf at this
 * index, exactly what the full path would prove. Messages of a batch arriving together so
 * cost ~1-2 hashes each instead of depth + 1.
 * Returns SRP_DL_OK or SRP_DL_SIGNATURE. */
int srp_dl_env_walk(srp_deliver *dl, const dl_env *e) {
    uint8_t cur[SRP_ENV_MAX_DEPTH + 1][32];
    const uint8_t *author = e->author, *path = e->path;
    unsigned count = e->count, index = e->index, depth = e->depth;
    /* The signer's facts are in the memo while it keeps signing (one table probe, a likely
     * miss, saved per level); another signer's go to the node table (memo_current). */
    int memo = memo_current(dl, author, count);
    memcpy(cur[0], e->leaf, 32);
    unsigned l = 0;
    for (; l < depth; l++) {
        if (memo ? memo_known(dl, cur[l], l, index >> l)
                 : node_known(dl, cur[l], author, count, l, index >> l))
            break;
        if ((index >> l) & 1u)
            srp_env_node(path + l * 32, cur[l], cur[l + 1]);
        else
            srp_env_node(cur[l], path + l * 32, cur[l + 1]);
    }
    if (l == depth && !root_authentic(dl, author, count, cur[depth], e->sig))
        return SRP_DL_SIGNATURE;
    for (unsigned k = 0; k < l; k++) { /* below where the walk stopped: now known */
        memo_remember(dl, cur[k], k, index >> k);
        memo_remember(dl, path + k * 32, k, (index >> k) ^ 1u);
    }
    if (l < depth)  /* (the node that stopped it: the newest fact at its level too) */
        memo_remember(dl, cur[l], l, index >> l);
    return SRP_DL_OK;
}

/* The sub (key table index) whose subcluster id and cluster tag frame is addressed to, or -1;
 * the previous frame's sub is tried first (batches are mostly one sub). */
int srp_dl_find_sub(srp_deliver *dl, const uint8_t *frame) {
    const uint8_t *to = frame + SRP_OFF_TO, *tag = frame + SRP_OFF_CLUSTER;
    if (dl->last < dl->nsubs && !memcmp(dl->subs[dl->last].id, to, 32) &&
        !memcmp(dl->subs[dl->last].tag, tag, 16))
        return (int)dl->last;
    for (size_t i = 0; i < dl->nsubs; i++)
        if (!memcmp(dl->subs[i].id, to, 32) && !memcmp(dl->subs[i].tag, tag, 16)) {
            dl->last = i;
            return (int)i;
        }
    return -1;
}

/* A whole message: first frame, no MORE flag, no successor (fragments.py's rule). */
static int whole_message(const uint8_t *d) {
    return srp_be16(d + SRP_OFF_INDEX) == 0 && !(d[SRP_OFF_FLAGS] & SRP_FLAG_MORE) &&
           !memcmp(d + SRP_OFF_NEXT, zero32, 32);
}

/* A frame's HChaCha20 subkey made ahead (sub_window), for the sub whose key made it. */
typedef struct {
    const uint8_t *key;  /* NULL: none */
    int sub;
} dl_subkey;

/* Open the seal of a whole one-frame message into plain: SRP_DL_OK with *sub and *plen set,
 * or SRP_DL_FRAGMENT / SRP_DL_NO_KEY / SRP_DL_SEAL. */
static int open_seal(srp_deliver *dl, const uint8_t *d, uint8_t *plain, int *sub, size_t *plen,
                     dl_subkey sk) {
    if (!whole_message(d)) return SRP_DL_FRAGMENT;
    int s = srp_dl_find_sub(dl, d);
    if (s < 0) return SRP_DL_NO_KEY;
    size_t len = srp_be16(d + SRP_OFF_LENGTH);
    if (!(d[SRP_OFF_FLAGS] & SRP_FLAG_SEALED) || len < SRP_SEAL_OVERHEAD ||
        len > SRP_SEAL_OVERHEAD + SRP_DL_PLAIN_BYTES)
        return SRP_DL_SEAL;
    uint8_t ad[SRP_SEAL_AD_BYTES];
    const uint8_t *m = d + SRP_OFF_MESSAGE;
    srp_seal_ad(d, ad);
    *plen = len - SRP_SEAL_OVERHEAD;
    int bad = sk.key && sk.sub == s
                  ? srp_xchacha_open_sub(plain, m + SRP_SEAL_NONCE_BYTES, *plen, ad,
                                         SRP_SEAL_AD_BYTES, m, sk.key)
                  : srp_xchacha_open(plain, m + SRP_SEAL_NONCE_BYTES, *plen, ad,
                                     SRP_SEAL_AD_BYTES, m, dl->subs[s].key);
    if (bad) return SRP_DL_SEAL;
    *sub = s;
    return SRP_DL_OK;
}

/* Verify the author envelope of an opened message (plen bytes of plain) whose head frame is
 * h, and fill msg on success. */
static int verify_into(srp_deliver *dl, const uint8_t *h, int s, const uint8_t *plain,
                       size_t plen, srp_dl_msg *msg) {
    dl_env e;
    int st = srp_dl_env_parse(h, plain, plen, &e);
    if (st != SRP_DL_OK) return st;
    env_leaf(&e);
    st = srp_dl_env_walk(dl, &e);
    if (st == SRP_DL_OK) fill_msg(h, s, &e, msg);
    return st;
}

static int open_one(srp_deliver *dl, const uint8_t *d, srp_dl_msg *msg, uint8_t *plain,
                    dl_subkey sk) {
    int s;
    size_t plen;
    int st = open_seal(dl, d, plain, &s, &plen, sk);
    if (st != SRP_DL_OK) return st;
    return verify_into(dl, d, s, plain, plen, msg);
}

static int dl_open_one(srp_deliver *dl, const uint8_t *frame, const uint8_t id[32],
                       srp_dl_msg *msg, uint8_t *plain, dl_subkey sk);

int srp_dl_open_one(srp_deliver *dl, const uint8_t *frame, const uint8_t id[32],
                    srp_dl_msg *msg, uint8_t *plain) {
    dl_subkey none = {NULL, -1};
    return dl_open_one(dl, frame, id, msg, plain, none);
}

static int dl_open_one(srp_deliver *dl, const uint8_t *frame, const uint8_t id[32],
                       srp_dl_msg *msg, uint8_t *plain, dl_subkey sk) {
    int st;
    if (!whole_message(frame)) /* FRAGMENT, delivered or not: no delivered-id lookup */
        st = SRP_DL_FRAGMENT;
    else if (done_has(dl, id)) {
        /* Delivered before, and cached again (its copy had left the cache). The packetId does
         * not cover every header field (SPEC 9.1): a copy a relay altered is cached under the
         * same id. Only a copy that opens is a plain repeat; one that does not goes up so the
         * control plane evicts it from the cache. */
        int s;
        size_t plen;
        st = open_seal(dl, frame, plain, &s, &plen, sk);
        if (st == SRP_DL_OK) st = SRP_DL_DUPLICATE;
    } else {
        st = open_one(dl, frame, msg, plain, sk);
        if (st == SRP_DL_OK) done_add(dl, id);
    }
    dl->counters[st]++;
    return st;
}

/* The HChaCha20 subkeys of the one-frame messages among list positions j0 .. j0 + 15 whose
 * sub is that of the first of them, in one pass where the CPU has AVX-512 (chacha16.h:
 * ~0.08 us a frame less than one scalar call each) or two with AVX2 (~0.065 us less: 16
 * subkeys 1.75 -> 0.72 us in a C loop on session 15's EPYC); w[k] is position j0 + k's, or
 * none. */
typedef struct {
    size_t j0;
    uint8_t keys[16][32];
    dl_subkey w[16];
} sub_window;

static void sub_window_fill(srp_deliver *dl, sub_window *win, const uint8_t *buf, size_t stride,
                            const uint32_t *up_index, const uint8_t *up_kind, size_t n,
                            unsigned deliver_kind, size_t j0) {
    const uint8_t *nonces[16];
    size_t at[16], got = 0;
    int s0 = -1;
    win->j0 = j0;
    for (size_t k = 0; k < 16; k++) win->w[k] = (dl_subkey){NULL, -1};
    for (size_t j = j0; j < n && j < j0 + 16; j++) {
        const uint8_t *d = buf + (size_t)up_index[j] * stride;
        if (up_kind[j] != deliver_kind || !whole_message(d)) continue;
        int s = srp_dl_find_sub(dl, d);
        if (s < 0 || (s0 >= 0 && s != s0)) continue;
        s0 = s;
        nonces[got] = d + SRP_OFF_MESSAGE;
        at[got++] = j - j0;
    }
    if (got < 2) return; /* (one frame: the plain call costs the same) */
    srp_hchacha20_x16(win->keys, nonces, got, dl->subs[s0].key);
    for (size_t k = 0; k < got; k++) win->w[at[k]] = (dl_subkey){win->keys[k], s0};
}

size_t srp_dl_take(srp_deliver *dl, const uint8_t *buf, size_t stride, const uint8_t *ids,
                   uint32_t *up_index, uint8_t *up_kind, size_t *n_up, unsigned deliver_kind,
                   srp_dl_msg *msgs, uint8_t *arena) {
    size_t kept = 0, nmsg = 0, slot = 0, frags = 0, n = *n_up;
    for (size_t j = 0; j < n; j++) /* the delivered-id table is large: load buckets early */
        if (up_kind[j] == deliver_kind && whole_message(buf + (size_t)up_index[j] * stride))
            __builtin_prefetch(
                srp_ks_bucket(&dl->done, done_key(dl, ids + 32 * (size_t)up_index[j])));
    sub_window win;
    int batch = srp_hchacha_batch_ok() && dl->nsubs;
    win.j0 = (size_t)-1;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = up_index[j];
        if (up_kind[j] == deliver_kind && dl->nsubs) {
            srp_dl_msg *m = &msgs[nmsg];
            dl_subkey sk = {NULL, -1};
            if (batch) {
                if (win.j0 == (size_t)-1 || j >= win.j0 + 16)
                    sub_window_fill(dl, &win, buf, stride, up_index, up_kind, n, deliver_kind,
                                    j);
                sk = win.w[j - win.j0];
            }
            int st = dl_open_one(dl, buf + (size_t)i * stride, ids + 32 * (size_t)i, m,
                                 arena + slot * SRP_DL_PLAIN_BYTES, sk);
            if (st == SRP_DL_OK) {
                m->item = i;
                m->arena_off = (uint32_t)(slot * SRP_DL_PLAIN_BYTES);
                nmsg++;
                slot++;
                continue;
            }
            if (st == SRP_DL_DUPLICATE) continue;
            if (st == SRP_DL_FRAGMENT) frags++;
        }
        up_index[kept] = i;
        up_kind[kept++] = up_kind[j];
    }
    *n_up = kept;
    if (batch) sodium_memzero(win.keys, sizeof win.keys);
    if (frags < 2) return nmsg;
    return srp_dl_chains(dl, buf, stride, ids, up_index, up_kind, n_up, deliver_kind, msgs,
                         nmsg, arena, slot);
}

void srp_dl_counters(const srp_deliver *dl, uint64_t out[SRP_DLC_COUNT]) {
    memcpy(out, dl->counters, sizeof dl->counters);
}
