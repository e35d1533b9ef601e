/* Member delivery in C (issue 6: "receive + verify + deliver to a Python subscriber").
 *
 * The relay data plane (dataplane.h) hands up, as UP_DELIVER, each new PUBLISH it cached for
 * a subcluster this peer holds the key of. For the common case, a whole message in one frame,
 * everything a member must do before a message may be delivered is per-packet crypto, done
 * here in one call per receive batch, with no Python per message:
 *   open the XChaCha20-Poly1305 seal (header as additional data, SPEC 4)
 *   -> parse the author envelope, hash its leaf and Merkle path up to the batch root
 *   -> the batch root is authentic if (author, count, root) is in a bounded table of roots
 *      whose Ed25519 signature was already checked; else check it now (once per batch of up
 *      to 256 messages, docs/SEALING.md) and remember it.
 * A message of 2..SRP_DL_MAX_FRAGS fragments whose fragments all arrive in the same receive
 * batch (a 1 KB value is 2 fragments, sent back to back: issue 17) is assembled in C too
 * (deliver_chains.c; the one-frame path is deliver.c, their shared state deliver_impl.h): its
 * fragments are found by following nextId from the head among the batch's packetIds (a hash
 * chain: the head's id commits to every byte, SPEC 2), each opened into consecutive arena
 * space, and the envelope verified over the whole plaintext (two such messages at a time:
 * their leaves hashed in one interleaved SHA-256 pass).
 * Fragments spread over batches are kept by the caller (srpfast/control/carry.py) and
 * offered again with srp_dl_take_chains. Whatever is not that common case stays with the
 * control plane, which handles it as before: fragments that never complete (reassembly),
 * frames that do not open (a forged copy to evict, SPEC 9.1), envelopes that do not verify
 * (counted drops), variants. */
#ifndef SRP_DELIVER_H
#define SRP_DELIVER_H
#include <stddef.h>
#include <stdint.h>

#define SRP_DL_MAX_SUBS 64
#define SRP_DL_PLAIN_BYTES 984  /* arena stride: one opened message area (SRP_SEAL_MAX_PLAIN) */
/* Longest message assembled in C: 128 fragments (125,952 bytes of plaintext), so a 64 KB
 * value (67 fragments) is assembled in C too: within one batch, or from the fragments a
 * caller carried over from earlier batches (srp_dl_take_chains). */
#define SRP_DL_MAX_FRAGS 128

/* Per-item outcome (stable numbering: exported to Python as counters). */
enum srp_dl_status {
    SRP_DL_OK = 0,         /* opened and verified: a message record was written */
    SRP_DL_FRAGMENT,       /* part of a multi-frame message: the control plane reassembles */
    SRP_DL_NO_KEY,         /* no key for its subcluster here (membership changed) */
    SRP_DL_SEAL,           /* the seal does not open (not sealed, bad length, forged) */
    SRP_DL_ENVELOPE,       /* malformed author envelope */
    SRP_DL_SIGNATURE,      /* the batch signature does not verify */
    SRP_DL_DUPLICATE,      /* delivered before (its cached copy was evicted and it came
                            * again) and this copy opens: dropped, never handed up */
    SRP_DL_ASSEMBLED,      /* a multi-fragment message assembled in C (counted per message) */
    SRP_DL_STATUSES
};
/* Signature work, counted beside the statuses. */
enum { SRP_DLC_SIG_CHECKED = SRP_DL_STATUSES, SRP_DLC_SIG_CACHED, SRP_DLC_COUNT };
const char *srp_dl_counter_name(int counter);

/* One delivered message. Its plaintext starts at arena + arena_off (one slot of
 * SRP_DL_PLAIN_BYTES per frame of the message, consecutive); the offsets below are from there. */
typedef struct {
    uint32_t item;         /* index into the receive batch (the head, for a fragmented one) */
    uint32_t arena_off;
    uint32_t clock;        /* header clock */
    uint16_t sub;          /* index into the key table (srp_dl_set_keys) */
    uint8_t hops;
    uint8_t pad;
    uint32_t payload_off;  /* from the start of this record's arena slot */
    uint32_t payload_len;  /* (32 bits: an assembled message may exceed 64 KiB) */
    uint32_t author_off;   /* the author's 32-byte public key, same slot */
    uint8_t previous[32];  /* header previousId (the batch buffer may be reused) */
} srp_dl_msg;

typedef struct srp_deliver srp_deliver;

/* roots: capacity of the verified-root table (rounded up to a power of two, >= 64);
 * delivered: how many message ids to remember as delivered (rounded up likewise). */
srp_deliver *srp_dl_new(size_t roots, size_t delivered);
void srp_dl_free(srp_deliver *dl);

/* The subclusters this peer can open: n entries of id (32), cluster tag (16), AEAD key (32).
 * Replaces the table (keys are copied and wiped on replacement and free). */
void srp_dl_set_keys(srp_deliver *dl, size_t n, const uint8_t *ids, const uint8_t *tags,
                     const uint8_t *keys);
size_t srp_dl_nkeys(const srp_deliver *dl);

/* Deliver the UP_DELIVER items of one data-plane batch. up_index/up_kind/n_up are the data
 * plane's hand-up list and ids its packetIds (32 bytes per batch index); each UP_DELIVER
 * item that opens and verifies is removed from it (compacted in place, order kept) and
 * becomes a record in msgs with its plaintext in the arena (msgs and arena have room for
 * *n_up entries); one delivered before is removed and counted. The fragments of a message
 * that all arrived in this batch become one record (the head's item). Items that fail stay
 * in the list for the control plane. Returns the number of records. */
size_t srp_dl_take(srp_deliver *dl, const uint8_t *buf, size_t stride, const uint8_t *ids,
                   uint32_t *up_index, uint8_t *up_kind, size_t *n_up, unsigned deliver_kind,
                   srp_dl_msg *msgs, uint8_t *arena);

/* Only the chain pass of srp_dl_take: whole fragmented messages among the deliver_kind
 * items of buf (the fragments a caller kept from earlier batches, each already cached and
 * forwarded), no single-frame pass. Taken items are removed from the list (order kept);
 * msgs and arena have room for *n_up entries. Returns the number of records. */
size_t srp_dl_take_chains(srp_deliver *dl, const uint8_t *buf, size_t stride,
                          const uint8_t *ids, uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                          unsigned deliver_kind, srp_dl_msg *msgs, uint8_t *arena);

/* The deliver_kind items left in the hand-up list after srp_dl_take that are fragments of a
 * longer message (MORE set, or not the first frame: the rest of the message may come in a
 * later batch): each frame (SRP_PACKET_BYTES), its packetId and its batch index copied out
 * to frames / out_ids / items (room for *n_up each) and the item removed from the list
 * (compacted, order kept), so a caller keeps them for srp_dl_take_chains with no work per
 * fragment (srpfast/control/carry.py). Returns how many were taken. */
size_t srp_dl_take_fragments(const uint8_t *buf, size_t stride, const uint8_t *ids,
                             uint32_t *up_index, uint8_t *up_kind, size_t *n_up,
                             unsigned deliver_kind, uint8_t *frames, uint8_t *out_ids,
                             uint32_t *items);

/* One frame with packetId id: open + verify into plain (SRP_DL_PLAIN_BYTES); fills *msg
 * except item and, on SRP_DL_OK, remembers id as delivered. An id delivered before gets
 * SRP_DL_DUPLICATE if this copy's seal opens (no envelope work), else its failure. */
int srp_dl_open_one(srp_deliver *dl, const uint8_t *frame, const uint8_t id[32],
                    srp_dl_msg *msg, uint8_t *plain);

void srp_dl_counters(const srp_deliver *dl, uint64_t out[SRP_DLC_COUNT]);
#endif
