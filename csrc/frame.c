/* The 1158-byte SRP frame (SPEC section 2): validation by offset, packetId, encode.
 * No allocation; every read is inside the fixed frame, whose size is checked first. */
#include "frame.h"

#include <string.h>

#include "sha256.h"

static const char *const verdict_names[SRP_VERDICTS] = {
    "ok", "size", "magic", "type", "version", "flags", "length", "padding",
};

const char *srp_verdict_name(int verdict) {
    if (verdict < 0 || verdict >= SRP_VERDICTS) return "unknown";
    return verdict_names[verdict];
}

/* True when bytes [from, SRP_PACKET_BYTES) of d are all zero. Word-at-a-time: the padding
 * check is on every packet's path, and most control packets are mostly padding. */
static int padding_is_zero(const uint8_t *d, size_t from) {
    size_t i = from;
    uint64_t acc = 0;
    while (i < SRP_PACKET_BYTES && (i & 7u)) acc |= d[i++];
    for (; i + 32 <= SRP_PACKET_BYTES; i += 32) {
        uint64_t w[4];
        memcpy(w, d + i, sizeof w);
        acc |= w[0] | w[1] | w[2] | w[3];
    }
    for (; i + 8 <= SRP_PACKET_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, d + i, sizeof w);
        acc |= w;
    }
    while (i < SRP_PACKET_BYTES) acc |= d[i++];
    return acc == 0;
}

int srp_frame_validate(const uint8_t *d, size_t n) {
    if (n != SRP_PACKET_BYTES) return SRP_BAD_SIZE;
    if (d[0] != 'S' || d[1] != 'R' || d[2] != 'P' || d[3] != 0) return SRP_BAD_MAGIC;
    if (d[SRP_OFF_TYPE] < SRP_TYPE_MIN || d[SRP_OFF_TYPE] > SRP_TYPE_MAX) return SRP_BAD_TYPE;
    if (d[SRP_OFF_VERSION] != SRP_VERSION) return SRP_BAD_VERSION;
    if (d[SRP_OFF_FLAGS] & (uint8_t)~SRP_FLAGS_KNOWN) return SRP_BAD_FLAGS;
    uint16_t length = srp_be16(d + SRP_OFF_LENGTH);
    if (length > SRP_MESSAGE_BYTES) return SRP_BAD_LENGTH;
    if (!padding_is_zero(d, (size_t)SRP_OFF_MESSAGE + length)) return SRP_BAD_PADDING;
    return SRP_OK;
}

void srp_frame_packet_id(const uint8_t *d, uint8_t out[32]) {
    uint16_t length = srp_be16(d + SRP_OFF_LENGTH);
    if (length > SRP_MESSAGE_BYTES) length = SRP_MESSAGE_BYTES; /* defensive: never read past */
    srp_sha256_3(d + SRP_OFF_PREVIOUS, 32, d + SRP_OFF_MESSAGE, length, d + SRP_OFF_NEXT, 32, out);
}

void srp_frame_packet_id_x2(const uint8_t *d0, uint8_t out0[32], const uint8_t *d1,
                            uint8_t out1[32]) {
    uint16_t len0 = srp_be16(d0 + SRP_OFF_LENGTH), len1 = srp_be16(d1 + SRP_OFF_LENGTH);
    if (len0 > SRP_MESSAGE_BYTES) len0 = SRP_MESSAGE_BYTES; /* defensive, as above */
    if (len1 > SRP_MESSAGE_BYTES) len1 = SRP_MESSAGE_BYTES;
    srp_sha256_3_x2(d0 + SRP_OFF_PREVIOUS, 32, d0 + SRP_OFF_MESSAGE, len0, d0 + SRP_OFF_NEXT, 32,
                    out0, d1 + SRP_OFF_PREVIOUS, 32, d1 + SRP_OFF_MESSAGE, len1,
                    d1 + SRP_OFF_NEXT, 32, out1);
}

/* Blocks SHA-256 compresses for a packetId: 64 + length bytes, 0x80, 8-byte length. */
#define ID_CLASSES ((SRP_MESSAGE_BYTES + 64 + 8) / 64 + 2)
static size_t id_blocks(const uint8_t *d) {
    size_t length = srp_be16(d + SRP_OFF_LENGTH);
    if (length > SRP_MESSAGE_BYTES) length = SRP_MESSAGE_BYTES;
    return (length + 64 + 8) / 64 + 1;
}

void srp_frame_packet_ids(const uint8_t *buf, size_t stride, const uint32_t *which, size_t n,
                          uint8_t *ids) {
    size_t waiting[ID_CLASSES]; /* per block count, a frame waiting for a partner (or n) */
    for (size_t c = 0; c < ID_CLASSES; c++) waiting[c] = n;
    for (size_t k = 0; k < n; k++) {
        const uint8_t *d = buf + (size_t)which[k] * stride;
        size_t c = id_blocks(d), w = waiting[c];
        if (w == n) {
            waiting[c] = k;
            continue;
        }
        srp_frame_packet_id_x2(buf + (size_t)which[w] * stride, ids + 32 * (size_t)which[w], d,
                               ids + 32 * (size_t)which[k]);
        waiting[c] = n;
    }
    size_t w = n; /* the unpaired ones (one per block count at most): any two together */
    for (size_t c = 0; c < ID_CLASSES; c++) {
        size_t k = waiting[c];
        if (k == n) continue;
        if (w == n) {
            w = k;
            continue;
        }
        srp_frame_packet_id_x2(buf + (size_t)which[w] * stride, ids + 32 * (size_t)which[w],
                               buf + (size_t)which[k] * stride, ids + 32 * (size_t)which[k]);
        w = n;
    }
    if (w != n) srp_frame_packet_id(buf + (size_t)which[w] * stride, ids + 32 * (size_t)which[w]);
}

void srp_frame_header(const uint8_t *d, srp_header *h) {
    h->type = d[SRP_OFF_TYPE];
    h->version = d[SRP_OFF_VERSION];
    h->hops = d[SRP_OFF_HOPS];
    h->flags = d[SRP_OFF_FLAGS];
    h->clock = srp_be32(d + SRP_OFF_CLOCK);
    h->index = srp_be16(d + SRP_OFF_INDEX);
    h->length = srp_be16(d + SRP_OFF_LENGTH);
    h->ttl = srp_be32(d + SRP_OFF_TTL);
    h->postage = d[SRP_OFF_POSTAGE];
    h->cluster = d + SRP_OFF_CLUSTER;
    h->to = d + SRP_OFF_TO;
    h->previous = d + SRP_OFF_PREVIOUS;
    h->next = d + SRP_OFF_NEXT;
    h->message = d + SRP_OFF_MESSAGE;
}

size_t srp_frame_check_batch(const uint8_t *buf, size_t stride, const uint32_t *lens, size_t count,
                             uint8_t *verdicts, uint8_t *ids, uint64_t *counters) {
    size_t valid = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *d = buf + i * stride;
        size_t n = lens ? lens[i] : SRP_PACKET_BYTES;
        if (n > stride) n = stride + 1; /* truncated by the receive slot: surely not 1158 */
        int v = srp_frame_validate(d, n);
        verdicts[i] = (uint8_t)v;
        if (counters) counters[v]++;
        if (v == SRP_OK) {
            valid++;
        } else {
            memset(ids + 32 * i, 0, 32);
        }
    }
    /* Ids in a second pass, two valid frames per call: the interleaved SHA-256 runs close to
     * twice the single-stream rate, and packetId is most of the batch's cost (SPEC 2). */
    size_t pending = count; /* index of a valid frame waiting for a partner; count = none */
    for (size_t i = 0; i < count; i++) {
        if (verdicts[i] != SRP_OK) continue;
        if (pending == count) {
            pending = i;
            continue;
        }
        srp_frame_packet_id_x2(buf + pending * stride, ids + 32 * pending, buf + i * stride,
                               ids + 32 * i);
        pending = count;
    }
    if (pending != count) srp_frame_packet_id(buf + pending * stride, ids + 32 * pending);
    return valid;
}

int srp_frame_encode(uint8_t *out, const srp_header *h) {
    if (h->type < SRP_TYPE_MIN || h->type > SRP_TYPE_MAX) return SRP_BAD_TYPE;
    if (h->version != SRP_VERSION) return SRP_BAD_VERSION;
    if (h->flags & (uint8_t)~SRP_FLAGS_KNOWN) return SRP_BAD_FLAGS;
    if (h->length > SRP_MESSAGE_BYTES) return SRP_BAD_LENGTH;
    static const uint8_t zero[32];
    out[0] = 'S'; out[1] = 'R'; out[2] = 'P'; out[3] = 0;
    out[SRP_OFF_TYPE] = h->type;
    out[SRP_OFF_VERSION] = h->version;
    out[SRP_OFF_HOPS] = h->hops;
    out[SRP_OFF_FLAGS] = h->flags;
    srp_put32(out + SRP_OFF_CLOCK, h->clock);
    srp_put16(out + SRP_OFF_INDEX, h->index);
    srp_put16(out + SRP_OFF_LENGTH, h->length);
    srp_put32(out + SRP_OFF_TTL, h->ttl);
    out[SRP_OFF_POSTAGE] = h->postage;
    out[SRP_OFF_RESERVED] = 0;
    memcpy(out + SRP_OFF_CLUSTER, h->cluster ? h->cluster : zero, 16);
    memcpy(out + SRP_OFF_TO, h->to ? h->to : zero, 32);
    memcpy(out + SRP_OFF_PREVIOUS, h->previous ? h->previous : zero, 32);
    memcpy(out + SRP_OFF_NEXT, h->next ? h->next : zero, 32);
    if (h->length) memmove(out + SRP_OFF_MESSAGE, h->message, h->length);
    memset(out + SRP_OFF_MESSAGE + h->length, 0, (size_t)SRP_MESSAGE_BYTES - h->length);
    return SRP_OK;
}
