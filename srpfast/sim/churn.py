"""The world of a simulation run: peers joining and leaving, a partition, a long absence,
one publisher; every peer the production engine, C data plane included (memnet.py), under
virtual time and one seed (the same seed gives the same Result, bit for bit).

The model (docs/SIMULATION.md "Assumptions"): ``public`` Static peers are always online and
everyone's bootstrap; every other peer sits behind an Easy or (share ``hard``) Hard NAT. With
``lifetime`` > 0 every non-public peer lives for an exponential time (mean ``lifetime``), goes
away for an exponential time (mean ``downtime``) and comes back as a restarted process with
the same identity and address, its bootstrap peers and the peers it knew (its saved peers),
and an empty cache. A share ``subscribers`` of all peers joins one subcluster; peer 0 (public)
publishes a one-frame message every ``publish_every`` seconds. A partition cuts every link
between the even and the odd peers for ``partition_for`` seconds; offline recipients are
subscribers that leave for ``offline_for`` seconds and come back as above.

Who should get a message: the subscribers online when it is published, less those that left
within ``window`` of it (they could not have got it in time), plus, in the offline scenario,
the absent recipients (they get it after their return: that is what is measured).
"""
from __future__ import annotations

import random
from typing import Callable, Iterable, cast

from srpfast.config import Config
from srpfast.crypto import create_cluster_id, create_shared_key
from srpfast.control.engine import Peer
from srpfast.sim.memnet import MemNet, Node
from srpfast.sim.metrics import Recorder, Result, summarize
from srpfast.sim.scenario import Scenario
from srpfast.wire.address import Address

CLUSTER = create_cluster_id(b"srpfast simulation")
KEY = create_shared_key(b"srpfast simulation subcluster")
SAVED_PEERS = 8     # peers a restarted process re-pings besides its bootstrap peers
CACHE_SAMPLE = 5.0  # s between cache occupancy samples
TRACK_FINE = 10.0   # the charted packet: every step for this long after publish, then 1 s
SETTLED = 5.0       # a subscriber online this long at publish time counts as settled


def engine_config(sc: Scenario) -> Config:
    # (a small C delivered-id table: many engines x the 8 MiB default would not fit)
    # strict: an exception inside an engine (a bug) stops the run with its traceback. Not
    # strict, it was only counted (drop.internal) and the run went on with an engine that
    # had dropped what it was handling: figures from a broken engine, with nothing to say
    # so (session 17's mypyc build changed the scale run's digest that way, silently).
    return Config(clock_offset=0.0, dataplane_delivered=1 << 14, replication=sc.policy,
                  spray_copies=sc.spray_copies, strict=True)


def boot(net: MemNet, node: Node, seeds: list[Node], cluster_id: bytes,
         saved: Iterable[Address] = (), shared_key: bytes | None = None,
         whole_cluster: bool = False) -> bytes | None:
    """Start ``node`` as a process would: PING every seed but itself and the peers it saved,
    then, with ``shared_key``, join that subcluster of ``cluster_id``: its id (None without).
    ``whole_cluster``: join the whole cluster first, as ``srpfast.network`` does for every
    peer (api.Network.start). The scenarios leave it off: their non-subscribers join
    nothing (docs/SIMULATION.md "Assumptions": what turning it on costs)."""
    for via in seeds:
        if via is not node:
            net.call(node, node.peer.add_peer, via.public, net.now)
    for address in saved:
        net.call(node, node.peer.add_peer, address, net.now)
    if whole_cluster:
        net.call(node, node.peer.join, cluster_id, None, now=net.now)
    if shared_key is None:
        return None
    return cast(bytes, net.call(node, node.peer.join, cluster_id, shared_key, now=net.now))


def run(sc: Scenario, progress: Callable[[float], None] | None = None) -> Result:
    """One run of ``sc`` (its policy, its seed). ``progress``: called with the done fraction."""
    if sc.kind != "churn":
        from srpfast.errors import ArgumentError
        raise ArgumentError(f"scenario {sc.name!r} is kind {sc.kind!r}: srpfast.sim.natmatrix")
    rng = random.Random(sc.seed)
    cfg = engine_config(sc)
    net = MemNet(seed=sc.seed, delay=sc.delay, loss=sc.loss, config=cfg)
    net.keep_events = False
    nodes: list[Node] = []
    for i in range(sc.peers):
        kind = "static" if i < sc.public else ("hard" if rng.random() < sc.hard else "easy")
        nodes.append(net.add(kind))
    seeds = nodes[:sc.public]
    subscribed = set(rng.sample(range(sc.peers), max(1, int(sc.subscribers * sc.peers))))
    subscribed.add(0)  # the publisher
    candidates = sorted(i for i in subscribed if i >= sc.public)
    offline = set(rng.sample(candidates, min(sc.offline_peers, len(candidates))))
    rec = Recorder(net, nodes)
    net.filter = rec.filter
    net.on_event = rec.on_event
    sub_id = b""
    saved: dict[int, list[Address]] = {}

    def start(i: int) -> None:
        nonlocal sub_id
        joined = boot(net, nodes[i], seeds, CLUSTER, saved.get(i, ()),
                      KEY if i in subscribed else None)
        if joined is not None:
            sub_id = joined

    def leave(i: int) -> None:
        node = nodes[i]
        node.online = False
        seed_addrs = {s.public for s in seeds}
        saved[i] = [q.address for q in node.peer.table.peers()
                    if q.address not in seed_addrs][:SAVED_PEERS]
        left.setdefault(i, []).append(net.now)

    def restart(i: int) -> None:  # same identity and address; bootstrap + saved peers
        node = nodes[i]
        node.peer = Peer(node.peer.identity, cfg, now=net.now,
                         rng=random.Random(rng.random()), address=node.address)
        node.online = True
        since[i] = net.now
        start(i)

    since = {i: net.now for i in range(sc.peers)}  # when each peer last (re)started
    for i in range(sc.peers):
        start(i)
    net.run(sc.settle)
    rec.counting = True
    t0 = net.now
    end = t0 + sc.duration
    total = sc.duration + max(sc.tail, sc.window)
    churning = sc.lifetime > 0
    always_on = set(range(sc.peers)) - offline
    next_flip = ({i: t0 + rng.expovariate(1 / sc.lifetime)
                  for i in range(sc.public, sc.peers) if i not in offline} if churning else {})
    churn = joins = 0
    left: dict[int, list[float]] = {}
    size_t: list[float] = []
    size_n: list[int] = []
    join_t: list[float] = []
    leave_t: list[float] = []
    published: dict[bytes, tuple[float, set[int], bytes]] = {}
    settled: dict[bytes, set[int]] = {}
    n_msgs = int(sc.duration / sc.publish_every - 1e-9) + 1
    track_index = min(n_msgs - 1, int(sc.track * n_msgs))
    track: bytes | None = None
    track_at = 0.0
    track_t: list[float] = []
    track_want: list[int] = []
    track_have: list[int] = []
    cut_from = t0 + sc.partition_at if sc.partition_at >= 0 else None
    cut_to = cut_from + sc.partition_for if cut_from is not None else None
    off_from = t0 + sc.offline_at if offline else None
    off_to = off_from + sc.offline_for if off_from is not None else None
    heal_at = cut_to if cut_to is not None else off_to
    away = False
    next_pub, next_sample, next_cache, next_track = t0, t0, t0, t0
    step = 0.05 if churning or sc.window < 1 else 0.25
    subs = sorted(subscribed - {0})
    while net.now < t0 + total - 1e-9:
        now = net.now
        if cut_from is not None and cut_to is not None:
            cutting = cut_from <= now < cut_to
            if cutting and rec.cut is None:
                rec.cut = ({i for i in range(sc.peers) if i % 2 == 0},
                           {i for i in range(sc.peers) if i % 2 == 1})
            elif not cutting:
                rec.cut = None
        if off_from is not None and off_to is not None:
            if not away and off_from <= now < off_to:
                away = True
                for i in sorted(offline):
                    leave(i)
            elif away and now >= off_to:
                away = False
                for i in sorted(offline):
                    restart(i)
        if now < end - 1e-9 and now >= next_pub - 1e-9:
            publisher = nodes[0]
            mid = net.call(publisher, publisher.peer.publish, sub_id,
                           b"sim %d" % len(published), now=now)
            assert isinstance(mid, bytes)
            frame = publisher.peer.cache.get(mid) or b""
            want = {i for i in subscribed if i != 0 and nodes[i].online} | offline
            if len(published) == track_index:
                track, track_at = mid, now
            published[mid] = (now, want, Recorder.message_key(frame))
            settled[mid] = {i for i in want if nodes[i].online and now - since[i] >= SETTLED}
            next_pub += sc.publish_every
        for i, t in list(next_flip.items()):
            if now < t:
                continue
            churn += 1
            if nodes[i].online:
                leave(i)
                always_on.discard(i)
                leave_t.append(now - t0)
                next_flip[i] = now + rng.expovariate(1 / sc.downtime)
            else:
                restart(i)
                joins += 1
                join_t.append(now - t0)
                next_flip[i] = now + rng.expovariate(1 / sc.lifetime)
        if now >= next_sample - 1e-9:
            size_t.append(round(now - t0, 3))
            size_n.append(sum(1 for n in nodes if n.online))
            next_sample += 0.5
        if now >= next_cache - 1e-9:
            rec.sample_caches()
            next_cache += CACHE_SAMPLE
        if track is not None and now >= next_track - 1e-9:
            online = [i for i in subs if nodes[i].online]
            track_t.append(round(now - track_at, 3))
            track_want.append(len(online))
            track_have.append(sum(1 for i in online if (i, track) in rec.delivered))
            next_track = now + (step if now - track_at < TRACK_FINE else 1.0)
        net.run(step)
        if progress is not None:
            progress(min(1.0, (net.now - t0) / total))
    # Wanted by a subscriber online at publish time that did not leave within the window.
    for mid, (t, want, _) in published.items():
        want.difference_update([i for i in want if i not in offline and
                                any(t <= x <= t + sc.window for x in left.get(i, ()))])
    return summarize(rec, scenario=sc.to_dict(), policy=sc.policy, published=published,
                     always_on=always_on, window=sc.window, churn=churn, joins=joins,
                     heal_at=heal_at, settled=settled,
                     extra=dict(size_t=size_t, size_n=size_n, joins=join_t, leaves=leave_t,
                                track_t=track_t, track_want=track_want, track_have=track_have,
                                track_published=track_at - t0))
