"""A bootstrap peer whose table is full still gets a newcomer into the network (PROTOCOL.md
§3 "A full table"): it does not keep the newcomer, but answers its JOIN with introductions
to its own peers (membership.refer). Before, such a newcomer held only bootstrap peers that
did not hold it: connected in its own eyes, reached by nobody (the simulator's scale run:
half the subscribers of 3,000 peers with 8 bootstrap peers got no message)."""
from __future__ import annotations

from dataclasses import replace

from srpfast.crypto import create_cluster_id, create_shared_key
from tests.memnet import MemNet, Node, delivered

CLUSTER = create_cluster_id(b"full bootstrap")
KEY = create_shared_key(b"full bootstrap subcluster")


def _full_peer_with_members(seed: int, kinds: tuple[str, str]
                            ) -> tuple[MemNet, Node, list[Node]]:
    """A Static peer whose table (max_peers 2) is full of two members of one subcluster."""
    net = MemNet(seed=seed)
    full = net.add("static", config=replace(net.config, max_peers=2))
    members = [net.add(kind) for kind in kinds]
    for m in members:
        net.call(m, m.peer.add_peer, full.public, net.now)
        net.call(m, m.peer.join, CLUSTER, KEY, now=net.now)
    net.run(5)
    assert len(full.peer.table) == 2
    return net, full, members


def test_a_full_bootstrap_peer_introduces_the_newcomer_it_cannot_hold() -> None:
    net, full, members = _full_peer_with_members(21, ("static", "easy"))

    newcomer = net.add("easy")  # knows only the full peer, as a process started with it
    net.call(newcomer, newcomer.peer.add_peer, full.public, net.now)
    sub = net.call(newcomer, newcomer.peer.join, CLUSTER, KEY, now=net.now)
    net.run(10)

    assert newcomer.peer.peer_id not in full.peer.table  # still no room for it there ...
    c = full.peer.counters()
    assert c["drop.table_full"] >= 1 and c["join.referred"] >= 1, c
    # ... but both members now hold it, introduced by the full peer (one Static, pinged
    # directly; one behind an Easy NAT, reached by the PING strategy both sides run)
    for m in members:
        assert newcomer.peer.peer_id in m.peer.table, m.kind
        assert m.peer.peer_id in newcomer.peer.table
    # and it gets the subcluster's messages
    mid = net.call(members[0], members[0].peer.publish, sub, b"welcome", now=net.now)
    net.run(2)
    assert len(delivered(newcomer, mid)) == 1


def test_a_referral_needs_the_round_trip_and_goes_to_the_proven_address_only() -> None:
    """A JOIN from a peer the full table refused is introduced only from the address that
    redeemed our challenge (SPEC 9.2/9.3: no introduction aimed at an unproven address), and
    a peer that never redeemed one is not introduced at all."""
    net, full, _ = _full_peer_with_members(22, ("static", "static"))
    newcomer = net.add("static")
    net.call(newcomer, newcomer.peer.add_peer, full.public, net.now)
    net.run(3)
    referred = full.peer.membership.referred_peer(newcomer.peer.peer_id)
    assert referred is not None and referred.address == newcomer.public
    assert newcomer.peer.peer_id not in full.peer.table
    # the same identity's JOIN from elsewhere is not introduced
    ms = full.peer.membership
    before = full.peer.counters().get("join.referred", 0)
    ms.referred.put(newcomer.peer.peer_id, replace(referred, address=("10.9.9.9", 7000)),
                    net.now)
    net.call(newcomer, newcomer.peer.join, CLUSTER, KEY, now=net.now)
    net.run(3)
    assert full.peer.counters().get("join.referred", 0) == before
