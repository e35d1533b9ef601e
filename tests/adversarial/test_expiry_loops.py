"""Threat: expiry re-broadcast loops (issue 13; SPEC 6 "Expiry": when a cached packet's ttl
runs out, postage is decremented and, if still > 0, the packet is sent to 3 random peers one
last time). An attacker publishes frames with a tiny ttl (1 s) and the largest postage (255)
into a mesh of 8 peers, hoping each expiry re-seeds the packet everywhere for ever.

The bound: a peer that already handled a packet drops the re-broadcast as a duplicate (seen
ids), the re-broadcast carries the decremented postage, and nothing is re-broadcast past 0.
Counted: every PUBLISH frame sent in the mesh for the attacker's frames, over 120 virtual
seconds; the traffic must stop (nothing in the last 60 s) and stay under a fixed budget."""
from __future__ import annotations

from srpfast.wire import constants as C
from srpfast.wire.frame import encode, packet_id
from tests.memnet import MemNet


def test_tiny_ttl_and_large_postage_stay_bounded() -> None:
    net = MemNet(seed=93)
    nodes = [net.add("static") for _ in range(8)]
    net.bootstrap(nodes, nodes[0])
    net.run(3)
    frames = []
    for i in range(10):
        f = bytearray(encode(type=C.PUBLISH, message=b"loop %d" % i))
        f[16:20] = (1).to_bytes(4, "big")  # ttl 1 s
        f[20] = 255                        # postage 255
        frames.append(bytes(f))
    ids = {packet_id(f) for f in frames}
    sends: list[float] = []
    net.filter = lambda d, src, dst: (d[4] != C.PUBLISH or packet_id(d) not in ids
                                      or sends.append(net.now) is None)
    start = net.now
    for f in frames:
        net.call(nodes[1], nodes[1].peer.receive, f, ("198.18.0.1", 1), net.now)
    net.run(120)
    late = [t for t in sends if t > start + 60]
    budget = len(frames) * len(nodes) * 3 * 2  # each peer: forward once + re-broadcast once
    print(f"expiry loop: 10 frames, ttl 1 s, postage 255, 8 peers: {len(sends)} sends in "
          f"120 s ({len(late)} after 60 s); budget {budget}")
    assert len(sends) <= budget and late == []
