"""control/peers.py and control/bounded.py: bounds, expiry, weights."""
from __future__ import annotations

import random

import pytest

from srpfast.wire.bodies import NAT_EASY, NAT_HARD, NAT_STATIC
from srpfast.config import Config
from srpfast.control.bounded import ExpiringDict, FifoSet, LruDict, LruSet, RateLimiter
from srpfast.control.peers import PeerTable, choose_weighted
from srpfast.errors import ConfigError


def pid(i: int) -> bytes:
    return i.to_bytes(32, "big")


def addr(i: int) -> tuple[str, int]:
    return (f"10.0.0.{i}", 7000)


def test_table_is_bounded_and_refuses_while_everyone_talks() -> None:
    t = PeerTable(capacity=4, expiry=90, keep_alive=30)
    for i in range(4):
        peer, created = t.upsert(pid(i), addr(i), NAT_EASY, now=0.0)
        assert created and peer is not None
    peer, created = t.upsert(pid(9), addr(9), NAT_EASY, now=10.0)
    assert peer is None and not created and t.refused == 1 and len(t) == 4
    # Once the quietest peer has been silent for a keep-alive, a newcomer may replace it.
    for i in range(1, 4):
        t.upsert(pid(i), addr(i), NAT_EASY, now=40.0)
    peer, created = t.upsert(pid(9), addr(9), NAT_EASY, now=41.0)
    assert created and pid(0) not in t and pid(9) in t and len(t) == 4


def test_expiry_and_address_change() -> None:
    t = PeerTable(capacity=8, expiry=90, keep_alive=30)
    t.upsert(pid(1), addr(1), NAT_EASY, now=0.0)
    t.upsert(pid(2), addr(2), NAT_EASY, now=0.0)
    t.upsert(pid(2), addr(3), 0, now=50.0)  # moved; nat 0 keeps the known NAT
    assert t.at(addr(3)).peer_id == pid(2) and t.at(addr(2)) is None
    assert t.get(pid(2)).nat == NAT_EASY
    gone = t.expire(now=91.0)
    assert [p.peer_id for p in gone] == [pid(1)]
    assert pid(2) in t and t.at(addr(1)) is None


def test_weighted_choice_rules() -> None:
    t = PeerTable(capacity=16, expiry=90, keep_alive=30)
    for i in range(10):
        p, _ = t.upsert(pid(i), addr(i), NAT_HARD if i < 5 else NAT_STATIC, now=0.0)
        p.distance = 0.01 * (i + 1)
    rng = random.Random(7)
    chosen = choose_weighted(t.peers(), 3, 0.0, rng, my_mapping=NAT_HARD, exclude=[pid(5)])
    assert len(chosen) == 3
    assert all(p.mapping != NAT_HARD for p in chosen)  # a Hard peer never picks Hard peers
    assert pid(5) not in [p.peer_id for p in chosen]
    again = choose_weighted(t.peers(), 3, 0.0, random.Random(7), my_mapping=NAT_HARD,
                            exclude=[pid(5)])
    assert [p.peer_id for p in again] == [p.peer_id for p in chosen]  # deterministic per seed
    # Shorter distance is preferred: over many draws the nearest peer is picked most.
    counts = {i: 0 for i in range(10)}
    rng = random.Random(1)
    for _ in range(2000):
        for p in choose_weighted(t.peers(), 1, 0.0, rng):
            counts[int.from_bytes(p.peer_id, "big")] += 1
    assert counts[0] > counts[9] * 3
    assert choose_weighted(t.peers(), 50, 0.0, rng).__len__() == 10


def test_lru_set_and_dict_bounds() -> None:
    s: LruSet[int] = LruSet(3)
    assert all(s.add(i) for i in range(5))
    assert len(s) == 3 and 0 not in s and 4 in s
    assert not s.add(4)
    d: LruDict[int, int] = LruDict(2)
    d[1], d[2], d[3] = 1, 2, 3
    assert len(d) == 2 and 1 not in d and d.evicted == 1


def test_fifo_set_bound_and_order() -> None:
    s: FifoSet[int] = FifoSet(3)
    assert all(s.add(i) for i in range(3))
    assert not s.add(0)  # a repeat is no refresh: 0 is still the oldest
    assert s.add(3) and 0 not in s and {1, 2, 3} == {i for i in range(5) if i in s}
    s.update([3, 4, 5, 5])  # known and repeated keys are taken once
    assert len(s) == 3 and [i in s for i in range(6)] == [False] * 3 + [True] * 3


def test_expiring_dict() -> None:
    d: ExpiringDict[str, int] = ExpiringDict(capacity=10, lifetime=5.0)
    d.put("a", 1, now=0.0)
    d.put("b", 2, now=3.0)
    assert d.expire(now=4.0) == []
    assert d.expire(now=5.5) == [("a", 1)]
    d.put("b", 3, now=6.0)  # refreshed
    assert d.expire(now=9.0) == []
    assert d.expire(now=11.5) == [("b", 3)] and len(d) == 0
    for i in range(20):
        d.put(str(i), i, now=20.0)
    assert len(d) == 10


def test_rate_limiter_bounds_and_refills() -> None:
    r = RateLimiter(rate=10.0, burst=5.0, capacity=2)
    assert [r.allow("x", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert r.allow("x", 0.1)  # one token back after 0.1 s
    for k in "abcdef":
        r.allow(k, 0.2)
    assert len(r) == 2


def test_config_validation() -> None:
    assert Config().peer_expiry == 90.0
    with pytest.raises(ConfigError, match="max_peers"):
        Config(max_peers=0)
    with pytest.raises(ConfigError, match="fanout"):
        Config(fanout=0)
    with pytest.raises(ConfigError, match="reflect_backoff_max"):
        Config(reflect_backoff=10, reflect_backoff_max=1)
    assert Config().replace(keep_alive=5.0).keep_alive == 5.0


def test_forwarder_picks_distinct_weighted_peers() -> None:
    from srpfast.control.peers import Forwarder
    t = PeerTable(capacity=16, expiry=90, keep_alive=30)
    for i in range(6):
        p, _ = t.upsert(pid(i), addr(i), NAT_HARD if i < 2 else NAT_EASY, now=0.0)
        p.distance = 0.01 if i == 5 else 1.0
    fw = Forwarder()
    fw.rebuild(t, 0.0, NAT_HARD)
    rng = random.Random(3)
    for _ in range(200):
        got = fw.pick(3, rng, exclude=pid(2))
        ids = [p.peer_id for p in got]
        assert len(ids) == 3 == len(set(ids))
        assert pid(2) not in ids and pid(0) not in ids and pid(1) not in ids
    # the near peer is in nearly every pick; with two eligible left, the rest fill in
    assert fw.pick(5, rng, exclude=pid(5)).__len__() == 3
    fw.rebuild(t, 0.0, NAT_EASY)
    hits = sum(pid(5) in [p.peer_id for p in fw.pick(1, rng)] for _ in range(500))
    assert hits > 250
    assert Forwarder().pick(3, rng) == []


def test_rate_limiter_take_admits_what_one_by_one_would() -> None:
    r = RateLimiter(rate=1.0, burst=10.0, capacity=8)
    assert r.take("a", 0.0, 6) == 6 and r.take("a", 0.0, 6) == 4  # the rest of the burst
    assert r.take("a", 0.0, 3) == 0 and r.take("a", 2.5, 3) == 2  # refilled 2.5 tokens
    one = RateLimiter(rate=1.0, burst=10.0, capacity=8)
    assert sum(one.allow("b", 0.0) for _ in range(13)) == r.take("b", 0.0, 13) == 10
    assert not r.allow("a", 0.0)


def test_udp_address_key_matches_the_socket_layer() -> None:
    from srpfast.control.dataplane import udp_address_key
    from srpfast.drivers._udp import address_key
    assert udp_address_key is address_key  # one definition (keyed: tests/adversarial)
    assert udp_address_key(("::ffff:10.0.0.1", 7)) == udp_address_key(("10.0.0.1", 7)) != 0
    k = udp_address_key(("2001:db8::1", 443))
    assert k != 0 and k != udp_address_key(("2001:db8::1", 444))
