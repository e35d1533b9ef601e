"""The in-memory network: N unmodified engines (sans-I/O Peers with their C data planes),
virtual time, a modelled network. The engine tests and the simulator (srpfast/sim) run on it.

Deterministic by seed: delay (uniform in a range, so packets reorder), loss, duplication, and
simple NAT boxes implemented HERE (the network, not the peer):

- "static": the peer's address is public, nothing filters.
- "easy": endpoint-independent mapping (one public port per internal socket).
- "hard": endpoint-dependent mapping (a new random public port per internal socket AND
  destination).
- filtering "open" (endpoint-independent), "address" (address-dependent) or "port"
  (address-and-port-dependent), RFC 4787 terms.

It executes the engine's actions: Spray sends probes from the main socket (they create NAT
state, which is their only purpose), PoolOpen/PoolSend/PoolKeep/PoolClose bind extra sockets.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from srpfast.config import Config
from srpfast.control.batch import DatagramBatch, relayed_datagrams
from srpfast.control.dataplane import udp_address_key
from srpfast.control.events import (Event, PoolClose, PoolKeep, PoolOpen, PoolSend, Spray)
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer
from srpfast.wire.address import Address

INF = float("inf")


class NatBox:
    def __init__(self, host: str, mapping: str, filtering: str, rng: random.Random,
                 port_range: tuple[int, int] = (1024, 65535)) -> None:
        assert mapping in ("easy", "hard") and filtering in ("open", "address", "port")
        self.host, self.mapping, self.filtering = host, mapping, filtering
        self.rng = rng
        self.port_range = port_range
        self.out_map: dict[object, int] = {}
        self.in_map: dict[int, Address] = {}
        self.perms: dict[Address, set[object]] = {}
        self.filtered = 0

    def _new_port(self) -> int:
        while True:
            port = self.rng.randint(*self.port_range)
            if port not in self.in_map:
                return port

    def outbound(self, internal: Address, dst: Address) -> Address:
        key = internal if self.mapping == "easy" else (internal, dst)
        port = self.out_map.get(key)
        if port is None:
            port = self._new_port()
            self.out_map[key] = port
            self.in_map[port] = internal
        perms = self.perms.setdefault(internal, set())
        perms.add(dst)
        perms.add(dst[0])
        return (self.host, port)

    def inbound(self, port: int, src: Address) -> Address | None:
        internal = self.in_map.get(port)
        if internal is None:
            self.filtered += 1
            return None
        if self.mapping == "hard":
            # An endpoint-dependent mapping only admits the endpoint it was made for.
            if self.out_map.get((internal, src)) != port:
                self.filtered += 1
                return None
        perms = self.perms.get(internal, set())
        ok = (self.filtering == "open" or (self.filtering == "address" and src[0] in perms)
              or (self.filtering == "port" and src in perms))
        if not ok:
            self.filtered += 1
            return None
        return internal


@dataclass
class Node:
    net: "MemNet"
    peer: Peer
    address: Address                 # the main socket's (internal) address
    nat: NatBox | None
    kind: str
    online: bool = True
    events: list[Event] = field(default_factory=list)
    pools: dict[bytes, list[Address]] = field(default_factory=dict)
    sprayed: int = 0

    @property
    def public(self) -> Address:
        if self.nat is None:
            return self.address
        return (self.nat.host, self.nat.out_map.get(self.address, 0))

    def of(self, cls: type) -> list[Any]:
        """Events of one class; Delivered also lists each message of a DeliveredBatch (the C
        path delivers in batches, the Python path one by one: a test asks what arrived)."""
        from srpfast.control.events import Delivered, DeliveredBatch
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
                 config: Config | None = None, hard_ports: tuple[int, int] = (1024, 65535)
                 ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.delay, self.loss, self.duplicate = delay, loss, duplicate
        self.now = start
        # (a small C delivered-id table: 50 engines x the 8 MiB default would be 400 MB)
        self.config = config or Config(strict=True, clock_offset=0.0,
                                       dataplane_delivered=1 << 14)
        self.hard_ports = hard_ports
        self.nodes: list[Node] = []
        self.sockets: dict[Address, tuple[Node, bytes | None, int]] = {}
        self.nats: dict[str, NatBox] = {}
        self.queue: list[tuple[float, int, Address, bytes, Address]] = []
        self.seq = 0
        self.log: list[tuple[float, int, str]] = []
        self.sent = self.dropped = 0
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
            self.nats[host] = nat
        peer = Peer(identity, config or self.config, now=self.now,
                    rng=random.Random(self.rng.random()), address=address)
        node = Node(self, peer, address, nat, kind)
        self.nodes.append(node)
        self.sockets[address] = (node, None, 0)
        return node

    def index(self, node: Node) -> int:
        return self.nodes.index(node)

    # -------------------------------------------------------------- packets
    def _send(self, node: Node, src: Address, datagram: bytes, dst: Address) -> None:
        if not node.online:
            return
        public_src = node.nat.outbound(src, dst) if node.nat is not None else src
        self.sent += 1
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
                t = self.now + self.rng.uniform(*self.delay)
                if not copy:
                    self._burst[burst] = t
            self.seq += 1
            heapq.heappush(self.queue, (t, self.seq, dst, datagram, public_src))

    def _deliver(self, dst: Address, arrivals: list[tuple[bytes, Address]]) -> Node | None:
        """Datagrams that reach ``dst`` at this instant: the main socket takes them as one
        receive batch (the engine's C data plane, as under UDP), a pool socket one by one."""
        nat = self.nats.get(dst[0])
        node = None
        batch: list[tuple[bytes, Address]] = []
        for datagram, src in arrivals:
            internal = nat.inbound(dst[1], src) if nat is not None else dst
            target = self.sockets.get(internal) if internal is not None else None
            if target is None or not target[0].online:
                continue
            node, pool_key, index = target
            if pool_key is None:
                batch.append((datagram, src))
            else:
                node.peer.receive_pool(pool_key, index, datagram, src, self.now)
        if batch and node is not None:
            node.peer.receive_batch(DatagramBatch(batch, udp_address_key), self.now)
        return node

    def _flush(self, node: Node) -> None:
        peer = node.peer
        self._burst.clear()
        for datagram, dst in peer.datagrams_to_send():
            self._send(node, node.address, datagram, dst)
        for frames, sockaddrs, _ in peer.prepared_to_send():  # what its data plane relayed
            for datagram, dst in relayed_datagrams(frames, sockaddrs):
                self._send(node, node.address, datagram, dst)
        for action in peer.actions():
            self._act(node, action)
        for event in peer.events():
            if self.on_event is not None:
                self.on_event(node, event)
            if self.keep_events:
                node.events.append(event)
                self.log.append((round(self.now, 6), self.index(node), repr(event)))

    def _act(self, node: Node, action: object) -> None:
        if isinstance(action, Spray):
            ports = random.Random(action.seed).sample(range(1024, 65536), action.port_count)
            for port in ports:  # the probes only open our own NAT toward those ports
                if node.nat is not None:
                    node.nat.outbound(node.address, (action.host, port))
            node.sprayed += action.port_count
        elif isinstance(action, PoolOpen):
            base = 20000 + 300 * len(node.pools)
            socks = [(node.address[0], base + i) for i in range(action.n)]
            node.pools[action.pool_key] = socks
            for i, s in enumerate(socks):
                self.sockets[s] = (node, action.pool_key, i)
        elif isinstance(action, PoolSend):
            socks = node.pools.get(action.pool_key, [])
            chosen = socks if action.index < 0 else socks[action.index:action.index + 1]
            for s in chosen:
                if s in self.sockets:
                    self._send(node, s, action.datagram, action.address)
        elif isinstance(action, PoolKeep):
            for i, s in enumerate(node.pools.get(action.pool_key, [])):
                if i != action.index:
                    self.sockets.pop(s, None)
        elif isinstance(action, PoolClose):
            for s in node.pools.pop(action.pool_key, []):
                self.sockets.pop(s, None)

    # -------------------------------------------------------------- running
    def _next_tick(self, node: Node) -> float:
        d = node.peer.next_deadline()
        return INF if d is None or not node.online else max(d, self.now + 1e-4)

    def run(self, duration: float) -> None:
        until = self.now + duration
        ticks = {id(n): self._next_tick(n) for n in self.nodes}
        while True:
            t_event = self.queue[0][0] if self.queue else INF
            node_next = min(self.nodes, key=lambda n: ticks[id(n)]) if self.nodes else None
            t_tick = ticks[id(node_next)] if node_next is not None else INF
            t = min(t_event, t_tick)
            if t > until:
                break
            self.now = t
            if t_event <= t_tick:
                _, _, dst, datagram, src = heapq.heappop(self.queue)
                arrivals = [(datagram, src)]
                while (self.queue and self.queue[0][0] == t and self.queue[0][2] == dst
                       and len(arrivals) < 64):
                    _, _, _, more, more_src = heapq.heappop(self.queue)
                    arrivals.append((more, more_src))
                node = self._deliver(dst, arrivals)
                if node is not None:
                    self._flush(node)
                    ticks[id(node)] = self._next_tick(node)
            elif node_next is not None:
                node_next.peer.tick(t)
                self._flush(node_next)
                ticks[id(node_next)] = self._next_tick(node_next)
        self.now = until

    def call(self, node: Node, fn: Callable[..., object], *args: object, **kw: object) -> object:
        """Call an engine method at the current virtual time and flush its output."""
        result = fn(*args, **kw)
        self._flush(node)
        return result

    def bootstrap(self, nodes: list[Node], via: Node) -> None:
        for n in nodes:
            if n is not via:
                self.call(n, n.peer.add_peer, via.public, self.now)
