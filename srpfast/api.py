"""The public asyncio API, shaped like the seed's ``socket:network`` hello world (issue 6).

    async with srpfast.network(identity=..., cluster_id=..., port=0, bootstrap=[...]) as net:
        greetings = await net.subcluster(shared_key=srpfast.create_shared_key(b"greetings"))
        greetings.on("hello, world", lambda value, meta: print(value))
        net.on("#ready", lambda ready: greetings.emit("hello, world", {"language": "english"}))
        greetings.on("#join", lambda peer: peer.on("hello, world", print))
        async for value, meta in greetings.messages("hello, world"): ...

Application events travel as a small envelope inside a sealed PUBLISH or STREAM message
(srpfast/wire/envelope.py; docs/PROTOCOL.md, "Application events"). Network events reach handlers
as typed objects (srpfast/api_events.py; docs/EVENTS.md).
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Literal, overload

from srpfast.addresses import (Entry, load_peers_file, parse_bootstrap, resolve,
                               save_peers_file)
from srpfast.config import Config
from srpfast.api_events import (ConnectionEvent, DisconnectionEvent, ErrorInfo, NetworkChangeEvent,
                                ReadyEvent)
from srpfast.wire.constants import ZERO32
from srpfast.control import events as ev
from srpfast.control.bootstrap import UNANSWERED, format_address, unanswered_message
from srpfast.crypto import Identity, create_identity, subcluster_id as derive_subcluster_id
from srpfast.wire.envelope import decode_event, decode_events
from srpfast.errors import (ArgumentError, ArgumentTypeError, BootstrapError, ClosedError, DeliveryError,
                            MalformedPacket, NotReadyError)
from srpfast.drivers.base import Driver, Transport, UDPTransport
from srpfast.wire.address import Address
from srpfast.handlers import Emitter, Handler
# (re-exported: srpfast.Meta, RemotePeer and Subcluster are imported lazily from here)
from srpfast.subcluster import Meta as Meta, RemotePeer as RemotePeer, Subcluster as Subcluster

# bootstrap=: one "host:port" string, or an iterable of strings and (host, port) pairs.
BootstrapSpec = str | Address | Iterable[str | Address] | None


def _check_network_args(identity: object, host: object, port: object, config: object,
                        peers_file: object) -> None:
    """ArgumentError (naming the argument and what to pass) for a network() argument of the
    wrong type or range, before any socket exists."""
    if identity is not None and not isinstance(identity, Identity):
        raise ArgumentTypeError(f"identity must be an srpfast.Identity, got "
                                f"{type(identity).__name__}: pass srpfast.create_identity() or "
                                f"srpfast.load_identity(path), or leave it out for a new one")
    if not isinstance(host, str):
        raise ArgumentTypeError(f"host={host!r}: must be a str, the numeric local address to "
                                f"bind to, e.g. '0.0.0.0' (every IPv4 interface), '::' or "
                                f"'127.0.0.1'")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ArgumentError(f"host={host!r}: must be a numeric local IP address to bind to, not "
                            f"a name: e.g. '0.0.0.0' (every IPv4 interface), '::' (IPv6) or "
                            f"'127.0.0.1' (this machine only)") from None
    if not isinstance(port, int) or isinstance(port, bool):
        raise ArgumentTypeError(f"port={port!r}: must be an int 0..65535 (0 picks a free port), "
                                f"got {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ArgumentError(f"port={port}: must be 0..65535 (0 picks a free port)")
    if config is not None and not isinstance(config, Config):
        raise ArgumentTypeError(f"config must be an srpfast.Config, got {type(config).__name__}:"
                                f" pass srpfast.Config(field=value, ...), or leave it out for the "
                                f"defaults")
    if peers_file is not None and not isinstance(peers_file, (str, os.PathLike)):
        raise ArgumentTypeError(f"peers_file={peers_file!r}: must be a path (str or "
                                f"os.PathLike) where known peers are saved, or None")


class Network(Emitter):
    """A running peer. Use ``async with network(...) as net`` or ``net = await network(...)``.

    Network events (docs/EVENTS.md): every handler receives exactly one typed object:
    ``#ready`` ReadyEvent, ``#network-change`` NetworkChangeEvent, ``#connection``
    ConnectionEvent, ``#disconnection`` DisconnectionEvent, ``#error`` ErrorInfo
    (srpfast/api_events.py). ``await net.wait_ready()`` waits for readiness or says why not.
    """

    def __init__(self, *, identity: Identity | None, cluster_id: bytes, host: str, port: int,
                 bootstrap: BootstrapSpec, config: Config | None,
                 peers_file: str | os.PathLike[str] | None,
                 clock: Callable[[], float], driver: "str | Transport" = "udp") -> None:
        super().__init__()
        if driver == "udp":
            driver = UDPTransport()
        if isinstance(driver, str) or not (callable(getattr(driver, "socket", None))
                                           and callable(getattr(driver, "driver", None))):
            raise ArgumentError(f"driver={driver!r}: pass \"udp\" (real sockets, the default), "
                                "a srpfast.MemoryHub() (in-process, no sockets), or a transport "
                                "with socket() and driver() (srpfast/drivers/base.py)")
        self._transport: Transport = driver
        if not isinstance(cluster_id, bytes) or len(cluster_id) != 32:
            raise ArgumentError("cluster_id must be 32 bytes: use srpfast.create_cluster_id(seed)")
        _check_network_args(identity, host, port, config, peers_file)
        self.identity = identity or create_identity()
        self.cluster_id = cluster_id
        self._host, self._port = host, port
        self._entries = parse_bootstrap(bootstrap)  # ArgumentError here, naming the entry
        self._names: dict[Address, str] = {}  # address pinged -> how the caller wrote it
        self._config = config
        self._peers_file = peers_file
        self._now = clock
        self._subclusters: dict[bytes, Subcluster] = {}
        self._api_counters = {"api.iterator_overflow": 0, "api.undecodable_event": 0,
                              "api.bootstrap_unresolved": 0}
        self._stream_waiters: dict[int, asyncio.Future[None] | None] = {}  # queued direct messages
        self._started = False
        self._closed = False
        self.ready = asyncio.Event()  # set on the engine's Ready event
        self._ready_info: ReadyEvent | None = None
        self._unanswered: str | None = None  # the bootstrap.unanswered reason, once reported
        self._changed = asyncio.Event()  # wakes wait_ready: ready, bootstrap failure, close
        # Events raised while start() runs, handed to handlers on the next loop turn: a
        # handler registered right after `async with network(...) as net:` sees them.
        self._held: list[tuple[str, object]] | None = None
        self.peer: Any = None
        self._driver: Driver | None = None
        self._bound: Address | None = None  # the socket's address, kept for info() after close

    if TYPE_CHECKING:  # what each network handler receives, for type checkers (EVENTS.md)
        @overload
        def on(self, name: Literal["#ready"], handler: Callable[[ReadyEvent], Any]) -> Handler: ...
        @overload
        def on(self, name: Literal["#network-change"],
               handler: Callable[[NetworkChangeEvent], Any]) -> Handler: ...
        @overload
        def on(self, name: Literal["#connection"],
               handler: Callable[[ConnectionEvent], Any]) -> Handler: ...
        @overload
        def on(self, name: Literal["#disconnection"],
               handler: Callable[[DisconnectionEvent], Any]) -> Handler: ...
        @overload
        def on(self, name: Literal["#error"], handler: Callable[[ErrorInfo], Any]) -> Handler: ...
        @overload
        def on(self, name: str, handler: Handler) -> Handler: ...
        def on(self, name: str, handler: Handler) -> Handler: ...

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> "Network":
        """Bind the socket, resolve the bootstrap entries and start the peer. Raises
        BootstrapError (socket released) when bootstrap entries were given but none of them
        resolves to an address the socket can reach and no saved peer exists either."""
        if self._closed:
            raise ClosedError("this network is closed (or failed to start); create a new one "
                              "with srpfast.network()")
        if self._started:
            return self
        from srpfast.control.engine import Peer  # the sans-I/O engine
        try:
            sock: Any = self._transport.socket(self._host, self._port)
        except (TypeError, ValueError) as exc:  # (network() checked both: a last guard)
            raise ArgumentError(f"cannot bind host={self._host!r} port={self._port!r}: {exc}; "
                                f"pass a numeric local address such as '0.0.0.0'") from None
        self._held = []
        try:
            targets, unusable = await self._resolve_bootstrap(sock.family)
            saved = [a for a in self._load_known_peers(sock.family) if a not in targets]
            if self._entries and not targets and not saved:
                raise BootstrapError(
                    "bootstrap: none of the entries can be used: " + "; ".join(
                        f"{e.text!r} ({why})" for e, why in unusable) + ". Fix them, or pass "
                    "no bootstrap to start a new network as its first node.")
            self._bound = sock.local_address
            self.peer = Peer(self.identity, self._config, now=self._now(),
                             address=self._bound)
            self._driver = self._transport.driver(self.peer, sock,
                                                  on_event=self._on_engine_event, clock=self._now)
            self._driver.start()
            self._started = True
            self.peer.join(self.cluster_id, None, now=self._now())
            for entry, why in unusable:
                self._api_counters["api.bootstrap_unresolved"] += 1
                self._notify("#error", ErrorInfo(
                    f"bootstrap entry {entry.text!r} skipped: {why}. The other entries are "
                    f"still used.", "bootstrap.unresolved"))
            for address in targets + saved:
                self.peer.add_peer(address, self._now())
            if not targets and not saved:
                self.peer.ready_alone(self._now())  # the first node of its network
            self._poke()
        except BaseException:
            # Never leak the bound socket (or a half-started driver) when start fails.
            if self._driver is not None:
                self._driver.close()
            else:
                sock.close()
            self._started = False
            self._closed = True
            self._held = None
            raise
        asyncio.get_running_loop().call_soon(self._release_held)
        return self

    async def _resolve_bootstrap(self, family: int
                                 ) -> tuple[list[Address], list[tuple[Entry, str]]]:
        """(addresses to ping, [(entry, why it cannot be used)]), names resolved at once."""
        results = await asyncio.gather(*(resolve(e, family, self._host) for e in self._entries))
        targets: list[Address] = []
        unusable: list[tuple[Entry, str]] = []
        for entry, (addresses, why) in zip(self._entries, results):
            if why is not None:
                unusable.append((entry, why))
            for address in addresses:
                if address not in targets:
                    targets.append(address)
                    self._names.setdefault(address, entry.text)
        return targets, unusable

    def _release_held(self) -> None:
        held, self._held = self._held or [], None
        if not self._closed:
            for name, obj in held:
                self._fire(name, obj)

    def _notify(self, name: str, obj: object) -> None:
        if self._held is not None:
            self._held.append((name, obj))
        else:
            self._fire(name, obj)

    async def wait_ready(self, timeout: float | None = None) -> ReadyEvent:
        """Wait until the peer is ready and return its ReadyEvent (at once if it already is).

        ``timeout=None``: wait until ready, or raise BootstrapError as soon as no bootstrap
        entry has answered within ``Config.bootstrap_timeout`` (default 10 s). ``timeout``
        seconds: wait up to that long (retries go on meanwhile), then raise BootstrapError if
        no peer has answered, or NotReadyError if peers answered but NAT classification has
        not finished. The network keeps running after either error; ClosedError if it is
        closed meanwhile."""
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
            raise ArgumentError(f"wait_ready(timeout={timeout!r}): pass seconds >= 0, or None "
                                f"to wait for the bootstrap bound (Config.bootstrap_timeout)")
        self._require_open()
        loop = asyncio.get_running_loop()
        # (an infinite timeout waits for good, through the bootstrap report)
        end = None if timeout is None or timeout == float("inf") else loop.time() + timeout
        while self._ready_info is None:
            if self._closed:
                raise ClosedError("the network was closed before it was ready")
            if timeout is None and self._unanswered is not None:
                raise BootstrapError(self._unanswered)
            remaining = None if end is None else end - loop.time()
            if remaining is not None and remaining <= 0:
                raise self._not_ready()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self._ready_info

    def _not_ready(self) -> NotReadyError:
        boot = self.peer.bootstrap
        if not boot.answered and len(boot.addresses):
            return BootstrapError(self._unanswered_reason())
        return NotReadyError(
            f"not ready yet: {len(self.peer.table)} peer(s) answered but NAT classification "
            f"has not finished; wait longer (the network keeps trying), or look at the "
            f"'reflect.*' counters of net.metrics()")

    def _unanswered_reason(self) -> str:
        boot = self.peer.bootstrap
        waited = self._now() - boot.since if boot.since is not None else 0.0
        entries = []
        for address in boot.addresses.members:
            shown = format_address(address)
            name = self._names.get(address)
            entries.append(shown if name in (None, shown) else f"{name} ({shown})")
        return unanswered_message(entries, round(waited, 1), boot.rounds)

    async def close(self) -> None:
        """Leave every subcluster (members get a leave), save known peers, release sockets."""
        self._changed.set()  # wait_ready callers learn it is closed
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        try:
            self._save_known_peers()
            for sub in self._subclusters.values():
                sub._publisher.flush()  # this iteration's emit() calls still leave
                sub._publisher.window_open()  # drain() callers wake (and hear ClosedError)
                self.peer.leave(sub.subcluster_id, now=self._now())
                sub._close_iterators()
            self._poke()
        finally:
            if self._driver is not None:
                self._driver.close()  # sockets are released on every path

    def _poke(self) -> None:
        """Have the driver send what the engine queued."""
        if self._driver is not None:
            self._driver.poke()

    async def __aenter__(self) -> "Network":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, Network]:
        return self.start().__await__()

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError("this network is closed; create a new one with srpfast.network()")
        if not self._started:
            raise ClosedError("start the network first: `async with srpfast.network(...)`")

    # -- subclusters -------------------------------------------------------------------------
    async def subcluster(self, *, shared_key: bytes) -> Subcluster:
        """Join the subcluster of ``shared_key`` (32 bytes: srpfast.create_shared_key(seed))
        and return it; joining the same key again returns the same object. Register handlers
        right after this await (before the next one): members already known are announced
        with ``#join`` on the next loop turn."""
        self._require_open()
        if not isinstance(shared_key, (bytes, bytearray)) or len(shared_key) != 32:
            got = (f"{len(shared_key)} bytes" if isinstance(shared_key, (bytes, bytearray))
                   else type(shared_key).__name__)
            error = ArgumentError if isinstance(shared_key, (bytes, bytearray)) else ArgumentTypeError
            raise error(f"subcluster(shared_key=...): must be 32 bytes, got {got}; make one "
                        f"with srpfast.create_shared_key(seed) (the same seed on every member)")
        shared_key = bytes(shared_key)
        sid = derive_subcluster_id(shared_key)
        if sid in self._subclusters:
            return self._subclusters[sid]
        sub = Subcluster(self, sid)
        self._subclusters[sid] = sub
        self.peer.join(self.cluster_id, shared_key, now=self._now())
        # The flush (the JOINs out, and the events: a #join for every member already known
        # from JOINs that came before we joined) runs on the next loop turn, not now: the
        # caller registers its handlers right after this await, which returns without
        # yielding. Flushed here, those #join events reached a Subcluster with no handler yet
        # and were lost (`srp peer` missed its bootstrap peer's #join when that peer's JOIN
        # came first: the flaky test_srp_peer_processes_exchange_lines).
        asyncio.get_running_loop().call_soon(self._poke)
        return sub

    # -- direct messages ---------------------------------------------------------------------
    def _stream(self, peer_id: bytes, data: bytes, future: "asyncio.Future[None] | None") -> None:
        ticket, sent = self.peer.stream(peer_id, data, now=self._now())
        self._poke()
        if sent:
            if future is not None:
                future.set_result(None)
        else:  # queued until a path exists: StreamResult settles it
            self._stream_waiters[ticket] = future

    def _stream_result(self, event: "ev.StreamResult") -> None:
        future = self._stream_waiters.pop(event.ticket, None)
        if event.error is None:
            if future is not None and not future.done():
                future.set_result(None)
            return
        reason = (f"direct message to peer {event.peer_id.hex()[:16]} dropped ({event.error}):"
                  f" no path to it within Config.stream_queue_age; check it is online")
        if future is not None:
            if not future.done():
                future.set_exception(DeliveryError(reason))
        else:  # emit(): nobody awaits it, so say it here
            self._notify("#error", ErrorInfo(reason, "stream.expired"))

    def _emit_failed(self, count: int, exc: Exception) -> None:
        """A coalesced emit() batch that could not be published: nobody may await those
        futures, so #error says it too."""
        self._notify("#error", ErrorInfo(f"{count} emitted message(s) not published: {exc}",
                                         "publish.failed"))

    # -- engine events -> API events ---------------------------------------------------------
    def _on_engine_event(self, event: object) -> None:
        if isinstance(event, ev.DeliveredBatch):
            sub = self._subclusters.get(event.subcluster_id)
            if sub is None:
                return
            groups, bad = decode_events(event.payloads)
            if bad:
                self._api_counters["api.undecodable_event"] += bad
            sub._deliver_groups(groups, event)
        elif isinstance(event, ev.Delivered):  # (the control plane's per-frame path)
            self._on_engine_event(ev.DeliveredBatch(
                event.subcluster_id, [event.message_id], [event.payload], [event.author],
                [event.clock], [event.previous_id], [event.hops]))
        elif isinstance(event, ev.StreamData):
            try:
                name, value = decode_event(event.data)
            except MalformedPacket:
                self._api_counters["api.undecodable_event"] += 1
                return
            for sub in self._subclusters.values():
                remote = sub.peers.get(event.peer_id)
                if remote is not None:
                    remote._fire(name, value, Meta(event.peer_id, b"", 0, ZERO32, 0,
                                                   sub.subcluster_id))
                    return
            self._fire("#stream", event.peer_id, name, value)
        elif isinstance(event, ev.StreamResult):
            self._stream_result(event)
        elif isinstance(event, ev.WindowOpen):
            for sub in self._subclusters.values():
                sub._publisher.window_open()
        elif isinstance(event, ev.Join):
            sub = self._subclusters.get(event.subcluster_id)
            if sub is not None and event.peer_id not in sub.peers:
                remote = sub.peers[event.peer_id] = RemotePeer(self, event.peer_id)
                sub._fire("#join", remote)
        elif isinstance(event, ev.Leave):
            sub = self._subclusters.get(event.subcluster_id)
            if sub is not None and event.peer_id in sub.peers:
                sub._fire("#leave", sub.peers.pop(event.peer_id))
        elif isinstance(event, ev.Ready):
            info = ReadyEvent(self.identity.peer_id, self.address, event.address, event.nat,
                              self.peer.reflection.filtering_name, len(self.peer.table) == 0)
            self._ready_info = info
            self.ready.set()
            self._changed.set()
            self._notify("#ready", info)
        elif isinstance(event, ev.NetworkChange):
            self._notify("#network-change", NetworkChangeEvent(
                self.address, event.address, event.nat, self.peer.reflection.filtering_name))
        elif isinstance(event, ev.Connection):
            self._notify("#connection", ConnectionEvent(event.peer_id, event.address))
        elif isinstance(event, ev.Disconnection):
            self._notify("#disconnection", DisconnectionEvent(event.peer_id))
        elif isinstance(event, ev.ErrorEvent):
            reason = event.reason
            if event.code == UNANSWERED:  # name the entries as the caller wrote them
                reason = self._unanswered = self._unanswered_reason()
                self._changed.set()
            self._notify("#error", ErrorInfo(reason, event.code))

    # -- introspection -----------------------------------------------------------------------
    @property
    def address(self) -> Address:
        """The (host, port) the main UDP socket is bound to (after close: where it was
        bound; ClosedError before start)."""
        if self._bound is None:
            raise ClosedError("start the network first: `async with srpfast.network(...)`; "
                              "it has no socket (no address) before that")
        return self._bound

    def info(self) -> dict[str, Any]:
        """peer id, bound and public address, NAT mapping and filtering, peers, subclusters,
        cache use, Lamport clock."""
        info = dict(self.peer.info()) if self.peer is not None else {}
        info["bound"] = self._bound  # (after close: where it was bound)
        return info

    def metrics(self) -> dict[str, int]:
        """Every counter: the engine's (drops by reason, deliveries, traffic), the driver's,
        the socket's and the API's (docs/ENGINE.md "Counters")."""
        out = dict(self.peer.counters()) if self.peer is not None else {}
        if self._driver is not None:
            out.update({f"driver.{k}": v for k, v in self._driver.counters.items()})
            out.update({f"udp.{k}": v for k, v in self._driver.sock.counters().items()})
        out.update(self._api_counters)
        return out

    # -- known peers (users of the reference asked for this; srpfast/addresses.py) -------
    def _load_known_peers(self, family: int) -> list[Address]:
        if not self._peers_file:
            return []
        saved = load_peers_file(self._peers_file, family, self._host)
        for host, port in saved:
            self._names.setdefault((host, port), f"{format_address((host, port))} (saved peer)")
        return saved

    def _save_known_peers(self) -> None:
        if self._peers_file and self.peer is not None:
            save_peers_file(self._peers_file, self.peer.known_addresses())


def network(*, identity: Identity | None = None, cluster_id: bytes, port: int = 0,
            host: str = "0.0.0.0", bootstrap: BootstrapSpec = (), config: Config | None = None,
            peers_file: str | os.PathLike[str] | None = None,
            clock: Callable[[], float] = time.monotonic,
            driver: "str | Transport" = "udp") -> Network:
    """Create a peer on a UDP port. ``async with network(...) as net`` starts and closes it.

    ``bootstrap``: one ``"host:port"`` / ``"[v6]:port"`` string, or an iterable of such
    strings and (host, port) pairs; checked here (ArgumentError naming a bad entry), names
    resolved at start (srpfast/addresses.py). No entry and no saved peer: this peer is the
    first node of its network and is ready at once.

    ``driver``: ``"udp"`` (real sockets) or a ``srpfast.MemoryHub()``: the same application and
    engine in one process with no sockets (srpfast/drivers/memory.py); any object with the
    ``socket``/``driver`` methods of srpfast.drivers.base.Transport plugs in the same way."""
    return Network(identity=identity, cluster_id=cluster_id, host=host, port=port,
                   bootstrap=bootstrap, config=config, peers_file=peers_file, clock=clock,
                   driver=driver)
