"""Threat: a PUBLISH with hops above max_hops cached by the C data plane (issue 13, item 4;
SPEC 2, 6: nothing travels past MAX_HOPS).

The Python path dropped such a frame (``drop.hops``) while the C data plane cached it, so an
attacker could fill cache room (and have it re-broadcast at expiry) with frames no peer should
hold. One hop rule now: both paths drop and count ``drop.hops``, before the cache."""
from __future__ import annotations

import pytest

from srpfast.wire import constants as C
from srpfast.wire.frame import encode, packet_id

udp = pytest.importorskip("srpfast.drivers._udp")


def _publish(tag: bytes, hops: int) -> bytes:
    frame = bytearray(encode(type=C.PUBLISH, message=tag))
    frame[6] = hops
    return bytes(frame)


def test_over_hop_publish_is_dropped_in_c_like_in_python(relay) -> None:
    max_hops = relay.peer.config.max_hops
    over = [_publish(b"over %d" % i, max_hops + 1 + i % 3) for i in range(12)]
    at_limit = [_publish(b"last hop %d" % i, max_hops) for i in range(4)]
    sender = udp.UDPSocket("127.0.0.88", 0)
    try:
        to = relay.sock.local_address
        assert sender.send_batch(over + at_limit, [to] * 16) == 16
        assert relay.feed(16, now=101.0) == 16
    finally:
        sender.close()
    c = relay.peer.counters()
    assert c["drop.hops"] == 12 and c["dataplane.hops"] == 12
    assert not any(packet_id(f) in relay.peer.cache for f in over)   # nothing cached
    assert all(packet_id(f) in relay.peer.cache for f in at_limit)   # the last hop is kept ...
    assert c["dataplane.forwarded"] == 0 and c["dataplane.hop_limit"] == 4  # ... not relayed
    assert relay.python_path == []  # dropped in C, never handed up
    # The per-datagram path applies the same rule under the same counter name.
    relay.peer.receive(_publish(b"python path", max_hops + 1), ("127.0.0.89", 4000), 101.0)
    assert relay.peer.counters()["drop.hops"] == 13
    assert packet_id(_publish(b"python path", 0)) not in relay.peer.cache
