/* The fixed 1158-byte SRP frame (SPEC section 2): offsets, validation, packetId, encode.
 * Plain C, no allocation, every read bounds-checked by the fixed size. */
#ifndef SRP_FRAME_H
#define SRP_FRAME_H
#include <stddef.h>
#include <stdint.h>

#define SRP_PACKET_BYTES 1158
#define SRP_HEADER_BYTES 134
#define SRP_MESSAGE_BYTES 1024

/* Field offsets (SPEC 2 table). */
#define SRP_OFF_MAGIC 0
#define SRP_OFF_TYPE 4
#define SRP_OFF_VERSION 5
#define SRP_OFF_HOPS 6
#define SRP_OFF_FLAGS 7
#define SRP_OFF_CLOCK 8
#define SRP_OFF_INDEX 12
#define SRP_OFF_LENGTH 14
#define SRP_OFF_TTL 16
#define SRP_OFF_POSTAGE 20
#define SRP_OFF_RESERVED 21
#define SRP_OFF_CLUSTER 22
#define SRP_OFF_TO 38
#define SRP_OFF_PREVIOUS 70
#define SRP_OFF_NEXT 102
#define SRP_OFF_MESSAGE 134

#define SRP_VERSION 1
#define SRP_TYPE_MIN 1
#define SRP_TYPE_MAX 9
enum srp_type {
    SRP_PING = 1, SRP_PONG, SRP_INTRO, SRP_JOIN, SRP_PUBLISH,
    SRP_STREAM, SRP_SYNC, SRP_QUERY, SRP_ANSWER
};
#define SRP_FLAG_MORE 0x01
#define SRP_FLAG_SEALED 0x02
#define SRP_FLAGS_KNOWN 0x03

/* Why a datagram was dropped. SRP_OK = valid. Stable numbering: exported to Python. */
enum srp_verdict {
    SRP_OK = 0,
    SRP_BAD_SIZE,     /* not exactly 1158 bytes */
    SRP_BAD_MAGIC,    /* not "SRP\0" */
    SRP_BAD_TYPE,     /* type outside 1..9 */
    SRP_BAD_VERSION,  /* version != 1 */
    SRP_BAD_FLAGS,    /* reserved flag bits set */
    SRP_BAD_LENGTH,   /* length > 1024 */
    SRP_BAD_PADDING,  /* message bytes past length are not zero */
    SRP_VERDICTS      /* count */
};
const char *srp_verdict_name(int verdict);

/* Decoded header: plain integers plus pointers into the caller's frame (no copies). */
typedef struct {
    uint8_t type, version, hops, flags, postage;
    uint32_t clock, ttl;
    uint16_t index, length;
    const uint8_t *cluster;   /* 16 bytes */
    const uint8_t *to;        /* 32 bytes */
    const uint8_t *previous;  /* 32 bytes */
    const uint8_t *next;      /* 32 bytes */
    const uint8_t *message;   /* length bytes */
} srp_header;

/* Validate one datagram of n bytes: returns an srp_verdict. */
int srp_frame_validate(const uint8_t *d, size_t n);

/* packetId = SHA-256(previousId ‖ message[0:length] ‖ nextId). d must be a valid frame
 * (length <= 1024). */
void srp_frame_packet_id(const uint8_t *d, uint8_t out[32]);

/* packetIds of two valid frames at once (interleaved SHA-256, see srp_sha256_3_x2). */
void srp_frame_packet_id_x2(const uint8_t *d0, uint8_t out0[32], const uint8_t *d1,
                            uint8_t out1[32]);

/* packetIds of the n valid frames at buf + which[k] * stride into ids + 32 * which[k], two
 * per interleaved call, frames hashing the same number of SHA-256 blocks paired together:
 * a 1 KB value's full head and short tail alternate in a batch, and paired in arrival
 * order the head's extra blocks would run alone. */
void srp_frame_packet_ids(const uint8_t *buf, size_t stride, const uint32_t *which, size_t n,
                          uint8_t *ids);

/* Fill h from a frame already validated (pointers alias d). */
void srp_frame_header(const uint8_t *d, srp_header *h);

/* Validate + id for a batch of `count` datagrams laid out every `stride` bytes in buf,
 * with their true sizes in lens (as recvmmsg reports them). For each i: verdicts[i] and, when
 * valid, ids[32*i..]. counters[v] += 1 per verdict (size SRP_VERDICTS). Returns valid count. */
size_t srp_frame_check_batch(const uint8_t *buf, size_t stride, const uint32_t *lens, size_t count,
                             uint8_t *verdicts, uint8_t *ids, uint64_t *counters);

/* Write one 1158-byte frame into out from h (h->message may be NULL when length is 0).
 * Zero-fills padding and reserved. Returns 0, or an srp_verdict if h is not encodable. */
int srp_frame_encode(uint8_t *out, const srp_header *h);

/* Big-endian helpers shared by every C file that reads the wire. */
static inline uint16_t srp_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t srp_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void srp_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void srp_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
#endif
