"""Which PINGs are keyed (PROTOCOL.md §3, "Keyed heartbeats"; SECURITY.md 9.2): once the
other side is seen to hold us, by an unchallenged PONG, a tagged SYNC or a keyed PING, our
heartbeats and reflection PINGs to it carry the pair's tag instead of an Ed25519 signature;
until then (a redemption lost) they stay signed."""
from __future__ import annotations

from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import PING_HEARTBEAT, PING_KEYED, PING_REFLECT, Ping, decode_body
from srpfast.wire.frame import decode
from tests.memnet import Node, pair


def _redeemer_heartbeats(seed: int, lose_redemption: bool
                         ) -> tuple[list[int], "Node", "Node"] | None:
    """a and b are fellow members and a holds a message; c, a member too, whose id is
    smaller than a's (so c is the side that pings), contacts a: a challenges c, c redeems.
    Returns the flags of c's heartbeat PINGs to a over the next keep_alive and a half, and
    (a, c); None when the seed gives c the larger id. ``lose_redemption``: c's first answer to a's challenge is
    lost, so a does not hold c until c's recheck."""
    from tests.memnet import joined_pair
    net, a, b, sub = joined_pair(seed, bytes(range(32)), bytes(range(1, 33)))
    net.call(a, a.peer.publish, sub, b"in a's cache", now=net.now)
    net.run(2)
    c = net.add("static")
    if not c.peer.peer_id < a.peer.peer_id:
        return None
    # c has classified its NAT off another peer d (a first classification pings every
    # peer at once), and is a member: its JOINs go to a as soon as it holds a, traffic
    # that puts its first heartbeat a keep_alive later, as for most pairs of the
    # simulator's join storm.
    d = net.add("static")
    net.call(c, c.peer.add_peer, d.public, net.now)
    net.run(3)
    net.call(c, c.peer.join, bytes(range(32)), bytes(range(1, 33)), now=net.now)
    beats: list[int] = []
    lost: list[bytes] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and src == c.public and dst == a.public:
            if d[4] == C.PING:
                body = decode_body(C.PING, decode(d).message)
                assert isinstance(body, Ping)
                if body.flags & PING_HEARTBEAT:
                    beats.append(body.flags)
            elif d[4] == C.PONG and lose_redemption and not lost:
                lost.append(d)  # (c's only PONGs to a answer a's challenges)
                return False
        return True

    net.filter = watch
    net.call(c, c.peer.add_peer, a.public, net.now)
    net.run(1.5 * net.config.keep_alive)
    assert not lose_redemption or lost
    return beats, a, c


def test_the_redeemers_first_heartbeat_is_keyed_once_a_tagged_sync_shows_it_is_held() -> None:
    """c redeemed a's challenge, so no unchallenged PONG has shown c that a holds it; a's
    tagged SYNC (its cache differs from c's, so it compares them on the redemption, SPEC 6)
    does: a tags SYNC only for a peer it holds. So c's first heartbeat is keyed (it was
    signed, and so was a's answer: ~190 us of Ed25519 for each pair made by a challenge)."""
    checked = 0
    for seed in range(1, 13):
        got = _redeemer_heartbeats(seed, lose_redemption=False)
        if got is None:
            continue
        beats, a, c = got
        assert c.peer.counters().get("rx.sync", 0) >= 1
        assert beats and all(f & PING_KEYED for f in beats), (seed, beats)
        assert a.peer.counters().get("drop.proof", 0) == 0
        checked += 1
    assert checked >= 2


def test_a_redeemer_whose_answer_was_lost_stays_signed_until_it_is_held() -> None:
    """The same, with c's answer to a's challenge lost: a does not hold c, so sends it no
    SYNC, and nothing keys c's pings: its recheck goes signed (challenge_recheck later), is
    challenged again, and a holds c after that second redemption."""
    checked = 0
    for seed in range(1, 13):
        got = _redeemer_heartbeats(seed, lose_redemption=True)
        if got is None:
            continue
        beats, a, c = got
        assert beats and not beats[0] & PING_KEYED, (seed, beats)
        assert c.peer.peer_id in a.peer.table
        assert all(f & PING_KEYED for f in beats[1:]), (seed, beats)
        checked += 1
    assert checked >= 2


def test_a_reflection_round_pings_the_reflectors_that_hold_us_keyed() -> None:
    """x is connected to three Static peers that hold it; a round it starts (as it does when
    nothing was heard for keep_alive, SPEC 5) pings two or three of them with PING_REFLECT,
    keyed: their PONGs' observed addresses, proven by the pair tag, classify x as before,
    and no signature is made or checked for them."""
    net, a, x = pair(21)
    others = [net.add("static") for _ in range(2)]
    for o in others:
        net.call(x, x.peer.add_peer, o.public, net.now)
    net.run(3 * net.config.keep_alive / 2)  # (every pair has answered a heartbeat)
    before = x.peer.reflection.round_id, x.peer.counters().get("reflect.classified", 0)
    assert x.peer.reflection.mapping != 0 and all(e.keyed for e in x.peer.table.peers())
    flags: list[int] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING and src == x.public:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if body.flags & PING_REFLECT:
                flags.append(body.flags)
        return True

    net.filter = watch
    mapping = x.peer.reflection.mapping
    net.call(x, x.peer.reflection.start, net.now)
    net.run(2)
    assert len(flags) >= 2 and all(f & PING_KEYED for f in flags), flags
    assert x.peer.reflection.round_id == before[0] + 1 and x.peer.reflection.round_started is None
    assert x.peer.counters().get("reflect.classified", 0) == before[1] + 1
    assert x.peer.reflection.mapping == mapping
    for n in [a, x, *others]:
        assert n.peer.counters().get("drop.proof", 0) == 0
