"""Threat: claiming or redirecting another peer's id (issue 13; SPEC 9.2: a peerId cannot be
claimed or redirected by anyone who lacks its key; SPEC 4: a PONG or JOIN that claims an id is
proven by that key before any table is updated from it).

Mallory, without b's key, tries from 40 source addresses each: a PING and a PONG and a JOIN
claiming b's id signed by her key; b's own genuine PING and JOIN replayed from her address;
a fresh PING of b relayed ahead of the original (it draws one challenge PONG), then that
challenge redeemed with her key. Counted: how often b's entry in a's table moved or a new
entry appeared for a forged id (must be 0), and which counter refused each attempt."""
from __future__ import annotations

from srpfast.wire import constants as C
from srpfast.wire.bodies import Join, Ping, Pong, decode_body
from srpfast.crypto import create_cluster_id, create_identity
from srpfast.wire.frame import decode
from tests.integration.test_engine_hostile import mallory_frame
from tests.memnet import pair

CLUSTER = create_cluster_id(b"adversarial hijack")
MALLORY = create_identity(b"\x66" * 32)


def test_no_forged_or_replayed_proof_moves_a_peer() -> None:
    net, a, b = pair(seed=33)
    victim, bid = a.peer, b.peer.peer_id
    home = victim.table.get(bid).address
    b.peer.datagrams_to_send()
    b.peer.ping(a.public, net.now)
    [(genuine_ping, _)] = b.peer.datagrams_to_send()
    victim.receive(genuine_ping, b.public, net.now)       # delivered once, from b
    victim.datagrams_to_send()
    b.peer.join(CLUSTER, None, now=net.now)
    genuine_join = next(d for d, _ in b.peer.datagrams_to_send() if d[4] == C.JOIN)
    victim.receive(genuine_join, b.public, net.now)
    attempts = moved = 0
    for i in range(40):
        src = (f"127.9.{i // 200}.{i % 200 + 1}", 6000 + i)
        ms = victim.wall_ms(net.now)
        forged = [
            mallory_frame(MALLORY, C.PING, Ping(peer_id=bid, request_id=i, timestamp_ms=ms)),
            mallory_frame(MALLORY, C.PONG, Pong(peer_id=bid, request_id=i, timestamp_ms=ms,
                                                requester=victim.peer_id, observed=src)),
            mallory_frame(MALLORY, C.JOIN, Join(peer_id=bid, cluster_id=CLUSTER,
                                                subcluster_id=C.ZERO32, address=src, nat=0,
                                                timestamp_ms=ms, join_id=1000 + i),
                          CLUSTER[:16]),
            genuine_ping, genuine_join]
        # A fresh genuine PING relayed from here before b's own copy: one challenge PONG ...
        b.peer.ping(a.public, net.now)
        [(fresh, _)] = b.peer.datagrams_to_send()
        forged.append(fresh)
        for d in forged:
            attempts += 1
            victim.receive(d, src, net.now)
        out = [d for d, to in victim.datagrams_to_send() if to == src]
        assert [d[4] for d in out] == [C.PONG]  # one PONG for the relayed fresh PING, no more
        challenge = decode_body(C.PONG, decode(out[0]).message).challenge
        # ... which Mallory cannot redeem: her PONG is signed by her key, not b's.
        redeem = mallory_frame(MALLORY, C.PONG, Pong(
            peer_id=bid, request_id=challenge, timestamp_ms=ms, requester=victim.peer_id,
            observed=a.public))
        victim.receive(redeem, src, net.now)
        attempts += 1
        moved += victim.table.get(bid).address != home or victim.table.at(src) is not None
    c = victim.counters()
    print(f"peerId hijack: {attempts} attempts from 40 sources, {moved} moved b; refused: "
          + ", ".join(f"{k}={c.get(k, 0)}" for k in ("drop.proof", "drop.replay",
                                                     "drop.unexpected_pong", "drop.challenge",
                                                     "join.duplicate", "tx.challenge")))
    assert moved == 0
    assert victim.table.get(bid).address == home and victim.table.get(MALLORY.peer_id) is None
    assert c["drop.proof"] >= 80 and c["drop.replay"] >= 40
    # b itself still moves when it really does (a round trip from the new address).
    net.run(1)
    assert victim.table.get(bid).address == home


def test_keyed_heartbeats_cannot_be_forged_replayed_or_redirected() -> None:
    """Keyed heartbeats (PROTOCOL.md §3, "Keyed heartbeats"): a PING/PONG proven by the pair's
    session key instead of a signature. Mallory, without that key: a keyed PING claiming b
    with a made-up tag from b's own address (drop.proof), b's genuine keyed PING replayed from
    b's address and from 20 other addresses (drop.replay: a valid tag from elsewhere is
    checked like a signature, and would only be challenged), a keyed PING claiming 20 made-up
    ids with made-up tags from 20 addresses (drop.proof, none of their keys cached), and a
    keyed PONG answering no keyed PING of a's (drop.keyed_unknown): it answers a signed one.
    None draws a PONG or moves b; b's genuine keyed heartbeat is answered with a keyed PONG
    that b accepts."""
    from srpfast.wire.bodies import PING_HEARTBEAT, PING_KEYED, PONG_KEYED
    net, a, b = pair(seed=34)
    net.run(2)
    victim, bid = a.peer, b.peer.peer_id
    home = victim.table.get(bid).address
    assert b.peer.table.get(victim.peer_id).keyed  # a answered b unchallenged: it holds b
    b.peer.datagrams_to_send()
    b.peer.ping(a.public, net.now, PING_HEARTBEAT, keyed=True)
    [(keyed_ping, _)] = b.peer.datagrams_to_send()
    assert decode_body(C.PING, decode(keyed_ping).message).flags & PING_KEYED
    victim.datagrams_to_send()
    before = victim.counters()
    victim.receive(keyed_ping, home, net.now)            # genuine: answered, keyed
    [(answer, to)] = victim.datagrams_to_send()
    assert to == home and decode_body(C.PONG, decode(answer).message).flags & PONG_KEYED
    rx_pong = b.peer.counters().get("rx.pong", 0)
    b.peer.receive(answer, a.public, net.now)
    assert b.peer.counters()["rx.pong"] == rx_pong + 1
    ms = victim.wall_ms(net.now)
    tampered = bytearray(Ping(peer_id=bid, request_id=7, timestamp_ms=ms,
                              flags=PING_HEARTBEAT | PING_KEYED).encode())
    tampered[-64:] = bytes(range(64))
    from srpfast.wire.frame import encode
    victim.receive(encode(type=C.PING, message=bytes(tampered)), home, net.now)
    victim.receive(keyed_ping, home, net.now)            # replayed from b's own address
    for i in range(20):
        victim.receive(keyed_ping, (f"127.9.3.{i + 1}", 7000 + i), net.now)
    keys = len(victim.streams.keys)
    for i in range(20):
        made_up = create_identity(bytes([i + 1]) * 32).peer_id
        forged = bytearray(Ping(peer_id=made_up, request_id=100 + i, timestamp_ms=ms,
                                flags=PING_HEARTBEAT | PING_KEYED).encode())
        forged[-64:] = bytes(64)
        victim.receive(encode(type=C.PING, message=bytes(forged)), (f"127.9.4.{i + 1}", 7100),
                       net.now)
    assert len(victim.streams.keys) == keys
    rid = victim.ping(home, net.now)                     # a signed PING of a's, pending
    victim.datagrams_to_send()
    stray = bytearray(Pong(peer_id=bid, request_id=rid, timestamp_ms=ms,
                           requester=victim.peer_id, observed=a.public,
                           flags=PONG_KEYED).encode())
    victim.receive(encode(type=C.PONG, message=bytes(stray)), home, net.now)
    after = victim.counters()
    gained = {k: after.get(k, 0) - before.get(k, 0)
              for k in ("drop.proof", "drop.replay", "drop.keyed_unknown", "rx.ping")}
    assert gained == {"drop.proof": 21, "drop.replay": 21, "drop.keyed_unknown": 1, "rx.ping": 1}
    assert victim.datagrams_to_send() == []              # no PONG to any of them
    assert victim.table.get(bid).address == home and len(victim.table) == 1
