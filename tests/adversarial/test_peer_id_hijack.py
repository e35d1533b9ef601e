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
