"""Threat: reflection and amplification through every unauthenticated request type (issue
13; SPEC 3, 9.3: no message triggers more outgoing bytes toward an address than it carries).

An attacker sends one request of each type with a spoofed source: a bystander nobody knows
(198.18.9.9), or a peer the target is connected to (its real address: the only source that
gets more than a PONG). Counted: every byte the target then sends toward that address in the
next 3 virtual seconds, against the bytes the attacker sent, with the same run WITHOUT the
attack subtracted (heartbeats and sync of the honest mesh go on meanwhile). Sans-I/O with the
in-memory network: spoofing a source on loopback needs raw sockets, and what is measured is
the engine's decision, which a real socket does not change."""
from __future__ import annotations

import os

import pytest

from srpfast.wire import constants as C
from srpfast.wire.bodies import (PING_CONNECT, PING_HEARTBEAT, PING_REFLECT, QUERY_EXACT, QUERY_SUCCESSOR, SYNC_HAVE,
                                 SYNC_IDS, SYNC_SUMMARY, SYNC_WANT, Intro, Join, Ping, Pong, Query,
                                 Sync, decode_body)
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.wire.frame import encode
from tests.integration.test_engine_hostile import mallory_frame
from tests.memnet import MemNet

CLUSTER = create_cluster_id(b"adversarial reflection")
KEY = create_shared_key(b"reflection subcluster")
STRANGER = ("198.18.9.9", 9999)
MALLORY = create_identity(b"\x6d" * 32)
WINDOW = 3.0


def _world(seed: int):
    """a (the target), b, c: connected, members of one subcluster, caches holding messages."""
    net = MemNet(seed=seed)
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([a, b, c], a)
    net.run(2)
    sub = [net.call(n, n.peer.join, CLUSTER, KEY, now=net.now) for n in (a, b, c)][0]
    net.run(1)
    mids = [net.call(b, b.peer.publish, sub, b"m%d " % i * 40, now=net.now) for i in range(40)]
    net.run(5)
    return net, a, b, sub, mids


def _requests(net, a, b, sub, mids, victim):
    """(name, datagrams) for every request type, as an attacker can build them."""
    now_ms = a.peer.wall_ms(net.now)
    rnd = [os.urandom(32) for _ in range(30)]
    sync = lambda kind, ids=(), buckets=None: encode(  # noqa: E731
        type=C.SYNC, message=Sync(7, kind, 0, bytes(8), len(buckets or ids) if kind != SYNC_SUMMARY
                                  else 16, ids=tuple(ids), buckets=buckets).encode())
    answer = bytearray(a.peer.cache.get(mids[0]))
    answer[4] = C.ANSWER
    return [
        ("ping", [mallory_frame(MALLORY, C.PING, Ping(
            peer_id=MALLORY.peer_id, request_id=1, timestamp_ms=now_ms,
            flags=PING_CONNECT | PING_REFLECT, test_port=victim[1] + 1))]),
        ("pong", [mallory_frame(MALLORY, C.PONG, Pong(
            peer_id=MALLORY.peer_id, request_id=2, timestamp_ms=now_ms,
            requester=a.peer.peer_id, observed=victim, challenge=3))]),
        ("intro", [mallory_frame(MALLORY, C.INTRO, Intro(
            introducer=MALLORY.peer_id, peer_id=os.urandom(32), address=victim, nat=1,
            timestamp_ms=now_ms, cluster_id=CLUSTER, subcluster_id=C.ZERO32, intro_id=4),
            CLUSTER[:16])]),
        ("join", [mallory_frame(MALLORY, C.JOIN, Join(
            peer_id=MALLORY.peer_id, cluster_id=CLUSTER, subcluster_id=sub, address=victim,
            nat=1, timestamp_ms=now_ms, join_id=5), CLUSTER[:16])]),
        ("query", [encode(type=C.QUERY, message=Query(8, mids[1], QUERY_EXACT).encode())]),
        ("query_successor", [encode(type=C.QUERY,
                                    message=Query(9, mids[2], QUERY_SUCCESSOR).encode())]),
        ("query_unknown", [encode(type=C.QUERY, message=Query(10, rnd[0], QUERY_EXACT).encode())]),
        ("sync_summary", [sync(SYNC_SUMMARY, buckets=tuple((0, bytes(8)) for _ in range(16)))]),
        ("sync_ids", [sync(SYNC_IDS, rnd)]),
        ("sync_want", [sync(SYNC_WANT, mids[:30])]),
        ("sync_have", [sync(SYNC_HAVE, rnd)]),
        ("answer", [bytes(answer)]),
        ("stream", [encode(type=C.STREAM, message=os.urandom(600), to=a.peer.peer_id)]),
        ("publish", [encode(type=C.PUBLISH, message=os.urandom(900), cluster=CLUSTER[:16],
                            to=sub, flags=2)]),
        ("garbage", [os.urandom(1158), os.urandom(40), b"SRP\x00" + os.urandom(1154)]),
    ]


def _background(d: bytes) -> bool:
    """Traffic a target sends a connected peer on its own, at random (rng-driven) times and
    targets: heartbeat PINGs and lazy-push HAVE digests (control/announce.py). An attack
    shifts the rng, so these move between runs; they answer no request, so they are not
    counted (the PONG a PING draws is)."""
    if d[4] == C.SYNC and len(d) > 134 + 8 and d[134 + 8] == SYNC_HAVE:
        return True
    return d[4] == C.PING and decode_body(C.PING, d[134:134 + int.from_bytes(
        d[14:16], "big")]).flags & PING_HEARTBEAT != 0


def _toward(seed: int, case: str | None, spoof_peer: bool) -> tuple[int, int]:
    """Bytes from the target toward the victim's host in the window, and bytes sent."""
    net, a, b, sub, mids = _world(seed)
    victim = b.public if spoof_peer else STRANGER
    got: list[int] = []

    def tap(d, src, dst):
        if src == a.public and dst[0] == victim[0] and not (spoof_peer and _background(d)):
            got.append(len(d))
        return True
    net.filter = tap
    sent = 0
    if case is not None:
        reqs = dict(_requests(net, a, b, sub, mids, victim))[case]
        for d in reqs:
            sent += len(d)
            net.call(a, a.peer.receive, d, victim, net.now)
    net.run(WINDOW)
    return sum(got), sent


CASES = [
    "ping", "pong", "intro", "join", "query", "query_successor", "query_unknown",
    "sync_summary", "sync_ids", "sync_want", "sync_have", "answer", "stream", "publish",
    "garbage"]


@pytest.mark.parametrize("spoof_peer", [False, True], ids=["bystander", "connected-peer"])
@pytest.mark.parametrize("case", CASES)
def test_no_request_type_amplifies(case, spoof_peer) -> None:
    base, _ = _toward(501, None, spoof_peer)
    total, sent = _toward(501, case, spoof_peer)
    extra = max(0, total - base)
    ratio = extra / sent
    print(f"{case} spoofing {'a connected peer' if spoof_peer else 'a bystander'}: "
          f"{extra} B toward the victim for {sent} B sent ({ratio:.2f}x)")
    # (SYNC included: its tag, keyed by the pair's session key, is something a spoofer of a
    # connected peer's address does not have, so a spoofed SYNC draws nothing.)
    assert ratio <= 1.0, (case, extra, sent)


def a_budget_bytes() -> int:
    from srpfast.config import Config
    return Config().sync_budget * C.PACKET_BYTES


def test_a_sync_flood_spoofing_a_peer_draws_nothing() -> None:
    """200 SYNC requests (all four kinds) with a connected peer's source: none carries a tag
    made with the pair's session key, so none is acted on (before the tag: up to sync_budget
    frames per peer per sync_interval, 15-30x a request)."""
    base, _ = _toward(502, None, True)
    net, a, b, sub, mids = _world(502)
    got: list[int] = []
    net.filter = lambda d, src, dst: (src != a.public or dst != b.public
                                      or got.append(len(d)) is None)
    reqs = dict(_requests(net, a, b, sub, mids, b.public))
    entry = a.peer.table.get(b.peer.peer_id)
    seen_before = entry.last_seen
    sent = 0
    for i in range(50):
        for kind in ("sync_summary", "sync_ids", "sync_want", "sync_have"):
            for d in reqs[kind]:
                sent += len(d)
                net.call(a, a.peer.receive, d, b.public, net.now + 0.001)
    # Nor does an untagged SYNC stand for hearing from b (a heartbeat: heartbeats.py).
    assert entry.last_seen == seen_before < net.now + 0.001
    net.run(WINDOW)
    extra = max(0, sum(got) - base)
    print(f"SYNC flood spoofing a peer: {extra} B toward it for {sent} B sent "
          f"({extra / sent:.2f}x); budget {a_budget_bytes()} B per {a.peer.config.sync_interval:.0f} s")
    assert extra <= sent  # <= 1x (background heartbeats and digests only)
    assert a.peer.counters()["drop.sync_tag"] == 200


def test_claimed_addresses_draw_nothing_from_a_real_peer(run) -> None:
    """On loopback, against a real peer (uvloop driver, C data plane): requests from the
    attacker's own source (127.0.0.66) that CLAIM another address in their body (a JOIN's
    address, an INTRO's address, a PING's test_port, a PONG's observed address, a QUERY from a
    stranger) aimed at victim sockets 127.0.0.101-105. Counted at the victims' sockets."""
    import asyncio
    import time

    import srpfast
    from srpfast.drivers._udp import UDPSocket

    async def scenario() -> tuple[int, int]:
        victims = [UDPSocket(f"127.0.0.{101 + k}", 0) for k in range(5)]
        sock = UDPSocket("127.0.0.66", 0)
        net = None
        try:
            net = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1")
            to = ("127.0.0.1", net.address[1])
            ms = net.peer.wall_ms(time.monotonic())
            v = [s.local_address for s in victims]
            reqs = [
                mallory_frame(MALLORY, C.JOIN, Join(
                    peer_id=MALLORY.peer_id, cluster_id=CLUSTER, subcluster_id=C.ZERO32,
                    address=v[0], nat=1, timestamp_ms=ms, join_id=1), CLUSTER[:16]),
                mallory_frame(MALLORY, C.INTRO, Intro(
                    introducer=MALLORY.peer_id, peer_id=os.urandom(32), address=v[1], nat=1,
                    timestamp_ms=ms, cluster_id=CLUSTER, subcluster_id=C.ZERO32, intro_id=2),
                    CLUSTER[:16]),
                mallory_frame(MALLORY, C.PING, Ping(
                    peer_id=MALLORY.peer_id, request_id=3, timestamp_ms=ms,
                    flags=PING_CONNECT | PING_REFLECT, test_port=v[2][1])),
                mallory_frame(MALLORY, C.PONG, Pong(
                    peer_id=MALLORY.peer_id, request_id=4, timestamp_ms=ms,
                    requester=net.peer.peer_id, observed=v[3], challenge=5)),
                encode(type=C.QUERY, message=Query(6, os.urandom(32), QUERY_EXACT).encode()),
            ]
            sent = sum(len(d) for d in reqs) * 20
            for _ in range(20):
                assert sock.send_batch(reqs, [to] * len(reqs)) == len(reqs)
                await asyncio.sleep(0.01)
            got = 0
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                for s in victims:
                    got += sum(len(d) for d, _ in s.recv_batch())
                sock.recv_batch()
                await asyncio.sleep(0.02)
            return got, sent
        finally:
            for s in (*victims, sock):
                s.close()
            if net is not None:
                await net.close()

    got, sent = run(scenario(), timeout=20)
    print(f"claimed addresses, real peer: {got} B at the victims for {sent} B sent")
    assert got == 0
