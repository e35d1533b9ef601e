"""Tables control/announce.py keeps instead of recomputing: Announcer.fellows keeps the last
walk of the peer table and walks it again only when the table, a member table or a peer's
JOINed subclusters changed (after any mix of those changes it must equal a fresh walk, peers
in table order); RecentIds.newest reads the newest ids from the new end."""
from __future__ import annotations

import random

from srpfast.config import Config
from srpfast.control.announce import RecentIds
from srpfast.control.engine import Peer
from srpfast.crypto import create_identity
from srpfast.wire.bodies import NAT_EASY

CLUSTER = b"\x11" * 32


def fresh_walk(peer: Peer, sub: bytes) -> list[bytes]:
    members = peer.membership.members.get(sub)
    return [q.peer_id for q in peer.table.peers()
            if sub in q.subclusters or (members is not None and q.peer_id in members)]


def test_fellows_equal_a_fresh_walk_after_random_changes() -> None:
    rng = random.Random(7)
    now = 1000.0
    peer = Peer(create_identity(bytes(32)), Config(strict=True, clock_offset=0.0,
                                                   member_ttl=50.0), now=now,
                rng=random.Random(1))
    subs = [peer.join(CLUSTER, bytes([k]) * 32, now=now) for k in (1, 2)]
    other = bytes([9]) * 32  # a subcluster we never join: fellows by JOINs only
    ann, table, membership = peer.announce, peer.table, peer.membership
    ids = [bytes([0xA0, i]) * 16 for i in range(40)]
    checked = 0
    for step in range(3000):
        op = rng.randrange(7)
        pid = rng.choice(ids)
        sub = rng.choice(subs + [other])
        if op == 0:
            table.upsert(pid, (f"10.0.{rng.randrange(4)}.{ids.index(pid)}", 7000), NAT_EASY, now)
        elif op == 1:
            table.remove(pid)
        elif op == 2 and table.get(pid) is not None:
            membership.set_joined(table.get(pid), sub, rng.random() < 0.6)
        elif op == 3 and sub in membership.members:
            membership.members[sub].put(pid, True, now)
        elif op == 4 and sub in membership.members:
            membership.members[sub].pop(pid)
        elif op == 5:
            now += rng.uniform(0, 20)
            for members in membership.members.values():
                members.expire(now)
        elif op == 6 and rng.random() < 0.05:  # leave and join again: a new member table
            k = rng.randrange(2)
            peer.leave(subs[k], now=now)
            assert peer.join(CLUSTER, bytes([k + 1]) * 32, now=now) == subs[k]
        for s in subs + [other]:
            got = [q.peer_id for q in ann.fellows(s)]
            assert got == fresh_walk(peer, s), (step, op)
            checked += bool(got)
    assert checked > 1000  # (the walks were not all empty)


def test_recent_ids_newest_is_the_tail_of_all_items() -> None:
    rng = random.Random(3)
    for size in (1, 5, 256):
        recent = RecentIds(size)
        for step in range(400):
            recent.extend(float(step), [rng.randbytes(32) for _ in range(rng.randrange(4))])
            for n in (0, 1, 3, 90, size - 1, size, size + 7):
                assert recent.newest(n) == list(recent.items())[-n:], (size, step, n)
