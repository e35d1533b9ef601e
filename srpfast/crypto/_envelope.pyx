# csrc: seal.c chacha16.c frame.c sha256.c
"""EnvelopeVerifier (srpfast.crypto.sealing): author envelopes opened in C, one call each.

A subscriber's Python path opens every message through EnvelopeVerifier.open. In Python it
cost ~1.4 us a message around the C parse (slicing, the key concatenation, the LRU's move,
counters, the payload copy out of a slice) and the parse itself hashed the whole Merkle path,
8 node hashes for a batch of 256. Here the per-message work is one C call: the envelope parsed
in place, its root folded with srp_env_parse_memo (csrc/seal.c: a message of the batch just
walked costs ~1 node hash), the payload copied once into the returned bytes. What verifies and
what is counted is exactly what the Python class did (docs/SEALING.md, "Batch signatures").
"""
from collections import OrderedDict

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from srpfast.errors import ArgumentError, CryptoError


cdef extern from "seal.h" nogil:
    int SRP_ENV_CTX_BYTES
    ctypedef struct srp_env_memo:
        uint64_t hashed
    int srp_seal_init()
    int srp_env_verify(const uint8_t *author, unsigned count, const uint8_t *root,
                       const uint8_t *sig)
    int srp_env_parse_memo(srp_env_memo *memo, const uint8_t *env, size_t n, const uint8_t *ctx,
                           unsigned *count, const uint8_t **author, const uint8_t **sig,
                           const uint8_t **payload, size_t *payload_len, uint8_t *root)


if srp_seal_init() < 0:  # (sodium_init, idempotent: srpfast.crypto._seal calls it too)
    raise ImportError("libsodium failed to initialise (sodium_init() < 0)")

# A verified batch as the LRU keys it: author(32) ‖ signature(64) ‖ root(32) ‖ count(uint16 BE).
cdef enum:
    KEY_BYTES = 130
    KEY_ROOT = 96
    KEY_COUNT = 128


cdef class EnvelopeVerifier:
    """Opens envelopes, verifying each batch signature once: verified (author, count, root,
    signature) tuples are kept in a bounded LRU of ``capacity`` entries, so a message of an
    already-seen batch costs one leaf hash and its Merkle path (about one node hash when the
    batch's messages come in order). ``counters`` counts results."""

    cdef srp_env_memo _memo
    cdef readonly Py_ssize_t capacity
    cdef readonly object _verified  # OrderedDict[bytes, None]: the LRU, oldest first
    cdef uint64_t _ok, _cached, _malformed, _forged
    # The key open() touched last: the newest entry of _verified, which a message of the same
    # batch finds again with one memcmp and without moving it (it is already the newest).
    cdef uint8_t _last[KEY_BYTES]
    cdef bytes _last_key
    cdef bytes _last_author  # the author open() returned last, returned again while it repeats

    def __cinit__(self) -> None:
        memset(&self._memo, 0, sizeof(self._memo))

    def __init__(self, Py_ssize_t capacity=4096) -> None:
        if capacity < 1:
            raise ArgumentError("capacity must be >= 1")
        self.capacity = capacity
        self._verified = OrderedDict()
        self._last_key = None
        self._last_author = None

    def __len__(self) -> int:
        """Verified batch signatures remembered (at most ``capacity``)."""
        return len(self._verified)

    @property
    def counters(self) -> dict:
        """Results so far: ok (opened), cached (its batch was verified before), malformed,
        forged (the signature does not verify the root the message and its path give)."""
        return {"ok": self._ok, "cached": self._cached, "malformed": self._malformed,
                "forged": self._forged}

    @property
    def nodes_hashed(self) -> int:
        """Merkle node hashes computed so far (tests, profiles): about one a message for a
        batch whose messages come in order, depth a message without the walk memo."""
        return self._memo.hashed

    cdef int _authentic(self, const uint8_t *key, const uint8_t *author, unsigned count,
                        const uint8_t *sig) except -1:
        """Find key in the LRU (moved to its end) or verify its signature and add it."""
        if (self._last_key is not None and memcmp(key, self._last, KEY_BYTES) == 0
                and self._last_key in self._verified):
            self._cached += 1
            return 0
        k = PyBytes_FromStringAndSize(<const char *>key, KEY_BYTES)
        cache = self._verified
        if k in cache:
            cache.move_to_end(k)
            self._cached += 1
        else:
            if srp_env_verify(author, count, key + KEY_ROOT, sig) != 0:
                self._forged += 1
                raise CryptoError("author signature does not verify")
            cache[k] = None
            if len(cache) > self.capacity:
                cache.popitem(last=False)
        memcpy(self._last, key, KEY_BYTES)
        self._last_key = k
        return 0

    def open(self, envelope, context) -> tuple:
        """(author public key, payload) of a genuine envelope; CryptoError otherwise.
        ``envelope``: any contiguous buffer (bytes, or a memoryview of a receive buffer: only
        the payload is copied out); ``context``: its 84-byte header_context."""
        cdef Py_buffer env, ctx
        cdef unsigned count = 0
        cdef const uint8_t *author = NULL
        cdef const uint8_t *sig = NULL
        cdef const uint8_t *payload = NULL
        cdef size_t plen = 0
        cdef uint8_t key[KEY_BYTES]
        cdef int rc
        PyObject_GetBuffer(envelope, &env, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(context, &ctx, PyBUF_SIMPLE)
            try:
                if ctx.len != SRP_ENV_CTX_BYTES:
                    raise ArgumentError(f"header context must be {SRP_ENV_CTX_BYTES} bytes, "
                                        f"got {ctx.len}")
                rc = srp_env_parse_memo(&self._memo, <const uint8_t *>env.buf, <size_t>env.len,
                                        <const uint8_t *>ctx.buf, &count, &author, &sig,
                                        &payload, &plen, key + KEY_ROOT)
            finally:
                PyBuffer_Release(&ctx)
            if rc != 0:
                self._malformed += 1
                raise CryptoError("malformed author envelope")
            memcpy(key, author, 32)
            memcpy(key + 32, sig, 64)
            key[KEY_COUNT] = <uint8_t>(count >> 8)
            key[KEY_COUNT + 1] = <uint8_t>(count & 0xFF)
            self._authentic(key, author, count, sig)
            self._ok += 1
            if (self._last_author is None
                    or memcmp(PyBytes_AS_STRING(self._last_author), author, 32) != 0):
                self._last_author = PyBytes_FromStringAndSize(<const char *>author, 32)
            return self._last_author, PyBytes_FromStringAndSize(<const char *>payload,
                                                                <Py_ssize_t>plen)
        finally:
            PyBuffer_Release(&env)
