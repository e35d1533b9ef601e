"""Threat: concurrent multi-fragment messages and streams from many senders clobbering each
other (issue 13; SPEC 9.7), while an attacker injects look-alike fragments (same subcluster,
same recipient, MORE set, index 1..5, chained to random ids) into the same reassembly buffers.

12 senders each publish a 6-fragment message and stream a 5-fragment direct message to one
receiver at the same virtual instant (the in-memory network delivers the ~130 fragments
interleaved, in random order, with 5% duplicated); 200 forged fragments arrive meanwhile.
Every message arrives whole, exactly once, with its own bytes; no forged fragment is
delivered."""
from __future__ import annotations

import os
import random

import pytest

from srpfast.wire import constants as C
from srpfast.control.events import Delivered, StreamData
from srpfast.crypto import create_cluster_id, create_shared_key, publish_key
from srpfast.crypto.sealing import seal_frame
from srpfast.wire.frame import decode, encode, packet_id
from tests.memnet import MemNet

CLUSTER = create_cluster_id(b"adversarial fragments")
KEY = create_shared_key(b"adversarial fragments key")
SENDERS = 12


def test_many_senders_never_clobber_each_other() -> None:
    net = MemNet(seed=71, duplicate=0.05, delay=(0.001, 0.050))
    rx = net.add("static")
    senders = [net.add("static") for _ in range(SENDERS)]
    net.bootstrap(senders, rx)
    net.run(2)
    subs = [net.call(n, n.peer.join, CLUSTER, KEY, now=net.now) for n in [rx, *senders]]
    net.run(2)
    sub = subs[0]
    published, streamed = {}, {}
    for i, s in enumerate(senders):  # all at the same instant
        body = (b"publish from %02d " % i) * 330           # ~5.6 KB: 6 fragments
        published[net.call(s, s.peer.publish, sub, body, now=net.now)] = body
        data = (b"stream from %02d " % i) * 300            # ~4.8 KB
        net.call(s, s.peer.stream, rx.peer.peer_id, data, now=net.now)
        streamed[s.peer.peer_id] = data
    for k in range(200):  # look-alike fragments from 200 sources
        forged = encode(type=C.PUBLISH if k % 2 else C.STREAM, message=os.urandom(1024),
                        cluster=CLUSTER[:16], to=sub if k % 2 else rx.peer.peer_id,
                        flags=3, index=1 + k % 5, next_id=os.urandom(32),
                        previous_id=os.urandom(32))
        rx.peer.receive(forged, (f"127.10.{k // 200}.{k % 200 + 1}", 5000), net.now)
    net.run(5)
    got = [e for e in rx.of(Delivered) if e.subcluster_id == sub]
    streams = rx.of(StreamData)
    print(f"concurrent: {len(got)}/{SENDERS} publishes and {len(streams)}/{SENDERS} streams "
          f"whole; 200 forged fragments: counters "
          + str({k: v for k, v in rx.peer.counters().items()
                 if k.startswith(("drop.", "reassembly", "stream."))}))
    assert sorted(e.message_id for e in got) == sorted(published)       # each once
    assert all(e.payload == published[e.message_id] for e in got)       # its own bytes
    assert sorted((e.peer_id, e.data) for e in streams) == sorted(streamed.items())


def _forged_head(real_head: bytes, previous_id: bytes, n: int) -> bytes:
    """A member's forged head for a real message it saw: sealed with the subcluster key (it
    opens), naming the real fragment 1 (nextId), with its own body."""
    h = decode(real_head)
    plain = encode(type=C.PUBLISH, message=b"forged head %d " % n * 20, cluster=h.cluster,
                   to=h.to, previous_id=previous_id, next_id=h.next_id, clock=h.clock,
                   index=0, flags=C.FLAG_MORE)
    return seal_frame(publish_key(KEY), plain)  # the subcluster's key: a member holds it


@pytest.mark.parametrize("order", ["head-forged-fragments", "forged-head-fragments",
                                   "forged-fragments-head"])
def test_a_member_cannot_clobber_a_message_with_heads_naming_its_fragments(order) -> None:
    """A member that sees a message's head (so it knows the id of fragment 1) races forged
    heads to the receiver, all sealed with the subcluster key: two with the real previousId
    (their chains are consistent with the real fragments), two with another one (inconsistent).
    The real fragments arrive (shuffled, some twice) and the real head: after them, before
    them, or before the forged heads too. Fed one by one to the receiving peer with no tick in between: nothing can be
    fetched again by QUERY, so each message is delivered only if no forged head took, spoiled
    or shadowed a real fragment, and no cap on waiting heads refused the real one."""
    net = MemNet(seed=72, delay=(0.001, 0.010))
    rx = net.add("static")
    senders = [net.add("static") for _ in range(4)]
    net.bootstrap(senders, rx)
    net.run(2)
    subs = [net.call(n, n.peer.join, CLUSTER, KEY, now=net.now) for n in [rx, *senders]]
    net.run(2)
    sub = subs[0]
    to_rx = rx.public
    captured: dict[bytes, bytes] = {}   # every PUBLISH sent to rx, by packetId: held back
    net.filter = lambda d, src, dst: not (dst == to_rx and d[4] in (C.PUBLISH, C.ANSWER)
                                          and captured.setdefault(packet_id(d), d) is not None)
    bodies = {}
    for i, s in enumerate(senders):
        body = (b"message from %02d " % i) * 330           # 6 fragments
        bodies[net.call(s, s.peer.publish, sub, body, now=net.now)] = body
    net.run(2)
    net.filter = lambda d, src, dst: dst != to_rx         # rx hears nothing but what we feed
    rng = random.Random(5)
    frames = [decode(d) for d in captured.values()]
    feed: list[bytes] = []
    for mid in bodies:
        head = captured[mid]
        chain, want = [], decode(head).next_id
        while want != C.ZERO32:
            chain.append(captured[want])
            want = decode(captured[want]).next_id
        assert len(chain) == 5
        real_prev = decode(head).previous_id
        forged = [_forged_head(head, real_prev, k) for k in range(2)]
        forged += [_forged_head(head, os.urandom(32), k) for k in range(2, 4)]
        rng.shuffle(chain)
        parts = {"forged": forged, "fragments": chain + chain[:2], "head": [head]}
        for part in order.split("-"):
            feed += parts[part]
    t = net.now
    for k, d in enumerate(feed):
        net.call(rx, rx.peer.receive, d, (f"127.11.0.{k % 200 + 1}", 5000), t)
    got = [e for e in rx.of(Delivered) if e.subcluster_id == sub]
    c = rx.peer.counters()
    print(f"member forging heads ({order}): "
          f"{len(got)}/{len(bodies)} delivered; "
          f"{len(frames)} real frames, {len(feed)} fed; "
          + str({k: v for k, v in c.items() if k.startswith(("drop.", "reassembly"))}))
    assert sorted(e.message_id for e in got) == sorted(bodies)         # each once
    assert all(e.payload == bodies[e.message_id] for e in got)         # its own bytes
    assert c.get("drop.forged", 0) >= len(bodies) * 2                  # forged chains refused
