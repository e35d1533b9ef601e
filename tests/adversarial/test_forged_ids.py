"""Threat: forged packet ids and early forged copies pre-empting the real packet (issue 13;
SPEC 9.1: every received packet's id is recomputed; a forged packet can never pre-empt the
real one).

The packetId is never sent: every receiver recomputes SHA-256(previous ‖ message ‖ next). So
an attacker cannot name a frame by an id it does not hash to; what it can do is send, BEFORE
the real packet, copies with the same id (the message area and the chain ids unchanged) but
another header (clock, index, flags, to: fields outside the packetId, bound by the seal's
additional data), or copies with the same header and another body (another id). A member gets
5 such forgeries of each of 10 messages from 50 sources (127.x.y.z-style), then the real ones:
it delivers exactly the 10 real messages, once each, and keeps the copies that open."""
from __future__ import annotations

import random

from srpfast.config import Config
from srpfast.control.events import Delivered
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer
from srpfast.wire.frame import packet_id

CLUSTER = create_cluster_id(b"adversarial forged ids")
KEY = create_shared_key(b"adversarial forged ids key")


def _member(seed: int) -> Peer:
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1e9, rate_burst=1e9)
    p = Peer(create_identity(bytes([seed]) * 32), cfg, now=0.0, rng=random.Random(seed))
    p.join(CLUSTER, KEY, now=0.0)
    p.datagrams_to_send()
    return p


def _forgeries(real: bytes) -> list[bytes]:
    out = []
    for pos, value in ((8, 0xAB), (13, 0x07), (7, 0x01), (40, 0x55)):  # clock, index, flags, to
        f = bytearray(real)
        f[pos] ^= value
        out.append(bytes(f))
    f = bytearray(real)
    f[200] ^= 0xFF  # the body: another packetId, same header (a forged "same message")
    out.append(bytes(f))
    return out


def test_early_forged_copies_never_pre_empt_the_real_packet() -> None:
    author, member = _member(1), _member(2)
    sub = next(iter(author.membership.subs))
    mids = [author.publish(sub, b"real message %d " % i * 10, now=0.0) for i in range(10)]
    reals = [author.cache.get(m) for m in mids]
    same_id = 0
    for k, real in enumerate(reals):
        for j, forged in enumerate(_forgeries(real)):
            same_id += packet_id(forged) == mids[k]
            member.receive(forged, (f"127.8.{k}.{j + 1}", 4000), 1.0)
    early = [e for e in member.events() if isinstance(e, Delivered)]
    for k, real in enumerate(reals):
        member.receive(real, ("127.0.0.2", 4000), 2.0)
    got = [e for e in member.events() if isinstance(e, Delivered)]
    c = member.counters()
    dropped = sum(v for k, v in c.items() if k.startswith("drop."))
    print(f"forged ids: {len(reals) * 5} forgeries ({same_id} with the real id) before the real "
          f"packets: {len(early)} delivered early, {len(got)} real delivered, {dropped} drops")
    assert early == []
    assert sorted(e.message_id for e in got) == sorted(mids)          # each real one, once
    assert [e.payload for e in got] == [b"real message %d " % i * 10 for i in range(10)]
    assert all(member.cache.get(m) == r for m, r in zip(mids, reals))  # the real copy is kept
    assert same_id == 40 and c["drop.open"] >= 40


def test_the_c_relay_forwards_the_real_packet_after_a_variant() -> None:
    """A relay (not a member) cannot tell which copy is real: a same-id variant arriving first
    must not make it drop the real packet as a duplicate (SRP_CACHE_VARIANT: both forwarded)."""
    import pytest
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    from srpfast.control.dataplane import udp_address_key
    author = _member(1)
    sub = next(iter(author.membership.subs))
    real = author.cache.get(author.publish(sub, b"relay me", now=0.0))
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1e9, rate_burst=1e9)
    relay = Peer(create_identity(b"\x41" * 32), cfg, now=0.0, rng=random.Random(3))
    rx, tx = udp.UDPSocket("127.0.0.1", 0), udp.UDPSocket("127.0.0.9", 0)
    try:
        relay.attach_dataplane(dataplane.DataPlane(relay.cache, fanout=3, max_hops=16, seed=1,
                                                   max_batch=rx.batch),
                               resolve=rx.resolve, key=udp_address_key)
        for i in range(3):
            relay.table.upsert(bytes([0x50 + i]) * 32, ("127.0.0.1", 9 + i), 2, 0.0)
        relay.tick(1.0)
        forged = _forgeries(real)[0]
        assert tx.send_batch([forged, real], [rx.local_address] * 2) == 2
        import select
        got = 0
        while got < 2 and select.select([rx.fileno()], [], [], 2.0)[0]:
            b = rx.recv_batch()
            got += len(b)
            relay.receive_batch(b, 1.0)
        c = relay.counters()
        assert c["dataplane.variant"] == 1 and c["dataplane.forwarded"] == 6, c
    finally:
        rx.close()
        tx.close()
