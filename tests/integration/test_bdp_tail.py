"""The Easy<->Hard tail measured in the NAT lab (docs/NATLAB.md "The Easy<->Hard tail"), on
the in-memory network: an unclassified joiner is introduced to Static peers (its reflectors)
first, and the spray's second burst covers new ports."""
from __future__ import annotations

from srpfast.control.events import PoolClose, PoolOpen, Spray
from srpfast.control.traversal import SPRAY_REPEAT
from srpfast.crypto import create_cluster_id, create_shared_key
from tests.memnet import MemNet

CLUSTER = create_cluster_id(b"bdp tail")
KEY = create_shared_key(b"bdp tail sub")


def test_an_unclassified_joiner_meets_static_peers_first() -> None:
    """Three Static peers among nine members, one of them silent: a joiner whose NAT is
    unknown is introduced to the two heard from last (of intro_peers), so it can classify
    itself at once; chance alone picks those two in 7 of 84 draws."""
    net = MemNet(seed=31, delay=(0.005, 0.005))
    boot = net.add("static")
    statics = [net.add("static") for _ in range(3)]
    natted = [net.add(k) for k in ("easy", "easy", "easy", "hard", "hard", "hard")]
    for n in statics + natted:
        net.call(n, n.peer.add_peer, boot.public, net.now)
    for n in [boot, *statics, *natted]:
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    net.run(3.0)
    introduced: list[bytes] = []
    original = boot.peer.traversal.introduce

    def introduce(a, a_address, b, *rest):  # type: ignore[no-untyped-def]
        if a.peer_id == late.peer.peer_id and a.mapping == 0:
            introduced.append(b.peer_id)
        original(a, a_address, b, *rest)

    boot.peer.traversal.introduce = introduce
    # statics[0] as if gone: nothing heard from it for a while (a table keeps the dead until
    # peer_expiry); an introduction to it would be lost (it never consents).
    boot.peer.table.get(statics[0].peer.peer_id).last_seen = net.now - 20.0
    late = net.add("hard")
    net.call(late, late.peer.add_peer, boot.public, net.now)
    net.call(late, late.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1.0)
    # The first two introductions (of intro_peers; the rest is a random draw, which may
    # still pick the silent one) are the Static peers heard from last.
    assert set(introduced[:2]) == {s.peer.peer_id for s in statics[1:]}
    assert late.peer.nat == "hard"


def test_the_second_burst_sprays_new_ports() -> None:
    """SPRAY_REPEAT after the first burst, the next bdp_burst ports of the same permutation:
    no port twice (a hit needs a pool port among the ports sprayed after its opener)."""
    net = MemNet(seed=32)
    e = net.add("easy")
    sprays: list[Spray] = []
    act = e.peer.act

    def record(action):  # type: ignore[no-untyped-def]
        if isinstance(action, Spray):
            sprays.append(action)
        act(action)

    e.peer.act = record
    tr, now = e.peer.traversal, net.now
    tr._start_spray(b"h" * 32, ("198.18.9.9", 4000), b"i" * 32, now)
    tr.tick(now + SPRAY_REPEAT + 0.001)
    burst = e.peer.config.bdp_burst
    assert [(s.first, s.port_count) for s in sprays[:2]] == [(0, burst), (burst, burst)]
    assert len({s.seed for s in sprays}) == 1
    assert sprays[2].first == 2 * burst  # the paced part goes on after both bursts
    firsts = [s.first for s in sprays]
    assert firsts == sorted(set(firsts))  # no port of the permutation twice


def _recording(node):  # type: ignore[no-untyped-def]
    actions: list[object] = []
    act = node.peer.act

    def record(action):  # type: ignore[no-untyped-def]
        actions.append(action)
        act(action)

    node.peer.act = record
    return actions


def test_kept_sockets_do_not_use_up_the_pool_slots() -> None:
    """max_pools bounds pools being searched (256 sockets each); a kept socket serves one
    connected peer. A Hard peer with max_pools BDP connections still opens a pool for the
    next introduction (it refused every one before, and its partners sprayed for nothing)."""
    net = MemNet(seed=33)
    h = net.add("hard")
    tr = h.peer.traversal
    for i in range(h.peer.config.max_pools):
        tr.kept[bytes([i]) * 8] = bytes([i]) * 32
    actions = _recording(h)
    tr._start_pool(b"e" * 32, ("198.18.9.9", 4000), b"i" * 32, net.now)
    assert any(isinstance(a, PoolOpen) for a in actions)
    assert h.peer.counters().get("pool.busy", 0) == 0


def test_a_kept_socket_whose_peer_left_the_table_is_closed() -> None:
    """A peer evicted from a full table leaves without a disconnection: the sweep closes
    its kept socket (a real UDP socket under the UDP driver)."""
    net = MemNet(seed=34)
    h = net.add("hard")
    tr = h.peer.traversal
    tr.kept[b"k" * 8] = b"p" * 32  # no such peer in the table
    actions = _recording(h)
    tr.sweep_kept()
    assert actions == [PoolClose(b"k" * 8)] and not tr.kept
    assert h.peer.counters()["pool.released"] == 1


def test_the_maintenance_loop_closes_only_kept_sockets_whose_peer_is_gone() -> None:
    """The engine's own loop sweeps (Peer._maintain), within one maintenance interval; a kept
    socket whose peer is in the table on that socket stays open."""
    net = MemNet(seed=35)
    h = net.add("hard")
    tr, table = h.peer.traversal, h.peer.table
    live, gone = b"L" * 8, b"G" * 8
    tr.kept[live], tr.kept[gone] = b"l" * 32, b"g" * 32
    table.upsert(b"l" * 32, ("198.18.1.1", 4000), 0, net.now, pool=(live, 3))
    actions = _recording(h)
    net.run(2 * h.peer.config.maintenance_interval)
    assert [a for a in actions if isinstance(a, PoolClose)] == [PoolClose(gone)]
    assert list(tr.kept) == [live]
    table.upsert(b"l" * 32, ("198.18.1.1", 4000), 0, net.now)  # re-proved on the main socket
    net.run(2 * h.peer.config.maintenance_interval)
    assert PoolClose(live) in actions and not tr.kept


def test_pool_introductions_beyond_max_pools_wait_for_a_free_pool() -> None:
    """A Hard peer introduced to more Easy peers at once than it has pools (max_pools): the
    introductions beyond them wait (traversal.waiting, relayed meanwhile) and open as pools
    end, while their Easy sides still spray; here every pair is connected by BDP within
    12 s (a pool waits up to 10 s for its spray). Refused, the extra pairs stayed on the
    relay until another introducer's INTRO came. How fast varies with the draw: over seeds
    100-199 all 5 pairs were connected within 3 s in half the runs and within 12 s in ~90%,
    before and after the timer jitter (docs/NATLAB.md, "The Easy<->Hard tail")."""
    from srpfast.sim.memnet import MemNet as SimNet
    from srpfast.config import Config
    cfg = Config(clock_offset=0.0, max_pools=2)
    net = SimNet(seed=34, config=cfg)
    boot, second = net.add("static"), net.add("static")  # (two reflectors: it classifies)
    easy = [net.add("easy") for _ in range(5)]
    for n in [second, *easy]:
        net.call(n, n.peer.add_peer, boot.public, net.now)
    for n in [boot, second, *easy]:
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    net.run(5.0)
    hard = net.add("hard")
    net.call(hard, hard.peer.add_peer, boot.public, net.now)
    net.call(hard, hard.peer.join, CLUSTER, KEY, now=net.now)
    net.run(12.0)  # (a pool waits up to 10 s for its spray)
    counters = hard.peer.counters()
    assert counters.get("pool.waiting", 0) >= 1  # (more pool INTROs than pools at once)
    by_pool = {q.peer_id for q in hard.peer.table.peers() if q.pool is not None}
    assert by_pool == {n.peer.peer_id for n in easy}, counters


def test_a_side_whose_gates_refuse_the_bdp_says_so_and_the_other_opens_no_pool() -> None:
    """An Easy peer that sprayed at a Hard peer under spray_window ago (say it restarted) is
    introduced to it again: SPEC 9.3's once-per-pair-per-window gate refuses the spray, and
    the Easy side's consent (JOIN_ASK) carries NO_BDP, so the Hard side opens no pool (it had
    waited 10 s with 256 sockets, one of max_pools, for a spray that never came) and the
    pair keeps the introducer's relay route."""
    from srpfast.config import Config
    from srpfast.sim.memnet import MemNet as SimNet
    net = SimNet(seed=35, config=Config(clock_offset=0.0))
    boot, second, easy = net.add("static"), net.add("static"), net.add("easy")
    for n in (second, easy):
        net.call(n, n.peer.add_peer, boot.public, net.now)
    for n in (boot, second, easy):
        net.call(n, n.peer.join, CLUSTER, KEY, now=net.now)
    net.run(3.0)
    hard = net.add("hard")
    easy.peer.traversal.spray_gate.put(hard.peer.peer_id, True, net.now)  # (sprayed lately)
    pools: list[bytes] = []
    start_pool = hard.peer.traversal._start_pool

    def record(peer_id, *rest):  # type: ignore[no-untyped-def]
        pools.append(peer_id)
        return start_pool(peer_id, *rest)

    hard.peer.traversal._start_pool = record  # type: ignore[method-assign]
    net.call(hard, hard.peer.add_peer, boot.public, net.now)
    net.call(hard, hard.peer.join, CLUSTER, KEY, now=net.now)
    net.run(12.0)
    c = hard.peer.counters()
    assert easy.peer.counters().get("spray.gated", 0) >= 1
    assert easy.peer.counters().get("spray.probes", 0) == 0
    # Each INTRO about it that carried easy's consent declined; a pool opened only where the
    # Hard side acted first (an INTRO whose proof is easy's JOIN, no consent yet).
    assert c.get("bdp.declined", 0) >= 1, c
    assert len(pools) == (c.get("intro.pool", 0) - c["bdp.declined"]
                          - c.get("bdp.unproven", 0)), (pools, c)
    assert easy.peer.peer_id in hard.peer.traversal.routes  # (relayed through an introducer)
