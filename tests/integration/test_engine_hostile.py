"""The engine under hostile or misused input: forged and replayed proofs, malformed datagrams,
floods, rate limits, forged authors, relay budgets, caller mistakes (SPEC 9)."""
from __future__ import annotations

import random

import pytest

from srpfast.wire import constants as C
from srpfast.wire.bodies import PONG_REFLECT, Join, Pong, decode_body
from srpfast.config import Config
from srpfast.control.events import Delivered, StreamData
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer
from srpfast.wire.frame import decode, encode
from tests.memnet import MemNet, joined_pair, pair

CLUSTER = create_cluster_id(b"engine tests")
KEY = create_shared_key(b"subcluster")


def test_forged_and_replayed_pong_and_join_change_nothing() -> None:
    net, a, b = pair(seed=16)
    victim = a.peer
    before = {p: (q.address, q.last_seen) for p, q in victim.table.by_id.items()}
    mallory = create_identity(b"\x66" * 32)
    # 1. A PONG claiming b's id but signed by mallory, answering nothing.
    pong = Pong(peer_id=b.peer.peer_id, request_id=1, timestamp_ms=victim.wall_ms(net.now),
                requester=victim.peer_id, observed=("6.6.6.6", 666), flags=PONG_REFLECT)
    forged = mallory_frame(mallory, C.PONG, pong)
    victim.receive(forged, ("6.6.6.6", 666), net.now)
    # 2. A pending ping answered by a forged PONG: dropped, and the ping is still pending.
    rid = victim.ping(b.public, net.now)
    pong2 = Pong(peer_id=b.peer.peer_id, request_id=rid, timestamp_ms=victim.wall_ms(net.now),
                 requester=victim.peer_id, observed=("6.6.6.6", 666))
    victim.receive(mallory_frame(mallory, C.PONG, pong2), ("6.6.6.6", 666), net.now)
    assert rid in victim.handshake.pending
    # 3. A JOIN naming b, signed by mallory; then a genuine JOIN replayed.
    join = Join(peer_id=b.peer.peer_id, cluster_id=CLUSTER, subcluster_id=C.ZERO32,
                address=("6.6.6.6", 666), nat=0, timestamp_ms=victim.wall_ms(net.now),
                join_id=5)
    victim.receive(mallory_frame(mallory, C.JOIN, join, CLUSTER[:16]), ("6.6.6.6", 666),
                   net.now)
    c = victim.counters()
    assert c["drop.unexpected_pong"] == 1 and c["drop.proof"] == 2
    after = {p: (q.address, q.last_seen) for p, q in victim.table.by_id.items()}
    assert after == before and victim.table.at(("6.6.6.6", 666)) is None
    net.run(0.2)  # the genuine PONG to the pending ping still lands
    assert victim.table.get(b.peer.peer_id).address == b.public
    # Replays of genuine signed PINGs/JOINs are refused by the proof window.
    captured = []
    net.filter = lambda d, src, dst: captured.append((d, src)) or True
    net.call(b, b.peer.join, CLUSTER, KEY, now=net.now)
    net.run(0.5)
    joins = [(d, s) for d, s in captured if d[4] == C.JOIN]
    assert joins
    table_before = dict(victim.table.by_id)
    for d, s in joins:
        victim.receive(d, s, net.now)
    assert victim.counters().get("join.duplicate", 0) >= 1
    assert dict(victim.table.by_id) == table_before
    # A genuine signed PING, delivered once, then replayed from another address.
    b.peer.datagrams_to_send()
    b.peer.ping(a.public, net.now)
    [(ping, _)] = b.peer.datagrams_to_send()
    victim.receive(ping, b.public, net.now)
    replays = victim.counters().get("drop.replay", 0)
    victim.receive(ping, ("6.6.6.6", 666), net.now)
    assert victim.counters()["drop.replay"] == replays + 1
    assert victim.table.get(b.peer.peer_id).address == b.public
    assert victim.table.at(("6.6.6.6", 666)) is None
    # A FRESH signed PING relayed from elsewhere (before the original arrives) draws exactly
    # one PONG there, carrying a challenge, and moves nothing: a move needs that challenge
    # redeemed by b's key from the new address (a round trip, SPEC 9.2, 9.3).
    victim.datagrams_to_send()
    b.peer.ping(a.public, net.now)
    [(fresh, _)] = b.peer.datagrams_to_send()
    victim.receive(fresh, ("6.6.6.6", 666), net.now)
    sent = victim.datagrams_to_send()
    assert [d[4] for d, to in sent] == [C.PONG] and sent[0][1] == ("6.6.6.6", 666)
    challenge = decode_body(C.PONG, decode(sent[0][0]).message).challenge
    assert challenge != 0
    assert victim.table.get(b.peer.peer_id).address == b.public
    # Mallory cannot redeem it: her PONG is signed by her key, not b's.
    mallory = create_identity(b"\x66" * 32)
    fake = Pong(peer_id=mallory.peer_id, request_id=challenge,
                timestamp_ms=victim.wall_ms(net.now), requester=victim.peer_id,
                observed=a.public)
    victim.receive(mallory_frame(mallory, C.PONG, fake), ("6.6.6.6", 666), net.now)
    assert victim.counters()["drop.challenge"] == 1
    assert victim.table.get(b.peer.peer_id).address == b.public
    assert victim.table.get(mallory.peer_id) is None
    # ... and a stale one (outside the proof window) is refused too.
    b.peer.ping(a.public, net.now - 2 * victim.config.proof_window)
    [(stale, _)] = b.peer.datagrams_to_send()
    victim.receive(stale, ("6.6.6.6", 666), net.now)
    assert victim.proofs.counters["stale"] >= 1
    assert victim.table.get(b.peer.peer_id).address == b.public


def mallory_frame(identity, type_: int, body, cluster: bytes = C.ZERO16) -> bytes:
    from srpfast.wire.bodies import signed_bytes
    from srpfast.crypto import sign_proof
    unsigned = body.unsigned()
    sig = sign_proof(identity, signed_bytes(type_, cluster, unsigned))
    return encode(type=type_, message=unsigned + sig, cluster=cluster)


def test_malformed_input_is_counted_never_raised() -> None:
    peer = Peer(create_identity(b"\x01" * 32), Config(strict=True, clock_offset=0.0), now=0.0)
    src = ("10.0.0.9", 9)
    good = encode(type=C.PING, message=b"\x00" * 10)
    padded = bytearray(good)
    padded[-1] = 1
    for d in (b"", b"SRP", b"\x00" * 1158, bytes(padded), good, b"\xff" * 2000):
        peer.receive(d, src, 1.0)
    c = peer.counters()
    assert c["drop.body"] == 1 and c["drop.malformed.padding"] == 1
    assert sum(v for k, v in c.items() if k.startswith("drop.malformed.")) == 5
    assert len(peer.table) == 0 and not peer.events()
    # A forged ANSWER that nobody asked for is dropped, not cached.
    answer = bytearray(encode(type=C.PUBLISH, message=b"spam"))
    answer[4] = C.ANSWER
    peer.receive(bytes(answer), src, 1.0)
    assert c.get("drop.answer_unsolicited", 0) + 1 == peer.counters()["drop.answer_unsolicited"]
    assert len(peer.cache) == 0


def test_rate_limit_applies_to_members_too() -> None:
    # (a member is a proven peer: the peer tier of SPEC 9.6's budgets, control/budgets.py)
    cfg = Config(strict=True, clock_offset=0.0, rate_peer_packets=10, rate_peer_burst=20)
    net, a, b, s = joined_pair(17, CLUSTER, KEY, config=cfg)
    for i in range(40):
        net.call(a, a.peer.publish, s, b"burst %d" % i, now=net.now)
    net.run(0.5)
    assert b.peer.counters()["drop.rate"] >= 10
    assert len(b.of(Delivered)) < 40


def test_table_bound_holds_under_a_flood_of_fresh_identities() -> None:
    cfg = Config(strict=True, clock_offset=0.0, max_peers=8, rate_packets=1e9, rate_burst=1e9)
    victim = Peer(create_identity(b"\x01" * 32), cfg, now=100.0, rng=random.Random(1))
    for i in range(40):
        sender = Peer(create_identity(i.to_bytes(32, "big")), cfg, now=100.0,
                      rng=random.Random(i))
        here = (f"10.1.{i}.1", 7000)
        sender.ping(("10.0.0.1", 7000), 100.0)
        [(ping, _)] = sender.datagrams_to_send()
        victim.receive(ping, here, 100.0)
        [(pong, to)] = victim.datagrams_to_send()  # one PONG (with a challenge), no more
        assert to == here
        sender.receive(pong, ("10.0.0.1", 7000), 100.0)
        answers = [d for d, _ in sender.datagrams_to_send() if d[4] == C.PONG]
        assert len(answers) == 1
        victim.receive(answers[0], here, 100.0)  # the round trip: now it may be entered
        assert victim.datagrams_to_send() == [] or len(victim.table) <= 8
    assert len(victim.table) == 8
    assert victim.counters()["drop.table_full"] == 32
    assert victim.counters()["rx.challenge_answered"] == 40


def test_publish_misuse_raises_with_advice() -> None:
    from srpfast.errors import ArgumentError
    peer = Peer(create_identity(b"\x01" * 32), Config(clock_offset=0.0), now=0.0)
    with pytest.raises(ArgumentError, match="join"):
        peer.publish(b"\x01" * 32, b"x", now=0.0)
    with pytest.raises(ArgumentError, match="32 bytes"):
        peer.join(b"short", None, now=0.0)
    with pytest.raises(TypeError):
        Peer(b"not an identity", now=0.0)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError):
        peer.add_peer(("10.0.0.1", 0), 0.0)


def test_a_key_holder_cannot_forge_another_author() -> None:
    from srpfast.control.nonces import seal_synthetic
    net, a, b, s = joined_pair(131, CLUSTER, KEY)
    key = b.peer.membership.subs[s].key
    # Opens with the subcluster key, but the author envelope inside is not a valid signature.
    frame = seal_synthetic(key, encode(type=C.PUBLISH, message=b"\x01" * 300,
                                       cluster=CLUSTER[:16], to=s))
    b.peer.receive(frame, a.public, net.now)
    assert b.peer.counters()["drop.forged"] == 1 and not b.peer.events()
    # Sealed with another key: fails to open.
    other = seal_synthetic(b"\x09" * 32, encode(type=C.PUBLISH, message=b"x" * 100,
                                                cluster=CLUSTER[:16], to=s))
    b.peer.receive(other, a.public, net.now)
    assert b.peer.counters()["drop.open"] == 1 and not b.peer.events()


def test_receive_batch_of_plain_items_and_stream_errors() -> None:
    from srpfast.control.events import StreamResult
    net, a, b, s = joined_pair(151, CLUSTER, KEY)
    captured = []
    # (ANSWERs held back too: b would pull the message a announces: announce.py)
    net.filter = lambda d, src, dst: not (d[4] == C.ANSWER or (
        d[4] == C.PUBLISH and captured.append((d, src)) is None))
    mid = net.call(a, a.peer.publish, s, b"batched " * 500, now=net.now)
    net.run(1)
    net.filter = None
    b.peer.receive_batch(captured + captured, net.now)  # duplicates in the same batch too
    [got] = [e for e in b.peer.events() if isinstance(e, Delivered)]
    assert got.message_id == mid and b.peer.counters()["publish.duplicate"] == len(captured)
    # A stream to a peer we cannot reach waits for a path, then ends in a StreamResult event
    # and a counter: never an exception, never silence (issue 11).
    nobody = create_identity(b"\x44" * 32).peer_id
    ticket, sent = a.peer.stream(nobody, b"nobody", now=net.now)
    assert not sent and a.peer.counters()["stream.queued"] == 1
    net.run(a.peer.config.stream_queue_age + 1.5)
    assert StreamResult(ticket, nobody, "expired") in a.of(StreamResult)
    assert a.peer.counters()["stream.expired"] == 1 and a.peer.streams.queued_bytes == 0
    # A STREAM sealed for someone else (wrong key) does not open.
    a.peer.datagrams_to_send()
    a.peer.stream(b.peer.peer_id, b"x", now=net.now)
    [(d, _)] = a.peer.datagrams_to_send()
    forged = bytearray(d)
    forged[70:102] = create_identity(b"\x45" * 32).peer_id  # claims another sender
    b.peer.receive(bytes(forged), a.public, net.now)
    assert b.peer.counters()["drop.stream_open"] == 1
    assert not [e for e in b.peer.events() if isinstance(e, StreamData)]


def test_relay_budget_bounds_what_an_introducer_forwards() -> None:
    cfg = Config(strict=True, clock_offset=0.0, relay_budget_packets=2)
    net = MemNet(seed=161, config=cfg)
    r, x, y = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([r, x, y], r)
    net.run(2)
    # y is reachable only through r (x never learned y's address): route by hand, as after
    # a Hard<->Hard introduction.
    x.peer.table.remove(y.peer.peer_id)
    x.peer.traversal.routes.put(y.peer.peer_id, r.peer.peer_id, net.now)
    net.filter = lambda d, src, dst: not (src == x.public and dst == y.public)
    for i in range(4):
        net.call(x, x.peer.stream, y.peer.peer_id, b"hop %d" % i, now=net.now)
    net.run(1)
    got = [e.data for e in y.of(StreamData)]
    assert len(got) == 2 and set(got) <= {b"hop %d" % i for i in range(4)}
    assert r.peer.counters()["relay.frames"] == 2 and r.peer.counters()["drop.relay_budget"] == 2


def test_a_spoofed_ping_draws_one_pong_and_nothing_after() -> None:
    """SPEC 9.2/9.3: a validly signed PING from a fresh key at a spoofed source gets exactly
    one PONG (same size) and is never entered: no heartbeats, no filtering probe, no
    introductions toward that address, however long we wait."""
    from srpfast.wire.bodies import PING_CONNECT, PING_REFLECT, Ping
    net = MemNet(seed=141)
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([b, c], a)
    net.run(5)
    victim = ("198.18.7.7", 7777)  # the spoofed source: nobody lives there
    seen: list[tuple[int, object]] = []
    net.filter = lambda d, src, dst: seen.append((d[4], dst)) is None
    mallory = create_identity(b"\x77" * 32)
    body = Ping(peer_id=mallory.peer_id, request_id=5, timestamp_ms=a.peer.wall_ms(net.now),
                flags=PING_CONNECT | PING_REFLECT, test_port=9)
    net.call(a, a.peer.receive, mallory_frame(mallory, C.PING, body), victim, net.now)
    net.run(3 * a.peer.config.keep_alive)
    to_victim = [t for t, dst in seen if dst == victim or dst == (victim[0], 9)]
    assert to_victim == [C.PONG]
    assert a.peer.table.get(mallory.peer_id) is None
    assert a.peer.counters().get("reflect.probe_requests", 0) == 0 or all(
        dst[0] != victim[0] for t, dst in seen if t == C.PING)


def test_one_rate_bucket_per_sender_on_both_receive_paths() -> None:
    """SPEC 9.6: the per-datagram path and the data plane's batch path key a sender's bucket
    the same way (the UDP source key), so a sender cannot get two budgets."""
    from srpfast.control.dataplane import udp_address_key
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1.0, rate_burst=5.0)
    peer = Peer(create_identity(b"\x01" * 32), cfg, now=0.0)
    src = ("10.9.9.9", 999)
    for _ in range(3):
        peer.receive(b"junk", src, 0.0)
    # What the batch path asks for the same sender: 3 of 5 tokens are gone already.
    assert not peer.budgets.allow(udp_address_key(src), 0.0, cost=3.0)
    assert peer.budgets.allow(udp_address_key(src), 0.0, cost=2.0)
    peer.receive(b"junk", src, 0.0)
    assert peer.counters()["drop.rate"] == 1


def test_a_strangers_query_is_answered_from_cache_but_never_routed() -> None:
    """SPEC 9.4/9.8: no route is remembered for an unproven asker, nothing is forwarded."""
    from srpfast.wire.bodies import QUERY_EXACT, Query
    net, a, b = pair(seed=151)
    a.peer.datagrams_to_send()
    routes = len(a.peer.replication.routes)
    q = encode(type=C.QUERY, message=Query(9, b"\x42" * 32, QUERY_EXACT).encode())
    a.peer.receive(q, ("198.18.3.3", 33), net.now)
    assert a.peer.datagrams_to_send() == []
    assert len(a.peer.replication.routes) == routes
    assert a.peer.counters()["query.unproven"] == 1


@pytest.mark.parametrize("order", ["forged_first", "real_first"])
def test_a_relay_altered_copy_cannot_pre_empt_the_real_packet(order) -> None:
    """SPEC 9.1: a member delivers the real message whichever copy arrives first, and ends up
    caching the copy that opens (a forged copy it held is evicted or replaced)."""
    net, a, b, s = joined_pair(161, CLUSTER, KEY)
    net.filter = lambda d, src, dst: d[4] != C.PUBLISH  # b hears the publish only from us
    mid = net.call(a, a.peer.publish, s, b"the real words", now=net.now)
    real = a.peer.cache.get(mid)
    forged = bytearray(real)
    forged[8:12] = (0xABCDEF).to_bytes(4, "big")  # clock: not in the packetId
    copies = [bytes(forged), real] if order == "forged_first" else [real, bytes(forged)]
    for i, copy in enumerate(copies):
        b.peer.receive(copy, (f"198.18.0.{i + 1}", 5), net.now)
    got = [e for e in b.peer.events() if isinstance(e, Delivered)]
    assert [e.payload for e in got] == [b"the real words"]
    assert b.peer.counters()["drop.open"] == 1
    assert b.peer.cache.get(mid)[8:12] == real[8:12]  # the real copy is the one kept


def test_a_proven_peer_gets_the_peer_budget_and_a_stranger_the_small_one() -> None:
    """SPEC 9.6 with two tiers: the same burst from a stranger's address is cut at
    rate_burst, from a proven peer's address (round trip done) at rate_peer_burst."""
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=10, rate_burst=20,
                 rate_peer_packets=1000, rate_peer_burst=500)
    net, a, b = pair(seed=23, config=cfg)
    junk = b"\x00" * 1158  # malformed (wrong magic): charged, then dropped as malformed
    for _ in range(300):
        b.peer.receive(junk, a.public, net.now)  # a is proven at this address
    assert b.peer.counters().get("drop.rate", 0) == 0
    for _ in range(300):
        b.peer.receive(junk, ("10.9.9.9", 7000), net.now)  # a stranger
    assert b.peer.counters()["drop.rate"] == 300 - 20
