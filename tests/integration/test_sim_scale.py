"""The simulator's engine room at scale (srpfast/sim/memnet.py, srpfast/sim/scale.py): one
seed gives the same run bit for bit (timer heap, NAT boxes, churn, BDP sprays), and the
per-node counters the scenario metrics read are filled in."""
from __future__ import annotations

from dataclasses import asdict

from srpfast.control.events import PoolClose, PoolKeep, PoolOpen, PoolSend, Spray
from srpfast.sim import scale
from srpfast.sim.memnet import MemNet, spray_ports
from tests.memnet import joined_pair


def _facts(r: scale.ScaleResult) -> dict[str, object]:
    out = asdict(r)
    for timing in ("wall_s", "cpu_s", "setup_cpu_s", "settle_cpu_s", "warmup_cpu_s",
                   "peak_rss_mib", "base_rss_mib"):
        out.pop(timing)
    return out


def test_a_scale_run_repeats_bit_for_bit() -> None:
    # CI-sized (bench/bench_sim.py measures the large runs).
    sc = scale.ScaleRun(peers=60, settle=2.0, duration=3.0, publish_every=1.0,
                        lifetime=20.0, downtime=5.0, seed=7)
    first, second = scale.run(sc), scale.run(sc)
    assert _facts(first) == _facts(second)   # every delivery: peer, message, time, hops
    assert first.messages == 3 and first.churn > 0
    assert first.deliveries > 0.5 * first.wanted


def test_a_warmup_is_run_but_left_out_of_the_steady_figures() -> None:
    # bench/bench_sim.py measures after a warmup (the join storm's aftermath): the warmup
    # publishes and churns like the rest, and only what follows it is counted as steady.
    base = dict(peers=40, settle=2.0, publish_every=1.0, lifetime=20.0, downtime=5.0, seed=3)
    whole = scale.run(scale.ScaleRun(duration=5.0, **base))
    split = scale.run(scale.ScaleRun(warmup=2.0, duration=3.0, **base))
    assert split.messages == whole.messages == 5
    assert split.warmup_cpu_s > 0 and whole.warmup_cpu_s == 0.0
    assert split.virtual_s == whole.virtual_s
    assert 0 < sum(split.steady_by_type.values()) < sum(whole.steady_by_type.values())
    assert split.steady_speed(3.0) > 0


def test_node_counters_and_cache_occupancy() -> None:
    from srpfast.crypto import create_cluster_id, create_shared_key
    net, a, b, sub = joined_pair(5, create_cluster_id(b"scale t"), create_shared_key(b"k"))
    net.call(a, a.peer.publish, sub, b"hello", now=net.now)
    net.run(1)
    assert a.counters.publish_sent >= 1 and a.counters.publish_bytes > 0
    assert b.counters.delivered == 1 and b.counters.last_hops >= 0
    assert a.counters.ticks > 0 and b.counters.received > 0
    held, capacity = net.cache_occupancy(b)
    assert 1 <= held <= capacity


def test_offline_node_sleeps_and_wakes_on_return() -> None:
    net = MemNet(seed=2)
    a, b = net.add("static"), net.add("easy")
    net.call(b, b.peer.add_peer, a.public, net.now)
    net.resync = False            # only call(), online and peer re-arm timers
    net.run(2)
    b.online = False
    ticks = b.counters.ticks
    net.run(5)
    assert b.counters.ticks == ticks  # an offline engine is never woken
    b.online = True
    net.run(2)
    assert b.counters.ticks > ticks


def test_spray_ports_are_distinct_deterministic_and_in_range() -> None:
    ports = spray_ports(12345, 1000)
    assert ports == spray_ports(12345, 1000) and len(set(ports)) == 1000
    assert all(1024 <= p <= 65535 for p in ports)
    assert spray_ports(12346, 8) != ports[:8]


def test_a_spray_is_every_probe_for_the_counts_and_one_event_for_the_queue() -> None:
    """A Spray action's probes leave back to back: each counts as a datagram sent and each
    opens the sprayer's NAT toward its port, but they travel as one queue entry, and the
    target NAT filters the ones it has no mapping for in one step (counted)."""
    net = MemNet(seed=3)
    e, h = net.add("easy"), net.add("hard")
    assert e.nat is not None and h.nat is not None
    host = h.nat.host
    e.nat.outbound(e.address, (host, 9))  # e's one public port (an Easy NAT's mapping)
    pool_port = h.nat.outbound(("192.168.9.9", 4000), e.public)[1]  # a mapping toward e
    ports = spray_ports(99, 300)
    if pool_port not in ports:
        ports[0] = pool_port
    sent_before, queued_before = net.sent, len(net.queue)
    net._spray(e, host, ports)
    assert net.sent - sent_before == 300 and e.counters.sent == 300
    assert len(net.queue) == queued_before + 1
    assert len(e.nat.sprays[(e.address, host)][0]) == 8192  # every port opened (a bitmap)
    net.run(0.1)
    # One probe found the mapping; it was made for socket 192.168.9.9:4000, which is no
    # socket on this network (the probe is dropped there), the 299 others died in the NAT.
    assert h.nat.filtered == 299


def test_a_new_pool_never_takes_the_kept_socket_of_an_earlier_one() -> None:
    """A kept pool socket outlives other pools (one per BDP-connected peer): a pool opened
    after another closed must bind other ports, as the kernel would, or the kept
    socket's datagrams go to the new pool and its close takes the kept socket away."""
    net = MemNet(seed=5)
    h = net.add("hard")
    a, b, c = b"a" * 8, b"b" * 8, b"c" * 8
    net._act(h, PoolOpen(a, 4))
    net._act(h, PoolOpen(b, 4))
    net._act(h, PoolKeep(b, 2))
    kept = h.pools[b][2]
    net._act(h, PoolClose(a))
    net._act(h, PoolOpen(c, 4))
    assert kept not in h.pools[c] and len(set(h.pools[c])) == 4
    net._act(h, PoolClose(c))
    assert net.sockets[kept] == (h, b, 2)


def _sprayed(conntrack: bool, one_event: bool) -> dict[str, object]:
    net = MemNet(seed=4, conntrack=conntrack)
    e, h = net.add("easy"), net.add("hard")
    assert e.nat is not None and h.nat is not None
    host = h.nat.host
    e.nat.outbound(e.address, (host, 9))  # e's one public port
    net._act(h, PoolOpen(b"k" * 8, 16))
    net._act(h, PoolSend(b"k" * 8, -1, bytes(4), e.public))  # the pool's openers toward e
    spray = Spray(host, 20000, 77, 0)  # ~5 of the pool's 16 public ports among them
    if one_event:
        queued = len(net.queue)
        net._act(e, spray)
        assert len(net.queue) == queued + 1  # the Spray action queues one event
    else:  # the datagram model: one queued probe each
        for p in spray_ports(spray.seed, spray.port_count):
            net._send(e, e.address, bytes(4), (host, p))
    net.run(0.1)
    return {"filtered": h.nat.filtered, "received": h.counters.received,
            "rx": h.peer.counters().get("rx", 0), "sent": e.counters.sent,
            "perms": e.nat.permitted(e.address, host),
            "knocked": sorted(h.nat.knocked)}


def test_a_spray_as_one_event_ends_as_its_probes_one_by_one() -> None:
    """A Spray action (one event, MemNet._spray) leaves the same state as queueing each probe:
    the same probes reach the pool's sockets, the same die in the Hard NAT (and, with
    conntrack, leave the same entries), the sprayer's NAT opens the same ports."""
    for conntrack in (False, True):
        one, each = _sprayed(conntrack, True), _sprayed(conntrack, False)
        assert one == each
        # every probe at one of the pool's public ports reaches its socket
        assert 0 < one["received"] < 16 and one["filtered"] == one["sent"] - one["received"]
        assert len(one["knocked"]) == (one["filtered"] if conntrack else 0)  # type: ignore[arg-type]


def test_boot_joins_the_whole_cluster_only_when_asked() -> None:
    """churn.boot models srpfast.network's start (every network joins its whole cluster)
    with whole_cluster; off, as the scenarios run, a non-subscriber joins nothing."""
    from srpfast.sim.churn import CLUSTER, KEY, boot
    net = MemNet(seed=3)
    seed, plain, member, subscriber = (net.add("static") for _ in range(4))
    assert boot(net, plain, [seed], CLUSTER) is None
    assert boot(net, member, [seed], CLUSTER, whole_cluster=True) is None
    sub = boot(net, subscriber, [seed], CLUSTER, shared_key=KEY, whole_cluster=True)
    net.run(2)
    whole = member.peer.membership.subs  # the cluster's own entry (subclusterId 0)
    assert plain.peer.membership.subs == {}
    assert len(whole) == 1 and next(iter(whole.values())).cluster_id == CLUSTER
    assert sub in subscriber.peer.membership.subs and len(subscriber.peer.membership.subs) == 2
