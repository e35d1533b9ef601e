# Cython declarations of csrc/frame.h, shared by every extension that touches frames.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "frame.h" nogil:
    enum:
        SRP_PACKET_BYTES
        SRP_HEADER_BYTES
        SRP_MESSAGE_BYTES
        SRP_OFF_TYPE
        SRP_OFF_HOPS
        SRP_OFF_FLAGS
        SRP_OFF_LENGTH
        SRP_OFF_TTL
        SRP_OFF_POSTAGE
        SRP_OFF_CLUSTER
        SRP_OFF_TO
        SRP_OFF_PREVIOUS
        SRP_OFF_NEXT
        SRP_OFF_MESSAGE
        SRP_VERSION
        SRP_OK
        SRP_VERDICTS
    ctypedef struct srp_header:
        uint8_t type, version, hops, flags, postage
        uint32_t clock, ttl
        uint16_t index, length
        const uint8_t *cluster
        const uint8_t *to
        const uint8_t *previous
        const uint8_t *next
        const uint8_t *message
    const char *srp_verdict_name(int verdict)
    int srp_frame_validate(const uint8_t *d, size_t n)
    void srp_frame_packet_id(const uint8_t *d, uint8_t *out)
    void srp_frame_header(const uint8_t *d, srp_header *h)
    size_t srp_frame_check_batch(const uint8_t *buf, size_t stride, const uint32_t *lens,
                                 size_t count, uint8_t *verdicts, uint8_t *ids, uint64_t *counters)
    int srp_frame_encode(uint8_t *out, const srp_header *h)
    uint16_t srp_be16(const uint8_t *p)
    uint32_t srp_be32(const uint8_t *p)
