"""A large network under light churn: what the simulator costs per peer (bench/bench_sim.py,
docs/SIMULATION.md, "Scale").

N engines on one MemNet (srpfast/sim/memnet.py): ``public`` Static peers everyone
bootstraps from, the rest behind Easy or Hard NATs; half of all peers join one subcluster;
peer 0 publishes every ``publish_every`` seconds; every non-public peer lives for an
exponential time (mean ``lifetime``), is away for an exponential time (mean ``downtime``)
and comes back as a restarted process: same identity, and it pings the public peers and up to
SAVED_PEERS (8) of the peers it held when it left, as churn.run's peers do and as a process
with a ``peers_file`` does (api.Network).
The engines are the production engine with its C data plane; the Config is the sim's
(``sim_config``: a small device's cache, stated beside every figure).
"""
from __future__ import annotations

import heapq
import random
import resource
import time
from dataclasses import dataclass
from typing import Callable

from srpfast.config import Config
from srpfast.control.events import Delivered, DeliveredBatch, Event
from srpfast.crypto import create_cluster_id, create_shared_key
from srpfast.control.engine import Peer
from srpfast.sim.churn import SAVED_PEERS, boot
from srpfast.sim.memnet import MemNet, Node
from srpfast.wire import constants as C
from srpfast.wire.address import Address

CLUSTER = create_cluster_id(b"srpfast scale")
KEY = create_shared_key(b"srpfast scale subcluster")

# What a small device (a phone, a router) would set: a 1 MiB message cache (about 650
# frames: the last ten minutes of a busy subcluster) instead of the desktop default of
# 16 MiB, a delivered-id table of 2^14 ids (128 KiB) instead of 2^20 (8 MiB), and the tables
# sized against the cache in proportion to the desktop's: copies remembered beyond the cache
# (seen_ids: the C data plane's seen filter, 32 KiB instead of 512 KiB; 7x the cache's frames
# as 65,536 is 7x the desktop cache's) and signed batch roots remembered (verified_envelopes:
# 1024 instead of 4096; the C delivery's root and tree-node tables, 0.6 MiB mapped instead of
# 2.5 MiB, which a long run makes resident page by page; not less: a table under 64 KiB
# comes from malloc, whose calloc writes all of it, csrc/bigalloc.h). Protocol behaviour is
# unchanged; only how much history a peer can hold (docs/SIMULATION_SCALE_LOG.md, "Memory").
SMALL_DEVICE = {"cache_bytes": 1 << 20, "dataplane_delivered": 1 << 14, "seen_ids": 1 << 12,
                "verified_envelopes": 1 << 10}


def sim_config(**changes: object) -> Config:
    # strict: an engine's internal exception stops the run instead of being counted
    # (churn.engine_config says why)
    return Config(**{"clock_offset": 0.0, "strict": True,  # type: ignore[arg-type]
                     **SMALL_DEVICE, **changes})


@dataclass(frozen=True)
class ScaleRun:
    peers: int = 1000
    public: int = 8
    hard: float = 0.2             # share of the NATed peers behind a Hard NAT (rest Easy)
    subscribers: float = 0.5
    duration: float = 30.0        # virtual seconds measured (after settle and warmup)
    settle: float = 10.0          # virtual seconds to bootstrap and join before publishing
    # virtual seconds of publishing and churn after settle that the steady figures leave
    # out: the join storm's aftermath (every storm-made pair's first heartbeat, keep_alive
    # after it; fellow counts learnt from the first messages), which a network that has
    # run for a while no longer pays (docs/SIMULATION.md, "Scale")
    warmup: float = 0.0
    publish_every: float = 3.0
    lifetime: float = 600.0       # light churn: mean online time of a non-public peer ...
    downtime: float = 60.0        # ... and mean time away
    seed: int = 1
    tick_resolution: float = 0.010  # engine timers fire on a 10 ms grid (= BDP_INTERVAL)
    # every peer also joins the whole cluster, as srpfast.network does (churn.boot); off:
    # non-subscribers join nothing (docs/SIMULATION.md "Assumptions": what it costs)
    whole_cluster: bool = False


@dataclass
class ScaleResult:
    peers: int
    virtual_s: float
    wall_s: float
    cpu_s: float
    setup_cpu_s: float            # creating N identities and engines
    settle_cpu_s: float           # ... and running the join storm (``settle``)
    warmup_cpu_s: float           # the ``warmup`` after it (0.0 without one)
    events: int                   # arrivals (receive batches) + engine timer ticks
    datagrams: int
    messages: int
    deliveries: int
    wanted: int                   # (message, subscriber online at publish) pairs
    churn: int
    peak_rss_mib: float
    base_rss_mib: float           # the process before the first engine (interpreter, modules)
    digest: str                   # a hash of every delivery (peer, message, time, hops)
    steady_by_type: dict[str, int]  # datagrams sent after settle and warmup, by packet type
    #                               ("probe": BDP probes and pool openers)

    @property
    def speed(self) -> float:
        """Virtual seconds per CPU second of this process (> 1: faster than real time)."""
        return self.virtual_s / self.cpu_s if self.cpu_s else 0.0

    @property
    def steady_cpu_s(self) -> float:
        """CPU seconds of the measured part: after the join storm and the warmup."""
        return self.cpu_s - self.settle_cpu_s - self.warmup_cpu_s

    def steady_speed(self, duration: float) -> float:
        """The same after the join storm and the warmup: ``duration`` virtual s of
        publishing and churn."""
        cpu = self.steady_cpu_s
        return duration / cpu if cpu > 0 else 0.0


def _rss_mib(field: str) -> float:
    """This process's resident set (VmRSS) or its peak (VmHWM), MiB. Not ru_maxrss: a child
    started by fork and exec inherits its parent's peak there (a bench child read 445 MiB
    before its first engine, which made the per-peer figure 0)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(sc: ScaleRun, progress: Callable[[float], None] | None = None) -> ScaleResult:
    import hashlib
    c0, w0 = time.process_time(), time.time()
    base_rss = _rss_mib("VmRSS")
    rng = random.Random(sc.seed)
    cfg = sim_config()
    net = MemNet(seed=sc.seed, config=cfg, tick_resolution=sc.tick_resolution)
    net.keep_events = False
    net.resync = False  # engines are driven through call(), online and peer only
    nodes: list[Node] = []
    for i in range(sc.peers):
        kind = ("static" if i < sc.public
                else "hard" if rng.random() < sc.hard else "easy")
        nodes.append(net.add(kind))
    subscribed = set(rng.sample(range(sc.peers), max(1, int(sc.subscribers * sc.peers))))
    subscribed.add(0)
    setup_cpu = time.process_time() - c0
    seeds = nodes[:sc.public]
    digest = hashlib.blake2b(digest_size=16)
    deliveries = 0
    sub_id = b""

    def on_event(node: Node, event: Event) -> None:
        nonlocal deliveries
        if isinstance(event, DeliveredBatch):
            for mid, hops in zip(event.message_ids, event.hops):
                digest.update(b"%d %s %r %d;" % (node.index, mid, net.now, hops))
            deliveries += len(event.message_ids)
        elif isinstance(event, Delivered):
            digest.update(b"%d %s %r %d;" % (node.index, event.message_id, net.now,
                                             event.hops))
            deliveries += 1

    net.on_event = on_event

    saved: dict[int, list[Address]] = {}  # peer -> the peers it held when it left
    seed_addresses = {s.public for s in seeds}

    def start(i: int) -> None:
        nonlocal sub_id
        joined = boot(net, nodes[i], seeds, CLUSTER, saved.pop(i, ()),
                      shared_key=KEY if i in subscribed else None,
                      whole_cluster=sc.whole_cluster)
        if joined is not None:
            sub_id = joined

    for i in range(sc.peers):
        start(i)
    t0 = net.now
    net.run(sc.settle)
    settle_cpu = time.process_time() - c0
    settled_by_type = list(net.sent_by_type)
    # Churn and publishing: one heap of (time, kind, peer) — kind 0 publish, 1 flip.
    agenda: list[tuple[float, int, int]] = [(net.now, 0, 0)]
    for i in range(sc.public, sc.peers):
        agenda.append((net.now + rng.expovariate(1 / sc.lifetime), 1, i))
    heapq.heapify(agenda)
    measured_from = net.now + sc.warmup
    end = measured_from + sc.duration
    messages = wanted = churn = 0

    def advance(until: float) -> None:
        """Publishing and churn from the agenda up to virtual time ``until``."""
        nonlocal messages, wanted, churn
        while agenda and agenda[0][0] < until:
            t, what, i = heapq.heappop(agenda)
            net.run(t - net.now)
            if what == 0:
                publisher = nodes[0]
                net.call(publisher, publisher.peer.publish, sub_id, b"scale %d" % messages,
                         now=net.now)
                messages += 1
                wanted += sum(1 for j in subscribed if j and nodes[j].online)
                heapq.heappush(agenda, (t + sc.publish_every, 0, 0))
                if progress is not None:
                    progress((net.now - t0) / (sc.settle + sc.warmup + sc.duration))
                continue
            node = nodes[i]
            churn += 1
            if node.online:
                node.online = False
                saved[i] = [q.address for q in node.peer.table.peers()
                            if q.address not in seed_addresses][:SAVED_PEERS]
                heapq.heappush(agenda, (t + rng.expovariate(1 / sc.downtime), 1, i))
            else:  # a restart: same identity and address, public and saved peers
                node.peer = Peer(node.peer.identity, cfg, now=net.now,
                                 rng=random.Random(rng.random()), address=node.address)
                node.online = True
                start(i)
                heapq.heappush(agenda, (t + rng.expovariate(1 / sc.lifetime), 1, i))
        net.run(until - net.now)

    warmup_cpu = 0.0
    if sc.warmup > 0:
        w_cpu = time.process_time()
        advance(measured_from)
        warmup_cpu = time.process_time() - w_cpu
        settled_by_type = list(net.sent_by_type)
    advance(end)
    events = sum(n.counters.received + n.counters.ticks for n in nodes)
    return ScaleResult(
        peers=sc.peers, virtual_s=net.now - t0, wall_s=time.time() - w0,
        cpu_s=time.process_time() - c0, setup_cpu_s=setup_cpu, settle_cpu_s=settle_cpu,
        warmup_cpu_s=warmup_cpu,
        events=events,
        datagrams=net.sent, messages=messages, deliveries=deliveries, wanted=wanted,
        churn=churn, peak_rss_mib=_rss_mib("VmHWM"),
        base_rss_mib=base_rss,
        digest=digest.hexdigest(),
        steady_by_type={C.TYPE_NAMES.get(t, "probe"): n - settled_by_type[t]
                        for t, n in enumerate(net.sent_by_type) if n - settled_by_type[t]})
