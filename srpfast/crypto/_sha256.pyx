# csrc: sha256.c
"""SHA-256 (FIPS 180-4) in C: SHA-NI when the CPU has it, portable C otherwise (SPEC 2)."""
from libc.stdint cimport uint8_t


cdef extern from "sha256.h" nogil:
    void srp_sha256(const uint8_t *data, size_t len, uint8_t *out)
    void srp_sha256_3(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                      const uint8_t *c, size_t clen, uint8_t *out)
    void srp_sha256_3_x2(const uint8_t *a0, size_t alen0, const uint8_t *b0, size_t blen0,
                         const uint8_t *c0, size_t clen0, uint8_t *out0,
                         const uint8_t *a1, size_t alen1, const uint8_t *b1, size_t blen1,
                         const uint8_t *c1, size_t clen1, uint8_t *out1)
    void srp_sha256_node(uint8_t prefix, const uint8_t *a, const uint8_t *b, uint8_t *out)
    ctypedef struct srp_sha256_mid:
        pass
    void srp_sha256_mid_init(srp_sha256_mid *m, const uint8_t *block)
    void srp_sha256_mid_3(const srp_sha256_mid *m, const uint8_t *a, size_t alen,
                          const uint8_t *b, size_t blen, const uint8_t *c, size_t clen,
                          uint8_t *out)
    void srp_sha256_mid_3_x2(const srp_sha256_mid *m0, const uint8_t *a0, size_t alen0,
                             const uint8_t *b0, size_t blen0, const uint8_t *c0, size_t clen0,
                             uint8_t *out0, const srp_sha256_mid *m1, const uint8_t *a1,
                             size_t alen1, const uint8_t *b1, size_t blen1, const uint8_t *c1,
                             size_t clen1, uint8_t *out1)
    const char *srp_sha256_impl()
    void srp_sha256_force_portable(int on)


cdef const uint8_t EMPTY[1]


cdef inline const uint8_t *_ptr(const unsigned char[::1] v) noexcept:
    if v.shape[0] == 0:
        return EMPTY
    return <const uint8_t *>&v[0]


def sha256(const unsigned char[::1] data not None) -> bytes:
    """SHA-256 digest (32 bytes) of any contiguous buffer."""
    cdef uint8_t out[32]
    cdef const uint8_t *p = _ptr(data)
    cdef size_t n = <size_t>data.shape[0]
    if n >= 4096:
        with nogil:
            srp_sha256(p, n, out)
    else:
        srp_sha256(p, n, out)
    return (<char *>out)[:32]


def sha256_3(const unsigned char[::1] a not None, const unsigned char[::1] b not None,
             const unsigned char[::1] c not None) -> bytes:
    """SHA-256 digest of a ‖ b ‖ c, without concatenating them."""
    cdef uint8_t out[32]
    srp_sha256_3(_ptr(a), <size_t>a.shape[0], _ptr(b), <size_t>b.shape[0],
                 _ptr(c), <size_t>c.shape[0], out)
    return (<char *>out)[:32]


def sha256_3_x2(const unsigned char[::1] a0 not None, const unsigned char[::1] b0 not None,
                const unsigned char[::1] c0 not None, const unsigned char[::1] a1 not None,
                const unsigned char[::1] b1 not None, const unsigned char[::1] c1 not None) -> tuple:
    """(SHA-256(a0 ‖ b0 ‖ c0), SHA-256(a1 ‖ b1 ‖ c1)), the two computed interleaved."""
    cdef uint8_t out0[32]
    cdef uint8_t out1[32]
    srp_sha256_3_x2(_ptr(a0), <size_t>a0.shape[0], _ptr(b0), <size_t>b0.shape[0],
                    _ptr(c0), <size_t>c0.shape[0], out0,
                    _ptr(a1), <size_t>a1.shape[0], _ptr(b1), <size_t>b1.shape[0],
                    _ptr(c1), <size_t>c1.shape[0], out1)
    return (<char *>out0)[:32], (<char *>out1)[:32]


def sha256_node(int prefix, const unsigned char[::1] a not None,
                const unsigned char[::1] b not None) -> bytes:
    """SHA-256 of one prefix byte ‖ a(32) ‖ b(32): a Merkle node as csrc/seal.c hashes it."""
    cdef uint8_t out[32]
    if a.shape[0] != 32 or b.shape[0] != 32 or not 0 <= prefix <= 255:
        raise ValueError("a node is one prefix byte and two 32-byte children")
    srp_sha256_node(<uint8_t>prefix, &a[0], &b[0], out)
    return (<char *>out)[:32]


cdef void _hmac_keys(const unsigned char[::1] key, srp_sha256_mid *inner,
                     srp_sha256_mid *outer):
    cdef uint8_t ipad[64]
    cdef uint8_t opad[64]
    cdef Py_ssize_t i
    for i in range(64):
        ipad[i] = (key[i] if i < key.shape[0] else 0) ^ 0x36
        opad[i] = (key[i] if i < key.shape[0] else 0) ^ 0x5c
    srp_sha256_mid_init(inner, ipad)
    srp_sha256_mid_init(outer, opad)


def hmac(const unsigned char[::1] key not None, const unsigned char[::1] m not None) -> bytes:
    """HMAC-SHA256(key, m) resumed from the key blocks' midstates, as csrc/chain.c computes
    synthetic nonces (key blocks compressed once per key); for tests. key: at most 64 bytes."""
    cdef srp_sha256_mid inner, outer
    cdef uint8_t mid[32]
    cdef uint8_t out[32]
    if key.shape[0] > 64:
        raise ValueError("key: at most 64 bytes")
    _hmac_keys(key, &inner, &outer)
    srp_sha256_mid_3(&inner, _ptr(m), <size_t>m.shape[0], EMPTY, 0, EMPTY, 0, mid)
    srp_sha256_mid_3(&outer, mid, 32, EMPTY, 0, EMPTY, 0, out)
    return (<char *>out)[:32]


def hmac_x2(const unsigned char[::1] key not None, const unsigned char[::1] m0 not None,
            const unsigned char[::1] m1 not None) -> tuple:
    """(HMAC-SHA256(key, m0), HMAC-SHA256(key, m1)), the two computed interleaved from the key
    blocks' midstates (csrc/chain.c); for tests. key: at most 64 bytes."""
    cdef srp_sha256_mid inner, outer
    cdef uint8_t in0[32]
    cdef uint8_t in1[32]
    cdef uint8_t out0[32]
    cdef uint8_t out1[32]
    if key.shape[0] > 64:
        raise ValueError("key: at most 64 bytes")
    _hmac_keys(key, &inner, &outer)
    srp_sha256_mid_3_x2(&inner, _ptr(m0), <size_t>m0.shape[0], EMPTY, 0, EMPTY, 0, in0,
                        &inner, _ptr(m1), <size_t>m1.shape[0], EMPTY, 0, EMPTY, 0, in1)
    srp_sha256_mid_3_x2(&outer, in0, 32, EMPTY, 0, EMPTY, 0, out0,
                        &outer, in1, 32, EMPTY, 0, EMPTY, 0, out1)
    return (<char *>out0)[:32], (<char *>out1)[:32]


def impl() -> str:
    """"sha-ni" or "portable": the implementation currently in use."""
    return srp_sha256_impl().decode("ascii")


def force_portable(on) -> None:
    """Force the portable implementation (True) or return to automatic choice (False)."""
    srp_sha256_force_portable(1 if on else 0)


def hash_loop(const unsigned char[::1] buf not None, Py_ssize_t size, Py_ssize_t count) -> None:
    """Hash `count` consecutive `size`-byte inputs of buf, nogil, no Python per item.

    Benchmark helper: measures the C SHA-256-only loop."""
    if size < 0 or count < 0:
        raise ValueError("size and count must be >= 0")
    if count and size and size > buf.shape[0] // count:
        raise ValueError("buf is shorter than size * count")
    cdef uint8_t out[32]
    cdef const uint8_t *p = _ptr(buf)
    cdef Py_ssize_t i
    with nogil:
        for i in range(count):
            srp_sha256(p + i * size, <size_t>size, out)


def hash_loop_x2(const unsigned char[::1] buf not None, Py_ssize_t size,
                 Py_ssize_t count) -> None:
    """Like hash_loop, but hashes consecutive inputs in pairs with srp_sha256_3_x2 (an odd
    last one alone). Benchmark helper for the interleaved two-stream rate."""
    if size < 0 or count < 0:
        raise ValueError("size and count must be >= 0")
    if count and size and size > buf.shape[0] // count:
        raise ValueError("buf is shorter than size * count")
    cdef uint8_t out0[32]
    cdef uint8_t out1[32]
    cdef const uint8_t *p = _ptr(buf)
    cdef size_t n = <size_t>size
    cdef Py_ssize_t i = 0
    with nogil:
        while i + 1 < count:
            srp_sha256_3_x2(p + i * size, n, EMPTY, 0, EMPTY, 0, out0,
                            p + (i + 1) * size, n, EMPTY, 0, EMPTY, 0, out1)
            i += 2
        if i < count:
            srp_sha256(p + i * size, n, out0)
