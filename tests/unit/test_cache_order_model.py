"""The cache's expiry order and eviction against a small Python model of docs/CACHE.md's rules
(issue 17 review: the expiry order became runs of in-order inserts merged with the 4-ary heaps,
cache_expiry.h; insert_core remembers the last insert's source and cluster records).

The model is written from docs/CACHE.md ("Expiry order", "Expiry", "Eviction at capacity",
"Fairness"), not from the C code: per class (non-member, member) the order is nearer expiry
first, ties by older insertion; expire(now) takes every due packet across both classes in that
order; a full cache evicts the first non-member (else member) that is not the newest insert;
a source at its share replaces its own oldest (FIFO). Thousands of random operations a seed:
one dominant ttl with a coarse clock (run appends with equal expiry times), shorter and longer
ttls (out of order: the heap), restored expiries (load), removals anywhere (middle of a run),
batches, a full cache with per-source shares. After every operation the cache's whole content
(ids, expiry, source key, class) must equal the model's, and next_expiry its minimum."""
from __future__ import annotations

import hashlib
import random
import struct

import pytest

from srpfast.dataplane.cache import Cache, source_key

ZERO32 = bytes(32)


def mk(i: int, *, ttl: int = 60, postage: int = 8) -> bytes:
    """A valid frame from the SPEC 2 table (as tests/unit/test_cache.py builds them)."""
    body = b"m" + i.to_bytes(8, "big")
    head = (b"SRP\x00" + bytes([5, 1, 0, 0]) + struct.pack(">IHHI", 0, 0, len(body), ttl)
            + bytes([postage, 0]) + bytes(16) + ZERO32 * 3)
    return head + body + bytes(1024 - len(body))


def pid(frame: bytes) -> bytes:
    """SPEC 2's packetId by hashlib, independent of the C code."""
    n = struct.unpack_from(">H", frame, 14)[0]
    return hashlib.sha256(frame[70:102] + frame[134:134 + n] + frame[102:134]).digest()

CAP = 120 * 1024  # ~65 entries: full most of the time with the pool below

SOURCES = ["pub", "pub", "pub", "pub", "relay-b", "relay-c", "flood"]


class Order:
    """docs/CACHE.md's rules, brute force: O(n) a step."""

    def __init__(self, slots: int, share: int):
        self.slots, self.share, self.seq = slots, share, 0
        # id -> [expires, seq, member, source key]
        self.e: dict[bytes, list] = {}
        self.newest: bytes | None = None
        self.evicted = self.replaced = 0

    def insert(self, i: bytes, expires: float, member: bool, key: int) -> bool:
        if i in self.e:
            return False
        own = [k for k, v in self.e.items() if v[3] == key]
        if len(own) >= self.share and self.share < self.slots:
            del self.e[min(own, key=lambda k: self.e[k][1])]  # its oldest insert (FIFO)
            self.replaced += 1
        elif len(self.e) >= self.slots:
            for cls in (False, True):
                cand = [k for k, v in self.e.items() if v[2] == cls and k != self.newest]
                if cand:
                    del self.e[min(cand, key=lambda k: (self.e[k][0], self.e[k][1]))]
                    self.evicted += 1
                    break
        self.seq += 1
        self.e[i] = [expires, self.seq, member, key]
        self.newest = i
        return True

    def drop(self, i: bytes) -> None:
        del self.e[i]
        if self.newest == i:
            self.newest = None

    def due(self, now: float) -> list[bytes]:
        return [k for k, _ in sorted(((k, v) for k, v in self.e.items() if v[0] <= now),
                                     key=lambda kv: (kv[1][0], kv[1][1]))]


def check_same(c: Cache, m: Order, now: float) -> None:
    got = {i: (now + rem, key, member) for _, i, rem, key, member in c._entries(now)}
    want = {i: (v[0], v[3], v[2]) for i, v in m.e.items()}
    assert got.keys() == want.keys()
    for i, (exp, key, member) in want.items():
        g = got[i]
        assert (g[1], g[2]) == (key, member)
        assert g[0] == pytest.approx(exp, abs=1e-6) or g[0] == exp  # (inf - now + now)
    assert len(c) == len(m.e)
    # next_expiry: the minimum; None when empty, or when only restored +inf expiries are left
    # (the C side's "none" is INFINITY: nothing will ever expire, so no timer either way)
    first = min((v[0] for v in m.e.values()), default=float("inf"))
    assert c.next_expiry() == (None if first == float("inf") else first)


def run(seed: int, ops: int, share: float, keys: int = 150) -> Cache:
    rnd = random.Random(seed)
    c = Cache(CAP, source_share=share)
    m = Order(c.capacity_entries, c.share_entries)
    now = 100.0
    falling = rnd.randrange(3)  # which third of the stretches has falling ttls

    def phase(step: int) -> bool:
        return (step // 300) % 3 == falling

    for step in range(ops):
        r = rnd.random()
        if rnd.random() < 0.5:  # a coarse clock: many inserts at the same `now` (equal expiries)
            now += rnd.choice([0.0, 0.5, 1.0, 2.0])
        src = rnd.choice(SOURCES)
        member = rnd.random() < 0.3
        if r < 0.55:  # one insert, mostly one ttl (run appends), some shorter or longer (heap)
            ttl = rnd.choice([60, 60, 60, 60, 60, 20, 5, 0, 90, 60])
            if phase(step):  # a stretch of falling ttls: the heap takes all, the run empties
                ttl = 90 - step % 90
            f = mk(rnd.randrange(keys), ttl=ttl, postage=8)
            assert c.insert(f, source=src, now=now, member=member) == \
                m.insert(pid(f), now + ttl, member, source_key(src))
        elif r < 0.70:  # a batch from one or several sources (srp_cache_offer_batch)
            n = rnd.randrange(1, 9)
            ttl = rnd.choice([60, 60, 30])
            fs = [mk(rnd.randrange(keys), ttl=ttl, postage=8) for _ in range(n)]
            srcs = [rnd.choice(SOURCES) for _ in range(n)] if rnd.random() < 0.5 else src
            got = c.insert_batch(b"".join(fs), n, srcs, now, member)
            want = sum(m.insert(pid(f), now + ttl, member,
                                source_key(srcs[k] if isinstance(srcs, list) else srcs))
                       for k, f in enumerate(fs))
            assert got == want
        elif r < 0.75:  # a restored expiry (Cache.load): anywhere in the order, +inf too
            f = mk(rnd.randrange(keys), ttl=60, postage=8)
            exp = rnd.choice([now + rnd.uniform(0, 120), now + 60, now + 1, float("inf")])
            assert c._restore(f, source_key(src), now, exp, member) == \
                m.insert(pid(f), exp, member, source_key(src))
        elif r < 0.86:  # a removal: mostly a live entry anywhere (middle of a run or heap)
            if m.e and rnd.random() < 0.85:
                i = rnd.choice(sorted(m.e))
            else:
                i = pid(mk(rnd.randrange(keys)))
            live = i in m.e
            assert c.remove(i) == live
            if live:
                m.drop(i)
        else:  # expiry: every due packet handed back (postage 8 -> 7), in order
            now += rnd.choice([0.0, 1.0, 5.0, 20.0])
            due = m.due(now)
            got = [pid(x) for x in c.expire(now)]
            assert got == due, f"seed {seed} step {step}"
            for i in due:
                m.drop(i)
        check_same(c, m, now)
    k = c.counters()
    assert (k["evicted"], k["share_replaced"]) == (m.evicted, m.replaced)
    return c


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("share", [0.2, 0.5, 1.0])
def test_expiry_and_eviction_order_match_the_model(seed, share):
    c = run(seed, 3000, share)
    k = c.counters()
    # the run exercised what it is meant to: a full cache, both eviction rules, expiries
    assert k["expired"] > 0 and k["removed"] > 0
    assert k["evicted"] + k["share_replaced"] > 0


def test_one_stream_at_capacity_is_the_run_alone():
    """The relay's case: one source, one ttl, a monotonic clock: every insert is a run append,
    every eviction the run's head; removals from the middle and equal expiries included."""
    rnd = random.Random(7)
    c = Cache(CAP, source_share=1.0)
    m = Order(c.capacity_entries, c.share_entries)
    now = 0.0
    for n in range(4 * c.capacity_entries):
        now += rnd.choice([0.0, 0.0, 0.25])
        f = mk(n, ttl=30, postage=8)
        assert c.insert(f, source="pub", now=now) == m.insert(pid(f), now + 30, False,
                                                                 source_key("pub"))
        if n % 7 == 3:
            i = rnd.choice(sorted(m.e))
            assert c.remove(i)
            m.drop(i)
        check_same(c, m, now)
    assert c.counters()["evicted"] == m.evicted > 0


def test_newest_alone_in_its_run_and_first_is_not_evicted():
    """The newest insert is the first of its class and the only entry of the class's run
    (every other entry came with a shorter ttl than the run's last and is in the heap; the
    run's one entry was removed): the full cache's victim must be the heap's root, not it
    (cache_expiry.h expiry_first_but, the run's side)."""
    c = Cache(CAP, source_share=1.0)
    m = Order(c.capacity_entries, c.share_entries)
    n = c.capacity_entries
    for i in range(n):  # decreasing ttls: the first in the run, all others in the heap
        f = mk(i, ttl=1000 - i)
        assert c.insert(f, source="pub", now=0.0) and m.insert(pid(f), 1000.0 - i, False,
                                                              source_key("pub"))
    assert c.remove(pid(mk(0))) and m.drop(pid(mk(0))) is None  # the run is empty
    x = mk(10_000, ttl=1)  # the run's only entry, first to expire, the newest; cache full
    assert c.insert(x, source="pub", now=0.0) and m.insert(pid(x), 1.0, False, source_key("pub"))
    y = mk(10_001, ttl=500)
    assert c.insert(y, source="pub", now=0.0) and m.insert(pid(y), 500.0, False, source_key("pub"))
    assert pid(x) in c  # never the newest: it was the newest when y's insert chose its victim
    check_same(c, m, 0.0)
