# csrc: seal.c chacha16.c chain.c frame.c sha256.c
"""Thin Cython over csrc/seal.c: per-frame and batch AEAD, Merkle batch signatures (SPEC 4).

Importing this module calls libsodium's sodium_init() once: without it libsodium stays on its
slow portable code paths. srpfast/crypto/__init__.py imports this first.
Statuses are small ints (see STATUS_NAMES); the Python layer (srpfast/crypto/sealing.py) turns them
into CryptoError for single calls and counters for batches.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from srpfast.wire._cframe cimport SRP_PACKET_BYTES


cdef extern from "sodium.h" nogil:
    int crypto_aead_xchacha20poly1305_ietf_encrypt(
        unsigned char *c, unsigned long long *clen, const unsigned char *m,
        unsigned long long mlen, const unsigned char *ad, unsigned long long adlen,
        const unsigned char *nsec, const unsigned char *npub, const unsigned char *k)


cdef extern from "chain.h" nogil:
    ctypedef struct srp_chain_header:
        uint8_t type
        uint8_t postage
        uint32_t clock
        uint32_t ttl
        const uint8_t *cluster
        const uint8_t *to
        const uint8_t *previous
    ctypedef struct srp_chain_job:
        const uint8_t *head
        size_t head_len
        const uint8_t *msg
        size_t len
        uint32_t clock
        uint8_t *out
        uint8_t *ids
        const uint8_t *commit
    int SRP_CHAIN_COMMIT_BYTES
    size_t srp_chain_count(size_t len)
    int srp_chain_build_many(const uint8_t *key, const uint8_t *nonce_key,
                             const srp_chain_header *h, const srp_chain_job *jobs, size_t njobs,
                             size_t max_frags)
    size_t srp_chain_build(const uint8_t *key, const uint8_t *nonce_key,
                           const srp_chain_header *h, const uint8_t *msg, size_t len,
                           size_t max_frags, uint8_t *out, uint8_t *ids)


cdef extern from "seal.h" nogil:
    int SRP_SEAL_STATUSES
    int SRP_SEAL_MAX_PLAIN
    int SRP_SEAL_OVERHEAD
    int SRP_SEAL_AD_BYTES
    int SRP_ENV_CTX_BYTES
    int SRP_ENV_FIXED_BYTES
    int SRP_ENV_MAX_LEAVES
    int srp_seal_init()
    void srp_seal_ad(const uint8_t *frame, uint8_t *ad)
    int srp_seal_frame(const uint8_t *key, uint8_t *frame, const uint8_t *nonce)
    int srp_open_frame(const uint8_t *key, uint8_t *frame)
    size_t srp_seal_batch(const uint8_t *key, uint8_t *buf, size_t count, uint8_t *status)
    size_t srp_open_batch(const uint8_t *key, uint8_t *buf, size_t count, uint8_t *status,
                          uint64_t *counters)
    int SRP_ENV_VERSION
    unsigned srp_env_depth(unsigned count)
    void srp_env_leaf(const uint8_t *ctx, const uint8_t *payload, size_t n, uint8_t *out)
    void srp_env_leaf_x2(const uint8_t *ctx0, const uint8_t *payload0, size_t n0, uint8_t *out0,
                         const uint8_t *ctx1, const uint8_t *payload1, size_t n1, uint8_t *out1)
    int srp_env_tree(const uint8_t *leaves, unsigned count, uint8_t *root, uint8_t *paths)
    void srp_env_sign(const uint8_t *sk, const uint8_t *author, unsigned count,
                      const uint8_t *root, uint8_t *sig)
    int srp_env_verify(const uint8_t *author, unsigned count, const uint8_t *root,
                       const uint8_t *sig)
    int srp_env_parse(const uint8_t *env, size_t n, const uint8_t *ctx, unsigned *count,
                      const uint8_t **author, const uint8_t **sig, const uint8_t **payload,
                      size_t *payload_len, uint8_t *root)


if srp_seal_init() < 0:
    raise ImportError("libsodium failed to initialise (sodium_init() < 0)")

PACKET_BYTES = SRP_PACKET_BYTES
MAX_PLAIN = SRP_SEAL_MAX_PLAIN
OVERHEAD = SRP_SEAL_OVERHEAD
AD_BYTES = SRP_SEAL_AD_BYTES
CTX_BYTES = SRP_ENV_CTX_BYTES
ENV_FIXED_BYTES = SRP_ENV_FIXED_BYTES
MAX_LEAVES = SRP_ENV_MAX_LEAVES
COMMIT_BYTES = SRP_CHAIN_COMMIT_BYTES  # an envelope's commitment: count (uint16 BE) ‖ leaf
OK = 0
STATUS_NAMES = ("ok", "too_long", "not_sealed", "bad_length", "forged")

cdef const uint8_t EMPTY[1]


cdef inline const uint8_t *_ptr(const unsigned char[::1] v) noexcept:
    if v.shape[0] == 0:
        return EMPTY
    return <const uint8_t *>&v[0]


cdef inline void _need(const unsigned char[::1] v, Py_ssize_t n, str what) except *:
    if v.shape[0] != n:
        raise ValueError(f"{what} must be {n} bytes, got {v.shape[0]}")


cdef inline size_t _frames(unsigned char[::1] buf, Py_ssize_t count) except? 0:
    if count < 0 or count * PACKET_BYTES > buf.shape[0]:
        raise ValueError(f"buffer of {buf.shape[0]} bytes cannot hold {count} frames of {SRP_PACKET_BYTES} bytes")
    return <size_t>count


def ad_of(const unsigned char[::1] frame not None) -> bytes:
    """The additional data (123 bytes) the AEAD binds for this frame (for tests and docs)."""
    cdef uint8_t ad[123]
    _need(frame, PACKET_BYTES, "frame")
    srp_seal_ad(&frame[0], ad)
    return (<char *>ad)[:SRP_SEAL_AD_BYTES]


cdef inline void _header(srp_chain_header *h, int type_, int postage, unsigned int ttl,
                         const uint8_t *cluster, const uint8_t *to,
                         const uint8_t *previous) noexcept nogil:
    """The header template a chain's frames share (clock set per message by chain.c)."""
    h.type = <uint8_t>type_
    h.postage = <uint8_t>postage
    h.ttl = ttl
    h.clock = 0
    h.cluster = cluster
    h.to = to
    h.previous = previous


def seal_chains(const unsigned char[::1] key not None, const unsigned char[::1] nonce_key not None,
                int type_, const unsigned char[::1] cluster not None,
                const unsigned char[::1] to not None, const unsigned char[::1] previous not None,
                clocks, unsigned int ttl, int postage, messages, Py_ssize_t max_frags,
                const unsigned char[::1] commits=None):
    """Seal each message of ``messages`` (bytes) as its fragment chain (csrc/chain.c: what
    fragments.split with nonces.seal_committed builds, byte for byte): one header template,
    clock ``clocks[k]`` for message k. ``commits``: None, or COMMIT_BYTES per message that
    with a fragment's header determine the plaintext of its fragments after the head (an
    author envelope's count ‖ leaf, make_envelopes): those fragments then take the short
    nonce input (docs/SEALING.md "Nonces"). Returns (frames, ids, counts): all frames head
    first, message after message, their packetIds, and the frame count of each message.
    Raises ValueError naming the message that needs more than ``max_frags`` fragments
    (nothing is returned)."""
    _need(key, 32, "key")
    _need(nonce_key, 32, "nonce_key")
    _need(cluster, 16, "cluster")
    _need(to, 32, "to")
    _need(previous, 32, "previous")
    cdef Py_ssize_t m = len(messages), k, total = 0, at = 0
    cdef list counts = []
    cdef size_t need
    cdef const unsigned char[::1] body
    if len(clocks) < m:
        raise ValueError(f"{m} messages need {m} clocks, got {len(clocks)}")
    if commits is not None and commits.shape[0] < m * SRP_CHAIN_COMMIT_BYTES:
        raise ValueError(f"{m} messages need {m * SRP_CHAIN_COMMIT_BYTES} bytes of commits, "
                         f"got {commits.shape[0]}")
    # The messages' buffers, held (and their pointers valid) until the C call returns.
    cdef list bodies = []
    for k in range(m):
        need = srp_chain_count(len(messages[k]))
        if <Py_ssize_t>need > max_frags:
            raise ValueError(f"message {k} of {len(messages[k])} bytes needs {need} fragments;"
                             f" the bound is {max_frags}")
        counts.append(need)
        total += need
        body = messages[k]
        bodies.append(body)
    # Written in place before anyone else sees them: no zero fill, no copy out of a bytearray
    # (~350 KB a call of 256 values: the memset, the copy and the page faults of the fresh
    # memory were ~8% of a publisher's CPU).
    frames = PyBytes_FromStringAndSize(NULL, total * PACKET_BYTES)
    ids = PyBytes_FromStringAndSize(NULL, total * 32)
    cdef unsigned char *fp = <unsigned char *>PyBytes_AS_STRING(frames)
    cdef unsigned char *ip = <unsigned char *>PyBytes_AS_STRING(ids)
    cdef srp_chain_header h
    _header(&h, type_, postage, ttl, &cluster[0], &to[0], &previous[0])
    cdef srp_chain_job *jobs = <srp_chain_job *>malloc(<size_t>(m if m else 1) * sizeof(srp_chain_job))
    if jobs == NULL:
        raise MemoryError()
    cdef int rc
    try:
        for k in range(m):
            body = bodies[k]
            jobs[k].head = NULL
            jobs[k].head_len = 0
            jobs[k].msg = _ptr(body)
            jobs[k].len = <size_t>body.shape[0]
            jobs[k].clock = <uint32_t>clocks[k]
            jobs[k].out = fp + at * SRP_PACKET_BYTES
            jobs[k].ids = ip + at * 32
            jobs[k].commit = &commits[k * SRP_CHAIN_COMMIT_BYTES] if commits is not None else NULL
            at += <Py_ssize_t>counts[k]
        with nogil:
            rc = srp_chain_build_many(&key[0], &nonce_key[0], &h, jobs, <size_t>m,
                                      <size_t>max_frags)
    finally:
        free(jobs)
    if rc != 0:
        raise ValueError("a message could not be sealed (frame header out of range)")
    return frames, ids, counts


def seal_frame_into(const unsigned char[::1] key not None, unsigned char[::1] frame not None,
                    nonce=None) -> int:
    """Seal one writable 1158-byte frame in place; returns a status (0 = ok)."""
    cdef const unsigned char[::1] nv
    _need(key, 32, "key")
    _need(frame, PACKET_BYTES, "frame")
    if nonce is None:
        return srp_seal_frame(&key[0], &frame[0], NULL)
    nv = nonce
    _need(nv, 24, "nonce")
    return srp_seal_frame(&key[0], &frame[0], &nv[0])


def open_frame_into(const unsigned char[::1] key not None, unsigned char[::1] frame not None) -> int:
    """Open one writable sealed frame in place; returns a status (0 = ok, frame unchanged else)."""
    _need(key, 32, "key")
    _need(frame, PACKET_BYTES, "frame")
    return srp_open_frame(&key[0], &frame[0])


def seal_batch(const unsigned char[::1] key not None, unsigned char[::1] buf not None,
               Py_ssize_t count) -> bytes:
    """Seal `count` frames laid out every 1158 bytes in buf, in place. Returns one status byte
    per frame (0 = ok). The GIL is released while sealing."""
    _need(key, 32, "key")
    cdef size_t n = _frames(buf, count)
    status = PyBytes_FromStringAndSize(NULL, count)
    cdef uint8_t *st = <uint8_t *>PyBytes_AS_STRING(status)
    if n:
        with nogil:
            srp_seal_batch(&key[0], &buf[0], n, st)
    return status


def open_batch(const unsigned char[::1] key not None, unsigned char[::1] buf not None,
               Py_ssize_t count, uint64_t[::1] counters=None) -> bytes:
    """Open `count` sealed frames in place. Returns one status byte per frame (0 = ok); when
    `counters` (uint64 array of len(STATUS_NAMES)) is given, adds 1 per status there."""
    _need(key, 32, "key")
    cdef size_t n = _frames(buf, count)
    cdef uint64_t *ctr = NULL
    if counters is not None:
        if counters.shape[0] < SRP_SEAL_STATUSES:
            raise ValueError(f"counters needs {SRP_SEAL_STATUSES} slots")
        ctr = &counters[0]
    status = PyBytes_FromStringAndSize(NULL, count)
    cdef uint8_t *st = <uint8_t *>PyBytes_AS_STRING(status)
    if n:
        with nogil:
            srp_open_batch(&key[0], &buf[0], n, st, ctr)
    return status


cdef inline void _env_head(uint8_t *o, Py_ssize_t n, Py_ssize_t i, const uint8_t *author,
                           const uint8_t *sig, const uint8_t *path, unsigned depth) noexcept nogil:
    """An envelope's head (docs/SEALING.md): version, count, index, author, signature, path."""
    o[0] = <uint8_t>SRP_ENV_VERSION
    o[1] = <uint8_t>(n >> 8)
    o[2] = <uint8_t>(n & 0xFF)
    o[3] = <uint8_t>(i >> 8)
    o[4] = <uint8_t>(i & 0xFF)
    memcpy(o + 5, author, 32)
    memcpy(o + 37, sig, 64)
    if depth:
        memcpy(o + SRP_ENV_FIXED_BYTES, path, depth * 32)


def make_envelopes(const unsigned char[::1] secret_key not None, list payloads not None,
                   list contexts not None, unsigned char[::1] commits=None) -> list:
    """Author envelopes for a batch of 1..256 payloads signed with ONE ed25519 signature over
    a Merkle root (docs/SEALING.md). contexts[i] is the 84-byte header context of payloads[i].
    ``commits`` (writable, COMMIT_BYTES per payload, or None) receives count (uint16 BE) ‖
    leaf of each envelope: its commitment for seal_chains."""
    cdef Py_ssize_t n = len(payloads), i
    cdef const unsigned char[::1] p
    cdef const unsigned char[::1] c
    cdef uint8_t root[32]
    cdef uint8_t sig[64]
    cdef unsigned depth
    cdef size_t head, plen
    cdef char *o
    _need(secret_key, 64, "secret_key")
    if n < 1 or n > SRP_ENV_MAX_LEAVES:
        raise ValueError(f"a signed batch holds 1..{SRP_ENV_MAX_LEAVES} payloads, got {n}")
    if len(contexts) != n:
        raise ValueError("payloads and contexts must have the same length")
    if commits is not None and commits.shape[0] < n * SRP_CHAIN_COMMIT_BYTES:
        raise ValueError(f"commits must hold {n * SRP_CHAIN_COMMIT_BYTES} bytes")
    depth = srp_env_depth(<unsigned>n)
    head = <size_t>SRP_ENV_FIXED_BYTES + depth * 32
    cdef uint8_t *leaves = <uint8_t *>malloc(<size_t>n * 32 * (1 + depth))
    if leaves == NULL:
        raise MemoryError()
    cdef uint8_t *paths = leaves + n * 32
    cdef const unsigned char[::1] q
    cdef const unsigned char[::1] d
    out = []
    try:
        i = 0
        while i + 1 < n:  # two leaves at a time: their SHA-256 runs interleaved
            p, c = payloads[i], contexts[i]
            q, d = payloads[i + 1], contexts[i + 1]
            _need(c, SRP_ENV_CTX_BYTES, "header context")
            _need(d, SRP_ENV_CTX_BYTES, "header context")
            srp_env_leaf_x2(&c[0], _ptr(p), <size_t>p.shape[0], leaves + i * 32,
                            &d[0], _ptr(q), <size_t>q.shape[0], leaves + (i + 1) * 32)
            i += 2
        if i < n:
            p, c = payloads[i], contexts[i]
            _need(c, SRP_ENV_CTX_BYTES, "header context")
            srp_env_leaf(&c[0], _ptr(p), <size_t>p.shape[0], leaves + i * 32)
        srp_env_tree(leaves, <unsigned>n, root, paths)
        srp_env_sign(&secret_key[0], &secret_key[32], <unsigned>n, root, sig)
        if commits is not None:
            for i in range(n):
                commits[i * SRP_CHAIN_COMMIT_BYTES] = <unsigned char>(n >> 8)
                commits[i * SRP_CHAIN_COMMIT_BYTES + 1] = <unsigned char>(n & 0xFF)
                memcpy(&commits[i * SRP_CHAIN_COMMIT_BYTES + 2], leaves + i * 32, 32)
        for i in range(n):
            p = payloads[i]
            plen = <size_t>p.shape[0]
            env = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(head + plen))
            o = PyBytes_AS_STRING(env)
            _env_head(<uint8_t *>o, n, i, &secret_key[32], sig, paths + <size_t>i * depth * 32,
                      depth)
            if plen:
                memcpy(o + head, _ptr(p), plen)
            out.append(env)
    finally:
        free(leaves)
    return out


def seal_published(const unsigned char[::1] secret_key not None,
                   const unsigned char[::1] key not None,
                   const unsigned char[::1] nonce_key not None, int type_,
                   const unsigned char[::1] cluster not None, const unsigned char[::1] to not None,
                   const unsigned char[::1] previous not None, uint32_t first_clock,
                   unsigned int ttl, int postage, list payloads not None, Py_ssize_t max_frags):
    """make_envelopes then seal_chains with commitments, in one call and byte for byte the same
    frames: payload k (bytes) gets clock first_clock + k and the header context cluster ‖ to ‖
    previous ‖ clock; one signature per 256 payloads. An envelope's head and its payload are
    chained from where they are (csrc/chain.c gathers the fragment that spans both): no
    envelope is built, so no copy of the payloads. Returns (frames, ids, counts) as
    seal_chains does; raises ValueError, before any work, for a payload whose envelope needs
    more than ``max_frags`` fragments, TypeError for one that is not bytes."""
    _need(secret_key, 64, "secret_key")
    _need(key, 32, "key")
    _need(nonce_key, 32, "nonce_key")
    _need(cluster, 16, "cluster")
    _need(to, 32, "to")
    _need(previous, 32, "previous")
    cdef list held = list(payloads)  # (their buffers stay valid while the GIL is released)
    cdef Py_ssize_t m = len(held), k, b, n, i, total = 0, at = 0
    cdef unsigned depth
    cdef size_t head_len, need
    cdef list counts = []
    cdef object p
    for k in range(m):
        p = held[k]
        if type(p) is not bytes:
            raise TypeError(f"payload {k} must be bytes, got {type(p).__name__}")
        n = min(<Py_ssize_t>SRP_ENV_MAX_LEAVES, m - (k - k % SRP_ENV_MAX_LEAVES))
        head_len = <size_t>SRP_ENV_FIXED_BYTES + srp_env_depth(<unsigned>n) * 32
        need = srp_chain_count(head_len + <size_t>len(<bytes>p))
        if <Py_ssize_t>need > max_frags:
            raise ValueError(f"message {k} of {head_len + <size_t>len(<bytes>p)} bytes needs "
                             f"{need} fragments; the bound is {max_frags}")
        counts.append(need)
        total += <Py_ssize_t>need
    frames = PyBytes_FromStringAndSize(NULL, total * PACKET_BYTES)
    ids = PyBytes_FromStringAndSize(NULL, total * 32)
    cdef uint8_t *fp = <uint8_t *>PyBytes_AS_STRING(frames)
    cdef uint8_t *ip = <uint8_t *>PyBytes_AS_STRING(ids)
    cdef size_t HEAD_MAX = <size_t>SRP_ENV_FIXED_BYTES + 32 * 8  # (SRP_ENV_MAX_DEPTH)
    cdef size_t mm = <size_t>(m if m else 1)
    # one block: contexts, leaves, paths, heads, commitments, jobs
    cdef size_t bytes_needed = mm * (<size_t>SRP_ENV_CTX_BYTES + 32 + 32 * 8 + HEAD_MAX
                                     + <size_t>SRP_CHAIN_COMMIT_BYTES + sizeof(srp_chain_job))
    cdef uint8_t *mem = <uint8_t *>malloc(bytes_needed)
    if mem == NULL:
        raise MemoryError()
    cdef srp_chain_job *jobs = <srp_chain_job *>mem
    cdef uint8_t *ctx = mem + mm * sizeof(srp_chain_job)
    cdef uint8_t *leaves = ctx + mm * SRP_ENV_CTX_BYTES
    cdef uint8_t *paths = leaves + mm * 32
    cdef uint8_t *heads = paths + mm * 32 * 8
    cdef uint8_t *commits = heads + mm * HEAD_MAX
    cdef uint8_t root[32]
    cdef uint8_t sig[64]
    cdef const uint8_t *author = &secret_key[32]
    cdef uint32_t clock
    cdef srp_chain_header h
    cdef int rc = 0
    try:
        for k in range(m):
            clock = <uint32_t>((first_clock + <uint32_t>k) & 0xFFFFFFFF)
            memcpy(ctx + k * SRP_ENV_CTX_BYTES, &cluster[0], 16)
            memcpy(ctx + k * SRP_ENV_CTX_BYTES + 16, &to[0], 32)
            memcpy(ctx + k * SRP_ENV_CTX_BYTES + 48, &previous[0], 32)
            (ctx + k * SRP_ENV_CTX_BYTES + 80)[0] = <uint8_t>(clock >> 24)
            (ctx + k * SRP_ENV_CTX_BYTES + 80)[1] = <uint8_t>(clock >> 16)
            (ctx + k * SRP_ENV_CTX_BYTES + 80)[2] = <uint8_t>(clock >> 8)
            (ctx + k * SRP_ENV_CTX_BYTES + 80)[3] = <uint8_t>clock
            p = held[k]
            jobs[k].msg = <const uint8_t *>PyBytes_AS_STRING(p)
            jobs[k].len = <size_t>len(<bytes>p)
            jobs[k].clock = clock
            jobs[k].out = fp + at * SRP_PACKET_BYTES
            jobs[k].ids = ip + at * 32
            jobs[k].commit = commits + k * SRP_CHAIN_COMMIT_BYTES
            at += <Py_ssize_t>counts[k]
        with nogil:
            b = 0
            while b < m:  # one signed batch of up to 256 payloads at a time
                n = min(<Py_ssize_t>SRP_ENV_MAX_LEAVES, m - b)
                depth = srp_env_depth(<unsigned>n)
                head_len = <size_t>SRP_ENV_FIXED_BYTES + depth * 32
                i = 0
                while i + 1 < n:  # two leaves at a time: their SHA-256 runs interleaved
                    srp_env_leaf_x2(ctx + (b + i) * SRP_ENV_CTX_BYTES, jobs[b + i].msg,
                                    jobs[b + i].len, leaves + (b + i) * 32,
                                    ctx + (b + i + 1) * SRP_ENV_CTX_BYTES, jobs[b + i + 1].msg,
                                    jobs[b + i + 1].len, leaves + (b + i + 1) * 32)
                    i += 2
                if i < n:
                    srp_env_leaf(ctx + (b + i) * SRP_ENV_CTX_BYTES, jobs[b + i].msg,
                                 jobs[b + i].len, leaves + (b + i) * 32)
                srp_env_tree(leaves + b * 32, <unsigned>n, root, paths)
                srp_env_sign(&secret_key[0], author, <unsigned>n, root, sig)
                for i in range(n):
                    _env_head(heads + (b + i) * HEAD_MAX, n, i, author, sig,
                              paths + <size_t>i * depth * 32, depth)
                    jobs[b + i].head = heads + (b + i) * HEAD_MAX
                    jobs[b + i].head_len = head_len
                    commits[(b + i) * SRP_CHAIN_COMMIT_BYTES] = <uint8_t>(n >> 8)
                    commits[(b + i) * SRP_CHAIN_COMMIT_BYTES + 1] = <uint8_t>(n & 0xFF)
                    memcpy(commits + (b + i) * SRP_CHAIN_COMMIT_BYTES + 2,
                           leaves + (b + i) * 32, 32)
                b += n
            _header(&h, type_, postage, ttl, &cluster[0], &to[0], &previous[0])
            rc = srp_chain_build_many(&key[0], &nonce_key[0], &h, jobs, <size_t>m,
                                      <size_t>max_frags)
    finally:
        free(mem)
    if rc != 0:
        raise ValueError("a message could not be sealed (frame header out of range)")
    return frames, ids, counts


def parse_envelope(const unsigned char[::1] env not None, const unsigned char[::1] context not None):
    """(count, author, signature, root, payload_offset) of an envelope, the root recomputed from
    the payload, context and Merkle path; None when malformed. Does not check the signature."""
    cdef unsigned count = 0
    cdef const uint8_t *author
    cdef const uint8_t *sig
    cdef const uint8_t *payload
    cdef size_t plen = 0
    cdef uint8_t root[32]
    _need(context, SRP_ENV_CTX_BYTES, "header context")
    if srp_env_parse(_ptr(env), <size_t>env.shape[0], &context[0], &count, &author, &sig,
                     &payload, &plen, root) != 0:
        return None
    return (count, (<char *>author)[:32], (<char *>sig)[:64], (<char *>root)[:32],
            <Py_ssize_t>(payload - _ptr(env)))


def verify_root(const unsigned char[::1] author not None, unsigned count,
                const unsigned char[::1] root not None, const unsigned char[::1] sig not None) -> bool:
    """True when sig is author's signature over ("srp-batch-v2", author, count, root)."""
    _need(author, 32, "author")
    _need(root, 32, "root")
    _need(sig, 64, "signature")
    return srp_env_verify(&author[0], count, &root[0], &sig[0]) == 0


def merkle_root(list leaves not None) -> tuple:
    """(root, [path_i]) of the padded tree over 1..256 32-byte leaves (for tests)."""
    cdef Py_ssize_t n = len(leaves), i
    cdef const unsigned char[::1] l
    cdef uint8_t root[32]
    if n < 1 or n > SRP_ENV_MAX_LEAVES:
        raise ValueError(f"1..{SRP_ENV_MAX_LEAVES} leaves")
    cdef unsigned depth = srp_env_depth(<unsigned>n)
    flat = bytearray(b"".join(bytes(x) for x in leaves))
    if len(flat) != n * 32:
        raise ValueError("leaves must be 32 bytes each")
    paths = bytearray(n * 32 * depth + 1)
    cdef unsigned char[::1] f = flat
    cdef unsigned char[::1] pv = paths
    srp_env_tree(&f[0], <unsigned>n, root, &pv[0])
    return (<char *>root)[:32], [bytes(paths[i * 32 * depth:(i + 1) * 32 * depth]) for i in range(n)]
