"""srpfast.dataplane.cache: bounds, eviction order, share rule, expiry, selection, chains, summary tree and
reconciliation, pre-filter, persistence. Ids are computed here with hashlib (SPEC 2), independent
of the C code under test; time is an injected float, never slept."""
from __future__ import annotations

import hashlib
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.dataplane.cache import Cache, CacheFileError, reconcile, source_key
from srpfast.errors import ConfigError, SRPError

ZERO32 = bytes(32)
SMALL = 160 * 1024  # ~75 entries (plus ~22 KiB of fixed summary tree): quick to fill


def mk(i: int = 0, *, msg: bytes | None = None, hops: int = 0, ttl: int = 100, postage: int = 8,
       cluster: bytes = bytes(16), prev: bytes = ZERO32, nxt: bytes = ZERO32, ptype: int = 5,
       flags: int = 0, clock: int = 0, index: int = 0) -> bytes:
    """A valid 1158-byte frame built by hand from the SPEC 2 table."""
    body = msg if msg is not None else b"m" + i.to_bytes(8, "big")
    head = (b"SRP\x00" + bytes([ptype, 1, hops, flags]) + struct.pack(">IHHI", clock, index,
            len(body), ttl) + bytes([postage, 0]) + cluster + ZERO32 + prev + nxt)
    assert len(head) == 134
    return head + body + bytes(1024 - len(body))


def pid(frame: bytes) -> bytes:
    n = struct.unpack_from(">H", frame, 14)[0]
    return hashlib.sha256(frame[70:102] + frame[134:134 + n] + frame[102:134]).digest()


# ---- construction and accounting ----

def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError):
        Cache(4000)  # fewer than 4 entries
    with pytest.raises(ConfigError):
        Cache(SMALL, 0.0)
    with pytest.raises(ConfigError):
        Cache(SMALL, share_policy="drop-all")
    c = Cache(SMALL)
    with pytest.raises(ValueError):
        c.get(b"short")
    with pytest.raises(ValueError):
        c.summary("xyz")
    assert b"short" not in c
    with pytest.raises(ValueError, match="finite"):
        c.insert(mk(1), source="a", now=float("nan"))
    with pytest.raises(ValueError, match="nan"):
        c.expire(float("nan"))


def test_memory_is_within_the_bound_and_entries_are_charged():
    for cap in (1 << 20, 16 * 2**20):
        c = Cache(cap)
        assert c.memory_bytes <= cap
        assert c.entry_bytes >= 1158
        assert c.capacity_entries * c.entry_bytes <= c.memory_bytes
        # the overhead is bounded: most of the bound holds frames
        assert c.capacity_entries * 1158 >= (0.6 if cap < 2**24 else 0.7) * cap


@pytest.mark.parametrize("sources", [1, 97])
def test_flood_of_ten_times_capacity_stays_bounded(sources):
    cap = SMALL
    c = Cache(cap, source_share=1.0 if sources == 1 else 1 / 8)
    n = 10 * c.capacity_entries
    for i in range(n):
        c.insert(mk(i), source=("10.0.0.%d" % (i % sources), 4000), now=float(i))
        assert len(c) <= c.capacity_entries
        assert c.bytes_used <= cap
    k = c.counters()
    assert len(c) == c.capacity_entries
    assert k["inserted"] == n
    assert k["inserted"] - k["evicted"] - k["share_replaced"] == len(c)
    # the survivors are the most recent ones (oldest evicted first, equal ttl)
    assert all(pid(mk(i)) in c for i in range(n - c.capacity_entries, n))


def test_invalid_frames_are_refused_and_counted():
    c = Cache(SMALL)
    good = mk(1)
    assert not c.insert(good[:-1], source="a", now=0.0)
    assert not c.insert(b"XXXX" + good[4:], source="a", now=0.0)
    assert not c.insert(good[:-1] + b"\x01", source="a", now=0.0)  # non-zero padding
    assert c.counters()["invalid"] == 3 and len(c) == 0
    assert c.offer(good, source="a", now=0.0) == "inserted"
    assert c.offer(good, source="a", now=0.0) == "duplicate"


# ---- eviction order ----

def test_eviction_prefers_non_members_then_nearest_expiry():
    c = Cache(SMALL, source_share=1.0)
    n = c.capacity_entries
    half = n // 2
    # non-members first (the last of them expires first), then members that expire far sooner:
    # non-members must still go first
    for i in range(half):
        assert c.insert(mk(i, ttl=1000 + half - i), source="s", now=0.0)
    for i in range(half, n):
        assert c.insert(mk(i, ttl=10 + i), source="s", now=0.0, member=True)
    c.insert(mk(n), source="s", now=1.0)
    assert pid(mk(half - 1)) not in c  # the non-member nearest to expiry
    assert all(pid(mk(i)) in c for i in range(n) if i != half - 1)
    c.insert(mk(n + 1), source="s", now=1.0)
    assert pid(mk(half - 2)) not in c
    # drain every non-member: then members go, nearest expiry first
    for j in range(n - half + 2):
        c.insert(mk(10_000 + j, ttl=5000), source="s", now=2.0, member=True)
    assert not any(pid(mk(i)) in c for i in range(half))
    assert pid(mk(half)) not in c and pid(mk(half + 1)) not in c and pid(mk(half + 2)) in c
    assert c.counters()["evicted"] == n + 4 - half


def test_the_newest_packet_is_never_evicted():
    c = Cache(SMALL, source_share=1.0)
    n = c.capacity_entries
    for i in range(n):
        c.insert(mk(i, ttl=1000), source="s", now=0.0)
    x = mk(10**6, ttl=0)  # newest AND nearest to expiry
    c.insert(x, source="s", now=1.0)
    c.insert(mk(n + 1, ttl=1000), source="s", now=2.0)  # victim chosen while x is newest
    assert pid(x) in c
    c.insert(mk(n + 2, ttl=1000), source="s", now=3.0)  # now x is no longer the newest
    assert pid(x) not in c


class Model:
    """Brute-force reference of SPEC 7 eviction + share (replace) + expiry, O(n) per step."""

    def __init__(self, slots: int, share: int):
        self.slots, self.share, self.seq = slots, share, 0
        self.e: dict[bytes, tuple[float, int, bool, str]] = {}  # id -> (expires, seq, member, src)
        self.newest: bytes | None = None

    def insert(self, f: bytes, src: str, now: float, member: bool) -> None:
        i = pid(f)
        if i in self.e:
            return
        own = [k for k, v in self.e.items() if v[3] == src]
        if len(own) >= self.share and self.share < self.slots:  # a share of everything: no limit
            del self.e[min(own, key=lambda k: self.e[k][1])]
        elif len(self.e) >= self.slots:
            for cls in (False, True):
                cand = [k for k, v in self.e.items() if v[2] == cls and k != self.newest]
                if cand:
                    del self.e[min(cand, key=lambda k: self.e[k][:2])]
                    break
        self.seq += 1
        ttl = struct.unpack_from(">I", f, 16)[0]
        self.e[i] = (now + ttl, self.seq, member, src)
        self.newest = i

    def expire(self, now: float) -> None:
        for k in [k for k, v in self.e.items() if v[0] <= now]:
            del self.e[k]
            if k == self.newest:
                self.newest = None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 50), st.booleans(),
                          st.sampled_from("abcd"), st.integers(0, 9)), min_size=1, max_size=200),
       st.sampled_from([0.1, 0.3, 1.0]))
def test_eviction_share_and_expiry_match_a_brute_force_model(ops, share):
    c = Cache(SMALL, source_share=share)
    m = Model(c.capacity_entries, c.share_entries)
    now = 0.0
    for key, ttl, member, src, step in ops:
        now += step * 0.5
        if step == 9:
            c.expire(now)
            m.expire(now)
        f = mk(key, ttl=ttl)
        c.insert(f, source=src, now=now, member=member)
        m.insert(f, src, now, member)
        assert set(m.e) == {i for i in m.e if i in c} and len(c) == len(m.e)
    k = c.counters()
    assert (k["inserted"] - k["share_replaced"] - k["evicted"] - k["expired"] - k["removed"]
            == len(c))



@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["in", "in", "in", "in", "rm", "ex"]),
                          st.integers(0, 80), st.sampled_from([50, 50, 50, 20, 0, 90]),
                          st.booleans(), st.integers(0, 4)), min_size=1, max_size=250),
       st.sampled_from([0.25, 1.0]))
def test_expiry_order_runs_and_heap_match_a_brute_force_model(ops, share):
    """The expiry order is a run (inserts in expiry order, O(1)) merged with a heap (the
    others): mostly one ttl with now increasing (the run), some shorter or longer ttls (the
    heap, and appends after them), removals from either, expiries handed back in (expiry,
    insertion) order, next_expiry the model's minimum, eviction as SPEC 7; two sources and
    three clusters, so the records insert_core remembers from the last insert are freed and
    reused under it."""
    c = Cache(SMALL, source_share=share)
    m = Model(c.capacity_entries, c.share_entries)
    now = 0.0
    tag_of = {}  # id -> its cluster tag (3 clusters, as the keys come)
    for op, key, ttl, member, step in ops:
        now += step * 0.5
        tag = bytes([key % 3]) * 16
        f = mk(key, ttl=ttl, cluster=tag)
        tag_of[pid(f)] = tag
        if op == "in":
            c.insert(f, source="ab"[key % 2], now=now, member=member)
            m.insert(f, "ab"[key % 2], now, member)
        elif op == "rm":
            assert c.remove(pid(f)) == (pid(f) in m.e)
            if m.e.pop(pid(f), None) is not None and m.newest == pid(f):
                m.newest = None
        else:
            due = sorted((v[0], v[1], k) for k, v in m.e.items() if v[0] <= now)
            got = [pid(bytes(x[:20]) + bytes([8]) + bytes(x[21:])) for x in c.expire(now)]
            assert got == [k for _, _, k in due]  # postage 8: every one handed back, in order
            m.expire(now)
        assert set(m.e) == {i for i in m.e if i in c} and len(c) == len(m.e)
        want = min((v[0] for v in m.e.values()), default=None)
        assert c.next_expiry() == want
        # each cluster's records (found by the last insert's, or by the index) stay exact
        for t in {tag_of[i] for i in m.e}:
            assert set(c.lowest_hops(1000, cluster=t)) == {i for i in m.e if tag_of[i] == t}



def test_records_of_the_last_insert_freed_under_it_are_found_again():
    """insert_core remembers the last insert's source and cluster records; when the newest
    entry expires, both are freed (their last entry), and the next insert of the same source
    and cluster must make them anew (indexed), not take the freed ones back."""
    c = Cache(SMALL, source_share=0.25)
    tag = b"T" * 16
    first = mk(1, ttl=0, cluster=tag)
    c.insert(first, source="a", now=0.0)
    c.expire(1.0)
    assert len(c) == 0
    frames = [mk(10 + i, ttl=100, cluster=tag) for i in range(c.share_entries + 3)]
    for f in frames:
        c.insert(f, source="a", now=2.0)
    assert set(c.lowest_hops(1000, cluster=tag)) == {pid(f) for f in frames[3:]}
    assert len(c) == c.share_entries  # one source record: its share held
    assert c.counters()["share_replaced"] == 3


# ---- fairness ----

def test_share_replace_keeps_a_flooder_inside_its_share():
    c = Cache(SMALL, source_share=1 / 4)
    share = c.share_entries
    others = [mk(100_000 + i) for i in range(share)]
    for i, f in enumerate(others):
        assert c.insert(f, source=("10.0.0.2", i), now=0.0)
    flood = [mk(i) for i in range(10 * c.capacity_entries)]
    for i, f in enumerate(flood):
        assert c.insert(f, source=("10.0.0.1", 9), now=1.0 + i)  # replace: always accepted
    assert all(pid(f) in c for f in others)
    kept = [f for f in flood if pid(f) in c]
    assert kept == flood[-share:]  # its own oldest were the ones replaced
    assert c.counters()["share_replaced"] == len(flood) - share
    assert c.counters()["evicted"] == 0


def test_share_refuse_policy_refuses_beyond_the_share():
    c = Cache(SMALL, source_share=1 / 4, share_policy="refuse")
    share = c.share_entries
    results = [c.insert(mk(i), source=b"\x01" * 32, now=0.0) for i in range(share + 5)]
    assert results == [True] * share + [False] * 5
    assert c.counters()["refused_share"] == 5
    assert c.insert(mk(999), source=b"\x02" * 32, now=0.0)
    # once its packets expire, the source may insert again
    c.expire(1000.0)
    assert c.insert(mk(share + 1), source=b"\x01" * 32, now=1000.0)


def test_source_keys_are_stable_and_distinct():
    assert source_key(("127.0.0.1", 5000)) == source_key(("127.0.0.1", 5000))
    keys = {source_key(s) for s in [("127.0.0.1", 5000), ("127.0.0.1", 5001), b"a" * 32,
                                    "a" * 32, 1, "1", b"1", (1,)]}
    assert len(keys) == 8


# ---- expiry ----

def test_expiry_hands_back_frames_with_decremented_postage():
    c = Cache(SMALL, source_share=1.0)
    frames = {(ttl, p): mk(ttl * 100 + p, ttl=ttl, postage=p)
              for ttl in (10, 20) for p in (0, 1, 2, 8)}
    for f in frames.values():
        assert c.insert(f, source="s", now=100.0)
    assert c.next_expiry() == 110.0
    assert c.expire(109.9) == []
    out = c.expire(110.0)
    assert sorted(f[20] for f in out) == [1, 7]  # postage 0 and 1 end here; 2 and 8 go once more
    for f in out:
        orig = frames[(10, f[20] + 1)]
        assert f[:20] == orig[:20] and f[21:] == orig[21:]
    assert len(c) == 4 and all(pid(frames[(10, p)]) not in c for p in (0, 1, 2, 8))
    assert len(c.expire(1e9)) == 2 and len(c) == 0 and c.next_expiry() is None
    k = c.counters()
    assert k["expired"] == 8 and k["rebroadcast"] == 4


def test_expire_returns_more_than_one_chunk():
    c = Cache(1 << 20, source_share=1.0)
    for i in range(300):
        c.insert(mk(i, ttl=1), source="s", now=0.0)
    assert len(c.expire(5.0)) == 300 and len(c) == 0


# ---- selection ----

@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 2)), min_size=1, max_size=60),
       st.integers(0, 70), st.sampled_from([None, 0, 1, 2]))
def test_lowest_hops_matches_brute_force(specs, k, want):
    tags = [bytes([t]) * 16 for t in range(3)]
    c = Cache(1 << 20, source_share=1.0)
    hops_of = {}
    for i, (h, t) in enumerate(specs):
        f = mk(i, hops=h, cluster=tags[t])
        c.insert(f, source="s", now=0.0)
        hops_of[pid(f)] = (min(h, 16), t)
    got = c.lowest_hops(k, None if want is None else tags[want])
    pool = sorted(hb for hb, t in hops_of.values() if want is None or t == want)
    assert len(set(got)) == len(got)
    assert sorted(hops_of[i][0] for i in got) == pool[:k]
    assert all(want is None or hops_of[i][1] == want for i in got)


# ---- chains ----

def test_chain_lookups_by_previous_and_next():
    c = Cache(SMALL)
    prev = hashlib.sha256(b"earlier message").digest()
    # fragments built last to first (SPEC 2)
    frags: list[bytes] = []
    nxt = ZERO32
    for k in reversed(range(3)):
        f = mk(k, prev=prev, nxt=nxt, index=k, flags=1 if k < 2 else 0)
        frags.insert(0, f)
        nxt = pid(f)
    other = mk(77, prev=prev)
    for f in frags + [other, mk(5)]:
        assert c.insert(f, source="s", now=0.0)
    assert set(c.by_previous(prev)) == {pid(f) for f in frags + [other]}
    assert c.by_previous(ZERO32) == []
    assert c.by_next(pid(frags[1])) == pid(frags[0])
    assert c.by_next(pid(frags[2])) == pid(frags[1])
    assert c.by_next(pid(frags[0])) is None and c.by_next(ZERO32) is None
    assert c.remove(pid(frags[0]))
    assert c.by_next(pid(frags[1])) is None
    assert set(c.by_previous(prev)) == {pid(f) for f in frags[1:] + [other]}


# ---- summary tree and reconciliation ----

def fill(c: Cache, keys) -> None:
    for i in keys:
        assert c.insert(mk(i), source=("p", i % 50), now=0.0)


def test_summaries_are_equal_for_equal_sets_whatever_the_order():
    a, b = Cache(1 << 20), Cache(1 << 20)
    keys = list(range(200))
    fill(a, keys)
    random.Random(1).shuffle(keys)
    fill(b, keys)
    assert a.bucket("") == b.bucket("") and a.summary("") == b.summary("")
    assert a.bucket("")[0] == 200
    i = pid(mk(3)).hex()
    assert a.summary(i[:2]) == b.summary(i[:2])
    b.remove(pid(mk(3)))
    assert a.bucket("") != b.bucket("")
    assert [x for x, y in zip(a.summary(""), b.summary("")) if x != y][0][0] == i[0]
    assert pid(mk(3)) in a.ids_with_prefix(i[:3]) and pid(mk(3)) not in b.ids_with_prefix(i[:3])
    assert a.ids_with_prefix(i) == [pid(mk(3))]
    assert sum(cnt for _, cnt, _ in a.summary("")) == 200


def _bucket_of(ids: set[bytes], prefix: str) -> tuple[int, int]:
    """(count, hash) of a prefix's bucket as docs/CACHE.md defines it, from the ids alone."""
    mine = [i for i in ids if i.hex().startswith(prefix)]
    h = 0
    for i in mine:
        h ^= int.from_bytes(i[8:16], "big")
    return len(mine), h


def test_every_level_of_the_summary_is_the_xor_of_its_ids_after_inserts_and_removals():
    # The leaf level (3 digits) is computed from the leaf lists, the levels above are kept
    # up to date per insert and removal: both must equal the definition.
    c = Cache(1 << 20)
    rnd = random.Random(7)
    held: set[bytes] = set()
    for step in range(1500):
        k = rnd.randrange(700)
        if rnd.random() < 0.7:
            if c.insert(mk(k), source=("p", k % 40), now=0.0):
                held.add(pid(mk(k)))
        elif c.remove(pid(mk(k))):
            held.discard(pid(mk(k)))
    assert held and {bytes(i) for i in c.ids_with_prefix("")} == held
    prefixes = {i.hex()[:3] for i in held} | {"000", "fff"}
    for p in prefixes:
        assert c.bucket(p) == _bucket_of(held, p)
        for d in range(3):
            got = c.summary(p[:d])
            assert [(x, n, h) for x, n, h in got] == [
                (p[:d] + n16, *_bucket_of(held, p[:d] + n16)) for n16 in "0123456789abcdef"]


class Remote:
    """The far side of a round trip: answers for a whole list of prefixes at once."""

    def __init__(self, cache: Cache):
        self.cache, self.buckets_asked = cache, 0

    def summary(self, prefixes):
        self.buckets_asked += len(prefixes)
        return {p: self.cache.summary(p) for p in prefixes}

    def ids(self, prefixes):
        self.buckets_asked += len(prefixes)
        return {p: self.cache.ids_with_prefix(p) for p in prefixes}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 30), st.integers(0, 30))
def test_reconcile_finds_exactly_the_differences(seed, only_a, only_b):
    rng = random.Random(seed)
    common = rng.sample(range(10**6), 400)
    extra_a = rng.sample(range(10**6, 2 * 10**6), only_a)
    extra_b = rng.sample(range(2 * 10**6, 3 * 10**6), only_b)
    a, b = Cache(1 << 20, source_share=1.0), Cache(1 << 20, source_share=1.0)
    fill(a, common + extra_a)
    fill(b, common + extra_b)
    remote = Remote(b)
    missing, extra, rounds = reconcile(a, remote.summary, remote.ids, leaf_size=4)
    assert set(missing) == {pid(mk(i)) for i in extra_b}
    assert set(extra) == {pid(mk(i)) for i in extra_a}
    diffs = only_a + only_b
    assert rounds <= 4  # depth 3 summaries + one id listing
    if diffs == 0:
        assert rounds == 1 and remote.buckets_asked == 1
    # O(differences x depth) buckets, never the whole tree (1 + 16 + 256 + 4096)
    assert remote.buckets_asked <= 1 + 3 * diffs + diffs


# ---- pre-filter ----

def test_copies_differing_only_in_mutable_fields_are_dropped_by_the_prefilter():
    c = Cache(SMALL)
    f = mk(1, hops=0, ttl=100, postage=8)
    assert c.insert(f, source="a", now=0.0)
    for copy in (mk(1, hops=3, ttl=50, postage=2), mk(1, hops=1), f):
        assert not c.insert(copy, source="b", now=1.0)
    k = c.counters()
    assert k["duplicates"] == 3 and k["dup_prefilter"] == 3
    # same id but another immutable header field: a variant (SPEC 9.1), not cached, and the
    # same variant again is dropped by the pre-filter alone
    variant = mk(1, clock=9)
    assert c.offer(variant, source="b", now=1.0) == "variant"
    assert c.counters()["variants"] == 1 and c.counters()["duplicates"] == 3
    assert c.get(pid(f)) == f  # the first copy stays until a member replaces it
    assert c.offer(variant, source="b", now=1.0) == "duplicate"
    assert c.counters()["dup_prefilter"] == 4
    assert c.replace(variant, pid(variant), source="m", now=1.0, member=True)
    assert c.get(pid(f)) == variant and len(c) == 1


def test_id_given_inserts_reach_the_prefilter_after_one_copy():
    c = Cache(SMALL)
    f = mk(5)
    assert c._insert_ids_batch(f, pid(f), 1, "a", 0.0) == 1  # data-plane path, id precomputed
    assert c.offer(mk(5, hops=2), source="b", now=1.0) == "duplicate"  # found by id
    assert c.offer(mk(5, hops=3), source="b", now=1.0) == "duplicate"  # found by the filter
    k = c.counters()
    assert k["duplicates"] == 2 and k["dup_prefilter"] == 1


def test_prefilter_hint_to_a_reused_slot_never_drops_a_first_copy():
    c = Cache(SMALL, source_share=1.0)
    a = mk(1)
    assert c.insert(a, source="s", now=0.0)
    assert c.remove(pid(a))
    assert c.insert(mk(2), source="s", now=0.0)  # likely reuses a's slot
    assert c.insert(a, source="s", now=0.0)      # filter says "maybe", bytes say "new"
    for i in range(10 * c.capacity_entries):     # push a out, then offer it again
        c.insert(mk(100 + i), source="s", now=1.0)
    assert pid(a) not in c
    assert c.insert(a, source="s", now=2.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 16), st.integers(0, 255)),
                min_size=1, max_size=150), st.booleans())
def test_prefilter_never_drops_a_first_copy(seq, tiny):
    c = Cache(SMALL if tiny else 1 << 20, source_share=1.0, seen_horizon=5.0)
    stored: set[bytes] = set()
    for t, (key, hops, postage) in enumerate(seq):
        now = t * 1.0
        f = mk(key, hops=hops, postage=postage)
        i = pid(f)
        was_in = i in c
        verdict = c.offer(f, source="s", now=now)
        assert verdict == ("duplicate" if was_in else "inserted")
        assert i in c
        stored.add(i)
    assert len(c) == min(len(stored), c.capacity_entries)


# ---- batch forms ----

def test_batch_insert_and_lookup_agree_with_single_operations():
    c = Cache(1 << 20, source_share=1.0)
    frames = [mk(i) for i in range(50)] + [mk(3), b"\x00" * 1158]
    verdicts = bytearray(len(frames))
    n = c.insert_batch(b"".join(frames), len(frames), ("10.0.0.1", 1), 0.0, verdicts=verdicts)
    assert n == 50 and list(verdicts[50:]) == [1, 3]
    ids = b"".join(pid(mk(i)) for i in range(45, 55))
    out = bytearray(10)
    assert c.contains_batch(ids, out) == 5 and list(out) == [1] * 5 + [0] * 5
    per = [("s", i) for i in range(3)]
    assert c.insert_batch(b"".join(mk(1000 + i) for i in range(3)), 3, per, 0.0) == 3
    assert c._insert_ids_batch(mk(2000), pid(mk(2000)), 1, "x", 0.0) == 1
    assert c.get(pid(mk(2000))) == mk(2000)



def test_insert_ids_batch_leaves_the_cache_one_insert_at_a_time_leaves():
    """The publisher's own frames go in as one C batch with the next inserts' memory
    prefetched (csrc/cache_batch.c): hints only, so the same verdicts, evictions (the share
    rule replacing the source's oldest, chain and prefix indexes) as inserting one by one;
    duplicates and a full share in the middle of a run included."""
    frames = [mk(i, prev=bytes([i % 7]) * 32, nxt=bytes([1 + i % 5]) * 32, ttl=50 + i % 3)
              for i in range(400)]
    runs = [frames[:30], frames[30:200], frames[150:260] + frames[5:9], frames[260:400]]
    one = Cache(SMALL * 4, source_share=0.5, seed=7)
    many = Cache(SMALL * 4, source_share=0.5, seed=7)
    for k, run in enumerate(runs):
        now = float(k)
        singles = sum(one._insert_ids_batch(f, pid(f), 1, "me", now, member=True) for f in run)
        assert many._insert_ids_batch(b"".join(run), b"".join(pid(f) for f in run), len(run),
                                      "me", now, member=True) == singles
        assert len(many) == len(one) and many.counters() == one.counters()
        assert many.summary("") == one.summary("")
    assert one.counters()["share_replaced"] > 0
    for f in frames:
        assert many.get(pid(f)) == one.get(pid(f))
    assert [many.by_previous(bytes([b]) * 32) for b in range(7)] == \
        [one.by_previous(bytes([b]) * 32) for b in range(7)]


# ---- persistence ----

def test_save_and_load_round_trip(tmp_path):
    c = Cache(1 << 20)
    for i in range(30):
        c.insert(mk(i, ttl=100 + i, hops=i % 5), source=("p", i % 3), now=50.0, member=i % 2 == 0)
    path = tmp_path / "cache.srp"
    assert c.save(path, now=60.0) == 30
    d = Cache(1 << 20)
    assert d.load(path, now=1000.0) == 30
    assert d.bucket("") == c.bucket("")
    ids = [pid(mk(i)) for i in range(30)]  # ttl and hops are not part of the id
    assert all(d.get(i) == c.get(i) and d.get(i) is not None for i in ids)
    assert d.next_expiry() == pytest.approx(1000.0 + (50.0 + 100 - 60.0))
    assert d.load(path, now=1000.0) == 0 and d.counters()["duplicates"] == 30


def test_corrupt_files_raise_a_clear_error_and_load_nothing(tmp_path):
    c = Cache(SMALL)
    for i in range(5):
        c.insert(mk(i), source="s", now=0.0)
    path = tmp_path / "c.srp"
    c.save(path, now=0.0)
    good = path.read_bytes()

    def attempt(data: bytes, why: str) -> None:
        path.write_bytes(data)
        d = Cache(SMALL)
        with pytest.raises(CacheFileError, match=why) as e:
            d.load(path, now=0.0)
        assert isinstance(e.value, SRPError) and len(d) == 0

    attempt(good[:100], "length")
    attempt(b"NOTCACHE" + good[8:], "magic")
    attempt(good[:8] + b"\x00\x09" + good[10:], "version")
    flipped = bytearray(good)
    flipped[16 + 500] ^= 1
    attempt(bytes(flipped), "checksum")
    # a checksum that matches but a frame that does not validate (non-zero padding)
    body = bytearray(good[:-8])
    body[16 + 1157] = 1
    attempt(bytes(body) + hashlib.blake2b(bytes(body), digest_size=8).digest(), "malformed")


# ---- the C API alone (what the C data plane will call), under ASan/UBSan ----

C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "cache.h"
#include "seen.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

static void build(uint8_t *f, uint32_t i, uint32_t ttl, uint8_t hops, uint8_t postage) {
    srp_header h;
    memset(&h, 0, sizeof h);
    uint8_t msg[8], zero[32] = {0};
    memcpy(msg, &i, 4); memcpy(msg + 4, &ttl, 4);
    h.type = SRP_PUBLISH; h.version = SRP_VERSION; h.hops = hops; h.ttl = ttl;
    h.postage = postage; h.length = 8; h.message = msg;
    h.cluster = zero; h.to = zero; h.previous = zero; h.next = zero;
    if (srp_frame_encode(f, &h) != 0) { puts("encode"); exit(1); }
}

int main(void) {
    srp_cache *c = srp_cache_new(200 * 1024, 0.25);
    if (!c) return 2;
    static uint8_t f[SRP_PACKET_BYTES], out[8 * SRP_PACKET_BYTES];
    uint8_t id[32];
    size_t slots = srp_cache_slots(c), rebroadcast = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        build(f, i % 3000, i % 50, (uint8_t)(i % 20), (uint8_t)(i % 9));
        int v = srp_cache_offer(c, f, sizeof f, i % 7, (double)i / 100, (int)(i & 1), id);
        if (v == SRP_CACHE_INSERTED && !srp_cache_contains(c, id)) return 3;
        if (srp_cache_count(c) > slots || srp_cache_memory_bytes(c) > 200 * 1024) return 4;
        if (i % 97 == 0) {
            size_t n;
            while ((n = srp_cache_expire(c, (double)i / 100, out, 8)) == 8) rebroadcast += n;
            rebroadcast += n;
        }
        if (i % 13 == 0) srp_cache_remove(c, id);
        if (i % 31 == 0) {
            uint8_t ids[32 * 8];
            srp_cache_lowest_hops(c, 8, NULL, ids);
            srp_cache_ids_with_prefix(c, ids, 1, ids, 8);
        }
    }
    uint64_t k[SRP_CC_COUNT];
    srp_cache_counters(c, k);
    printf("%llu %zu %zu\n", (unsigned long long)k[SRP_CC_INSERTED], rebroadcast,
           srp_cache_count(c));
    srp_cache_free(c);
    /* The pre-filter key (seen.c) is XXH3 of the 16 immutable bytes 0..5, 7..15, 21 seeded
     * with the seed XOR the seeded XXH3 of bytes 22..1157 (the tail, which srp_seen_key_tail
     * also hands out), whichever vector loop (SSE2, AVX2) ran. */
    const uint64_t seed = 0x1234567890abcdefull;
    srp_seen *s = srp_seen_new(8, 10.0, seed);
    if (!s) return 5;
    for (uint32_t i = 0; i < 64; i++) {
        for (size_t b = 0; b < SRP_PACKET_BYTES; b++) f[b] = (uint8_t)(b * (i + 3) + i);
        uint8_t head[16];
        uint64_t tail = XXH3_64bits_withSeed(f + 22, SRP_PACKET_BYTES - 22, seed), got = 0;
        memcpy(head, f, 6); memcpy(head + 6, f + 7, 9); head[15] = f[21];
        if (srp_seen_key(s, f) != XXH3_64bits_withSeed(head, sizeof head, seed ^ tail)) return 6;
        if (srp_seen_key_tail(s, f, &got) != srp_seen_key(s, f) || got != tail) return 7;
    }
    srp_seen_free(s);
    return 0;
}
"""


def test_c_api_alone_under_sanitizers(tmp_path):
    import os
    import shutil
    import subprocess
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    if not os.path.isdir(os.path.join(root, "csrc")):
        pytest.skip("the C sources are not here (e.g. testing an installed wheel)")
    src = tmp_path / "main.c"
    src.write_text(C_PROGRAM)
    exe = tmp_path / "cache_c"
    csrc = os.path.join(root, "csrc")
    subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", f"-I{csrc}", str(src)]
                   + [os.path.join(csrc, n) for n in ("cache.c", "cache_query.c", "seen.c",
                                                      "frame.c", "sha256.c")]
                   + ["-lm", "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    inserted, rebroadcast, left = map(int, run.stdout.split())
    assert inserted > 3000 and rebroadcast > 0 and left > 0


def test_the_indexes_grow_with_the_entries_and_find_every_one_after_removals():
    # The id, source and cluster indexes start at 512 slots and double as records come
    # (csrc/oa_index.h): thousands of entries from hundreds of sources and clusters, half of
    # them removed in between, are all found and the removed ones are not.
    c = Cache(16 << 20, source_share=1.0)
    rnd = random.Random(5)
    live: dict[bytes, bytes] = {}
    for k in range(6000):
        f = mk(k, cluster=(k % 700).to_bytes(16, "big"))
        assert c.insert(f, source=("10.0.%d.%d" % (k % 300 // 250, k % 250), 4000), now=0.0)
        live[pid(f)] = f
        if rnd.random() < 0.5:
            gone = rnd.choice(list(live))
            assert c.remove(gone)
            del live[gone]
    assert len(c) == len(live) > 2000
    for i, f in live.items():
        assert i in c and c.get(i) == f
    assert not any(pid(mk(k, cluster=(k % 700).to_bytes(16, "big"))) in c
                   for k in range(6000) if pid(mk(k, cluster=(k % 700).to_bytes(16, "big")))
                   not in live)


def test_the_prefilter_grows_and_still_drops_the_repeats_without_sha256():
    # The pre-filter starts at 64 buckets and doubles as keys come (csrc/seen.c): 3,000
    # packets make it grow several times in a 16 MiB cache (its bound 2^15 slots), and the
    # repeats are still dropped by it without SHA-256. Not every one: at its bound a 4-way
    # bucket can overflow (3,000 keys in 8,192 buckets: a 5th key in some bucket about one
    # run in three, with or without growth), and such a repeat pays SHA-256 and is then
    # dropped by its packetId. Every repeat is a duplicate either way.
    c = Cache(16 << 20, source_share=1.0)
    frames = [mk(k) for k in range(3000)]
    for f in frames:
        assert c.offer(f, source=("a", 1), now=0.0) == "inserted"
    for f in frames:
        assert c.offer(f, source=("b", 2), now=1.0) == "duplicate"
    k = c.counters()
    assert k["inserted"] == 3000 and k["duplicates"] == 3000
    assert k["dup_prefilter"] >= 3000 - 8, k
