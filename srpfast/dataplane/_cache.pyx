# csrc: cache.c cache_batch.c cache_query.c seen.c frame.c sha256.c
"""The bounded replication cache (SPEC 6, 7) over csrc/cache.c: one C call per operation or batch.

srpfast.dataplane.cache.Cache adds persistence on top; see _cache.pyi for the typed surface and
docs/CACHE.md for the design.
"""
import os

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.math cimport isfinite
from libc.string cimport memcpy, memset

from srpfast.wire._cframe cimport (srp_frame_validate, srp_frame_packet_id, SRP_OK,
                                   SRP_PACKET_BYTES)
from srpfast.errors import ConfigError


cdef extern from "seen.h" nogil:
    uint64_t srp_hash64(const void *data, size_t len, uint64_t seed)


DEF EXPIRE_CHUNK = 64

# Per-process secret seed: source keys are stable within the process and not predictable
# from outside, so nobody can pick an address or peerId that collides with another's key.
cdef uint64_t _SOURCE_SEED = int.from_bytes(os.urandom(8), "little")

VERDICTS = ("inserted", "duplicate", "refused_share", "invalid", "variant")


def source_key(source) -> int:
    """The 64-bit key of a hashable source: seeded XXH3-64 of "<type name>:<repr>".

    Equal sources of the same type (address tuples, peerId bytes, ints, strings) map to the same
    key for the life of the process; a different process uses a different seed."""
    cdef bytes enc = f"{type(source).__name__}:{source!r}".encode("utf-8", "surrogatepass")
    return srp_hash64(PyBytes_AS_STRING(enc), <size_t>len(enc), _SOURCE_SEED)


cdef inline int _check_now(double now) except -1:
    # a NaN or infinite time would break the expiry order of the heaps
    if not isfinite(now):
        raise ValueError(f"now must be a finite time in seconds, got {now}")
    return 0


cdef inline const uint8_t *_id_ptr(const unsigned char[::1] v, str what) except NULL:
    if v.shape[0] != 32:
        raise ValueError(f"{what} must be 32 bytes (a packetId), got {v.shape[0]}")
    return <const uint8_t *>&v[0]


cdef bytes _nibbles(str prefix, uint8_t *out, Py_ssize_t maxlen):
    if len(prefix) > maxlen:
        raise ValueError(f"prefix must be at most {maxlen} hex digits, got {len(prefix)}")
    for i, ch in enumerate(prefix):
        v = "0123456789abcdef".find(ch.lower())
        if v < 0:
            raise ValueError(f"prefix must be hex digits (0-9a-f), got {prefix!r}")
        out[i] = <uint8_t>v
    return None


cdef class CacheCore:
    """Bounded cache of whole 1158-byte frames keyed by packetId (SPEC 7).

    ``capacity_bytes`` bounds everything the cache allocates (frames, metadata, indexes, the
    seen pre-filter). ``source_share`` (0 < share <= 1) bounds what one source may hold.
    ``share_policy``: "replace" (a source at its share replaces its own oldest packet) or
    "refuse" (the insert is refused). Times are float seconds of any monotonic clock."""

    def __cinit__(self, size_t capacity_bytes=16 * 2**20, double source_share=1.0 / 8, *,
                  str share_policy="replace", double seen_horizon=120.0, seed=None):
        if not (0.0 < source_share <= 1.0):
            raise ConfigError(f"source_share must be in (0, 1], got {source_share}")
        if share_policy not in ("replace", "refuse"):
            raise ConfigError(f'share_policy must be "replace" or "refuse", got {share_policy!r}')
        if not (seen_horizon > 0.0):
            raise ConfigError(f"seen_horizon must be > 0 seconds, got {seen_horizon}")
        cdef uint64_t s = int.from_bytes(os.urandom(8), "little") if seed is None else seed
        self.c = srp_cache_new_ex(capacity_bytes, source_share,
                                  SRP_SHARE_REFUSE if share_policy == "refuse"
                                  else SRP_SHARE_REPLACE, seen_horizon, s)
        if self.c == NULL:
            raise ConfigError(f"capacity_bytes={capacity_bytes} is too small (it must hold at "
                              "least 4 entries of ~1.5 KiB each) or memory is short")

    def __dealloc__(self):
        srp_cache_free(self.c)

    # -- size and accounting --
    def __len__(self) -> int:
        return srp_cache_count(self.c)

    @property
    def bytes_used(self) -> int:
        """len(cache) x entry_bytes: never more than memory_bytes <= capacity_bytes."""
        return srp_cache_bytes_used(self.c)

    @property
    def entry_bytes(self) -> int:
        """Bytes charged per entry: the 1158-byte frame plus its share of every structure."""
        return srp_cache_entry_bytes(self.c)

    @property
    def memory_bytes(self) -> int:
        """Everything the cache allocated (fixed at creation, <= capacity_bytes)."""
        return srp_cache_memory_bytes(self.c)

    @property
    def capacity_entries(self) -> int:
        return srp_cache_slots(self.c)

    @property
    def share_entries(self) -> int:
        """Most entries one source may hold."""
        return srp_cache_share_slots(self.c)

    def counters(self) -> dict:
        cdef uint64_t out[SRP_CC_COUNT]
        srp_cache_counters(self.c, out)
        return {srp_cache_counter_name(i).decode(): out[i] for i in range(SRP_CC_COUNT)}

    # -- insert --
    def insert(self, datagram, *, source, double now, member=False) -> bool:
        """Validate, dedup and cache one datagram; False when invalid, a duplicate or refused."""
        return self.offer(datagram, source=source, now=now, member=member) == "inserted"

    def offer(self, const unsigned char[::1] datagram not None, *, source, double now,
              member=False) -> str:
        """Like insert, returning the verdict: "inserted", "duplicate", "refused_share",
        "invalid" or "variant" (same packetId as a cached packet but another immutable header:
        not cached; see replace)."""
        _check_now(now)
        cdef const uint8_t *p = &datagram[0] if datagram.shape[0] else <const uint8_t *>b""
        cdef int v = srp_cache_offer(self.c, p, <size_t>datagram.shape[0], source_key(source),
                                     now, 1 if member else 0, NULL)
        return VERDICTS[v]

    def insert_batch(self, const unsigned char[::1] buf not None, Py_ssize_t count, sources,
                     double now, member=False, unsigned char[::1] verdicts=None) -> int:
        """Offer `count` 1158-byte datagrams laid end to end in buf. `sources` is one hashable for
        all (a tuple is one address), or a list of `count` hashables. verdicts (optional,
        >= count bytes) receives each verdict's index in VERDICTS.
        Returns how many were inserted."""
        cdef uint64_t one
        cdef uint64_t *keys = &one
        cdef int single = 1
        _check_now(now)
        if count < 0 or <size_t>buf.shape[0] < <size_t>count * SRP_PACKET_BYTES:
            raise ValueError(f"buf must hold count={count} frames of {SRP_PACKET_BYTES} bytes")
        if verdicts is not None and verdicts.shape[0] < count:
            raise ValueError("verdicts must have room for count bytes")
        if count == 0:
            return 0
        if isinstance(sources, list):
            if len(sources) != count:
                raise ValueError("sources must be one hashable or a list of count hashables")
            keys = <uint64_t *>malloc(count * sizeof(uint64_t))
            if keys == NULL:
                raise MemoryError()
            for i in range(count):
                keys[i] = source_key(sources[i])
            single = 0
        else:
            one = source_key(sources)
        cdef size_t n
        try:
            n = srp_cache_offer_batch(self.c, &buf[0], SRP_PACKET_BYTES, NULL, <size_t>count, keys, single,
                                      now, 1 if member else 0,
                                      &verdicts[0] if verdicts is not None else NULL)
        finally:
            if not single:
                free(keys)
        return n

    def replace(self, const unsigned char[::1] datagram not None, packet_id, *, source,
                double now, member=False) -> bool:
        """Make ``datagram`` THE cached copy of ``packet_id`` (its recomputed id), dropping
        any other copy: for a member that opened this copy after a relay-altered one was
        cached first (SPEC 9.1). The caller vouches for the id (it decoded the frame)."""
        _check_now(now)
        if datagram.shape[0] != SRP_PACKET_BYTES:
            raise ValueError("datagram must be one SRP frame (PACKET_BYTES)")
        cdef const uint8_t *idp = _id_ptr(packet_id, "packet_id")
        srp_cache_remove(self.c, idp)
        return srp_cache_insert(self.c, &datagram[0], idp, source_key(source), now,
                                1 if member else 0) == SRP_CACHE_INSERTED

    def _insert_ids_batch(self, const unsigned char[::1] buf not None,
                          const unsigned char[::1] ids not None, Py_ssize_t count, source,
                          double now, member=False) -> int:
        """Frames already validated with their ids computed (as srp_frame_check_batch or
        seal_chains leave them), one C call (srp_cache_insert_batch: the next inserts'
        memory prefetched): a publisher's own frames, relayed frames whose id is known, the
        benchmark."""
        if count < 0 or <size_t>buf.shape[0] < <size_t>count * SRP_PACKET_BYTES or ids.shape[0] < 32 * count:
            raise ValueError("buf/ids too short for count")
        _check_now(now)
        cdef uint64_t key = source_key(source)
        if count == 0:
            return 0
        return srp_cache_insert_batch(self.c, &buf[0], &ids[0], <size_t>count, key, now,
                                      1 if member else 0)

    def _restore(self, const unsigned char[::1] frame not None, uint64_t source_key_, double now,
                 double expires, member) -> bool:
        """Insert a validated frame with an explicit expiry (persistence); computes its id."""
        cdef uint8_t id[32]
        _check_now(now)
        if expires != expires:
            return False
        if srp_frame_validate(&frame[0] if frame.shape[0] else <const uint8_t *>b"",
                              <size_t>frame.shape[0]) != SRP_OK:
            return False
        srp_frame_packet_id(&frame[0], id)
        return srp_cache_insert_expiring(self.c, &frame[0], id, source_key_, now, expires,
                                         1 if member else 0) == SRP_CACHE_INSERTED

    # -- lookup --
    def get(self, packet_id) -> bytes | None:
        cdef const uint8_t *f = srp_cache_get(self.c, _id_ptr(packet_id, "packet_id"))
        if f == NULL:
            return None
        return PyBytes_FromStringAndSize(<const char *>f, SRP_PACKET_BYTES)

    def __contains__(self, packet_id) -> bool:
        if not isinstance(packet_id, (bytes, bytearray, memoryview)) or len(packet_id) != 32:
            return False
        return srp_cache_contains(self.c, _id_ptr(packet_id, "packet_id")) != 0

    def contains_batch(self, const unsigned char[::1] ids not None,
                       unsigned char[::1] out=None) -> int:
        """How many of the packetIds laid end to end in ids (32 bytes each) are cached;
        out (optional, one byte per id) receives 1/0 per id."""
        if ids.shape[0] % 32:
            raise ValueError("ids must be a whole number of 32-byte packetIds")
        cdef size_t n = <size_t>ids.shape[0] // 32
        if n == 0:
            return 0
        if out is not None and <size_t>out.shape[0] < n:
            raise ValueError("out must have one byte per id")
        cdef size_t found
        with nogil:
            found = srp_cache_contains_batch(self.c, &ids[0], n,
                                             &out[0] if out is not None else NULL)
        return found

    def remove(self, packet_id) -> bool:
        return srp_cache_remove(self.c, _id_ptr(packet_id, "packet_id")) != 0

    # -- expiry --
    def expire(self, double now) -> list:
        """Drop everything whose ttl ran out by `now`; return the frames to re-broadcast once
        (postage left after the decrement, written into byte 20). SPEC 6."""
        cdef uint8_t buf[EXPIRE_CHUNK * SRP_PACKET_BYTES]
        cdef size_t n, i
        if now != now:  # +inf is fine here: it expires everything
            raise ValueError("now must be a time in seconds, got nan")
        out = []
        while True:
            n = srp_cache_expire(self.c, now, buf, EXPIRE_CHUNK)
            for i in range(n):
                out.append(PyBytes_FromStringAndSize(<const char *>&buf[i * SRP_PACKET_BYTES], SRP_PACKET_BYTES))
            if n < EXPIRE_CHUNK:
                return out

    def next_expiry(self) -> float | None:
        """Earliest expiry time in the cache (to arm a timer), None when empty."""
        t = srp_cache_next_expiry(self.c)
        return None if t == float("inf") else t

    # -- selection and chains --
    def lowest_hops(self, Py_ssize_t k, cluster=None) -> list:
        """Ids of up to k packets of the lowest hop counts, of one 16-byte cluster tag if given."""
        cdef const unsigned char[::1] tag
        cdef const uint8_t *tp = NULL
        if k <= 0:
            return []
        if cluster is not None:
            tag = cluster
            if tag.shape[0] != 16:
                raise ValueError("cluster must be the 16-byte tag (frame bytes 22..37)")
            tp = &tag[0]
        k = min(k, <Py_ssize_t>srp_cache_count(self.c))
        cdef bytearray out = bytearray(32 * k) if k else bytearray(32)
        cdef size_t n = srp_cache_lowest_hops(self.c, <size_t>k, tp, <uint8_t *>(<char *>out))
        return [bytes(out[32 * i:32 * i + 32]) for i in range(n)]

    def by_previous(self, previous_id, Py_ssize_t limit=1024) -> list:
        """Ids of cached packets whose previousId is previous_id (e.g. every fragment of the
        message that follows it). Empty for the all-zero id."""
        cdef const uint8_t *p = _id_ptr(previous_id, "previous_id")
        limit = min(limit, <Py_ssize_t>srp_cache_count(self.c))
        if limit <= 0:
            return []
        cdef bytearray out = bytearray(32 * limit)
        cdef size_t n = srp_cache_by_previous(self.c, p, <uint8_t *>(<char *>out), <size_t>limit)
        return [bytes(out[32 * i:32 * i + 32]) for i in range(n)]

    def by_next(self, next_id) -> bytes | None:
        """Id of the cached packet whose nextId is next_id (the fragment before it), or None."""
        cdef uint8_t out[32]
        if srp_cache_by_next(self.c, _id_ptr(next_id, "next_id"), out):
            return PyBytes_FromStringAndSize(<const char *>out, 32)
        return None

    # -- SYNC summary (16-way prefix tree by hex nibble, depth 3) --
    def summary(self, str prefix="") -> list:
        """The 16 child buckets of `prefix` (0..2 hex digits): [(child_prefix, count, hash)].
        hash = XOR over the bucket's ids of bytes 8..15 read as a big-endian u64."""
        cdef uint8_t nib[2]
        cdef uint32_t counts[16]
        cdef uint64_t hashes[16]
        _nibbles(prefix, nib, 2)
        srp_cache_summary(self.c, nib, <size_t>len(prefix), counts, hashes)
        p = prefix.lower()
        return [(p + "0123456789abcdef"[j], counts[j], hashes[j]) for j in range(16)]

    def bucket(self, str prefix="") -> tuple:
        """(count, hash) of one bucket (0..3 hex digits; "" is the whole cache)."""
        cdef uint8_t nib[3]
        cdef uint32_t count
        cdef uint64_t h
        _nibbles(prefix, nib, 3)
        srp_cache_bucket(self.c, nib, <size_t>len(prefix), &count, &h)
        return (count, h)

    def ids_with_prefix(self, str prefix="", Py_ssize_t limit=4096) -> list:
        """Ids whose hex form starts with prefix (0..64 digits), at most limit."""
        cdef uint8_t nib[64]
        _nibbles(prefix, nib, 64)
        if limit <= 0:
            return []
        limit = min(limit, <Py_ssize_t>srp_cache_count(self.c))
        cdef bytearray out = bytearray(32 * max(limit, 1))
        cdef size_t n = srp_cache_ids_with_prefix(self.c, nib, <size_t>len(prefix),
                                                  <uint8_t *>(<char *>out), <size_t>limit)
        return [bytes(out[32 * i:32 * i + 32]) for i in range(n)]

    def _entries(self, double now) -> list:
        """[(frame, packet_id, remaining_seconds, source_key, member)] for persistence."""
        cdef const uint8_t *f
        cdef const uint8_t *i
        cdef double expires
        cdef uint64_t key
        cdef int member
        out = []
        for slot in range(srp_cache_slots(self.c)):
            if srp_cache_slot(self.c, slot, &f, &i, &expires, &key, &member):
                out.append((PyBytes_FromStringAndSize(<const char *>f, SRP_PACKET_BYTES),
                            PyBytes_FromStringAndSize(<const char *>i, 32),
                            expires - now, key, bool(member)))
        return out
