"""Which PINGs are keyed (PROTOCOL.md §3, "Keyed heartbeats"; SECURITY.md 9.2): once the
other side is seen to hold us, by an unchallenged PONG, a tagged SYNC or a keyed PING, our
heartbeats and reflection PINGs to it carry the pair's tag instead of an Ed25519 signature;
until then (a redemption lost) they stay signed."""
from __future__ import annotations

from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import PING_HEARTBEAT, PING_KEYED, PING_REFLECT, Ping, decode_body
from srpfast.wire.frame import decode
from tests.memnet import MemNet, Node, pair, ping_flags


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



def _redeemer_runs(lose_redemption: bool) -> list[tuple[int, list[int], Node, Node]]:
    """(seed, c's heartbeat flags, a, c) of every seed 1..12 whose ids fit the set-up
    (_redeemer_heartbeats); at least two do."""
    runs = []
    for seed in range(1, 13):
        got = _redeemer_heartbeats(seed, lose_redemption=lose_redemption)
        if got is not None:
            runs.append((seed, *got))
    assert len(runs) >= 2
    return runs

def test_the_redeemers_first_heartbeat_is_keyed_once_a_tagged_sync_shows_it_is_held() -> None:
    """c redeemed a's challenge, so no unchallenged PONG has shown c that a holds it; a's
    tagged SYNC (its cache differs from c's, so it compares them on the redemption, SPEC 6)
    does: a tags SYNC only for a peer it holds. So c's first heartbeat is keyed (it was
    signed, and so was a's answer: ~190 us of Ed25519 for each pair made by a challenge)."""
    for seed, beats, a, c in _redeemer_runs(lose_redemption=False):
        assert c.peer.counters().get("rx.sync", 0) >= 1
        assert beats and all(f & PING_KEYED for f in beats), (seed, beats)
        assert a.peer.counters().get("drop.proof", 0) == 0


def test_a_redeemer_whose_answer_was_lost_stays_signed_until_it_is_held() -> None:
    """The same, with c's answer to a's challenge lost: a does not hold c, so sends it no
    SYNC, and nothing keys c's pings: its recheck goes signed (challenge_recheck later), is
    challenged again, and a holds c after that second redemption."""
    for seed, beats, a, c in _redeemer_runs(lose_redemption=True):
        assert beats and not beats[0] & PING_KEYED, (seed, beats)
        assert c.peer.peer_id in a.peer.table
        assert all(f & PING_KEYED for f in beats[1:]), (seed, beats)


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
        f = ping_flags(d) if src == x.public else None
        if f is not None and f & PING_REFLECT:
            flags.append(f)
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


def _silent_for_keep_alive(seed: int, lose_pongs: bool, stagger: float = 0.0
                           ) -> tuple[int, int, list[float]]:
    """x holds three Static peers; then, as for the peers of the simulator's join storm,
    nothing has been heard for keep_alive when its heartbeats to all of them fall due in
    one maintenance pass (their state moved back so). Returns (reflection rounds started,
    reflect.deferred, times of its PING_REFLECTs) over the next 2 x reflect_timeout.
    ``stagger``: one peer's heartbeat falls due that much later."""
    net, a, x = pair(seed)
    for o in [net.add("static") for _ in range(2)]:
        net.call(x, x.peer.add_peer, o.public, net.now)
    net.run(3 * net.config.keep_alive / 2)
    r = x.peer.reflection
    assert r.round_started is None and r.mapping != 0 and not r.failures
    back = net.now - 1.5 * net.config.keep_alive - 1
    for k, q in enumerate(x.peer.table.peers()):
        q.last_ping = q.last_sent = q.last_seen = back
        if stagger and k == 0:  # (due at now + stagger)
            q.last_ping = q.last_sent = net.now + stagger - x.peer.heartbeats.every(q)
        x.peer.heartbeats.sooner(q)
    r.last_told = r.last_heard = back
    r.next_round = net.now
    rounds, deferred = r.round_id, x.peer.counters().get("reflect.deferred", 0)
    reflect_pings: list[float] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        f = ping_flags(d) if src == x.public else None
        if f is not None and f & PING_REFLECT:
            reflect_pings.append(net.now)
        return not (lose_pongs and len(d) > 4 and d[4] == C.PONG and dst == x.public
                    and not reflect_pings)

    net.filter = watch
    start = net.now
    net.run(2 * net.config.reflect_timeout)
    return (r.round_id - rounds, x.peer.counters().get("reflect.deferred", 0) - deferred,
            [t - start for t in reflect_pings])


def test_no_reflection_round_while_the_heartbeats_answers_are_on_their_way() -> None:
    """Nothing heard for keep_alive (SPEC 5: re-run reflection), but the heartbeats went
    out in the same pass: their PONGs say where they saw us, so the round waits
    reflect_timeout for them and, when they come, does not run (99 of 99 rounds in the
    simulator's window after its join storm were such: ~8 frames and ~10 Ed25519
    operations each)."""
    rounds, deferred, pings = _silent_for_keep_alive(31, lose_pongs=False)
    assert (rounds, pings) == (0, []) and deferred >= 1


def test_the_round_runs_when_the_heartbeats_go_unanswered() -> None:
    """The same with every PONG to x lost: the round runs reflect_timeout after the
    heartbeats, not in their pass."""
    rounds, deferred, pings = _silent_for_keep_alive(31, lose_pongs=True)
    timeout = MemNet(seed=31).config.reflect_timeout
    assert rounds == 1 and deferred == 1 and pings
    assert timeout - 0.1 <= pings[0] <= timeout + 1.5, pings


def test_a_keyed_ping_from_the_peer_shows_it_holds_us() -> None:
    """c (classified off d first; a member, a not; both caches empty, so no SYNC flows)
    contacts a, whose id is smaller, and redeems a's challenge: no unchallenged PONG tells c
    that a holds it. a's first heartbeat, a keyed PING (a holds c since the redemption),
    does: a keys a PING only to a peer it holds. From then c's own PINGs to a (a reflection
    round's, a backup heartbeat) are keyed too."""
    checked = 0
    for seed in range(1, 13):
        net = MemNet(seed=seed)
        a, c, d = net.add("static"), net.add("static"), net.add("static")
        if not a.peer.peer_id < c.peer.peer_id:
            continue
        net.call(c, c.peer.add_peer, d.public, net.now)
        net.run(3)
        net.call(c, c.peer.join, bytes(range(32)), bytes(range(1, 33)), now=net.now)
        seen: list[tuple[bool, bool]] = []  # (keyed PING from a, c's entry for a keyed) in order
        pongs_to_c: list[int] = []

        def watch(b: bytes, src: Address, dst: Address) -> bool:
            if len(b) > 4 and b[4] in (C.PING, C.PONG) and src == a.public and dst == c.public:
                body = decode_body(b[4], decode(b).message)
                if b[4] == C.PONG:
                    pongs_to_c.append(getattr(body, "challenge"))
                    return True
                assert isinstance(body, Ping)
                entry = c.peer.table.get(a.peer.peer_id)
                seen.append((bool(body.flags & PING_KEYED), bool(entry and entry.keyed)))
            return True

        net.filter = watch
        net.call(c, c.peer.add_peer, a.public, net.now)
        net.run(2)
        entry = c.peer.table.get(a.peer.peer_id)
        assert pongs_to_c and all(pongs_to_c), (seed, pongs_to_c)  # (every PONG: a challenge)
        assert seen and seen[0] == (True, False), (seed, seen)  # (not keyed before a's PING)
        assert entry is not None and entry.keyed, seed
        assert c.peer.counters().get("rx.sync", 0) == 0
        checked += 1
    assert checked >= 2


def test_heartbeats_that_keep_going_unanswered_put_the_round_off_once() -> None:
    """As above, with one more heartbeat due 2 s after the others (also unanswered): the
    round is put off once, reflect_timeout after the first ones, not again for the later
    heartbeat (nor for each of a large table's, due one after the other)."""
    rounds, deferred, pings = _silent_for_keep_alive(31, lose_pongs=True, stagger=2.0)
    timeout = MemNet(seed=31).config.reflect_timeout
    assert rounds == 1 and deferred == 1 and pings
    assert timeout - 0.1 <= pings[0] <= timeout + 1.5, pings


def test_a_pong_that_sees_us_elsewhere_starts_a_round_at_once() -> None:
    """SPEC 5: re-run reflection "when the network changes". A proven PONG that saw us at
    another port starts a round on the next tick: the skip rule (nothing new while PONGs keep
    coming) must not hold it back, although that very PONG is one that came. It did: the
    change waited for KEEP_ALIVE of silence, which PONGs from our peers never left."""
    from srpfast.wire.bodies import NAT_UNKNOWN
    net = MemNet(seed=5)
    x, *others = [net.add("static") for _ in range(4)]
    for o in others:
        net.call(x, x.peer.add_peer, o.public, net.now)
    net.run(5)
    r = x.peer.reflection
    assert r.mapping != NAT_UNKNOWN and r.round_started is None and r.public is not None
    host, port = r.public[0], r.public[1]
    peer = x.peer.table.peers()[0]
    r.on_pong(peer, (host, port + 1), 0, net.now)
    assert x.peer.counters()["reflect.change"] == 1
    r.tick(net.now)
    assert r.round_started is not None and not r.changed
