"""The simulator's engine room at scale (srpfast/sim/memnet.py, srpfast/sim/scale.py): one
seed gives the same run bit for bit (timer heap, NAT boxes, churn, BDP sprays), and the
per-node counters the scenario metrics read are filled in."""
from __future__ import annotations

from dataclasses import asdict

from srpfast.sim import scale
from srpfast.sim.memnet import MemNet, spray_ports
from tests.memnet import joined_pair


def _facts(r: scale.ScaleResult) -> dict[str, object]:
    out = asdict(r)
    for timing in ("wall_s", "cpu_s", "setup_cpu_s", "settle_cpu_s", "peak_rss_mib",
                   "base_rss_mib"):
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
    assert len(e.nat.perms[(e.address, host)]) == 8192  # every port opened (a bitmap)
    net.run(0.1)
    # One probe found the mapping; it was made for socket 192.168.9.9:4000, which is no
    # socket on this network (the probe is dropped there), the 299 others died in the NAT.
    assert h.nat.filtered == 299
