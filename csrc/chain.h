/* Build a sealed message as its fragment chain, in C (issue 17: sealing on the send side).
 *
 * Byte for byte what the control plane's fragments.split + nonces.seal_committed produce
 * (a test compares them): fragments are built last to first (SPEC 2 "Fragmentation"), each
 * carries up to SRP_CHAIN_CHUNK bytes of plaintext, is sealed with a synthetic nonce cut to
 * 24 bytes, and its packetId is then taken over the sealed bytes, so nextId links what
 * travels. The nonce (docs/SEALING.md "Nonces") is HMAC-SHA256(key = K_n, frame with
 * plaintext) for the head fragment and for every fragment of a job without a commitment;
 * a fragment after the head of a job with one takes HMAC-SHA256(K_n, "srp-tail-v1" ‖
 * frame[4..134) ‖ commitment): 4 compressions instead of 20. */
#ifndef SRP_CHAIN_H
#define SRP_CHAIN_H
#include <stddef.h>
#include <stdint.h>

#define SRP_CHAIN_CHUNK 984  /* 1024 - nonce 24 - tag 16 */
/* A job's commitment: bytes that, with a fragment's header (index, length, clock, cluster,
 * to, previousId), determine that fragment's plaintext when it is not the head. For an
 * author envelope: the batch count (uint16 BE) ‖ the message's Merkle leaf (SEALING.md). */
#define SRP_CHAIN_COMMIT_BYTES 34

typedef struct {
    uint8_t type, postage;
    uint32_t clock, ttl;
    const uint8_t *cluster;   /* 16 */
    const uint8_t *to;        /* 32 */
    const uint8_t *previous;  /* 32 */
} srp_chain_header;

/* Fragments needed for len bytes of plaintext (>= 1). */
size_t srp_chain_count(size_t len);

/* One message of a srp_chain_build_many call: its plaintext, clock, and where its frames
 * (srp_chain_count(head_len + len) x 1158 bytes, head first) and packetIds (x 32) go. The
 * plaintext is head ‖ msg: an author envelope's head and its payload, chained from where
 * they are (head NULL, head_len 0: msg alone). */
typedef struct {
    const uint8_t *head;
    size_t head_len;
    const uint8_t *msg;
    size_t len;
    uint32_t clock;
    uint8_t *out;
    uint8_t *ids;
    const uint8_t *commit;  /* NULL, or SRP_CHAIN_COMMIT_BYTES: see above */
} srp_chain_job;

/* Build the chain of every job under one header template (its clock unused: each job has
 * its own), two chains at a time with their SHA-256 work interleaved; the HMAC key blocks
 * of nonce_key are compressed once per call. Byte for byte what srp_chain_build makes of
 * each job alone. Returns 0, or -1 if a job needs more than max_frags fragments or a frame
 * does not encode (then the outputs hold partial chains: discard them). */
int srp_chain_build_many(const uint8_t key[32], const uint8_t nonce_key[32],
                         const srp_chain_header *h, const srp_chain_job *jobs, size_t njobs,
                         size_t max_frags);

/* Write the chain of msg (len bytes) head first into out (count * 1158 bytes) and the
 * packetIds into ids (count * 32), sealed under key with nonces keyed by nonce_key. Returns
 * the number of frames, or 0 if it exceeds max_frags or a frame does not encode. */
size_t srp_chain_build(const uint8_t key[32], const uint8_t nonce_key[32],
                       const srp_chain_header *h, const uint8_t *msg, size_t len,
                       size_t max_frags, uint8_t *out, uint8_t *ids);
#endif
