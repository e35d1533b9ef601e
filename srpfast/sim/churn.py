"""A churn scenario on the in-memory network: what reaches whom, how fast, at what cost.

The setup follows the seed document's chart (about 150 peers, each online ~24 s on average
over 15 minutes) at any size: a few public peers are always online and everyone bootstraps
from them; every other peer lives for an exponential time (mean ``lifetime``), goes away for
an exponential time (mean ``downtime``) and comes back as a restarted process with the same
identity and its saved peers; a share of all peers subscribe to one subcluster; one always-on
peer publishes a message every ``publish_every`` seconds. Every engine is the production
engine, C data plane included (srpfast/sim/memnet.py), under virtual time and one seed.

Per message: the subscribers online at publish time (and still online ``window`` later) are
the ones that want it; reach at ``window`` (the seed's chart: 0.72 s) and at the end, the
delivery latency, and its cost: PUBLISH frames sent per delivery (the Relative Message
Redundancy of Plumtree, m / (n - 1) - 1, with n the peers that got it) and PUBLISH bytes per
peer (control traffic counted apart, as in Plumtree).
"""
from __future__ import annotations

import random
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

from srpfast.wire import constants as C
from srpfast.config import Config
from srpfast.control.events import Delivered, DeliveredBatch, Event
from srpfast.crypto import create_cluster_id, create_shared_key
from srpfast.control.engine import Peer
from srpfast.sim.memnet import MemNet, Node
from srpfast.wire.address import Address

CLUSTER = create_cluster_id(b"srpfast simulation")
KEY = create_shared_key(b"srpfast simulation subcluster")


@dataclass(frozen=True)
class Scenario:
    peers: int = 30
    public: int = 3              # always online, everyone's bootstrap
    hard: float = 0.2            # share of the churning peers behind a Hard NAT (rest Easy)
    subscribers: float = 0.5     # share of all peers in the subcluster
    duration: float = 120.0      # virtual seconds of publishing
    lifetime: float = 24.0       # mean online time of a churning peer (the seed's chart)
    downtime: float = 24.0       # mean time away before it restarts
    publish_every: float = 2.0
    window: float = 0.72         # reach is also reported at this age (the seed's chart)
    settle: float = 10.0         # virtual seconds before the first publish
    seed: int = 1
    delay: tuple[float, float] = (0.005, 0.030)
    loss: float = 0.0


@dataclass
class Result:
    scenario: dict[str, object]
    messages: int
    wanted: int                  # (message, subscriber online at publish) pairs
    reach_at_window: float       # fraction of those delivered within `window`
    reach_eventual: float        # ... by the end of the run
    stable_missed: int           # deliveries missed by subscribers online the whole run
    latency_p50: float
    latency_p95: float
    latency_max: float
    rmr: float                   # PUBLISH copies per delivery beyond the minimum (Plumtree)
    publish_bytes_per_peer: float
    all_bytes_per_peer: float
    churn_events: int            # peers that left or came back
    network_change: float        # total network change, % (the seed's "39,900%")
    deliveries: list[tuple[int, float]] = field(default_factory=list, repr=False)


def run(sc: Scenario, progress: Callable[[float], None] | None = None) -> Result:
    rng = random.Random(sc.seed)
    cfg = Config(clock_offset=0.0, dataplane_delivered=1 << 14)
    net = MemNet(seed=sc.seed, delay=sc.delay, loss=sc.loss, config=cfg)
    net.keep_events = False
    nodes: list[Node] = []
    for i in range(sc.peers):
        kind = "static" if i < sc.public else ("hard" if rng.random() < sc.hard else "easy")
        nodes.append(net.add(kind))
    seeds = nodes[:sc.public]
    subscribed = set(rng.sample(range(sc.peers), max(1, int(sc.subscribers * sc.peers))))
    subscribed.add(0)  # the publisher
    sub_id = b""
    delivered_at: dict[tuple[int, bytes], float] = {}
    published: dict[bytes, tuple[float, set[int]]] = {}

    def on_event(node: Node, event: Event) -> None:
        i = node_index[id(node)]
        if isinstance(event, DeliveredBatch):
            for mid in event.message_ids:
                delivered_at.setdefault((i, mid), net.now)
        elif isinstance(event, Delivered):
            delivered_at.setdefault((i, event.message_id), net.now)

    node_index = {id(n): i for i, n in enumerate(nodes)}
    net.on_event = on_event
    publish_bytes = all_bytes = 0

    def count(d: bytes, src: Address, dst: Address) -> bool:
        nonlocal publish_bytes, all_bytes
        all_bytes += len(d)
        if d[4] in (C.PUBLISH, C.ANSWER):
            publish_bytes += len(d)
        return True

    def start(i: int) -> None:
        node = nodes[i]
        for via in seeds:
            if via is not node:
                net.call(node, node.peer.add_peer, via.public, net.now)
        nonlocal sub_id
        if i in subscribed:
            sub_id = net.call(node, node.peer.join, CLUSTER, KEY, now=net.now)  # type: ignore[assignment]

    for i in range(sc.peers):
        start(i)
    net.run(sc.settle)
    net.filter = count
    # Churn: each non-public peer alternates online/offline periods.
    online_since = {i: net.now for i in range(sc.peers)}
    always_on = set(range(sc.peers))
    next_flip = {i: net.now + rng.expovariate(1 / sc.lifetime)
                 for i in range(sc.public, sc.peers)}
    churn = joins = 0
    left: dict[int, list[float]] = {}  # when each peer went away
    t0 = net.now
    end = t0 + sc.duration
    next_pub = t0
    step = 0.05
    while net.now < end:
        if net.now >= next_pub:
            publisher = nodes[0]
            mid = net.call(publisher, publisher.peer.publish, sub_id,
                           b"sim %d" % len(published), now=net.now)
            want = {i for i in subscribed if i != 0 and nodes[i].online}
            published[mid] = (net.now, want)  # type: ignore[index]
            next_pub += sc.publish_every
        for i, t in list(next_flip.items()):
            if net.now < t:
                continue
            node = nodes[i]
            churn += 1
            if node.online:
                node.online = False
                always_on.discard(i)
                left.setdefault(i, []).append(net.now)
                next_flip[i] = net.now + rng.expovariate(1 / sc.downtime)
            else:  # a restart: same identity and address, saved peers = the public ones
                node.peer = Peer(node.peer.identity, cfg, now=net.now,
                                 rng=random.Random(rng.random()), address=node.address)
                node.online = True
                joins += 1
                online_since[i] = net.now
                start(i)
                next_flip[i] = net.now + rng.expovariate(1 / sc.lifetime)
        net.run(step)
        if progress is not None:
            progress((net.now - t0) / sc.duration)
    net.run(max(2.0, sc.window))  # the last messages' window
    # Wanted by a subscriber online at publish time that did not leave within the window.
    for mid, (t, want) in published.items():
        want.difference_update(i for i in list(want)
                               if any(t <= x <= t + sc.window for x in left.get(i, ())))
    return _result(sc, net, published, delivered_at, always_on, publish_bytes, all_bytes,
                   churn, joins, nodes)


def _result(sc: Scenario, net: MemNet, published: dict[bytes, tuple[float, set[int]]],
            delivered_at: dict[tuple[int, bytes], float], always_on: set[int],
            publish_bytes: int, all_bytes: int, churn: int, joins: int,
            nodes: list[Node]) -> Result:
    wanted = in_window = eventually = stable_missed = 0
    lat: list[float] = []
    copies = holders = 0
    for mid, (t, want) in published.items():
        for i in want:
            wanted += 1
            got = delivered_at.get((i, mid))
            if got is None:
                if i in always_on:
                    stable_missed += 1
                continue
            eventually += 1
            lat.append(got - t)
            if got - t <= sc.window:
                in_window += 1
        holders += sum(1 for n in nodes if n.online and mid in n.peer.cache)
    copies = publish_bytes // C.PACKET_BYTES
    n_msgs = max(1, len(published))
    lat.sort()

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

    reached = max(2, holders // n_msgs)
    return Result(
        scenario=asdict(sc), messages=len(published), wanted=wanted,
        reach_at_window=in_window / wanted if wanted else 1.0,
        reach_eventual=eventually / wanted if wanted else 1.0,
        stable_missed=stable_missed,
        latency_p50=statistics.median(lat) if lat else float("nan"),
        latency_p95=pick(0.95), latency_max=lat[-1] if lat else float("nan"),
        rmr=(copies / n_msgs) / (reached - 1) - 1,
        publish_bytes_per_peer=publish_bytes / len(nodes),
        all_bytes_per_peer=all_bytes / len(nodes),
        churn_events=churn, network_change=100.0 * joins / max(1, len(nodes)),
    )
