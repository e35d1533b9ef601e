/* Sealed fragment chains built in C: see chain.h.
 *
 * Inside one chain nothing can overlap: fragment k's nextId is fragment k+1's packetId, which
 * hashes k+1's sealed bytes, sealed under a nonce that hashes its plaintext. Two chains are
 * independent, so they are built in two lanes, a fragment of each per step, and the step's
 * SHA-256 work (two nonce HMACs, two packetIds) runs interleaved (sha256.c: one SHA-NI round
 * chain leaves the unit idle half the time). A lane that finishes its message takes the next
 * one, so messages of different lengths keep both lanes busy until the last. */
#include "chain.h"

#include <sodium.h>
#include <string.h>

#include "frame.h"
#include "seal.h"
#include "sha256.h"

#define FRAME 1158

/* HMAC-SHA256 under K_n with its two key blocks (K ^ ipad, K ^ opad) compressed once per
 * call instead of once per frame (RFC 2104 section 4 "Implementation Note"). */
typedef struct {
    srp_sha256_mid inner, outer;
} hmac_key;

static void hmac_init(hmac_key *k, const uint8_t nonce_key[32]) {
    uint8_t ipad[64], opad[64];
    for (int i = 0; i < 64; i++) {
        uint8_t b = i < 32 ? nonce_key[i] : 0;
        ipad[i] = (uint8_t)(b ^ 0x36);
        opad[i] = (uint8_t)(b ^ 0x5c);
    }
    srp_sha256_mid_init(&k->inner, ipad);
    srp_sha256_mid_init(&k->outer, opad);
    sodium_memzero(ipad, sizeof ipad);
    sodium_memzero(opad, sizeof opad);
}

static const uint8_t tail_label[] = "srp-tail-v1";
#define TAIL_LABEL (sizeof tail_label - 1)

/* What the nonce of one fragment hashes, as srp_sha256_mid_3 pieces: the whole frame with its
 * plaintext, or, after the head of a job with a commitment, "srp-tail-v1" ‖ the header after
 * the magic ‖ the commitment (docs/SEALING.md "Nonces" says why that binds the plaintext). */
typedef struct {
    const uint8_t *a, *b, *c;
    size_t alen, blen, clen;
} nonce_input;

/* The tail input binds the plaintext only while an author envelope's head (101 + 32 x depth
 * bytes, SEALING.md section 3) fits in the head fragment, so that a later fragment carries
 * payload bytes alone: a larger batch bound must not break that silently. */
_Static_assert((1u << SRP_ENV_MAX_DEPTH) >= SRP_ENV_MAX_LEAVES,
               "SRP_ENV_MAX_DEPTH must cover SRP_ENV_MAX_LEAVES");
_Static_assert(SRP_ENV_FIXED_BYTES + 32 * SRP_ENV_MAX_DEPTH < SRP_CHAIN_CHUNK,
               "an envelope head longer than a fragment voids the tail nonce input");

static nonce_input nonce_of(const uint8_t *frame, size_t k, const uint8_t *commit) {
    if (k == 0 || !commit) return (nonce_input){frame, NULL, NULL, FRAME, 0, 0};
    return (nonce_input){tail_label, frame + SRP_OFF_TYPE, commit, TAIL_LABEL,
                         SRP_OFF_MESSAGE - SRP_OFF_TYPE, SRP_CHAIN_COMMIT_BYTES};
}

/* The synthetic nonces (PROTOCOL.md "Nonces"): HMAC-SHA256(key = K_n, input), first 24
 * bytes, of one fragment (i1 NULL) or of two interleaved. */
static void synthetic_nonces(const hmac_key *k, const nonce_input *i0, uint8_t n0[24],
                             const nonce_input *i1, uint8_t n1[24]) {
    uint8_t in0[32], in1[32], mac0[32], mac1[32];
    if (i1) {
        srp_sha256_mid_3_x2(&k->inner, i0->a, i0->alen, i0->b, i0->blen, i0->c, i0->clen, in0,
                            &k->inner, i1->a, i1->alen, i1->b, i1->blen, i1->c, i1->clen, in1);
        srp_sha256_mid_3_x2(&k->outer, in0, 32, NULL, 0, NULL, 0, mac0,
                            &k->outer, in1, 32, NULL, 0, NULL, 0, mac1);
        memcpy(n1, mac1, 24);
    } else {
        srp_sha256_mid_3(&k->inner, i0->a, i0->alen, i0->b, i0->blen, i0->c, i0->clen, in0);
        srp_sha256_mid_3(&k->outer, in0, 32, NULL, 0, NULL, 0, mac0);
    }
    memcpy(n0, mac0, 24);
}

size_t srp_chain_count(size_t len) {
    return len == 0 ? 1 : (len + SRP_CHAIN_CHUNK - 1) / SRP_CHAIN_CHUNK;
}

static const uint8_t zero32[32];

/* One message in the making: the fragment it builds next (built last to first, SPEC 2
 * "Fragmentation") and the nextId that fragment carries. */
typedef struct {
    const srp_chain_job *job;  /* NULL: idle */
    size_t n, k;
    const uint8_t *next;
} lane;

static int lane_start(lane *l, const srp_chain_job *job, size_t max_frags) {
    size_t n = srp_chain_count(job->head_len + job->len);
    if (n > max_frags || n > 0xFFFF) return -1;
    l->job = job;
    l->n = n;
    l->k = n - 1;
    l->next = zero32;
    return 0;
}

/* Encode the lane's fragment k (plaintext, unsealed) into its slot; the frame, or NULL. */
static uint8_t *lane_encode(const lane *l, const srp_chain_header *h) {
    const srp_chain_job *j = l->job;
    size_t k = l->k, off = k * SRP_CHAIN_CHUNK, len = j->head_len + j->len;
    size_t take = len == 0 ? 0 : len - off < SRP_CHAIN_CHUNK ? len - off : SRP_CHAIN_CHUNK;
    /* Where the fragment's plaintext is: in msg, in head, or across both (gathered here). */
    uint8_t gathered[SRP_CHAIN_CHUNK];
    const uint8_t *plain = NULL;
    if (take && off >= j->head_len) {
        plain = j->msg + (off - j->head_len);
    } else if (take) {
        size_t in_head = j->head_len - off < take ? j->head_len - off : take;
        plain = j->head + off;
        if (in_head < take) {
            memcpy(gathered, j->head + off, in_head);
            memcpy(gathered + in_head, j->msg, take - in_head);
            plain = gathered;
        }
    }
    srp_header fh = {
        .type = h->type, .version = 1, .hops = 0,
        .flags = (uint8_t)(k < l->n - 1 ? SRP_FLAG_MORE : 0), .postage = h->postage,
        .clock = j->clock, .ttl = h->ttl, .index = (uint16_t)k, .length = (uint16_t)take,
        .cluster = h->cluster, .to = h->to, .previous = h->previous, .next = l->next,
        .message = plain,
    };
    uint8_t *frame = j->out + k * FRAME;
    return srp_frame_encode(frame, &fh) == 0 ? frame : NULL;
}

/* The fragment's packetId is in place: the next one down links to it. */
static void lane_advance(lane *l) {
    l->next = l->job->ids + 32 * l->k;
    if (l->k-- == 0) l->job = NULL;
}

int srp_chain_build_many(const uint8_t key[32], const uint8_t nonce_key[32],
                         const srp_chain_header *h, const srp_chain_job *jobs, size_t njobs,
                         size_t max_frags) {
    hmac_key hk;
    lane lanes[2] = {{0}, {0}};
    size_t taken = 0;
    int rc = 0;
    hmac_init(&hk, nonce_key);
    for (;;) {
        for (int i = 0; i < 2; i++)
            if (!lanes[i].job && taken < njobs &&
                lane_start(&lanes[i], &jobs[taken++], max_frags) != 0) {
                rc = -1;
                goto out;
            }
        /* One busy lane runs as lane 0 (a lone chain, or the last one's tail). */
        if (!lanes[0].job) {
            lanes[0] = lanes[1];
            lanes[1].job = NULL;
        }
        if (!lanes[0].job) break;
        int two = lanes[1].job != NULL;
        uint8_t *f0 = lane_encode(&lanes[0], h), *f1 = two ? lane_encode(&lanes[1], h) : NULL;
        if (!f0 || (two && !f1)) {
            rc = -1;
            goto out;
        }
        uint8_t n0[24], n1[24];
        nonce_input i0 = nonce_of(f0, lanes[0].k, lanes[0].job->commit), i1 = i0;
        if (two) i1 = nonce_of(f1, lanes[1].k, lanes[1].job->commit);
        synthetic_nonces(&hk, &i0, n0, two ? &i1 : NULL, n1);
        if (srp_seal_frame(key, f0, n0) != 0 || (two && srp_seal_frame(key, f1, n1) != 0)) {
            rc = -1;
            goto out;
        }
        uint8_t *id0 = lanes[0].job->ids + 32 * lanes[0].k;
        if (two)
            srp_frame_packet_id_x2(f0, id0, f1, lanes[1].job->ids + 32 * lanes[1].k);
        else
            srp_frame_packet_id(f0, id0);
        lane_advance(&lanes[0]);
        if (two) lane_advance(&lanes[1]);
    }
out:
    sodium_memzero(&hk, sizeof hk);
    return rc;
}

size_t srp_chain_build(const uint8_t key[32], const uint8_t nonce_key[32],
                       const srp_chain_header *h, const uint8_t *msg, size_t len,
                       size_t max_frags, uint8_t *out, uint8_t *ids) {
    srp_chain_job job = {.msg = msg, .len = len, .clock = h->clock, .out = out, .ids = ids,
                         .commit = NULL};
    if (srp_chain_build_many(key, nonce_key, h, &job, 1, max_frags) != 0) return 0;
    return srp_chain_count(len);
}
