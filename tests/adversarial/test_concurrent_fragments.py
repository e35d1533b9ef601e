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

from srpfast.wire import constants as C
from srpfast.control.events import Delivered, StreamData
from srpfast.crypto import create_cluster_id, create_shared_key
from srpfast.wire.frame import encode
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
