"""The bounded replication cache (SPEC 6, 7): a C core (srpfast.dataplane._cache) plus persistence and
the SYNC reconciliation walk. Design, eviction order, share rule, summary tree and the file
format: docs/CACHE.md.

    cache = Cache(capacity_bytes=16 * 2**20, source_share=1/8)
    cache.insert(datagram, source=("10.0.0.1", 5000), now=clock()) -> bool
    cache.get(packet_id) -> bytes | None;  packet_id in cache;  len(cache);  cache.bytes_used
    cache.expire(now) -> list[bytes]       # frames to re-broadcast once (postage decremented)
    cache.lowest_hops(k, cluster=None);  cache.by_previous(id);  cache.by_next(id)
    cache.summary(prefix);  cache.ids_with_prefix(prefix);  reconcile(...)
    cache.save(path, now=...);  cache.load(path, now=...)
"""
from __future__ import annotations

import hashlib
import os
import struct
from typing import Callable, Iterable, Mapping

from srpfast.dataplane._cache import VERDICTS, CacheCore, source_key
from srpfast.wire.constants import PACKET_BYTES
from srpfast.errors import SRPError

__all__ = ["Cache", "CacheFileError", "VERDICTS", "reconcile", "source_key", "FILE_MAGIC",
           "FILE_VERSION"]

FILE_MAGIC = b"SRPCACHE"
FILE_VERSION = 1
_HEADER = struct.Struct(">8sHHI")      # magic, version, record size, count
_RECORD_TAIL = struct.Struct(">dQB")   # remaining seconds, source key, member
_RECORD = PACKET_BYTES + _RECORD_TAIL.size
_DIGEST = 8                            # BLAKE2b-64 of everything before it


class CacheFileError(SRPError, ValueError):
    """A saved cache file that cannot be loaded (truncated, corrupt, other version).
    Delete the file or save it again; nothing was loaded."""


def _digest(data: bytes | memoryview) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST).digest()


class Cache(CacheCore):
    """Bounded cache of whole 1158-byte frames keyed by packetId (SPEC 7). See CacheCore."""

    def save(self, path: str | os.PathLike[str], *, now: float) -> int:
        """Write every entry to path (atomically: a temporary file then rename). Expiry times are
        stored relative to `now`, so the file is independent of the clock. Returns the count."""
        entries = self._entries(now)
        parts = [_HEADER.pack(FILE_MAGIC, FILE_VERSION, _RECORD, len(entries))]
        for frame, _id, remaining, key, member in entries:
            parts.append(frame)
            parts.append(_RECORD_TAIL.pack(remaining, key, 1 if member else 0))
        body = b"".join(parts)
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "wb") as f:
            f.write(body)
            f.write(_digest(body))
        os.replace(tmp, path)
        return len(entries)

    def load(self, path: str | os.PathLike[str], *, now: float) -> int:
        """Add the entries of a file written by save (expiry = now + remaining). Every frame is
        validated and its packetId recomputed. Raises CacheFileError (and loads nothing) when the
        file is corrupt. Returns how many entries were inserted (duplicates are skipped; the
        capacity and share rules apply as for any insert)."""
        with open(path, "rb") as f:
            data = f.read()
        records = _parse(data, os.fspath(path))
        loaded = 0
        for frame, remaining, key, member in records:
            loaded += self._restore(frame, key, now, now + remaining, member)
        return loaded


def _parse(data: bytes, name: str) -> list[tuple[bytes, float, int, bool]]:
    def bad(why: str) -> CacheFileError:
        return CacheFileError(f"{name}: not a loadable srpfast cache file ({why})")

    if len(data) < _HEADER.size + _DIGEST:
        raise bad("too short")
    magic, version, record, count = _HEADER.unpack_from(data)
    if magic != FILE_MAGIC:
        raise bad("wrong magic")
    if version != FILE_VERSION:
        raise bad(f"version {version}, this srpfast reads version {FILE_VERSION}")
    if record != _RECORD:
        raise bad(f"record size {record}, expected {_RECORD}")
    if len(data) != _HEADER.size + count * _RECORD + _DIGEST:
        raise bad(f"length {len(data)} does not match {count} records")
    view = memoryview(data)
    if _digest(view[:-_DIGEST]) != data[-_DIGEST:]:
        raise bad("checksum mismatch")
    from srpfast.wire._frame import validate
    out = []
    for i in range(count):
        at = _HEADER.size + i * _RECORD
        frame = data[at:at + PACKET_BYTES]
        verdict = validate(frame)
        if verdict != "ok":
            raise bad(f"record {i} holds a malformed frame ({verdict})")
        remaining, key, member = _RECORD_TAIL.unpack_from(data, at + PACKET_BYTES)
        if member > 1 or remaining != remaining:
            raise bad(f"record {i} has a bad member flag or expiry")
        out.append((frame, remaining, key, bool(member)))
    return out


SummaryFn = Callable[[list[str]], Mapping[str, list[tuple[str, int, int]]]]
IdsFn = Callable[[list[str]], Mapping[str, Iterable[bytes]]]


def reconcile(local: CacheCore, remote_summary: SummaryFn, remote_ids: IdsFn, *,
              leaf_size: int = 16) -> tuple[list[bytes], list[bytes], int]:
    """Find what two caches hold differently by walking the summary tree (SPEC 6 "Sync").

    Each call of ``remote_summary(prefixes)`` / ``remote_ids(prefixes)`` is one round trip: the
    remote answers ``cache.summary(p)`` / ``cache.ids_with_prefix(p)`` for every prefix asked.
    Level by level, only children whose (count, hash) differ are descended; a child is listed
    (ids exchanged) once it is a depth-3 leaf or holds at most ``leaf_size`` ids on either side.
    So at most 3 summary rounds + 1 id round, and O(differences x depth) buckets asked.
    Returns (ids only the remote has, ids only we have, round trips)."""
    rounds = 0
    frontier = [""]
    to_list: list[str] = []
    while frontier:
        theirs = remote_summary(frontier)
        rounds += 1
        deeper = []
        for p in frontier:
            for (child, mc, mh), (_, tc, th) in zip(local.summary(p), theirs[p]):
                if (mc, mh) == (tc, th):
                    continue
                if len(child) >= 3 or max(mc, tc) <= leaf_size:
                    to_list.append(child)
                else:
                    deeper.append(child)
        frontier = deeper
    missing: list[bytes] = []
    extra: list[bytes] = []
    if to_list:
        listed = remote_ids(to_list)
        rounds += 1
        for p in to_list:
            mine = set(local.ids_with_prefix(p, limit=1 << 30))
            them = set(listed[p])
            missing.extend(sorted(them - mine))
            extra.extend(sorted(mine - them))
    return missing, extra, rounds
