/* Private to csrc/deliver*.c: the delivery state and what its two files share. deliver.c is the
 * one-frame path (open the seal, walk the envelope to a signed root, the delivered-id set);
 * deliver_chains.c assembles multi-fragment messages with the same steps (deliver.h, "A
 * message of 2..SRP_DL_MAX_FRAGS fragments"). Not part of the C API: use deliver.h.
 * The helpers below are static inline because both files call them per message (they were
 * inlined into their callers when both paths were one file, and still are); the larger
 * steps that were out-of-line calls then are plain hidden functions of deliver.c now. */
#ifndef SRP_DELIVER_IMPL_H
#define SRP_DELIVER_IMPL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "deliver.h"
#include "frame.h"
#include "keyset.h"
#include "seal.h"
#include "seen.h"


typedef struct {
    uint8_t author[32];
    uint8_t root[32];
    uint16_t count;
    uint8_t used;
} dl_root;

/* A node of a signed batch tree, with the tree's signer: node (level, pos) of a tree whose
 * root `author` signed for `count` leaves. Siblings on a verified path are as authentic as
 * the path's own nodes (the root commits to both), so both are remembered. */
typedef struct {
    uint8_t node[32];
    uint8_t author[32];
    uint16_t count;
    uint8_t level;        /* 0: leaf */
    uint8_t used;
    uint16_t pos;         /* position within its level */
} dl_node;

typedef struct {
    uint8_t id[32];
    uint8_t tag[16];
    uint8_t key[32];
} dl_sub;

/* The newest verified nodes of the current author's trees, a few per level, direct-mapped by
 * position (see srp_dl_env_walk): the messages of a batch arrive in order, so the node that
 * ends the next message's walk is nearly always one the previous walk proved, and finding it
 * here costs no miss in the large node table (which was the subscriber's costliest C function per
 * one-frame message). */
#define MEMO_WAYS 4
typedef struct {
    uint8_t node[32];
    uint16_t pos;
    uint8_t used;
} dl_memo_slot;

/* The root table starts small and doubles as it fills, up to the bound the caller gave
 * (srp_dl_new), as the delivered ids do (csrc/keyset.h, whose comment says why): when its
 * roots reach every other bucket of 2, and before a root would be pushed out of a full
 * bucket. A failed allocation keeps it as it is: still bounded and correct, only smaller. */
struct srp_deliver {
    dl_root *roots;       /* 2-way buckets: [2b] most recent, [2b+1] older */
    size_t mask;          /* buckets - 1 */
    size_t roots_max_mask, roots_added;
    dl_node *nodes;       /* 2-way buckets like roots (their bound from the start) */
    size_t node_mask;
    srp_keyset done;      /* delivered message ids (keyed 64-bit digests): below its bound
                           * none is forgotten (one forgotten is a message delivered twice) */
    uint64_t seed;        /* keys the bucket hashes: a member cannot aim entries at one bucket */
    dl_sub subs[SRP_DL_MAX_SUBS];
    size_t nsubs;
    size_t last;          /* the sub the previous frame used (batches are mostly one sub) */
    uint8_t memo_author[32];   /* the memo's facts are about this author's trees of */
    uint16_t memo_count;       /* memo_count leaves; memo_on: any at all */
    uint8_t memo_on;
    dl_memo_slot memo[SRP_ENV_MAX_DEPTH + 1][MEMO_WAYS];
    uint64_t counters[SRP_DLC_COUNT];
};

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The root table's bucket of (author, count, root) in a table of mask + 1 buckets (deliver.c
 * bucket_of; also the fuzz model's, fuzz_seal_growth.h). */
static inline size_t dl_root_bucket(uint64_t seed, const uint8_t *author, unsigned count,
                                    const uint8_t *root, size_t mask) {
    uint64_t h = (load64(root) ^ load64(author + 8) ^ seed) + count;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & mask;
}

/* Delivered ids: a keyed 64-bit hash of the whole packetId (XXH3 with the secret seed; never
 * 0, which marks an empty way). Without the seed nobody can find an id whose digest equals
 * another's; by chance it takes ~2^64 ids. */
static inline uint64_t done_key(const srp_deliver *dl, const uint8_t *id) {
    uint64_t k = srp_hash64(id, 32, dl->seed);
    return k ? k : 1;
}

static inline int done_has(const srp_deliver *dl, const uint8_t *id) {
    return srp_ks_has(&dl->done, done_key(dl, id));
}

static inline void done_add(srp_deliver *dl, const uint8_t *id) {
    srp_ks_add(&dl->done, done_key(dl, id));
}

/* An author envelope parsed from an opened message (docs/SEALING.md), its leaf still to be
 * hashed: verification is split so that two messages' leaves can be hashed together. */
typedef struct {
    uint8_t ctx[SRP_ENV_CTX_BYTES];
    const uint8_t *env, *author, *sig, *path, *payload;
    size_t payload_len;
    unsigned count, index, depth;
    uint8_t leaf[32];
} dl_env;

static inline void env_leaf(dl_env *e) {
    srp_env_leaf(e->ctx, e->payload, e->payload_len, e->leaf);
}

static inline void env_leaf_x2(dl_env *a, dl_env *b) {
    srp_env_leaf_x2(a->ctx, a->payload, a->payload_len, a->leaf, b->ctx, b->payload,
                    b->payload_len, b->leaf);
}

/* The nextId of a message's last frame (fragments.py: no successor). */
static const uint8_t zero32[32];

/* The record of a verified message whose head frame is h. */
static inline void fill_msg(const uint8_t *h, int s, const dl_env *e, srp_dl_msg *msg) {
    msg->clock = srp_be32(h + SRP_OFF_CLOCK);
    msg->sub = (uint16_t)s;
    msg->hops = h[SRP_OFF_HOPS];
    msg->pad = 0;
    msg->payload_off = (uint32_t)(e->payload - e->env);
    msg->payload_len = (uint32_t)e->payload_len;
    msg->author_off = (uint32_t)(e->author - e->env);
    memcpy(msg->previous, h + SRP_OFF_PREVIOUS, 32);
}

/* Steps of deliver.c that deliver_chains.c uses too, out of line as they always were (each
 * is described where it is defined). Hidden like every C symbol here (-fvisibility). */
int srp_dl_find_sub(srp_deliver *dl, const uint8_t *frame);
int srp_dl_env_parse(const uint8_t *h, const uint8_t *plain, size_t plen, dl_env *e);
int srp_dl_env_walk(srp_deliver *dl, const dl_env *e);

/* The chain pass of srp_dl_take (deliver_chains.c): records go to msgs[nmsg..], their
 * plaintext to the arena from slot `slot` on. Returns the new number of records. */
size_t srp_dl_chains(srp_deliver *dl, const uint8_t *buf, size_t stride, const uint8_t *ids,
                     uint32_t *up_index, uint8_t *up_kind, size_t *n_up, unsigned deliver_kind,
                     srp_dl_msg *msgs, size_t nmsg, uint8_t *arena, size_t slot);
#endif
