"""Keep-alive from one side of a connection (PROTOCOL.md "Keep-alive"): the smaller peer id
pings every keep_alive, the other only as a backup after HEARTBEAT_BACKUP x keep_alive; an
answered PING from a confirmed peer counts as the answerer's own heartbeat; an unanswered
heartbeat goes once more; a lost challenge answer is rechecked soon, less often while the
peer keeps challenging (handshake.on_pong)."""
from __future__ import annotations

from dataclasses import replace

import pytest
from typing import Callable

from srpfast.control.heartbeats import HEARTBEAT_BACKUP, HEARTBEAT_RETRY
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import PING_HEARTBEAT, PING_KEYED, Ping, decode_body
from srpfast.wire.frame import decode
from tests.memnet import MemNet, Node, pair, ping_flags


def _ordered(net: MemNet, a: Node, b: Node) -> tuple[Node, Node]:
    return (a, b) if a.peer.peer_id < b.peer.peer_id else (b, a)


def _dropping_answers(small: Node, large: Node, lost: list[int],
                      on_heartbeat: "Callable[[Ping], None]"):  # type: ignore[no-untyped-def]
    """A filter that shows ``on_heartbeat`` each heartbeat PING small sends (it may add the
    ping's request id to ``lost``) and drops large's PONGs answering the ids in ``lost``."""
    def filt(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING and src == small.public:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if body.flags & PING_HEARTBEAT:
                on_heartbeat(body)
        if len(d) > 4 and d[4] == C.PONG and src == large.public:
            body = decode_body(C.PONG, decode(d).message)
            return getattr(body, "request_id", None) not in lost
        return True
    return filt


def _is_retry(net: MemNet, small: Node, large: Node) -> bool:
    """small's heartbeat PING just sent is a retry (heartbeats.py): a retry keeps the
    heartbeat's time as the pair's last ping, a heartbeat sets it to now. (Both are keyed.)"""
    entry = small.peer.table.get(large.peer.peer_id)
    return entry is not None and entry.last_ping != net.now


def _heartbeats(net: MemNet) -> list[tuple[float, Address, Address]]:
    """Records (time, source, destination) of every heartbeat PING sent; lets all through."""
    seen: list[tuple[float, Address, Address]] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if body.flags & PING_HEARTBEAT:
                seen.append((net.now, src, dst))
        return True

    net.filter = watch
    return seen


def test_only_the_smaller_id_sends_heartbeats_while_both_are_up() -> None:
    net, a, b = pair(5)
    small, large = _ordered(net, a, b)
    seen = _heartbeats(net)
    ka = net.config.keep_alive
    net.run(5 * ka)
    from_small = [t for t, src, _ in seen if src == small.public]
    from_large = [t for t, src, _ in seen if src == large.public]
    assert len(from_small) >= 4 and from_large == []
    assert all(t2 - t1 <= ka + 2 * net.config.maintenance_interval
               for t1, t2 in zip(from_small, from_small[1:]))
    assert small.peer.peer_id in large.peer.table and large.peer.peer_id in small.peer.table


def test_the_larger_id_pings_when_the_smaller_one_stops() -> None:
    """The smaller side's PINGs are lost (an asymmetric path, or it lost its entry): the
    larger side's backup heartbeat keeps the connection, HEARTBEAT_BACKUP x keep_alive apart."""
    net, a, b = pair(6)
    small, large = _ordered(net, a, b)
    ka = net.config.keep_alive
    seen: list[float] = []

    def drop_small_pings(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING:
            if src == small.public:
                return False
            seen.append(net.now)
        return True

    net.filter = drop_small_pings
    start = net.now
    net.run(6 * ka)
    assert seen and seen[0] - start <= HEARTBEAT_BACKUP * ka + 2 * net.config.maintenance_interval
    assert all(t2 - t1 <= HEARTBEAT_BACKUP * ka + 2 * net.config.maintenance_interval
               for t1, t2 in zip(seen, seen[1:]))
    assert small.peer.peer_id in large.peer.table and large.peer.peer_id in small.peer.table


def test_a_lost_challenge_answer_is_retried_within_seconds_whichever_id_is_larger() -> None:
    """x pings y, y answers with a challenge, x's answer is lost: x thinks it is connected,
    y does not know x. (x's first heartbeat follows at once, as for any new peer: its
    answer is lost too.) x pings again challenge_recheck later, whether x is the side that
    heartbeats every keep_alive (smaller id) or only as a backup (larger id); y's own pings
    to x are dropped here so only that recheck can close the half-open connection."""
    orders = set()
    for seed in (90, 91):
        for swap in (False, True):
            net = MemNet(seed=seed)
            x, y = net.add("static"), net.add("static")
            if swap:
                x, y = y, x
            dropped: list[bytes] = []

            def lose(d: bytes, src: Address, dst: Address,
                     x: Node = x, y: Node = y, dropped: list[bytes] = dropped) -> bool:
                if len(d) > 4 and dst == x.public and d[4] == C.PING:
                    return False  # y never learns x from its own pings
                if len(d) > 4 and d[4] == C.PONG and dst == y.public and len(dropped) < 2:
                    dropped.append(d)  # x's answers to y's challenges
                    return False
                return True

            net.filter = lose
            net.call(x, x.peer.add_peer, y.public, net.now)
            net.run(3 + net.config.challenge_recheck)
            larger = x.peer.peer_id > y.peer.peer_id
            orders.add(larger)
            assert len(dropped) == 2 and x.peer.peer_id in y.peer.table, f"x has the larger id: {larger}"
    assert orders == {False, True}


def test_an_unanswered_heartbeat_goes_once_more_and_keeps_a_lossy_pair_connected() -> None:
    """The answers to three heartbeats in a row are lost (only one side pings, so nothing
    else is heard for ~90 s = peer_expiry): each heartbeat goes once more (keyed too)
    HEARTBEAT_RETRY later, those answers arrive, and the pair stays connected; the
    heartbeats keep their keep_alive spacing. (Each answered retry is a reconnection, whose
    SYNC may fall a hair under sync_interval after the previous one: then one more keyed
    heartbeat goes when sync_interval has passed, handshake.on_pong.)"""
    net, a, b = pair(8)
    small, large = _ordered(net, a, b)
    ka = net.config.keep_alive
    # (time, request id, not a retry) of small's heartbeats
    pings: list[tuple[float, int, bool]] = []
    lost: list[int] = []

    def heartbeat(body: Ping) -> None:
        assert body.flags & PING_KEYED
        keyed = not _is_retry(net, small, large)  # ("keyed": a heartbeat, not a retry)
        pings.append((net.now, body.request_id, keyed))
        if keyed and len(lost) < 3:
            lost.append(body.request_id)

    net.filter = _dropping_answers(small, large, lost, heartbeat)
    net.run(5 * ka)
    assert len(lost) == 3
    assert small.peer.peer_id in large.peer.table and large.peer.peer_id in small.peer.table
    assert small.peer.counters().get("disconnections", 0) == 0
    retries = [t2 - t1 for (t1, r1, _), (t2, _, k2) in zip(pings, pings[1:])
               if not k2 and r1 in lost]
    assert len(retries) == 3 and all(r <= HEARTBEAT_RETRY * ka + 2 for r in retries)
    assert len([k for _, _, k in pings if not k]) == 3  # (no other retry)
    keyed = [t for t, _, k in pings if k]
    assert all(t2 - t1 <= ka + 2 for t1, t2 in zip(keyed, keyed[1:]))


def _full_peer_and_newcomer() -> tuple[MemNet, Node, list[Node], Node, list[float]]:
    """A peer whose table (max_peers 2) is full of active peers, and a newcomer; returns
    (net, full, its two peers, newcomer, the times of the newcomer's PINGs to full)."""
    net = MemNet(seed=12)
    full = net.add("static", config=replace(net.config, max_peers=2))
    others = [net.add("static") for _ in range(2)]
    for o in others:
        net.call(o, o.peer.add_peer, full.public, net.now)
    net.run(5)
    assert len(full.peer.table) == 2
    newcomer = net.add("static")
    pings: list[float] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING and src == newcomer.public and dst == full.public:
            pings.append(net.now)
        return True

    net.filter = watch
    return net, full, others, newcomer, pings


def test_a_peer_that_keeps_refusing_us_is_rechecked_less_and_less_often() -> None:
    """A full table (its peers all active) answers every PING of a newcomer with a new
    challenge and never enters it. The newcomer's recheck after answering a challenge
    doubles each time it is challenged again (and after 5 it gives the full peer up: the
    next test): it does not ping once a second for ever (3 frames and 3 signatures a second
    at the full peer)."""
    net, full, others, newcomer, pings = _full_peer_and_newcomer()
    net.call(newcomer, newcomer.peer.add_peer, full.public, net.now)
    net.run(120)
    assert newcomer.peer.peer_id not in full.peer.table
    assert full.peer.counters()["drop.table_full"] >= 3
    assert len(pings) <= 12, len(pings)  # 1, 2, 4, 8, 16 s, then every heartbeat
    assert pings[1] - pings[0] <= net.config.challenge_recheck + 1.5


def test_a_peer_that_keeps_refusing_us_is_given_up_and_rejoined_ever_later() -> None:
    """A full bootstrap peer challenges every answer of a newcomer that has another peer.
    After REFUSED_AFTER challenges in a row the newcomer gives it up (no heartbeats, its
    entry expires), and the bootstrap rejoin leaves its address alone for 2, 4, 8 ...
    keep_alives; each later try is given up at its second challenge. Pinging it at every
    heartbeat was a signed round (3 signatures, 3 checks) for nothing, for ever."""
    from srpfast.control.handshake import REFUSED_AFTER
    net, full, others, newcomer, pings = _full_peer_and_newcomer()
    net.call(newcomer, newcomer.peer.add_peer, others[1].public, net.now)
    net.call(newcomer, newcomer.peer.add_peer, full.public, net.now)
    ka = net.config.keep_alive
    net.run(40)
    c = newcomer.peer.counters()
    assert c["peer.refused"] == 1 and len(pings) <= REFUSED_AFTER + 2, pings
    net.run(20 * ka)
    c = newcomer.peer.counters()
    assert newcomer.peer.peer_id not in full.peer.table
    assert full.public not in [p.address for p in newcomer.peer.table.peers()
                               if not p.refused]
    assert c["bootstrap.rejoin_refused"] >= 3
    # tries after the first: at most 2 PINGs each, ever further apart
    assert 2 <= c["peer.refused"] <= 4 and len(pings) <= REFUSED_AFTER + 1 + 2 * 3, (
        c["peer.refused"], pings)
    assert others[1].peer.peer_id in newcomer.peer.table  # (its other peer is untouched)


def test_no_heartbeat_goes_again_on_a_lossless_network() -> None:
    """Nothing is lost, so every heartbeat is answered and none goes again (the signed
    HEARTBEAT_RETRY, which also marks the pair reconnected: PeerEntry.lost, a SYNC round).
    A filtering probe (traversal.on_intro: a PING with its own request id, whose PONG is
    consumed as ``probe.answered``) to a peer's main address used to count as our heartbeat
    to it: 5 s later its answer looked missing, and the pair counted as reconnected about
    once a minute (19 retries among 4 peers in 10 minutes)."""
    net = MemNet(seed=10, delay=(0.0002, 0.002))
    nodes = [net.add("static") for _ in range(4)]
    for i, x in enumerate(nodes[1:], 1):
        for via in nodes[:min(i, 2)]:
            net.call(x, x.peer.add_peer, via.public, net.now)
    net.run(60)
    by_address = {x.public: x for x in nodes}
    told = {x.public: x.peer.counters().get("reflect.told", 0) for x in nodes}
    told_at: dict[Address, float] = {}
    retries: list[tuple[float, Address, Address]] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if body.flags & PING_HEARTBEAT and not body.flags & PING_KEYED:
                # (signed heartbeats also go to every peer when our NAT byte changes:
                # reflection._tell, counted reflect.told; those are not retries)
                now_told = by_address[src].peer.counters().get("reflect.told", 0)
                if now_told != told[src]:
                    told[src], told_at[src] = now_told, net.now
                if told_at.get(src) != net.now:
                    retries.append((net.now, src, dst))
        return True

    net.filter = watch
    before = [x.peer.counters() for x in nodes]
    for _ in range(10):
        # A reflection round (and its filtering probes) per peer a minute: rounds no longer
        # run by themselves while PINGs or PONGs are heard (reflection.tick, SPEC 5).
        for x in nodes:
            net.call(x, x.peer.reflection.start, net.now)
        net.run(60)
    probes = sum(x.peer.counters().get("probe.answered", 0) - b.get("probe.answered", 0)
                 for x, b in zip(nodes, before))
    assert probes > 0  # (the probes this test is about did happen)
    assert retries == []


def test_a_peer_that_lost_us_takes_our_keyed_heartbeat_as_a_first_contact() -> None:
    """The larger id restarts with the same identity and address (a new process: it holds
    nobody). The smaller id's next heartbeat is keyed (handshake.py, "Keyed heartbeats"): its
    tag still proves its key, so the restarted peer challenges it like any unproven PING and
    holds it again one exchange later, not at the retry HEARTBEAT_RETRY (5 s) later."""
    import random as _random
    from srpfast.control.engine import Peer
    net, a, b = pair(9)
    small, large = _ordered(net, a, b)
    net.run(40)
    large.peer = Peer(large.peer.identity, net.config, now=net.now, rng=_random.Random(9),
                      address=large.address)
    beats: list[tuple[float, bool]] = []

    def watch(d: bytes, src: Address, dst: Address) -> bool:
        if len(d) > 4 and d[4] == C.PING and src == small.public and dst == large.public:
            body = decode_body(C.PING, decode(d).message)
            assert isinstance(body, Ping)
            if body.flags & PING_HEARTBEAT:
                beats.append((net.now, bool(body.flags & PING_KEYED)))
        return True

    net.filter = watch
    held_at = None
    for _ in range(400):
        net.run(0.1)
        if held_at is None and small.peer.peer_id in large.peer.table:
            held_at = net.now
            break
    assert beats and beats[0][1] and held_at is not None  # (the first heartbeat was keyed)
    assert held_at - beats[0][0] < 1, (beats, held_at)


def test_a_heartbeat_whose_retry_is_lost_too_goes_a_second_time() -> None:
    """The answers to three heartbeats in a row AND to their first retries are lost (30%
    loss does that about 1 period in 4): the second retry, 2 x HEARTBEAT_RETRY after the
    heartbeat, is answered and the pair stays connected; with one retry nothing was heard for
    ~90 s (peer_expiry) and the pair dropped."""
    net, a, b = pair(8)
    small, large = _ordered(net, a, b)
    ka = net.config.keep_alive
    sent: list[tuple[float, bool]] = []  # (time, not a retry) of small's heartbeats
    lost: list[int] = []

    def heartbeat(body: Ping) -> None:
        assert body.flags & PING_KEYED
        keyed = not _is_retry(net, small, large)  # ("keyed": a heartbeat, not a retry)
        sent.append((net.now, keyed))
        # the heartbeat, or its first retry (the retry right after it)
        if (keyed or sent[-2][1]) and len(lost) < 6:
            lost.append(body.request_id)

    net.filter = _dropping_answers(small, large, lost, heartbeat)
    net.run(5 * ka)
    assert len(lost) == 6
    assert small.peer.peer_id in large.peer.table and large.peer.peer_id in small.peer.table
    assert small.peer.counters().get("disconnections", 0) == 0
    second = [t2 - t0 for (t0, k0), (_, k1), (t2, k2) in zip(sent, sent[1:], sent[2:])
              if k0 and not k1 and not k2]
    assert len(second) == 3 and all(r <= 2 * HEARTBEAT_RETRY * ka + 2 for r in second)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_pair_busy_both_ways_needs_no_heartbeat_until_it_goes_quiet(seed: int) -> None:
    """Traffic both ways stands for a heartbeat (heartbeats.py, "Only an idle pair"): two
    fellow members publishing in turn exchange tagged HAVEs (lazy push) every few seconds,
    which keep NAT state and show each side the other is alive, so neither pings. Once they
    go quiet the smaller id's heartbeat is back within a keep_alive."""
    from srpfast.control.announce import digest_window
    from tests.memnet import joined_pair
    cluster = bytes(range(32))
    net, a, b, sub = joined_pair(seed, cluster, bytes(range(1, 33)))
    small, large = _ordered(net, a, b)
    ka = net.config.keep_alive
    net.run(2 * ka)  # (connected and synced; the first heartbeats have gone)
    entry = small.peer.table.get(large.peer.peer_id)
    while net.now - entry.last_ping > 1:  # (just after a heartbeat: none is due at once)
        net.run(0.5)
    seen = _heartbeats(net)
    have_before = small.peer.counters().get("rx.have", 0)
    busy_until = net.now + 4 * ka
    turn = 0
    while net.now < busy_until:
        node = (a, b)[turn % 2]
        net.call(node, node.peer.publish, sub, b"turn %d" % turn, now=net.now)
        turn += 1
        net.run(ka / 6)
    assert small.peer.counters().get("rx.have", 0) - have_before >= turn // 2
    assert seen == [], seen  # no heartbeat while tagged traffic went both ways
    quiet = net.now
    net.run(3 * ka)
    # (Digests name the recent ids for digest_window after the last message, and a pull or
    # late HAVE may follow: traffic both ways about that long, then a keep_alive of silence.)
    from_small = [t for t, src, _ in seen if src == small.public]
    bound = digest_window(net.config) + 1.5 * ka
    assert from_small and from_small[0] - quiet <= bound, (from_small, quiet)
    assert small.peer.peer_id in large.peer.table and large.peer.peer_id in small.peer.table


def test_the_challengers_first_heartbeat_is_keyed() -> None:
    """A peer c contacts a (classified, connected to b): a challenges c, c redeems, and only
    then does a hold c. c had entered a before redeeming, so a's heartbeats to c are keyed
    from the first; they were signed until one of them happened to be answered (~190 us of
    Ed25519 for each new pair, two in three heartbeats of the simulator's steady part under
    churn). Seeds where a has the smaller id, so a is the side that pings."""
    checked = 0
    for seed in range(1, 13):
        net = MemNet(seed=seed)
        a, b = net.add("static"), net.add("static")
        net.call(b, b.peer.add_peer, a.public, net.now)
        net.run(5)
        c = net.add("static")
        if not a.peer.peer_id < c.peer.peer_id:
            continue
        pings: list[int] = []

        def watch(d: bytes, src: Address, dst: Address) -> bool:
            f = ping_flags(d) if src == a.public and dst == c.public else None
            if f is not None and f & PING_HEARTBEAT:
                pings.append(f)
            return True

        net.filter = watch
        net.call(c, c.peer.add_peer, a.public, net.now)
        net.run(2 * net.config.keep_alive)
        assert pings and all(f & PING_KEYED for f in pings), (seed, pings)
        checked += 1
    assert checked >= 2

