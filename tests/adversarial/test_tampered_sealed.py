"""Threat: tampered sealed packets (issue 13; SPEC 4: members reject and count what fails to
open or verify; nothing unverified is delivered as if it were verified; SPEC 2: a relay
cannot change an immutable header field without the recipient noticing).

Every byte position of a genuine sealed PUBLISH is flipped in turn (1,158 copies) and each
copy is offered to a member that has not seen the genuine one: on the per-datagram path and
through the C data plane's batch path. Counted: copies delivered (must be 0 unless the flipped
byte is one a relay may change: hops, ttl, postage, reserved), copies counted as drops."""
from __future__ import annotations

import random

import pytest

from srpfast.config import Config
from srpfast.control.events import Delivered
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer

CLUSTER = create_cluster_id(b"adversarial tamper")
KEY = create_shared_key(b"adversarial tamper key")
MUTABLE = {6, 16, 17, 18, 19, 20, 21}  # hops, ttl, postage, reserved (SPEC 2)


def _member(seed: int) -> Peer:
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1e9, rate_burst=1e9)
    p = Peer(create_identity(bytes([seed]) * 32), cfg, now=0.0, rng=random.Random(seed))
    p.join(CLUSTER, KEY, now=0.0)
    p.datagrams_to_send()
    return p


def test_no_tampered_copy_is_delivered() -> None:
    author = _member(1)
    sub = next(iter(author.membership.subs))
    mid = author.publish(sub, b"the genuine words " * 20, now=0.0)
    genuine = author.cache.get(mid)
    delivered = dropped = 0
    wrong = []
    for pos in range(len(genuine)):
        if pos in MUTABLE:
            continue
        copy = bytearray(genuine)
        copy[pos] ^= 0x01
        member = _member(2)  # fresh: nothing seen yet, so nothing masks the verdict
        member.receive(bytes(copy), ("10.0.0.9", 9), 1.0)
        got = [e for e in member.events() if isinstance(e, Delivered)]
        if got:
            delivered += 1
            wrong.append(pos)
        c = member.counters()
        if not 22 <= pos < 70:  # (a flipped cluster tag or `to` names another subcluster:
            dropped += any(v for k, v in c.items() if k.startswith("drop."))  # relayed only)
    print(f"tampered sealed copies: {len(genuine) - len(MUTABLE)} offered, {delivered} "
          f"delivered, {dropped} counted as drops")
    assert delivered == 0, wrong[:10]
    assert dropped == len(genuine) - len(MUTABLE) - 48


def test_the_c_batch_path_delivers_no_tampered_copy() -> None:
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    from srpfast.control.dataplane import udp_address_key

    author = _member(1)
    sub = next(iter(author.membership.subs))
    genuine = author.cache.get(author.publish(sub, b"batch words " * 30, now=0.0))
    rng = random.Random(5)
    member = _member(3)
    rx, tx = udp.UDPSocket("127.0.0.1", 0), udp.UDPSocket("127.0.0.7", 0)
    try:
        member.attach_dataplane(dataplane.DataPlane(member.cache, fanout=3, max_hops=16, seed=1,
                                                    max_batch=rx.batch),
                                resolve=rx.resolve, key=udp_address_key)
        copies = []
        for _ in range(60):
            c = bytearray(genuine)
            pos = rng.choice([p for p in range(22, len(genuine)) if p not in MUTABLE])
            c[pos] ^= 1 << rng.randrange(8)
            copies.append(bytes(c))
        assert tx.send_batch(copies, [rx.local_address] * 60) == 60
        import select
        got = 0
        while got < 60 and select.select([rx.fileno()], [], [], 2.0)[0]:
            batch = rx.recv_batch()
            got += len(batch)
            member.receive_batch(batch, 1.0)
        assert got == 60
        assert not [e for e in member.events() if isinstance(e, Delivered)]
        c = member.counters()
        print("C path: 60 tampered copies, 0 delivered; counters:",
              {k: v for k, v in c.items() if k.startswith(("drop.", "dataplane.deliver"))})
    finally:
        rx.close()
        tx.close()
