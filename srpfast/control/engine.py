"""The sans-I/O peer engine: bytes and a clock in, bytes, actions and events out.

``Peer`` owns the tables and dispatches each datagram to the part of the control plane that
handles its type (srpfast/control/*). It never touches a socket or reads a clock: every method
that depends on time takes ``now`` (float seconds of any monotonic clock) and all randomness
comes from ``self.rng``, so a run is deterministic per seed. The states of the seed's P2P Spec
map onto the code as follows (docs/ENGINE.md):

    STATE_0/1/2  bootstrap.py, reflection.py, handshake.py (PING/PONG: keep-alive, proofs,
                 admission, NAT samples)
    STATE_3      traversal.py (INTRO -> ping / spray / pool / relay)
    STATE_4      replication.py (publish, forward, deliver, expiry)
    STATE_5      membership.py (JOIN, introductions, Join/Leave events)
    STATE_6      replication.py (QUERY/ANSWER) and sync.py (SYNC)

Malformed or unproven input is a counted drop, never an exception out of ``receive`` (SPEC
9.5). A bug in this code is counted as "drop.internal" and re-raised when ``config.strict``.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any, Callable, Iterable

from srpfast.config import Config
from srpfast.control.announce import Announcer
from srpfast.control.batch import DatagramBatch, pack_sockaddr, queue_wait
from srpfast.control.bootstrap import Bootstrap
from srpfast.control.bounded import LruSet
from srpfast.control.budgets import SenderBudgets
from srpfast.control.dataplane import DataPlaneLink, rate_key, udp_address_key
from srpfast.control.events import Action, Disconnection, Event, PoolSend
from srpfast.control.flow import FlowWindow
from srpfast.control.handshake import Handshake
from srpfast.control.heartbeats import HEARTBEAT_BACKUP, HEARTBEAT_RETRY, Heartbeats
from srpfast.control.membership import Membership
from srpfast.control.peers import Forwarder, PeerEntry, PeerTable, PoolRoute
from srpfast.control.reflection import Reflection
from srpfast.control.replication import Replication
from srpfast.control.streams import Streams
from srpfast.control.sync import SyncEngine
from srpfast.control.traversal import Traversal
from srpfast.crypto import Identity, ProofChecker, sign_proof
from srpfast.dataplane.cache import Cache
from srpfast.errors import ArgumentError, MalformedPacket
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import PING_CONNECT, Body, decode_body, signed_bytes
from srpfast.wire.frame import decode, encode

# Forwarding weights drift slowly (an uptime term of +1/600 a second, distances at each
# PONG): refreshed this often when the table did not change (it rebuilds at once when it
# does); every maintenance tick cost ~2% of a simulated peer's CPU for <2% of weight.
WEIGHTS_REFRESH = 10.0

ZERO16, ZERO32 = C.ZERO16, C.ZERO32
CONTROL_TYPES = frozenset((C.PING, C.PONG, C.INTRO, C.JOIN, C.SYNC, C.QUERY))
# Datagrams per data-plane call of the engine's own data plane (the memory driver's and the
# simulator's); the UDP driver builds one for its socket's batch (drivers/base.py RECV_BATCH).
BATCH = 64
try:
    from srpfast.drivers._udp import RecvBatch
    BATCH_TYPES: tuple[type, ...] = (RecvBatch, DatagramBatch)
except ImportError:
    BATCH_TYPES = (DatagramBatch,)


class Peer:
    """One SRP peer, sans-I/O. See the module docstring and docs/ENGINE.md."""

    def __init__(self, identity: Identity, config: Config | None = None, *, now: float,
                 rng: random.Random | None = None, address: Address | None = None) -> None:
        if not isinstance(identity, Identity):
            raise TypeError(f"identity must be an srpfast.crypto.Identity, got "
                            f"{type(identity).__name__}: create one with create_identity()")
        self.config = cfg = config if config is not None else Config()
        if not isinstance(cfg, Config):
            raise TypeError("config must be an srpfast.config.Config")
        self.rng = rng if rng is not None else random.Random()
        self._identity = identity
        self._id = identity.peer_id
        self._start = now
        self._wall_offset = cfg.clock_offset if cfg.clock_offset is not None else time.time() - now
        self.clock = 0  # Lamport clock (SPEC 2)
        self.bound: Address | None = address
        self._out: list[tuple[bytes, Address]] = []
        # runs of frames to one address (publish): bytes, or a memoryview of a publish's
        # frames when the send window lets part of it go (flow.py)
        self._bulk: list[tuple[bytes | memoryview, Address]] = []
        self._prepared: list[tuple[bytes | memoryview, bytes | memoryview,
                                   list[tuple[int, int]]]] = []
        # A driver that sends prepared_to_send() after EVERY receive_batch, before the next
        # (UDPDriver), sets this: relayed frames then come as a view of the data plane's
        # output buffer, which the next batch overwrites, instead of a copy (~220 KB a
        # batch of 64 at fan-out 3: ~4% of a relay's time in a profile, bench/ relay peer).
        self.relay_views = False
        # A driver that can send at once (UDPDriver) sets this: the send window (flow.py)
        # calls it as soon as it queues a publish's frames, so they leave before the
        # publish's bookkeeping (lazy-push entries, cache insert, delivered ids, counters):
        # a lone value's one-way latency (docs/BENCHMARKS.md). It must send only
        # datagrams_to_send() and frames_to_send(): no actions, no events (they would
        # re-enter the application).
        self.send_now: Callable[[], None] | None = None
        # ... and its clock (its ``now`` values'), read only to time when a PING or PONG
        # leaves (handshake.py, "Round trips"); None (simulator, memory driver): ``now``.
        self.driver_clock: Callable[[], float] | None = None
        self._actions: list[Action] = []
        self._events: list[Event] = []
        self._counters: defaultdict[str, int] = defaultdict(int)
        # A full table evicts only a peer that missed its heartbeat: one side of a
        # connection pings (every keep_alive, or HEARTBEAT_BACKUP x keep_alive as backup),
        # so an active peer can be quiet for a little over keep_alive (_maintain).
        self.table = PeerTable(cfg.max_peers, cfg.peer_expiry, HEARTBEAT_BACKUP * cfg.keep_alive)
        self.proofs = ProofChecker(cfg.proof_window, cfg.proof_capacity)
        self.cache = Cache(cfg.cache_bytes, cfg.cache_source_share,
                           seed=self.rng.getrandbits(64))
        self.budgets = SenderBudgets(cfg, self.table)  # SPEC 9.6 (control/budgets.py)
        # Where our main socket has sent: filtering evidence needs "never sent to" (SPEC 5).
        self.sent_to: LruSet[Address] = LruSet(4096)
        self.sent_hosts: LruSet[str] = LruSet(4096)
        self._next_maintenance = now
        self._last_maintain = now
        self._now = now  # the time of the input being handled (send_to's PeerEntry.last_sent)
        # How long the datagram being handled waited in our socket's queue, s (kernel receive
        # stamps, RecvBatch.waits; 0: not measured): handshake.py, "Round trips".
        self.rx_waited = 0.0
        self._forwarder = Forwarder()
        self._dataplane: DataPlaneLink | None = None
        self.handshake = Handshake(self)
        self.heartbeats = Heartbeats(self)
        self.bootstrap = Bootstrap(self, now)
        self.reflection = Reflection(self)
        self.traversal = Traversal(self)
        self.membership = Membership(self)
        self.replication = Replication(self)
        self.flow = FlowWindow(self)  # send window: flow control (control/flow.py)
        self.announce = Announcer(self)
        self.sync = SyncEngine(self)
        self.streams = Streams(self)
        if cfg.dataplane:
            self._own_dataplane()

    # ------------------------------------------------------------------ properties
    @property
    def peer_id(self) -> bytes:
        return self._id

    @property
    def identity(self) -> Identity:
        return self._identity

    @property
    def nat(self) -> str:
        return self.reflection.name

    @property
    def nat_byte(self) -> int:
        return self.reflection.nat_byte

    def _own_dataplane(self) -> None:
        """The engine's own C data plane (issue 14: the same code under every driver), its
        table seeds drawn from self.rng so one seed makes a run. Addresses are packed as the
        kernel's sockaddrs (control/batch.py) until a driver brings its socket's resolver."""
        try:
            from srpfast.dataplane._dataplane import DataPlane
        except ImportError:  # a build without the extension: the Python reference path
            return
        cfg = self.config
        # (flooding emits to every peer: the widest output buffer the data plane allows)
        fanout = 16 if cfg.replication == "flood" else cfg.fanout
        dp = DataPlane(self.cache, fanout=fanout, max_hops=cfg.max_hops,
                       seed=self.rng.getrandbits(64), max_batch=BATCH,
                       delivered_ids=cfg.dataplane_delivered, seen_copies=cfg.seen_ids,
                       verified_roots=cfg.verified_envelopes)
        self.attach_dataplane(dp, resolve=pack_sockaddr)

    @property
    def dataplane(self) -> object | None:
        """The C data plane this engine runs batches through (None: the Python path only)."""
        return self._dataplane.dp if self._dataplane is not None else None

    def set_address_codec(self, resolve: Callable[[Address], bytes]) -> None:
        """A driver's own address packing for the data plane's next hops (UDP: the socket's
        resolve, which knows whether IPv4 peers need v4-mapped IPv6 sockaddrs)."""
        if self._dataplane is not None:
            self._dataplane.set_resolve(resolve)
            self._dataplane.push(self._next_maintenance, force=True)

    def attach_dataplane(self, dataplane: object, *, resolve: Callable[[Address], bytes],
                         key: Callable[[Address], int] | None = None) -> None:
        """Relay through a C data plane built on ``self.cache`` (control/dataplane.py):
        the engine keeps its candidate table, NAT class and membership up to date.
        ``resolve`` packs an address as the data plane's sockaddr; ``key`` gives the source
        key the driver passes to ``process`` (default: the UDP layer's, as RecvBatch.keys)."""
        self._dataplane = DataPlaneLink(self, dataplane, resolve, key or udp_address_key)
        self._dataplane.push(self._next_maintenance, force=True)

    def receive_delivered(self, datagram: bytes, address: Address, now: float,
                          variant: bool = False, packet_id: bytes | None = None) -> None:
        """A PUBLISH the data plane already validated, cached and forwarded, for a
        subcluster we hold (its UP_DELIVER items): only delivery is left. ``variant``: an
        UP_VARIANT item (forwarded, not cached: the cache holds another copy).
        ``packet_id``: the id the data plane computed for it (DataPlane.packet_id)."""
        try:
            f = decode(datagram, packet_id)
            self.replication.on_cached(f, datagram, address, now, variant)
        except MalformedPacket as exc:
            self.count(f"drop.malformed.{exc.reason}")
        except Exception:
            self.count("drop.internal")
            if self.config.strict:
                raise

    def known_addresses(self) -> list[Address]:
        """Addresses worth saving for a restart (the seed's PEERS list): peers reachable on
        the main socket, confirmed and most recently heard first, then bootstrap addresses."""
        peers = sorted((p for p in self.table.peers() if p.pool is None),
                       key=lambda p: (not p.confirmed, -p.last_seen))
        out = [p.address for p in peers]
        out += [a for a in self.bootstrap.addresses.members if a not in out]
        return out

    def set_bound_address(self, address: Address) -> None:
        """Tell the engine the address its main socket is bound to (Static detection, SPEC 5)."""
        self.bound = address

    # ------------------------------------------------------------------ outputs
    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Datagrams to send, one (bytes, address) each. Frame runs (frames_to_send) not
        taken by the driver before this call are included here, split one frame each."""
        out, self._out = self._out, []
        if self._bulk:
            for frames, address in self.frames_to_send():
                out.extend((bytes(frames[k:k + C.PACKET_BYTES]), address)
                           for k in range(0, len(frames), C.PACKET_BYTES))
        return out

    def frames_to_send(self) -> list[tuple[bytes | memoryview, Address]]:
        """Runs of 1158-byte frames, each run to one address (what a publish sends each chosen
        peer): a driver sends a run as UDP GSO super-datagrams, with no Python per frame."""
        out, self._bulk = self._bulk, []
        return out

    def has_output(self) -> bool:
        """Anything for datagrams_to_send, prepared_to_send, actions or events: a driver that
        polls after every call (the in-memory network) skips the four drains when not."""
        return bool(self._out or self._bulk or self._prepared or self._actions or self._events)

    def actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def counters(self) -> dict[str, int]:
        out = dict(self._counters)
        for k, v in self.cache.counters().items():
            out[f"cache.{k}"] = v
        out["peers"] = len(self.table)
        if self._dataplane is not None:
            for k, v in self._dataplane.dp.counters().items():
                out[f"dataplane.{k}"] = v
        return out

    def info(self) -> dict[str, Any]:
        r = self.reflection
        return {
            "peer_id": self._id.hex(),
            "address": self.bound,
            "public_address": r.public,
            "nat": r.name,
            "nat_filtering": r.filtering_name,
            "peers": len(self.table),
            "subclusters": [s.hex() for s in self.membership.subs],
            "cache_bytes": self.cache.bytes_used,
            "cache_packets": len(self.cache),
            "clock": self.clock,
        }

    def next_deadline(self) -> float | None:
        # Cache expiry, reassembly, held messages and queries run in the maintenance pass
        # (1 s granularity), so only traversal pacing, lazy push (announce.py) and the
        # bootstrap report (its timeout is a documented bound) ask for an earlier wake-up.
        # Never a time a tick at that time would leave unchanged: a driver would spin.
        # (asked after every arrival and tick: one comparison each, no tuple and loop)
        t = self._next_maintenance
        d = self.traversal.next_deadline()
        if d is not None and d < t:
            t = d
        d = self.announce.next_deadline()
        if d is not None and d < t:
            t = d
        d = self.bootstrap.deadline()
        if d is not None and d < t:
            t = d
        d = self.flow.next_deadline()
        if d is not None and d < t:
            t = d
        return t

    # ------------------------------------------------------------------ helpers for control/*
    def count(self, name: str, n: int = 1) -> None:
        self._counters[name] += n

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def act(self, action: Action) -> None:
        self._actions.append(action)

    def send(self, datagram: bytes, address: Address, pool: PoolRoute | None = None) -> None:
        if pool is not None:
            self._actions.append(PoolSend(pool[0], pool[1], datagram, address))
        else:
            self._out.append((datagram, address))
            if address not in self.sent_to:  # filtering evidence needs "never sent to"
                self.sent_to.add(address)
                self.sent_hosts.add(address[0])
        self._counters["tx"] += 1

    def heartbeat_every(self, peer: PeerEntry) -> float:
        """How long after our last PING to ``peer`` (or answered PING from it) we ping it
        again (control/heartbeats.py)."""
        return self.heartbeats.every(peer)

    def forwarder(self, now: float) -> Forwarder:
        """Weighted next-hop picker, rebuilt when the peer table or our NAT changed."""
        fw = self._forwarder
        if fw.key != (self.table.version, self.reflection.mapping):
            fw.rebuild(self.table, now, self.reflection.mapping)
        return fw

    def send_to(self, peer: PeerEntry, datagram: bytes) -> None:
        peer.last_sent = self._now  # (traffic both ways stands for a heartbeat: heartbeats.py)
        self.send(datagram, peer.address, peer.pool)

    def send_frames_to(self, peer: PeerEntry, frames: bytes | memoryview) -> None:
        """Consecutive 1158-byte frames to one peer, in order (frames_to_send)."""
        n = len(frames) // C.PACKET_BYTES
        peer.last_sent = self._now
        if peer.pool is not None:  # a BDP pool socket: one PoolSend action per frame
            for k in range(n):
                self.send(bytes(frames[k * C.PACKET_BYTES:(k + 1) * C.PACKET_BYTES]),
                          peer.address, peer.pool)
            return
        self._bulk.append((frames, peer.address))
        if peer.address not in self.sent_to:
            self.sent_to.add(peer.address)
            self.sent_hosts.add(peer.address[0])
        self._counters["tx"] += n

    def wall_ms(self, now: float) -> int:
        return max(0, int((now + self._wall_offset) * 1000))

    def uptime(self, now: float) -> int:
        return max(0, min(int(now - self._start), 0xFFFFFFFF))

    def summary_bytes(self) -> tuple[int, bytes]:
        count, h = self.cache.bucket("")
        return min(count, 0xFFFFFFFF), int(h).to_bytes(8, "big")

    def signed_frame(self, type_: int, body: Body, cluster: bytes = ZERO16) -> bytes:
        """Encode a control frame whose body ends in our proof signature (SPEC 4)."""
        unsigned = body.unsigned()
        sig = sign_proof(self._identity, signed_bytes(type_, cluster, unsigned))
        return encode(type=type_, message=unsigned + sig, cluster=cluster, clock=self.clock)

    def ping(self, address: Address, now: float, flags: int = PING_CONNECT, *,
             pool: PoolRoute | None = None, test_port: int = 0, reflect_round: int = 0,
             request_id: int | None = None, keyed: bool = False) -> int:
        """Send a signed (or ``keyed``) PING (control/handshake.py); returns its request id."""
        return self.handshake.ping(address, now, flags, pool=pool, test_port=test_port,
                                   reflect_round=reflect_round, request_id=request_id,
                                   keyed=keyed)

    def admit(self, peer_id: bytes, address: Address, nat: int, now: float,
              pool: PoolRoute | None) -> PeerEntry | None:
        """Enter or refresh a peer whose proof was just verified (control/handshake.py)."""
        return self.handshake.admit(peer_id, address, nat, now, pool)

    def verify_body(self, type_: int, cluster: bytes, body: Body, signer: bytes,
                    nonce: int, timestamp_ms: int, now: float,
                    cluster_id: bytes | None = None) -> bool:
        """A signed control body's signature and freshness (control/handshake.py)."""
        return self.handshake.verify_body(type_, cluster, body, signer, nonce, timestamp_ms,
                                          now, cluster_id)

    def push_dataplane(self, now: float) -> None:
        """Tell the C data plane the tables changed (candidates, keys), if one is attached."""
        if self._dataplane is not None:
            self._dataplane.push(now)

    # ------------------------------------------------------------------ public API
    def add_peer(self, address: Address, now: float) -> None:
        """Bootstrap: ping ``address`` (reflect + connect); re-pinged while we are alone, and
        an ErrorEvent ``bootstrap.unanswered`` if nobody answers within
        ``config.bootstrap_timeout`` (control/bootstrap.py). Numeric addresses only."""
        self.bootstrap.add(address, now)

    def ready_alone(self, now: float) -> None:
        """Declare this peer the first node of its network (no bootstrap address, no saved
        peer): Ready(None, "unknown") now instead of after a PONG that cannot come. Once
        peers arrive and reflection classifies us, NetworkChange reports the real values."""
        self.reflection.announce_alone(now)

    def receive(self, datagram: bytes, address: Address, now: float) -> None:
        self.receive_one(datagram, address, now, None)

    def receive_batch(self, items: Iterable[tuple[bytes, Address]], now: float) -> None:
        """Many datagrams. Given a batch (srpfast.drivers._udp.RecvBatch from the UDP driver, or a
        control.batch.DatagramBatch from any other) while a data plane is attached, the
        whole batch goes through C (relayed frames: prepared_to_send(); a sender over its
        rate limit loses its excess there, counted drop.rate); otherwise one at a time."""
        link = self._dataplane
        if link is not None and isinstance(items, BATCH_TYPES):
            batch: Any = items  # (a RecvBatch or DatagramBatch: len, frame(i), address(i))
            if len(batch) == 1:
                datagram = batch.frame(0)
                if len(datagram) > 4 and datagram[4] in CONTROL_TYPES:
                    # The data plane would only hand a control frame up (UP_CONTROL): a lone
                    # one (an idle network's heartbeats, a simulated peer's every arrival)
                    # skips the batch set-up, with the same budget and counters.
                    self._counters["rx.lone_control"] += 1
                    self.receive_one(datagram, batch.address(0), now,
                                     waited=queue_wait(batch.waits, 0))
                    if link.carry.kept:  # (it counts as a batch for fragments kept waiting)
                        link.carry.deliver(link.keyed, now)
                    return
            try:
                if link.receive(items, now):
                    return
            except Exception:
                self.count("drop.internal")
                if self.config.strict:
                    raise
                return
        for datagram, address in items:
            self.receive_one(datagram, address, now, None)

    def queue_relayed(self, frames: bytes | memoryview, sockaddrs: bytes | memoryview,
                      runs: list[tuple[int, int]]) -> None:
        """What the data plane relayed from one batch, for ``prepared_to_send``."""
        self._prepared.append((frames, sockaddrs, runs))

    def prepared_to_send(self) -> list[tuple[bytes | memoryview, bytes | memoryview,
                                             list[tuple[int, int]]]]:
        """Drains (frames, sockaddrs, runs) batches the data plane relayed, grouped by next
        hop: each run (start, count) suits one UDP GSO send, the frames after the last run
        one sendmmsg (DataPlane.runs; sock.send_runs sends it all). All of them can also go
        out with sock.send_prepared. frames and sockaddrs are bytes, or with ``relay_views``
        set memoryviews valid until the next receive_batch."""
        out, self._prepared = self._prepared, []
        return out

    def receive_pool(self, pool_key: bytes, index: int, datagram: bytes, address: Address,
                     now: float) -> None:
        """A datagram that arrived on socket ``index`` of BDP pool ``pool_key``."""
        self.receive_one(datagram, address, now, (bytes(pool_key), int(index)))

    def tick(self, now: float) -> None:
        self._now = now
        try:
            self.traversal.tick(now)
            self.announce.tick(now)
            self.flow.expire(now)
            if now >= self._next_maintenance:
                self._next_maintenance = now + self.config.maintenance_interval
                self._maintain(now)
            self.bootstrap.tick(now)
        except Exception:
            self.count("drop.internal")
            if self.config.strict:
                raise

    def join(self, cluster_id: bytes, shared_key: bytes | None = None, *, now: float) -> bytes:
        return self.membership.join(cluster_id, shared_key, now)

    def leave(self, subcluster_id: bytes, *, now: float) -> None:
        self.membership.leave(subcluster_id, now)

    def publish(self, subcluster_id: bytes, message: bytes, *, now: float) -> bytes:
        return self.publish_many(subcluster_id, [message], now=now)[0]

    def publish_many(self, subcluster_id: bytes, messages: Iterable[bytes], *,
                     now: float) -> list[bytes]:
        """Publish several messages with one author signature per 256 (receivers verify one
        Ed25519 signature per batch instead of one per message). They share one causal
        predecessor: see Replication.publish_many. Returns their ids, in order."""
        batch = list(messages)
        if not all(isinstance(m, (bytes, bytearray, memoryview)) for m in batch):
            raise TypeError("message must be bytes")
        return self.publish_packed(subcluster_id, [bytes(m) for m in batch], now=now)

    def publish_packed(self, subcluster_id: bytes, messages: list[bytes], *,
                       now: float) -> list[bytes]:
        """publish_many of a list of bytes objects (what srpfast/publishing.py packs): no
        per-message type check or copy."""
        self._now = now
        sub = self.membership.subs.get(bytes(subcluster_id))
        if sub is None:
            raise ArgumentError("not joined to that subcluster: call join(cluster_id, "
                                "shared_key) first and publish to the id it returns")
        return self.replication.publish_many(sub, messages, now)

    def stream(self, peer_id: bytes, data: bytes, *, now: float) -> tuple[int, bool]:
        """Direct sealed message: (ticket, sent now). Without a path yet it is queued and ends
        in a StreamResult event with that ticket (control/streams.py)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        if len(peer_id) != 32:
            raise ArgumentError("peer_id must be 32 bytes")
        if bytes(peer_id) == self._id:
            raise ArgumentError("cannot stream to ourselves: pass another peer's id")
        return self.streams.send(bytes(peer_id), bytes(data), now)

    # ------------------------------------------------------------------ receive path
    def receive_one(self, datagram: bytes, address: Address, now: float,
                    pool: PoolRoute | None = None, rated: bool = False,
                    waited: float = 0.0) -> None:
        """One datagram on the Python path; ``rated``: already counted and charged to its
        sender's budget (the data plane hands control packets up this way); ``waited``: how
        long it waited in the socket's queue, s (RecvBatch.waits; ``rx_waited``)."""
        self.rx_waited = waited
        try:
            self._receive(datagram, address, now, pool, rated)
        except Exception:
            self.count("drop.internal")
            if self.config.strict:
                raise
        finally:
            self.rx_waited = 0.0

    def _receive(self, datagram: bytes, address: Address, now: float,
                 pool: PoolRoute | None, rated: bool = False) -> None:
        self._now = now
        if not rated:  # (rated: counted and rate-limited with its data-plane batch)
            self._counters["rx"] += 1
            # SPEC 9.6: all traffic, members' too, in ONE bucket per sender: keyed like the
            # data plane's batch path (RecvBatch.keys), so both paths drain the same bucket.
            if not self.budgets.allow(rate_key(address), now):
                self.count("drop.rate")
                return
        try:
            f = decode(datagram)
        except MalformedPacket as exc:
            self.count(f"drop.malformed.{exc.reason}")
            if pool is not None:  # a spray probe found a BDP pool socket (SPEC 5)
                self.traversal.on_pool_probe(pool, address, now)
            return
        t = f.type
        if f.hops > self.config.max_hops:
            self.count("drop.hops")
            return
        if t == C.PUBLISH:
            self.replication.on_publish(f, datagram, address, now)
            return
        if t == C.ANSWER:
            self.replication.on_answer(f, datagram, address, now)
            return
        if t == C.STREAM:
            self.streams.on_stream(f, address, now, pool)
            return
        try:
            body = decode_body(t, f.message)
        except MalformedPacket:
            self.count("drop.body")
            return
        if t == C.PING:
            self.handshake.on_ping(f, body, address, now, pool)  # type: ignore[arg-type]
        elif t == C.PONG:
            self.handshake.on_pong(f, body, address, now, pool)  # type: ignore[arg-type]
        elif t == C.INTRO:
            self.traversal.on_intro(f, body, address, now, pool)  # type: ignore[arg-type]
        elif t == C.JOIN:
            self.membership.on_join(f, body, address, now)  # type: ignore[arg-type]
        elif t == C.QUERY:
            self.replication.on_query(f, body, address, now)  # type: ignore[arg-type]
        elif t == C.SYNC:
            self.sync.on_sync(f, body, address, now)  # type: ignore[arg-type]

    def _maintain(self, now: float) -> None:
        """The STATE_0 loop, run every maintenance_interval (cheap when nothing is due)."""
        if now - self._last_maintain > HEARTBEAT_RETRY * self.config.keep_alive:
            self.heartbeats.away(now)  # (heartbeats.py: every peer is pinged on this pass)
        self._last_maintain = now
        for peer in self.table.expire(now):
            self.count("disconnections")
            self.emit(Disconnection(peer.peer_id))
            self.traversal.on_disconnected(peer, now)
            self.membership.on_disconnected(peer, now)
        self.traversal.sweep_kept()
        self.heartbeats.run(now)
        self.handshake.expire(now)
        refresh = now - self._forwarder.built_at >= WEIGHTS_REFRESH
        if refresh:  # uptimes and distances moved
            self._forwarder.rebuild(self.table, now, self.reflection.mapping)
        self.reflection.tick(now)
        self.membership.tick(now)
        self.replication.tick(now)
        self.sync.tick(now)
        self.streams.tick(now)
        if self._dataplane is not None:
            if self._dataplane.carry.kept:
                # Fragments kept for the rest of their message wait CARRY_BATCHES receive
                # batches (carry.py); a maintenance pass counts as one, so on a network gone
                # quiet they reach the per-frame path (and its QUERY) within seconds.
                self._dataplane.carry.deliver(self._dataplane.keyed, now)
            # The C data plane's weights follow the same refresh (a push on every tick was
            # ~6% of a simulated peer's CPU); a table change pushes at once (push's shape).
            self._dataplane.push(now, force=refresh)


__all__ = ["Peer", "Address"]
