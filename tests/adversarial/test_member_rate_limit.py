"""Threat: a member's traffic escaping the rate limit (issue 13; SPEC 9.6: rate limits apply
to all traffic, including that of subclusters the peer has joined).

A real member (UDP socket on 127.0.0.1, C data plane with member delivery) gets 100 genuine
sealed messages of its own subcluster from another member at 127.0.0.66 in one burst, and 10
from an honest member at 127.0.0.77 in the same batches. The flooder's excess over its bucket
(rate_burst 20) is dropped in C and counted; it gets exactly its burst delivered; every honest
message is delivered."""
from __future__ import annotations

import random
import select

import pytest

from srpfast.config import Config
from srpfast.control.events import Delivered, DeliveredBatch
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer

CLUSTER = create_cluster_id(b"adversarial member rate")
KEY = create_shared_key(b"adversarial member rate key")


def _member(seed: int, cfg: Config, **kw) -> Peer:
    p = Peer(create_identity(bytes([seed]) * 32), cfg, now=100.0, rng=random.Random(seed), **kw)
    p.join(CLUSTER, KEY, now=100.0)
    p.datagrams_to_send()
    return p


def _frames(author: Peer, n: int, tag: bytes) -> list[bytes]:
    sub = next(iter(author.membership.subs))
    out = [author.cache.get(author.publish(sub, tag + b" %d" % i, now=100.0)) for i in range(n)]
    author.datagrams_to_send()
    return out


def _delivered(events) -> list[bytes]:
    out = []
    for e in events:
        if isinstance(e, Delivered):
            out.append(e.payload)
        elif isinstance(e, DeliveredBatch):
            out += [bytes(p) for p in e.payloads]
    return out


def test_a_members_flood_is_rate_limited_like_any_other(monkeypatch) -> None:
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    from srpfast.control.dataplane import udp_address_key
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1.0, rate_burst=20.0)
    sock = udp.UDPSocket("127.0.0.1", 0)
    flooder, honest = udp.UDPSocket("127.0.0.66", 0), udp.UDPSocket("127.0.0.77", 0)
    try:
        member = _member(1, cfg, address=sock.local_address)
        member.attach_dataplane(dataplane.DataPlane(member.cache, fanout=3, max_hops=16, seed=3,
                                                    max_batch=sock.batch),
                                resolve=sock.resolve, key=udp_address_key)
        member.tick(101.0)
        flood = _frames(_member(2, cfg), 100, b"flood")
        legit = _frames(_member(3, cfg), 10, b"legit")
        to = sock.local_address
        assert flooder.send_batch(flood[:50], [to] * 50) == 50
        assert honest.send_batch(legit, [to] * 10) == 10
        assert flooder.send_batch(flood[50:], [to] * 50) == 50
        got = 0
        while got < 110 and select.select([sock.fileno()], [], [], 2.0)[0]:
            batch = sock.recv_batch()
            got += len(batch)
            member.receive_batch(batch, 101.0)
        assert got == 110
        payloads = _delivered(member.events())
        c = member.counters()
        from_flood = sum(p.startswith(b"flood") for p in payloads)
        print(f"member flood: 100 sealed member messages -> {from_flood} delivered, "
              f"{c['drop.rate']} dropped by the rate limit; honest: "
              f"{sum(p.startswith(b'legit') for p in payloads)}/10 delivered")
        assert c["drop.rate"] == 100 - 20
        assert from_flood == 20
        assert sorted(p for p in payloads if p.startswith(b"legit")) == sorted(
            b"legit %d" % i for i in range(10))
    finally:
        for s in (sock, flooder, honest):
            s.close()
