"""The in-memory network: N unmodified engines (sans-I/O Peers with their C data planes),
virtual time, a modelled network. The engine tests and the simulator (srpfast/sim) run on it.

Deterministic by seed: delay (uniform in a range, so packets reorder), loss, duplication, and
simple NAT boxes in the network, not the peer (srpfast/sim/natbox.py: static, easy, hard;
RFC 4787 filtering).

It executes the engine's actions: Spray sends probes from the main socket (they create NAT
state, which is their only purpose), PoolOpen/PoolSend/PoolKeep/PoolClose bind extra sockets.
"""
from __future__ import annotations

import heapq
import math
import random
from typing import Any, Callable

from srpfast.config import Config
from srpfast.control.batch import DatagramBatch, relayed_datagrams
from srpfast.control.dataplane import udp_address_key
from srpfast.control.events import (Delivered, DeliveredBatch, Event, PoolClose, PoolKeep,
                                    PoolOpen, PoolSend, Spray)
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.sim.natbox import SPRAY_PROBE, NatBox, spray_ports

INF = float("inf")
MESSAGE_KINDS = frozenset((C.PUBLISH, C.ANSWER))  # frames that carry a message copy


class SprayArrival:
    """The probes of one Spray action that survived loss, travelling together: (port on the
    target host, the probe's public source) each. One queue entry, not one per probe (see
    MemNet._spray)."""
    __slots__ = ("host", "probes")

    def __init__(self, host: str, probes: list[tuple[int, Address]]) -> None:
        self.host, self.probes = host, probes


POOL_PORTS = (20000, 65535)  # a Hard node's pool sockets bind here (its main socket: 5000)


class NodeCounters:
    """What one node did on the network, for the scenario's metrics (relay load, cost per
    peer). ``publish_*`` count PUBLISH and ANSWER frames (message copies, SPEC 6/7; control
    traffic apart, as in Plumtree), ``relayed`` the frames its C data plane forwarded."""
    __slots__ = ("sent", "sent_bytes", "publish_sent", "publish_bytes", "relayed",
                 "received", "delivered", "last_hops", "ticks")

    def __init__(self) -> None:
        self.sent = self.sent_bytes = self.publish_sent = self.publish_bytes = 0
        self.relayed = self.received = self.delivered = self.ticks = 0
        self.last_hops = -1              # hops of its latest delivery (-1: none yet)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class Node:
    """One engine on the network. ``online`` and ``peer`` may be set by a scenario (a peer
    goes away, or restarts as a new process): both re-arm its timer on the network. (MemNet
    reads ``_online`` and ``_peer`` on its per-event paths: the property calls were ~1% of a
    steady run, py-spy.)"""

    def __init__(self, net: "MemNet", peer: Peer, address: Address, nat: NatBox | None,
                 kind: str, index: int) -> None:
        self.net = net
        self._peer = peer
        self.address = address           # the main socket's (internal) address
        self.nat = nat
        self.kind = kind
        self.index = index               # position in net.nodes (ties in time break by it)
        self._online = True
        self.events: list[Event] = []
        self.pools: dict[bytes, list[Address | None]] = {}  # None: closed by PoolKeep
        self.sprayed = 0
        self.pool_port = POOL_PORTS[0]    # where the next pool socket's port search starts
        self.tick_at = INF               # the engine's armed deadline (MemNet's timer heap)
        self.counters = NodeCounters()

    @property
    def peer(self) -> Peer:
        return self._peer

    @peer.setter
    def peer(self, peer: Peer) -> None:
        if peer is not self._peer:
            self.net.close_pools(self)
        self._peer = peer
        self.net.rearm(self)

    @property
    def online(self) -> bool:
        return self._online

    @online.setter
    def online(self, value: bool) -> None:
        self._online = value
        self.net.rearm(self)

    @property
    def public(self) -> Address:
        if self.nat is None:
            return self.address
        return (self.nat.host, self.nat.out_map.get(self.address, 0))

    def of(self, cls: type) -> list[Any]:
        """Events of one class; Delivered also lists each message of a DeliveredBatch (the C
        path delivers in batches, the Python path one by one: a test asks what arrived)."""
        if cls is Delivered:
            out: list[Any] = []
            for e in self.events:
                if isinstance(e, Delivered):
                    out.append(e)
                elif isinstance(e, DeliveredBatch):
                    out += e.events()
            return out
        return [e for e in self.events if isinstance(e, cls)]


class MemNet:
    def __init__(self, seed: int = 0, *, delay: tuple[float, float] = (0.005, 0.030),
                 loss: float = 0.0, duplicate: float = 0.0, start: float = 1000.0,
                 config: Config | None = None, hard_ports: tuple[int, int] = (1024, 65535),
                 tick_resolution: float = 0.0, conntrack: bool = False) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.delay, self.loss, self.duplicate = delay, loss, duplicate
        self.now = start
        # (a small C delivered-id table: 50 engines x the 8 MiB default would be 400 MB)
        self.config = config or Config(strict=True, clock_offset=0.0,
                                       dataplane_delivered=1 << 14)
        self.hard_ports = hard_ports
        self.tick_resolution = tick_resolution  # 0: every engine wakes at its exact deadline
        self.conntrack = conntrack  # NAT boxes model Linux conntrack's knock (NatBox)
        self.nodes: list[Node] = []
        self.sockets: dict[Address, tuple[Node, bytes | None, int]] = {}
        self.nats: dict[str, NatBox] = {}
        self.queue: list[tuple[float, int, Address, bytes | SprayArrival, Address]] = []
        self.timers: list[tuple[float, int]] = []  # (engine deadline, node index): a heap
        # run() first re-reads every engine's deadline (O(N)): tests call engine methods
        # directly between runs. A simulation that drives engines only through call(),
        # ``online`` and ``peer`` (which re-arm the timer themselves) turns it off.
        self.resync = True
        self.seq = 0
        self.log: list[tuple[float, int, str]] = []
        self.sent = self.dropped = 0
        # datagrams sent by packet type (index 0: BDP probes and openers, 4 bytes, no header)
        self.sent_by_type = [0] * 16
        self._burst: dict[tuple[Address, Address], float] = {}  # one flush's arrival times
        self.filter: Callable[[bytes, Address, Address], bool] | None = None
        # Every event is kept on its Node and logged (tests read them); a long simulation
        # turns this off and watches events with on_event instead.
        self.keep_events = True
        self.on_event: Callable[[Node, Event], None] | None = None

    # -------------------------------------------------------------- topology
    def add(self, kind: str = "static", filtering: str = "port",
            config: Config | None = None) -> Node:
        i = len(self.nodes) + 1
        identity = create_identity(self.rng.randbytes(32))
        if kind == "static":
            address, nat = (f"10.0.{i // 250}.{i % 250 + 1}", 7000), None
        else:
            address = (f"192.168.{i // 250}.{i % 250 + 1}", 5000)
            host = f"100.64.{i // 250}.{i % 250 + 1}"
            ports = self.hard_ports if kind == "hard" else (1024, 65535)
            nat = NatBox(host, kind, filtering, random.Random(self.rng.random()), ports)
            nat.conntrack = self.conntrack
            nat.clock = lambda: self.now
            self.nats[host] = nat
        peer = Peer(identity, config or self.config, now=self.now,
                    rng=random.Random(self.rng.random()), address=address)
        node = Node(self, peer, address, nat, kind, len(self.nodes))
        self.nodes.append(node)
        self.sockets[address] = (node, None, 0)
        self.rearm(node)
        return node

    def index(self, node: Node) -> int:
        return node.index

    def cache_occupancy(self, node: Node) -> tuple[int, int]:
        """(frames in its cache, the cache's capacity in frames): the engine's C cache."""
        cache = node.peer.cache
        return len(cache), cache.capacity_entries

    # -------------------------------------------------------------- packets
    def _send(self, node: Node, src: Address, datagram: bytes, dst: Address) -> None:
        # (per datagram: _count_sent's counts inline, no property or method call)
        if not node._online:
            return
        nat = node.nat
        public_src = nat.outbound(src, dst) if nat is not None else src
        size = len(datagram)
        kind = datagram[4] if size > 4 else 0
        self.sent += 1
        self.sent_by_type[kind & 15] += 1
        counters = node.counters
        counters.sent += 1
        counters.sent_bytes += size
        if kind in MESSAGE_KINDS:
            counters.publish_sent += 1
            counters.publish_bytes += size
        if self.filter is not None and not self.filter(datagram, public_src, dst):
            self.dropped += 1
            return
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for copy in range(copies):
            # Datagrams one flush sends to one destination travel back to back, as on a real
            # link: they arrive together (one receive batch: the C data plane assembles
            # their fragments), duplicates a little later.
            burst = (public_src, dst)
            t = self._burst.get(burst) if not copy else None
            if t is None:
                lo, hi = self.delay  # (random.uniform's own arithmetic: a + (b - a) * r)
                t = self.now + (lo + (hi - lo) * self.rng.random())
                if not copy:
                    self._burst[burst] = t
            self.seq += 1
            heapq.heappush(self.queue, (t, self.seq, dst, datagram, public_src))

    def _count_sent(self, node: Node, kind: int, n: int, size: int) -> NodeCounters:
        """``n`` datagrams of ``size`` bytes and packet type ``kind`` (0: probes) leave."""
        self.sent += n
        self.sent_by_type[kind] += n
        counters = node.counters
        counters.sent += n
        counters.sent_bytes += n * size
        return counters

    def _spray(self, node: Node, host: str, ports: list[int]) -> None:
        """Send one Spray action's probes. Each is a datagram as far as every count, the
        sprayer's NAT, the filter hook and loss are concerned; they leave back to back (one
        flush, one destination host) and so arrive together: one queue entry. Nearly all
        die in the target's NAT (a Hard NAT opened ~256 of 64,512 ports toward us), so
        queueing each would make probes ~95% of a churning network's events (bench_sim)
        while deciding nothing more. Probes are not duplicated (a second probe to one port
        changes nothing)."""
        if not node._online or not ports:
            return
        n = len(ports)
        self._count_sent(node, 0, n, len(SPRAY_PROBE))
        src, nat = node.address, node.nat
        if nat is None:
            sources: list[Address] = [src] * n
        elif nat.mapping == "easy" and not nat.conntrack:
            sources = [nat.open_ports(src, host, ports)] * n
        else:
            sources = [nat.outbound(src, (host, p)) for p in ports]
        probes = list(zip(ports, sources))
        if self.filter is not None:
            kept = [(p, s) for p, s in probes if self.filter(SPRAY_PROBE, s, (host, p))]
            self.dropped += n - len(kept)
            probes = kept
        if self.loss:
            rnd, loss = self.rng.random, self.loss
            kept = [ps for ps in probes if rnd() >= loss]
            self.dropped += len(probes) - len(kept)
            probes = kept
        if probes:
            self.seq += 1
            heapq.heappush(self.queue, (self.now + self.rng.uniform(*self.delay), self.seq,
                                        (host, -1), SprayArrival(host, probes), src))

    def _deliver_spray(self, arrival: SprayArrival) -> list[tuple[Node, int]]:
        """Probes that reach their host at this instant: those a NAT has no mapping for are
        filtered in one step (``NatBox.drop_unmapped``); the rest go through ``inbound`` one by one, to the main
        socket as one receive batch or to a pool socket. Returns (node, probes it got)."""
        host = arrival.host
        nat = self.nats.get(host)
        probes = arrival.probes
        if nat is not None:
            probes = nat.drop_unmapped(probes)
        got: dict[int, int] = {}
        batches: dict[int, list[tuple[bytes, Address]]] = {}
        for port, src in probes:
            internal = nat.inbound(port, src) if nat is not None else (host, port)
            target = self.sockets.get(internal) if internal is not None else None
            if target is None or not target[0]._online:
                continue
            node, pool_key, index = target
            got[node.index] = got.get(node.index, 0) + 1
            if pool_key is None:
                batches.setdefault(node.index, []).append((SPRAY_PROBE, src))
            else:
                node._peer.receive_pool(pool_key, index, SPRAY_PROBE, src, self.now)
        for i, batch in batches.items():
            self.nodes[i]._peer.receive_batch(DatagramBatch(batch, udp_address_key), self.now)
        return [(self.nodes[i], k) for i, k in got.items()]

    def _deliver(self, dst: Address, arrivals: list[tuple[bytes, Address]]) -> Node | None:
        """Datagrams that reach ``dst`` at this instant: the main socket takes them as one
        receive batch (the engine's C data plane, as under UDP), a pool socket one by one."""
        nat = self.nats.get(dst[0])
        node = None
        batch: list[tuple[bytes, Address]] = []
        for datagram, src in arrivals:
            internal = nat.inbound(dst[1], src) if nat is not None else dst
            target = self.sockets.get(internal) if internal is not None else None
            if target is None or not target[0]._online:
                continue
            node, pool_key, index = target
            if pool_key is None:
                batch.append((datagram, src))
            else:
                node._peer.receive_pool(pool_key, index, datagram, src, self.now)
        if batch and node is not None:
            node._peer.receive_batch(DatagramBatch(batch, udp_address_key), self.now)
        return node

    def _flush(self, node: Node) -> None:
        peer = node._peer
        if not peer.has_output():
            return
        self._burst.clear()
        for datagram, dst in peer.datagrams_to_send():
            self._send(node, node.address, datagram, dst)
        for frames, sockaddrs, _ in peer.prepared_to_send():  # what its data plane relayed
            for datagram, dst in relayed_datagrams(frames, sockaddrs):
                node.counters.relayed += 1
                self._send(node, node.address, datagram, dst)
        for action in peer.actions():
            self._act(node, action)
        for event in peer.events():
            if isinstance(event, DeliveredBatch):
                node.counters.delivered += len(event.message_ids)
                node.counters.last_hops = event.hops[-1]
            elif isinstance(event, Delivered):
                node.counters.delivered += 1
                node.counters.last_hops = event.hops
            if self.on_event is not None:
                self.on_event(node, event)
            if self.keep_events:
                node.events.append(event)
                self.log.append((round(self.now, 6), node.index, repr(event)))

    def _act(self, node: Node, action: object) -> None:
        if isinstance(action, Spray):
            # The probes open our own NAT toward those ports and travel on: a pool socket
            # whose NAT opened that port receives one (traversal.on_pool_probe).
            self._spray(node, action.host,
                        spray_ports(action.seed, action.port_count, action.first))
            node.sprayed += action.port_count
        elif isinstance(action, PoolOpen):
            opened = self._pool_sockets(node, action.n)
            kept: list[Address | None] = list(opened)
            node.pools[action.pool_key] = kept
            for i, s in enumerate(opened):
                self.sockets[s] = (node, action.pool_key, i)
        elif isinstance(action, PoolSend):
            pool = node.pools.get(action.pool_key, [])
            chosen = pool if action.index < 0 else pool[action.index:action.index + 1]
            for sock in chosen:
                if sock is not None and sock in self.sockets:
                    self._send(node, sock, action.datagram, action.address)
        elif isinstance(action, PoolKeep):
            # The other sockets close: their places stay (PoolSend addresses a socket by its
            # index) but not their addresses (256 tuples a pool, kept until PoolClose).
            socks = node.pools.get(action.pool_key)
            if socks is not None:
                for i, sock in enumerate(socks):
                    if i != action.index and sock is not None:
                        self.sockets.pop(sock, None)
                        socks[i] = None
        elif isinstance(action, PoolClose):
            self._close_pool(node, action.pool_key)

    def _close_pool(self, node: Node, pool_key: bytes) -> None:
        for sock in node.pools.pop(pool_key, []):
            if sock is not None:
                self.sockets.pop(sock, None)

    def close_pools(self, node: Node) -> None:
        """``node``'s process ends (a scenario restarts it with a new Peer): the sockets of its
        BDP pools close with it, as PoolClose would have closed them. Kept until then, a
        churned peer's kept pool sockets (one per BDP-connected peer) piled up in
        ``sockets`` and ``pools`` for the whole run (docs/SIMULATION_SCALE_LOG.md, "Memory")."""
        for pool_key in list(node.pools):
            self._close_pool(node, pool_key)

    def _pool_sockets(self, node: Node, n: int) -> list[Address]:
        """``n`` addresses no socket of ``node`` holds, as the kernel binds a pool: kept
        sockets of earlier pools live on (one per BDP-connected peer), so a base computed
        from the number of pools collided with them once one closed."""
        lo, hi = POOL_PORTS
        host = node.address[0]
        out: list[Address] = []
        for _ in range(hi - lo + 1):
            if len(out) == n:
                break
            address = (host, node.pool_port)
            node.pool_port = node.pool_port + 1 if node.pool_port < hi else lo
            if address not in self.sockets:
                out.append(address)
        return out

    # -------------------------------------------------------------- running
    def _next_tick(self, node: Node) -> float:
        if not node._online:
            return INF
        d = node._peer.next_deadline()
        if d is None:
            return INF
        soonest = self.now + 1e-4
        t = d if d >= soonest else soonest  # (max() without the builtin call)
        if self.tick_resolution:
            # The simulated machine's timers fire on a grid (a timer wheel's slot): the
            # engine handles a late tick by doing all that fell due (traversal.py paces BDP
            # by elapsed intervals), and wakes that coincide cost one tick, not several.
            t = math.ceil(t / self.tick_resolution) * self.tick_resolution
        return t

    def rearm(self, node: Node) -> None:
        """Put ``node``'s timer at its engine's next deadline (after anything that may have
        moved it: an arrival, a tick, a call, a restart). One heap of (time, node index)
        for all engines: the next timer is found in O(log N), not by a scan of every node;
        an entry whose time is no longer its node's ``tick_at`` is stale and skipped."""
        t = self._next_tick(node)
        if t != node.tick_at:
            node.tick_at = t
            if t < INF:
                heapq.heappush(self.timers, (t, node.index))

    def _resync(self) -> None:
        for node in self.nodes:
            node.tick_at = self._next_tick(node)
        self.timers = [(n.tick_at, n.index) for n in self.nodes if n.tick_at < INF]
        heapq.heapify(self.timers)

    def run(self, duration: float) -> None:
        until = self.now + duration
        if self.resync:
            self._resync()
        queue, timers, nodes = self.queue, self.timers, self.nodes
        pop = heapq.heappop
        while True:
            # drop timers that were re-armed since they were pushed
            while timers and nodes[timers[0][1]].tick_at != timers[0][0]:
                pop(timers)
            t_event = queue[0][0] if queue else INF
            t_tick = timers[0][0] if timers else INF
            t = t_event if t_event <= t_tick else t_tick
            if t > until:
                break
            self.now = t
            if t_event <= t_tick:
                _, _, dst, datagram, src = pop(queue)
                if isinstance(datagram, SprayArrival):
                    for node, k in self._deliver_spray(datagram):
                        node.counters.received += k
                        self._flush(node)
                        self.rearm(node)
                    continue
                arrivals = [(datagram, src)]
                while queue and queue[0][0] == t and queue[0][2] == dst and len(arrivals) < 64:
                    _, _, _, more, more_src = pop(queue)
                    arrivals.append((more, more_src))  # type: ignore[arg-type]  # same dst: bytes
                got = self._deliver(dst, arrivals)
                if got is not None:
                    got.counters.received += len(arrivals)
                    self._flush(got)
                    self.rearm(got)
            else:
                node = nodes[pop(timers)[1]]
                node.tick_at = INF
                node.counters.ticks += 1
                node._peer.tick(t)
                self._flush(node)
                self.rearm(node)
        self.now = until

    def call(self, node: Node, fn: Callable[..., object], *args: object, **kw: object) -> object:
        """Call an engine method at the current virtual time and flush its output."""
        result = fn(*args, **kw)
        self._flush(node)
        self.rearm(node)
        return result

    def bootstrap(self, nodes: list[Node], via: Node) -> None:
        for n in nodes:
            if n is not via:
                self.call(n, n.peer.add_peer, via.public, self.now)
