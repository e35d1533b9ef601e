"""Issue 12 on the in-memory network: NAT types reach introducers at once, so peers that join
right after starting are introduced with the right SPEC 5 strategy within a second; a relay
path exists from the first INTRO; a Static peer lets the NATed side dial; a public peer bound
to a wildcard address proves it is Static. (The same, measured on real kernel NATs: tests/lab,
docs/NATLAB.md.)"""
from __future__ import annotations

from srpfast.wire.bodies import NAT_EASY, NAT_HARD, NAT_STATIC
from srpfast.control.events import StreamData
from srpfast.crypto import create_cluster_id, create_shared_key
from tests.memnet import MemNet

CLUSTER = create_cluster_id(b"nat freshness")
KEY = create_shared_key(b"nat freshness sub")


def _join_at_once(seed: int, kinds: tuple[str, ...]):
    """Two Static peers and ``kinds``, all bootstrapped on s1 (the NATed ones on s2 too) and
    joining at once, like an application that calls subcluster() right after start. A fixed
    delay keeps each path in order, like the lab's links (a JOIN that overtakes the PONG
    proving its sender is not introduced: membership.py)."""
    net = MemNet(seed=seed, delay=(0.005, 0.005))
    s1, s2 = net.add("static"), net.add("static")
    others = [net.add(k) for k in kinds]
    net.call(s2, s2.peer.add_peer, s1.public, net.now)
    for n in others:
        net.call(n, n.peer.add_peer, s1.public, net.now)
    for n in (s1, s2, *others):
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    return net, s1, s2, others


def _mapping(holder, peer) -> int:
    entry = holder.peer.table.get(peer.peer.peer_id)
    return -1 if entry is None else entry.nat & 0x0F


def test_nat_types_reach_the_introducer_within_a_second_not_a_keep_alive() -> None:
    net, s1, s2, (e, h) = _join_at_once(21, ("easy", "hard"))
    net.run(1.0)
    assert e.peer.nat == "easy" and h.peer.nat == "hard"
    assert (_mapping(s1, e), _mapping(s1, h)) == (NAT_EASY, NAT_HARD)
    assert e.peer.counters().get("reflect.told", 0) >= 1
    assert e.peer.counters().get("join.renew", 0) >= 1
    # ... and the pair was introduced again with them: the Easy side sprays, the Hard side
    # opens a pool (SPEC 5), long before the first keep-alive (30 s).
    assert e.peer.counters().get("intro.spray", 0) >= 1
    assert h.peer.counters().get("intro.pool", 0) >= 1
    net.run(14)
    assert h.peer.counters().get("pool.kept", 0) == 1
    assert e.peer.peer_id in h.peer.table and h.peer.peer_id in e.peer.table


def test_join_body_nat_updates_the_joiners_entry() -> None:
    net, s1, s2, (e,) = _join_at_once(22, ("easy",))
    net.run(1.0)
    entry = s1.peer.table.get(e.peer.peer_id)
    entry.nat = 0  # as if its PINGs had said "unknown" so far
    e.peer.membership.renew(net.now)
    net.call(e, lambda: None)
    net.run(0.2)
    assert _mapping(s1, e) == NAT_EASY


def test_hard_pair_talks_through_the_introducer_within_a_second_of_starting() -> None:
    net, s1, s2, (h1, h2) = _join_at_once(23, ("hard", "hard"))
    net.run(1.0)
    assert h1.peer.counters().get("intro.relay", 0) >= 1
    net.call(h1, h1.peer.stream, h2.peer.peer_id, b"relayed at once", now=net.now)
    net.run(0.2)
    assert [x.data for x in h2.of(StreamData)] == [b"relayed at once"]


def test_relay_while_punching_then_direct() -> None:
    """While the pair cannot reach each other directly, streams go through the introducer
    from the first INTRO on; once they connect directly the route is gone and streams go
    straight."""
    net, s1, s2, (e1, e2) = _join_at_once(24, ("easy", "easy"))
    nat_hosts = {e1.public[0], e2.public[0]}
    blocked = [True]  # the punch does not get through (yet)
    net.filter = lambda d, src, dst: not (blocked[0] and {src[0], dst[0]} == nat_hosts)
    net.run(1.0)
    net.call(e1, e1.peer.stream, e2.peer.peer_id, b"first", now=net.now)
    net.run(0.3)
    assert [x.data for x in e2.of(StreamData)] == [b"first"]
    assert e1.peer.counters().get("stream.relayed_out", 0) == 1
    assert e2.peer.peer_id not in e1.peer.table
    blocked[0] = False
    e1.peer.membership.renew(net.now)  # introduced again (as seek or a NAT change would)
    net.call(e1, lambda: None)
    net.run(2.0)
    assert e2.peer.peer_id in e1.peer.table
    assert e1.peer.traversal.route(e2.peer.peer_id) is None
    net.call(e1, e1.peer.stream, e2.peer.peer_id, b"second", now=net.now)
    net.run(0.5)
    assert [x.data for x in e2.of(StreamData)] == [b"first", b"second"]
    assert e1.peer.counters().get("stream.relayed_out", 0) == 1


def test_static_side_waits_for_the_natted_side_to_dial() -> None:
    """SPEC 5 "direct" between Static and NATed: the NATed side pings; the Static side sends
    nothing toward it unless it has not connected a second later."""
    net, s1, s2, (e,) = _join_at_once(25, ("easy",))
    net.run(1.0)  # e is classified and re-joined: s1 introduces it to s2 again
    sent: list[tuple] = []
    net.filter = lambda d, src, dst: sent.append((src, dst)) or True
    waits = s2.peer.counters().get("intro.wait", 0)
    e.peer.membership.renew(net.now)
    net.call(e, lambda: None)
    net.run(3.0)
    assert s2.peer.counters().get("intro.wait", 0) + \
        s2.peer.counters().get("intro.known", 0) > waits
    assert e.peer.peer_id in s2.peer.table
    # s2 never sent to e's public address before e had sent to s2 at least once.
    first_from_e = next((i for i, (src, dst) in enumerate(sent)
                         if src[0] == e.public[0] and dst == s2.public), len(sent))
    assert not [1 for src, dst in sent[:first_from_e]
                if src == s2.public and dst[0] == e.public[0]]


def test_wildcard_bound_public_peer_proves_it_is_static() -> None:
    net = MemNet(seed=26)
    s1, s2, s3 = net.add("static"), net.add("static"), net.add("static")
    # s3 is bound to 0.0.0.0:7000; the driver would report the route's source toward any
    # reflector: its own public address.
    s3.peer.set_bound_address(("0.0.0.0", s3.address[1]))
    s3.peer.reflection.local_source = lambda address, host=s3.address[0]: host
    for n in (s2, s3):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    net.call(s3, s3.peer.add_peer, s2.public, net.now)
    net.call(s1, s1.peer.add_peer, s2.public, net.now)
    net.run(3.0)
    assert s3.peer.nat == "static"
    assert s3.peer.reflection.mapping == NAT_STATIC
    # Without the route check, a wildcard bind needs open filtering evidence first.
    net2 = MemNet(seed=26)
    t1, t2, t3 = net2.add("static"), net2.add("static"), net2.add("static")
    t3.peer.set_bound_address(("0.0.0.0", t3.address[1]))
    net2.call(t3, t3.peer.add_peer, t1.public, net2.now)
    net2.call(t3, t3.peer.add_peer, t2.public, net2.now)
    net2.run(3.0)
    assert t3.peer.nat in ("easy", "static")  # Static only if a probe happened to prove it


def test_driver_route_source_is_the_kernels_choice_and_sends_nothing() -> None:
    from srpfast.drivers.udp import route_source
    assert route_source(("127.0.0.1", 9)) == "127.0.0.1"
    assert route_source(("::1", 9)) in ("::1", None)  # None: no IPv6 on this host
    assert route_source(("not an address", 9)) is None


def test_an_introduction_hands_each_side_the_others_signed_join() -> None:
    """Two Hard peers never connect: each learns the other is a member (a proven JOIN, SPEC
    9.9) from the introducer at the introduction, not from a randomly relayed copy."""
    from srpfast.config import Config
    from srpfast.control.events import Join as JoinEvent
    cfg = Config(strict=True, clock_offset=0.0, join_relay_fanout=1)
    net = MemNet(seed=27, delay=(0.005, 0.005), config=cfg)
    s1, s2 = net.add("static"), net.add("static")
    extra = [net.add("static") for _ in range(4)]  # relays that soak up random JOIN copies
    h1, h2 = net.add("hard"), net.add("hard")
    for n in (s2, *extra, h1, h2):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    for n in (s1, s2, *extra):
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    net.run(2.0)
    for n in (h1, h2):
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1.0)
    handed = sum(n.peer.counters().get("join.handed", 0) for n in net.nodes)
    assert handed >= 2
    assert h2.peer.peer_id in [e.peer_id for e in h1.of(JoinEvent)]
    assert h1.peer.peer_id in [e.peer_id for e in h2.of(JoinEvent)]


def test_static_at_the_first_pong_so_it_waits_instead_of_knocking() -> None:
    """One peer seeing our own address and port is the SPEC 5 Static test (a NAT shows its
    own address): a Static peer knows before the first INTRO arrives; a NATed one does not."""
    net = MemNet(seed=28, delay=(0.005, 0.005))
    s1, s2, e = net.add("static"), net.add("static"), net.add("easy")
    s3 = net.add("static")
    s3.peer.set_bound_address(("0.0.0.0", s3.address[1]))  # wildcard: the route decides
    s3.peer.reflection.local_source = lambda address, host=s3.address[0]: host
    for n in (s2, e, s3):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    net.run(0.05)
    assert s2.peer.nat == "static" and s3.peer.nat == "static"
    assert s2.peer.counters().get("reflect.static_at_once") == 1
    assert e.peer.nat == "unknown"
    net.call(e, e.peer.add_peer, s2.public, net.now)
    net.run(2.0)  # the regular round confirms; the Easy peer classifies with two mirrors
    assert s2.peer.nat == "static" and e.peer.nat == "easy"


def test_two_different_ports_ask_a_third_reflector_before_calling_it_hard() -> None:
    """An Easy peer whose mapping toward one reflector was remapped (a Linux NAT after a
    knock) is still Easy: the round asks a third reflector, and two agree."""
    net = MemNet(seed=29, delay=(0.005, 0.005))
    s1, s2, s3, e = (net.add("static"), net.add("static"), net.add("static"),
                     net.add("easy"))
    for n in (s2, s3):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    net.run(0.5)
    r = e.peer.reflection
    original = r.on_pong

    def remapped(peer, observed, round_id, now):  # s2 sees another port, as after a knock
        if peer.peer_id == s2.peer.peer_id:
            observed = (observed[0], observed[1] + 1)
        original(peer, observed, round_id, now)

    r.on_pong = remapped
    for n in (s1, s2, s3):
        net.call(e, e.peer.add_peer, n.public, net.now)
    net.run(2.0)
    assert e.peer.nat == "easy"
    assert e.peer.counters().get("reflect.third", 0) + (len(r.last_samples) == 3) >= 1
