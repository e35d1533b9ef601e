"""Threat: one over-limit sender pushing a whole receive batch off the C path (issue 13,
item 3; SPEC 9.6).

The batch path used to charge every sender of a batch all-or-nothing and, when one sender
was over its limit, hand the WHOLE batch to the per-datagram Python path: an attacker sending
a little over its budget made every legitimate sender sharing its batches pay Python's cost
(decode, dedup, cache insert per datagram). Now each sender is charged from its own bucket,
its excess is dropped in C (``drop`` mask, counted ``drop.rate``), and the rest of the batch
stays in C."""
from __future__ import annotations

import pytest

from srpfast.wire import constants as C
from srpfast.wire.frame import encode, packet_id

udp = pytest.importorskip("srpfast.drivers._udp")


def _frames(tag: bytes, n: int) -> list[bytes]:
    return [encode(type=C.PUBLISH, message=tag + b" %d" % i) for i in range(n)]


def test_an_over_limit_sender_is_dropped_in_c_and_its_neighbours_stay_there(relay) -> None:
    attacker = udp.UDPSocket("127.0.0.66", 0)   # its own loopback source address
    honest = udp.UDPSocket("127.0.0.77", 0)
    try:
        to = relay.sock.local_address
        flood, legit, more = _frames(b"flood", 40), _frames(b"legit", 10), _frames(b"more", 10)
        # Interleaved so each receive batch mixes the two senders (one batch of 60 <= 64).
        assert attacker.send_batch(flood, [to] * 40) == 40
        assert honest.send_batch(legit, [to] * 10) == 10
        assert attacker.send_batch(more, [to] * 10) == 10
        assert relay.feed(60, now=101.0) == 60
        c = relay.peer.counters()
        burst = int(relay.peer.config.rate_burst)
        assert c["drop.rate"] == 50 - burst            # the attacker's excess, counted
        assert c["dataplane.rate"] == 50 - burst       # ... and dropped in C
        assert relay.python_path == []                 # nobody was demoted to Python
        assert c["dataplane.cached"] == burst + 10
        assert all(packet_id(f) in relay.peer.cache for f in legit)  # every legit frame
        assert c["dataplane.forwarded"] == 3 * (burst + 10)
        # What got through from the attacker: exactly its budget (its first `burst` frames).
        through = sum(packet_id(f) in relay.peer.cache for f in flood + more)
        assert through == burst
    finally:
        attacker.close()
        honest.close()


def test_the_batch_path_admits_what_the_per_datagram_path_would(relay) -> None:
    """One bucket per sender on both paths (SPEC 9.6): after the batch path spent the
    attacker's budget, the per-datagram path refuses it too, and an honest sender is fine."""
    attacker = udp.UDPSocket("127.0.0.66", 0)
    try:
        to = relay.sock.local_address
        assert attacker.send_batch(_frames(b"x", 30), [to] * 30) == 30
        assert relay.feed(30, now=101.0) == 30
        before = relay.peer.counters()["drop.rate"]
        relay.peer.receive(_frames(b"y", 1)[0], attacker.local_address, 101.0)
        assert relay.peer.counters()["drop.rate"] == before + 1
        relay.peer.receive(_frames(b"z", 1)[0], ("127.0.0.78", 5555), 101.0)
        assert relay.peer.counters()["drop.rate"] == before + 1
    finally:
        attacker.close()
