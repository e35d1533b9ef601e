"""Forwarding distance (control/peers.py, "Distance"; heartbeats.py, "Distance"): the minimum
of the last DISTANCE_SAMPLES ping->pong samples, on both sides of a pair. A busy first sample
is corrected by a later one (the next heartbeat's), the side that does not ping takes the
pinger's reported sample (PING ``rtt_us``, each sample in one PING), a busy pair is
re-measured, and a bad ``rtt_us`` is a counted drop. On real sockets a busy loop's wait is
not distance (handshake.py, "Round trips")."""
from __future__ import annotations

import asyncio
import time

import srpfast
from srpfast.control.heartbeats import DISTANCE_REMEASURE
from srpfast.control.peers import DISTANCE_SAMPLES, PeerEntry
from srpfast.drivers._udp import UDPSocket
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import PING_HEARTBEAT, PING_RTT_MAX_US, Ping, decode_body
from srpfast.wire.frame import decode
from tests.memnet import MemNet, Node, pair


def _entries(a: Node, b: Node) -> tuple[PeerEntry, PeerEntry]:
    ea, eb = a.peer.table.get(b.peer.peer_id), b.peer.table.get(a.peer.peer_id)
    assert ea is not None and eb is not None
    return ea, eb


def _ordered(a: Node, b: Node) -> tuple[Node, Node]:
    return (a, b) if a.peer.peer_id < b.peer.peer_id else (b, a)


def test_the_minimum_of_the_last_samples_takes_a_shorter_one_at_once() -> None:
    e = PeerEntry(b"\x01" * 32, ("10.0.0.1", 1))
    e.sample(0.250, 0.0)                        # the busy handshake's
    e.sample(0.004, 1.0)                        # a calm one: taken at once
    assert e.distance == 0.004 and e.rtt == 0.004 and e.rtts == 2
    for k in range(DISTANCE_SAMPLES - 1):       # longer ones: the minimum holds ...
        e.sample(0.090 - k * 0.001, 30.0 * (k + 1))
        assert e.distance == 0.004
    e.sample(0.080, 200.0)                      # ... until it is DISTANCE_SAMPLES old
    assert e.distance == min(0.080, 0.090 - (DISTANCE_SAMPLES - 2) * 0.001)
    e.sample(0.001, 203.0, own=False)           # reported: not ours to report on
    assert e.distance == 0.001 and e.rtt == 0.080 and e.measured == 203.0
    assert e.rtts == DISTANCE_SAMPLES + 2


def test_a_busy_first_sample_is_corrected_on_both_sides() -> None:
    """The handshake's samples are taken while the path (here: both loops) is slow, ~0.4 s;
    then it is fast again. The first heartbeat's sample replaces it on the side that pings,
    and that heartbeat's successor reports it to the other side: both distances come down
    to the path's delay (on main the larger id kept 0.4 s for as long as the pair lasted)."""
    net = MemNet(seed=21, delay=(0.2, 0.25))
    a, b = net.add("static"), net.add("static")
    small, large = _ordered(a, b)
    net.call(b, b.peer.add_peer, a.public, net.now)
    for _ in range(40):
        net.run(0.05)
        if a.peer.table.get(b.peer.peer_id) and b.peer.table.get(a.peer.peer_id):
            break
    e_small, e_large = _entries(small, large)
    assert e_small.distance >= 0.4 and e_large.distance >= 0.4
    net.delay = (0.002, 0.004)
    ka = net.config.keep_alive
    net.run(ka + 2)
    assert e_small.distance <= 0.008
    net.run(ka)
    assert e_large.distance <= 0.008
    assert small.peer.counters().get("ping.distance", 0) == 0  # (heartbeats did it)


def test_the_side_that_does_not_ping_takes_the_pingers_reported_sample() -> None:
    net, a, b = pair(22)
    small, large = _ordered(a, b)
    reported: list[tuple[float, int]] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if src == large.public:
                return False  # the larger id measures nothing of its own from here on
            if body.flags & PING_HEARTBEAT:
                reported.append((net.now, body.rtt_us))
        return True

    net.filter = watch
    net.run(4.0)
    _, e_large = _entries(small, large)
    # An inflated figure, fresh, as a busy handshake leaves it: only a sample can lower it.
    e_large.distance, e_large.samples = 0.9, (0.9,)
    t = net.now
    net.run(1.5 * net.config.keep_alive)
    later = [us for at, us in reported if at > t]
    assert later and all(0 < us < 100_000 for us in later)  # (the path: 5-30 ms each way)
    _, e_large = _entries(small, large)
    assert e_large.distance == min(later) / 1e6
    assert e_large.measured > t


def test_a_busy_pair_is_re_measured_without_heartbeats() -> None:
    """Traffic both ways skips heartbeats (heartbeats.py); a distance sample older than
    DISTANCE_REMEASURE heartbeat periods still gets a PING."""
    net, a, b = pair(23)
    net.run(3.0)
    small, large = _ordered(a, b)
    e_small, e_large = _entries(small, large)
    ka = net.config.keep_alive
    before = small.peer.counters().get("ping.distance", 0)
    samples = e_small.rtts
    t = net.now
    while net.now < t + (DISTANCE_REMEASURE + 1) * ka:
        # Traffic both ways, on both sides, always fresh: no heartbeat is due for idleness.
        for e in (e_small, e_large):
            e.last_sent = e.last_seen = net.now
        net.run(1.0)
    assert small.peer.counters().get("ping.distance", 0) == before + 1
    assert e_small.rtts == samples + 1 and e_small.measured > t + DISTANCE_REMEASURE * ka - 5
    # ... and its PING's report renewed the larger id's sample: it did not ping for one
    assert e_large.measured > t + DISTANCE_REMEASURE * ka - 5


def test_a_ping_reporting_an_impossible_round_trip_is_a_counted_drop() -> None:
    net, a, b = pair(24)
    net.run(3.0)
    ea, _ = _entries(a, b)
    distance, drops = ea.distance, a.peer.counters().get("drop.body", 0)
    body = Ping(peer_id=b.peer.peer_id, request_id=77, timestamp_ms=b.peer.wall_ms(net.now),
                flags=PING_HEARTBEAT, rtt_us=PING_RTT_MAX_US + 1)
    datagram = b.peer.signed_frame(C.PING, body)
    net.call(a, a.peer.receive, datagram, b.public, net.now)
    assert a.peer.counters().get("drop.body", 0) == drops + 1
    assert ea.distance == distance


def test_each_own_sample_is_reported_in_one_ping_only() -> None:
    """A retry, a reflection PING or any later PING repeats no sample: one measurement would
    otherwise fill several places of the other side's window (and an old one count as new).
    A sample under 1 us still reports 1, not 0 ("none")."""
    net, a, b = pair(25)
    net.run(3.0)
    sent: list[int] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING and src == a.public:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            sent.append(body.rtt_us)
        return True

    net.filter = watch
    ea, _ = _entries(a, b)
    ea.sample(0.0000004, net.now)  # a new own sample, under 1 us
    for _ in range(3):
        net.call(a, a.peer.ping, b.public, net.now)
    assert sent == [1, 0, 0]


def test_a_busy_loop_is_not_taken_for_distance_on_real_sockets(run) -> None:
    """Two networks on loopback in one event loop, which is blocked for 0.4 s while the
    newcomer's first PING waits in the other's socket queue. The PONG's hold (the kernel's
    receive stamp to the PONG's send) comes off the round trip, so the pinger's sample is
    the path's (well under a millisecond here), not the 0.4 s the loop was away; before,
    it was at least that, and weighed the peer ~40x down as a next hop (peers.py)."""
    block = 0.4

    async def scenario() -> None:
        cluster_id = srpfast.create_cluster_id(b"srpfast distance test")
        a = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1")
        b = None
        try:
            # The kernel turns receive stamping on lazily, once a first socket asks (a's
            # has), and for all sockets (docs/NET.md): a datagram that comes before is
            # stamped at its read. Wait (bounded) until a datagram shows its queue time.
            with UDPSocket() as probe, UDPSocket(stamps=True) as sink:
                for _ in range(50):
                    probe.send_batch([bytes(4)], sink.local_address)
                    time.sleep(0.02)
                    waits = sink.recv_batch().waits
                    if waits is not None and len(waits) and waits[0] >= 10_000:
                        break
            b = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1",
                                      bootstrap=[("127.0.0.1", a.address[1])])
            time.sleep(block)  # (the loop is blocked: b's PING waits in a's queue)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                    a.peer.table.get(b.peer.peer_id) and b.peer.table.get(a.peer.peer_id)
                    and b.peer.table.get(a.peer.peer_id).rtts):
                await asyncio.sleep(0.02)
            entry = b.peer.table.get(a.peer.peer_id)
            assert entry is not None and entry.rtts >= 1
            assert entry.samples[0] < block / 4, entry.samples
            assert entry.distance < block / 4
        finally:
            if b is not None:
                await b.close()
            await a.close()
    run(scenario())


def test_a_queue_wait_longer_than_the_round_trip_is_a_bad_stamp_not_taken_off() -> None:
    """handshake.on_pong takes the PONG's queue wait here (``waited``, from the kernel's
    receive stamp) and the PING's at the peer (PONG ``hold_us``) off the round trip, each only
    if it is shorter than what is left of it: one that is not is a stamp gone wrong (a wall
    clock stepped between the stamp and the read), and taking it off would make an honest
    sample the 1 us floor. The PING and the PONG are held back and handed in by hand: the
    PING reaches the peer 0.1 s after it left, with ``waited`` = w_ping there (its PONG's
    hold), the PONG comes back 0.5 s after the PING left, with ``waited`` = w_pong."""
    net, a, b = pair(seed=23)
    small, large = _ordered(a, b)
    held: list[tuple[bytes, Address]] = []
    net.filter = lambda d, src, dst: not (d[4] in (C.PING, C.PONG) and held.append((d, src))
                                          is None)
    e_small, _ = _entries(small, large)
    for w_ping, w_pong, sample in ((0.1, 0.004, 0.396),  # both off
                                   (0.0, 50.0, 0.5),     # our wait: a bad stamp
                                   (0.7, 0.0, 0.5),      # its hold: a bad stamp
                                   (0.3, 0.3, 0.2)):     # ours off, then its is too long
        held.clear()
        sent = net.now
        net.call(small, small.peer.ping, e_small.address, sent, PING_HEARTBEAT, keyed=True)
        net.run(0.1)
        assert [d[4] for d, _ in held] == [C.PING]
        ping, source = held.pop()
        net.call(large, large.peer.receive_one, ping, source, sent + 0.1, waited=w_ping)
        net.run(0.4)
        assert [d[4] for d, _ in held] == [C.PONG]
        pong, source = held.pop()
        net.call(small, small.peer.receive_one, pong, source, sent + 0.5, waited=w_pong)
        assert abs(e_small.samples[-1] - sample) < 1e-6, (w_ping, w_pong, e_small.samples)
