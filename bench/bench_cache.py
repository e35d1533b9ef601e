"""Cache benchmark (issue 3): insert, duplicate drop, lookup, expiry and summary rates of the C
cache, beside a plain Python dict cache doing the same work and a C ceiling, in the same run.

Two groups, because inserts and lookups have different ceilings:
- "cache": limit = a C loop doing only what any frame store must do per packet (XXH3 of the
  32-byte key, one table probe, memcpy of 1158 bytes into a ring); peer = a Python dict cache
  (insertion-ordered dict, FIFO eviction, ids precomputed like ours).
- "cache lookup": limit = the same C loop without the memcpy (hash + one probe of a plain table);
  peer = `id in dict` in a Python loop.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import ceilings
from bench.harness import Row, best_rate, main, quick_params, refresh_limit
from srpfast.dataplane.cache import Cache

PACKET = 1158
CAP = 16 * 2**20
# Passes of the lookup ceiling per ctypes call: a pass over 4,096 ids is ~10 us, which a
# foreign call per pass would inflate by ~10% (contains_batch is one Cython call a pass).
PROBE_ROUNDS = 16


def frame(i: int, *, hops: int = 0, ttl: int = 21600, postage: int = 8) -> bytes:
    body = i.to_bytes(8, "big") + bytes(1016)  # full message area: the SHA-256 worst case
    head = (b"SRP\x00" + bytes([5, 1, hops, 0]) + bytes(4) + bytes(2) + len(body).to_bytes(2, "big")
            + ttl.to_bytes(4, "big") + bytes([postage, 0]) + bytes(16) + bytes(32) + bytes(32)
            + bytes(32))
    return head + body + bytes(1024 - len(body))


def pid(f: bytes) -> bytes:
    n = int.from_bytes(f[14:16], "big")
    return hashlib.sha256(f[70:102] + f[134:134 + n] + f[102:134]).digest()


class PyCache:
    """The peer: what a straightforward Python cache does per insert (dedup, FIFO eviction,
    copy of the frame out of the receive buffer)."""

    def __init__(self, slots: int):
        self.d: dict[bytes, bytes] = {}
        self.slots = slots

    def insert_batch(self, buf: bytes, ids: list[bytes]) -> int:
        d, n = self.d, 0
        for i, pid_ in enumerate(ids):
            if pid_ in d:
                continue
            if len(d) >= self.slots:
                del d[next(iter(d))]
            d[pid_] = buf[i * PACKET:(i + 1) * PACKET]
            n += 1
        return n


def run(quick: bool) -> list[Row]:
    p = quick_params(quick)
    cache = Cache(CAP, source_share=1.0)
    slots = cache.capacity_entries
    n = 4096 if quick else 16384
    # two disjoint sets, each larger than the cache: alternating them makes every insert new
    # (each evicts), so steady state at capacity is measured, not an empty table.
    sets = []
    for s in range(2):
        fs = [frame(s * 10**6 + i) for i in range(max(n, slots + 1))]
        sets.append((b"".join(fs), b"".join(pid(f) for f in fs), [pid(f) for f in fs], len(fs)))
    turn = [0]

    def insert_ids():
        buf, ids, _, cnt = sets[turn[0] & 1]
        turn[0] += 1
        cache._insert_ids_batch(buf, ids, cnt, "src", 0.0)

    cnt = sets[0][3]
    rows = [Row("cache", "C store loop: XXH3 key + probe + memcpy 1158 B", best_rate(
        lambda: ceilings.store_loop(sets[0][0], cnt, slots), cnt, **p), role="limit",
        note="the per-packet work any frame store does; no metadata, eviction or dedup")]
    rows.append(Row("cache", "srpfast insert at capacity (ids precomputed, C batch)",
                    best_rate(insert_ids, cnt, **p), min_rate=1e6,
                    note="data-plane path: each insert evicts; heap, lists, tree, share table"))

    def offer():
        buf, _, _, c = sets[turn[0] & 1]
        turn[0] += 1
        cache.insert_batch(buf, c, "src", 0.0)

    rows.append(Row("cache", "srpfast offer at capacity (validate + pre-filter + SHA-256 + insert)",
                    best_rate(offer, cnt, **p),
                    note="1024-byte messages: the SHA-256 of each new frame dominates"))
    # duplicates: the same packets with other hops/postage, already cached
    recent = list(range(cnt - slots, cnt))
    dups = b"".join(frame(((turn[0] - 1) & 1) * 10**6 + i, hops=3, postage=5) for i in recent)
    rows.append(Row("cache", "srpfast duplicate drop (pre-filter confirms by bytes, no SHA-256)",
                    best_rate(lambda: cache.insert_batch(dups, len(recent), "src", 0.0),
                              len(recent), **p),
                    note="XXH3 of the immutable bytes, one filter probe, memcmp with the "
                         "cached frame"))

    py = PyCache(slots)
    pturn = [0]

    def py_insert():
        buf, _, ids, _ = sets[pturn[0] & 1]
        pturn[0] += 1
        py.insert_batch(buf, ids)

    rows.append(Row("cache", "Python dict cache insert (ids precomputed, FIFO eviction)",
                    best_rate(py_insert, cnt, **p), role="peer"))

    # expiry: fill, then time one expire() of everything (postage 8: all handed back)
    ex = Cache(CAP, source_share=1.0)
    ebuf = b"".join(frame(5 * 10**6 + i, ttl=i % 1000) for i in range(slots))
    eids = b"".join(pid(frame(5 * 10**6 + i, ttl=i % 1000)) for i in range(slots))
    best = 0.0
    for _ in range(p["repeat"] + 1):
        ex._insert_ids_batch(ebuf, eids, slots, "src", 0.0)
        t0 = time.perf_counter()
        got = ex.expire(2000.0)
        dt = time.perf_counter() - t0
        assert len(got) == slots and len(ex) == 0
        best = max(best, slots / dt)
    rows.append(Row("cache", "srpfast expire (full cache, every frame handed back as bytes)", best,
                    note="heap pops + one bytes object per re-broadcast frame"))
    prefixes = [f"{i:02x}" for i in range(256)]
    rows.append(Row("cache", "srpfast summary(prefix) of 16 buckets (Python call)",
                    best_rate(lambda: [cache.summary(x) for x in prefixes], 256, **p),
                    unit="summaries/s",
                    note="tree updates are O(depth) XORs inside every insert/remove above"))
    rows.append(Row("cache", "memory: allocated vs bound (16 MiB)", cache.memory_bytes / CAP,
                    unit="x bound", lower_is_better=True, max_rate=1.0, note=f"{slots} entries x {cache.entry_bytes} B charged each "
                    f"(1158 B frame + metadata + share of indexes and pre-filter)"))

    # lookups: half hits, half misses
    _, ids_now, list_now, c2 = sets[(turn[0] - 1) & 1]
    probe = ids_now[(c2 - 2048) * 32:] + sets[turn[0] & 1][1][:2048 * 32]
    probe_list = list_now[c2 - 2048:] + sets[turn[0] & 1][2][:2048]
    nprobe = len(probe) // 32
    refresh_limit(rows[0], lambda: best_rate(
        lambda: ceilings.store_loop(sets[0][0], cnt, slots), cnt, **p))
    lookup_at = len(rows)
    rows.append(Row("cache lookup", "C loop: XXH3 of 32-byte id + one table probe", best_rate(
        lambda: ceilings.probe_loop(probe, slots, PROBE_ROUNDS),
        PROBE_ROUNDS * nprobe, **p), role="limit", note="hash + probe of a plain table, no key compare"))
    out = bytearray(nprobe)
    assert cache.contains_batch(probe, out) == 2048 and sum(out) == 2048  # really half hits
    rows.append(Row("cache lookup", "srpfast contains_batch (C loop, nogil)",
                    best_rate(lambda: cache.contains_batch(probe, out), nprobe, **p),
                    min_rate=5e6))
    get = cache.get
    rows.append(Row("cache lookup", "srpfast get(id) per Python call",
                    best_rate(lambda: [get(i) for i in probe_list], nprobe, **p)))
    d = dict(py.d)
    rows.append(Row("cache lookup", "Python `id in dict` loop",
                    best_rate(lambda: [i in d for i in probe_list], nprobe, **p), role="peer"))
    refresh_limit(rows[lookup_at], lambda: best_rate(
        lambda: ceilings.probe_loop(probe, slots, PROBE_ROUNDS), PROBE_ROUNDS * nprobe, **p))
    return rows


if __name__ == "__main__":
    main(run)
