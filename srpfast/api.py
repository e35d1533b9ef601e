"""The public asyncio API, shaped like the seed's ``socket:network`` hello world (issue 6).

    async with srpfast.network(identity=..., cluster_id=..., port=0, bootstrap=[...]) as net:
        greetings = await net.subcluster(shared_key=srpfast.create_shared_key(b"greetings"))
        greetings.on("hello, world", lambda value, meta: print(value))
        net.on("#ready", lambda info: greetings.emit("hello, world", {"language": "english"}))
        greetings.on("#join", lambda peer: peer.on("hello, world", print))
        async for value, meta in greetings.messages("hello, world"): ...

Application events travel as a small envelope inside a sealed PUBLISH or STREAM message:
``name length (1) ‖ name (UTF-8, 1..255 bytes) ‖ kind (1: 0 bytes, 1 JSON) ‖ value``
(docs/PROTOCOL.md, "Application events").
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

from srpfast._events import decode_events as _decode_events
from srpfast._udp import UDPSocket
from srpfast.constants import ZERO32
from srpfast.control import events as ev
from srpfast.crypto import Identity, create_identity, subcluster_id as derive_subcluster_id
from srpfast.errors import ArgumentError, ClosedError, DeliveryError, MalformedPacket
from srpfast.net.driver import UDPDriver

log = logging.getLogger("srpfast")

Address = tuple[str, int]
Handler = Callable[..., Any]
KIND_BYTES, KIND_JSON = 0, 1
QUEUE_BOUND = 1024  # messages() buffers at most this many undelivered values per iterator


def encode_event(name: str, value: Any) -> bytes:
    raw_name = name.encode()
    if not 1 <= len(raw_name) <= 255:
        raise ArgumentError("event names are 1..255 bytes of UTF-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes([len(raw_name)]) + raw_name + bytes([KIND_BYTES]) + bytes(value)
    try:
        body = json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"event values are bytes or JSON-serialisable: {exc}") from None
    return bytes([len(raw_name)]) + raw_name + bytes([KIND_JSON]) + body


_scan_json = json.JSONDecoder().scan_once  # the C scanner json.loads ends in (_events.pyx)


def decode_event(payload: bytes) -> tuple[str, Any]:
    try:
        n = payload[0]
        name = payload[1:1 + n].decode()
        kind = payload[1 + n]
        body = payload[2 + n:]
        if n == 0:
            raise ValueError("empty name")
        if kind == KIND_BYTES:
            return name, bytes(body)
        if kind == KIND_JSON:  # UTF-8 text (RFC 8259 8.1), as decode_events reads it
            return name, json.loads(bytes(body).decode())
        raise ValueError(f"kind {kind}")
    except (IndexError, ValueError, RecursionError) as exc:
        raise MalformedPacket("event", str(exc)) from None


def parse_address(text: str) -> Address:
    """"host:port" or "[v6]:port" -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ArgumentError(f"bootstrap address {text!r} must look like host:port or [::1]:port")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Meta:
    """What arrives with a value: who wrote it and where it sits in the causal chain."""
    author: bytes
    packet_id: bytes
    clock: int
    previous_id: bytes
    hops: int
    subcluster_id: bytes
    latency: float | None = None  # set by the demo from its own timestamps, else None


def _meta(b: "ev.DeliveredBatch", k: int) -> Meta:
    return Meta(b.authors[k], b.message_ids[k], b.clocks[k], b.previous_ids[k], b.hops[k],
                b.subcluster_id)


class Metas(Sequence[Meta]):
    """The Meta of each value of a batch (``Subcluster.on_batch``), built when indexed: a
    batch handler that never looks at metadata pays nothing for it."""

    __slots__ = ("_b", "_ks")

    def __init__(self, batch: "ev.DeliveredBatch", ks: list[int]) -> None:
        self._b = batch
        self._ks = ks

    def __len__(self) -> int:
        return len(self._ks)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._ks)))]
        return _meta(self._b, self._ks[i])


def decode_events(payloads: list[bytes]) -> tuple[dict[str, tuple[list[int], list[Any]]], int]:
    """Decode many event payloads at once: ({name: (positions, values)}, undecodable count).
    The same format and results as decode_event, grouped by name in arrival order; the loop
    runs in C (srpfast/_events.pyx)."""
    raw_groups, bad = _decode_events(payloads, _scan_json, json.loads)
    out = {}
    for raw, group in raw_groups.items():
        try:
            out[raw.decode()] = group
        except UnicodeDecodeError:
            bad += len(group[0])
    return out, bad


class Emitter:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, name: str, handler: Handler) -> Handler:
        self._handlers.setdefault(name, []).append(handler)
        return handler

    def off(self, name: str, handler: Handler) -> None:
        if handler in self._handlers.get(name, []):
            self._handlers[name].remove(handler)

    def _fire(self, name: str, *args: Any) -> None:
        for handler in list(self._handlers.get(name, ())):
            try:
                result = handler(*args)
                if asyncio.iscoroutine(result):
                    _spawn(result, name)
            except Exception:  # one bad handler must not silence the others or the loop
                log.exception("handler for %r failed", name)


# Tasks of async handlers: referenced until done (the loop keeps only weak references), and
# their exceptions logged like those of plain handlers instead of vanishing with the task.
_TASKS: set[asyncio.Task] = set()


def _spawn(coro: Any, name: str) -> None:
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)

    def done(t: asyncio.Task) -> None:
        _TASKS.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("async handler for %r failed", name, exc_info=t.exception())

    task.add_done_callback(done)


class RemotePeer(Emitter):
    """Another member of a subcluster (``#join`` hands you one as soon as its signed JOIN
    proves it is a member, which may be before any path to it exists). ``emit``/``send``
    send it a direct sealed STREAM; without a path yet the message waits (bounded by
    ``Config.stream_queue_bytes`` and ``Config.stream_queue_age``) and goes out when the peer
    connects or a relay route to it appears."""

    def __init__(self, net: "Network", peer_id: bytes) -> None:
        super().__init__()
        self._net = net
        self.peer_id = peer_id

    def emit(self, name: str, value: Any) -> None:
        """Send without waiting. Never silent: if the message is finally dropped (no path
        within stream_queue_age), the network fires ``#error`` and counts ``stream.expired``;
        a full queue raises CapacityError here."""
        self._net._require_open()
        self._net._stream(self.peer_id, encode_event(name, value), None)

    async def send(self, name: str, value: Any) -> None:
        """Send and wait until the message is handed to the network (at once when a path
        exists). Raises DeliveryError when no path appeared within Config.stream_queue_age,
        CapacityError when the queue is full or the value too large."""
        self._net._require_open()
        future = asyncio.get_running_loop().create_future()
        self._net._stream(self.peer_id, encode_event(name, value), future)
        await future

    def __repr__(self) -> str:
        return f"RemotePeer({self.peer_id.hex()[:16]}…)"


class Subcluster(Emitter):
    def __init__(self, net: "Network", subcluster_id: bytes) -> None:
        super().__init__()
        self._net = net
        self.subcluster_id = subcluster_id
        self.peers: dict[bytes, RemotePeer] = {}
        self._iterators: dict[str, list[asyncio.Queue]] = {}
        self._batch_handlers: dict[str, list[Handler]] = {}

    def on_batch(self, name: str, handler: Handler) -> Handler:
        """Call ``handler(values, metas)`` once per batch of event ``name``: ``values`` a list,
        ``metas`` a lazy sequence of Meta (built when indexed). The fast way to consume bulk
        data: one call per receive batch (up to 64 messages) instead of one per message.
        Per-message handlers (``on``) and iterators (``messages``) still see every value."""
        self._batch_handlers.setdefault(name, []).append(handler)
        return handler

    def off_batch(self, name: str, handler: Handler) -> None:
        if handler in self._batch_handlers.get(name, []):
            self._batch_handlers[name].remove(handler)

    def emit(self, name: str, value: Any) -> bytes:
        """Publish to every member (sealed); returns the message id."""
        self._net._require_open()
        mid = self._net.peer.publish(self.subcluster_id, encode_event(name, value),
                                     now=self._net._now())
        self._net._driver.poke()
        return mid

    def emit_many(self, name: str, values: Iterable[Any]) -> list[bytes]:
        """Publish many values of event ``name`` at once: one author signature per 256
        messages, so members verify far fewer signatures (the fast path for bulk data). The
        values of one call are concurrent: each names the message published before the call
        as its predecessor, not its neighbour in ``values``. Returns the message ids."""
        self._net._require_open()
        mids = self._net.peer.publish_many(self.subcluster_id,
                                           [encode_event(name, v) for v in values],
                                           now=self._net._now())
        self._net._driver.poke()
        return mids

    async def messages(self, name: str) -> AsyncIterator[tuple[Any, Meta]]:
        """Iterate over values of event ``name`` as they arrive (bounded buffer: when full, the
        oldest value is dropped and counted in ``net.metrics()['api.iterator_overflow']``)."""
        queue: asyncio.Queue = asyncio.Queue()
        self._iterators.setdefault(name, []).append(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._iterators[name].remove(queue)

    def _deliver(self, name: str, value: Any, meta: Meta) -> None:
        self._fire(name, value, meta)
        for queue in self._iterators.get(name, ()):
            if queue.qsize() >= QUEUE_BOUND:
                queue.get_nowait()
                self._net._api_counters["api.iterator_overflow"] += 1
            queue.put_nowait((value, meta))

    def _deliver_groups(self, groups: dict[str, tuple[list[int], list[Any]]],
                        batch: "ev.DeliveredBatch") -> None:
        """Values of one delivered batch, grouped by event name (decode_events): each batch
        handler once per name; then per-message handlers and iterators one value at a time
        in arrival order across names (a "create" before its "update")."""
        singles = [(k, name, value) for name, (ks, values) in groups.items()
                   if self._handlers.get(name) or self._iterators.get(name)
                   for k, value in zip(ks, values)]
        if len(groups) > 1:
            singles.sort(key=lambda item: item[0])
        for name, (ks, values) in groups.items():
            for handler in list(self._batch_handlers.get(name, ())):
                try:  # (a copy each: a handler that edits its list changes nobody else's)
                    result = handler(list(values), Metas(batch, ks))
                    if asyncio.iscoroutine(result):
                        _spawn(result, name)
                except Exception:  # one bad handler must not silence the others or the loop
                    log.exception("batch handler for %r failed", name)
        for k, name, value in singles:
            self._deliver(name, value, _meta(batch, k))

    def _close_iterators(self) -> None:
        for queues in self._iterators.values():
            for q in queues:
                q.put_nowait(None)


class Network(Emitter):
    """A running peer. Use ``async with network(...) as net`` or ``net = await network(...)``."""

    def __init__(self, *, identity: Identity | None, cluster_id: bytes, host: str, port: int,
                 bootstrap: Iterable[str | Address], config: Any, peers_file: str | None,
                 clock: Callable[[], float]) -> None:
        super().__init__()
        if not isinstance(cluster_id, bytes) or len(cluster_id) != 32:
            raise ArgumentError("cluster_id must be 32 bytes: use srpfast.create_cluster_id(seed)")
        self.identity = identity or create_identity()
        self.cluster_id = cluster_id
        self._host, self._port = host, port
        self._bootstrap = [parse_address(b) if isinstance(b, str) else tuple(b)
                           for b in bootstrap]
        self._config = config
        self._peers_file = peers_file
        self._now = clock
        self._subclusters: dict[bytes, Subcluster] = {}
        self._api_counters = {"api.iterator_overflow": 0, "api.undecodable_event": 0}
        self._stream_waiters: dict[int, asyncio.Future | None] = {}  # queued direct messages
        self._started = False
        self._closed = False
        self.ready = asyncio.Event()  # set on the engine's Ready event
        self.peer: Any = None
        self._driver: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> "Network":
        if self._started:
            return self
        from srpfast.engine import Peer  # the sans-I/O engine
        sock = UDPSocket(self._host, self._port)
        try:
            self.peer = Peer(self.identity, self._config, now=self._now(),
                             address=sock.local_address)
            self._driver = UDPDriver(self.peer, sock, on_event=self._on_engine_event,
                                     clock=self._now)
            self._driver.start()
            self._started = True
            self.peer.join(self.cluster_id, None, now=self._now())
            for address in self._bootstrap + self._load_known_peers():
                self.peer.add_peer(address, self._now())
            self._driver.poke()
        except BaseException:
            # Never leak the bound socket (or a half-started driver) when start fails.
            if self._driver is not None:
                self._driver.close()
            else:
                sock.close()
            self._started = False
            self._closed = True
            raise
        return self

    async def close(self) -> None:
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        try:
            self._save_known_peers()
            for sub in self._subclusters.values():
                self.peer.leave(sub.subcluster_id, now=self._now())
                sub._close_iterators()
            self._driver.poke()
        finally:
            self._driver.close()  # sockets are released on every path

    async def __aenter__(self) -> "Network":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __await__(self):
        return self.start().__await__()

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError("this network is closed; create a new one with srpfast.network()")
        if not self._started:
            raise ClosedError("start the network first: `async with srpfast.network(...)`")

    # -- subclusters -------------------------------------------------------------------------
    async def subcluster(self, *, shared_key: bytes) -> Subcluster:
        self._require_open()
        sid = derive_subcluster_id(shared_key)
        if sid in self._subclusters:
            return self._subclusters[sid]
        sub = Subcluster(self, sid)
        self._subclusters[sid] = sub
        self.peer.join(self.cluster_id, shared_key, now=self._now())
        self._driver.poke()
        return sub

    # -- direct messages ---------------------------------------------------------------------
    def _stream(self, peer_id: bytes, data: bytes, future: "asyncio.Future | None") -> None:
        ticket, sent = self.peer.stream(peer_id, data, now=self._now())
        self._driver.poke()
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
            self._fire("#error", reason)

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
            self.ready.set()
            self._fire("#ready", self.info())
        elif isinstance(event, ev.NetworkChange):
            self._fire("#network-change", self.info())
        elif isinstance(event, ev.Connection):
            self._fire("#connection", event.peer_id, event.address)
        elif isinstance(event, ev.Disconnection):
            self._fire("#disconnection", event.peer_id)
        elif isinstance(event, ev.ErrorEvent):
            self._fire("#error", event.reason)

    # -- introspection -----------------------------------------------------------------------
    @property
    def address(self) -> Address:
        return self._driver.sock.local_address

    def info(self) -> dict:
        info = dict(self.peer.info()) if self.peer is not None else {}
        info["bound"] = self.address if self._driver is not None else None
        return info

    def metrics(self) -> dict[str, int]:
        out = dict(self.peer.counters()) if self.peer is not None else {}
        if self._driver is not None:
            out.update({f"driver.{k}": v for k, v in self._driver.counters.items()})
            out.update({f"udp.{k}": v for k, v in self._driver.sock.counters().items()})
        out.update(self._api_counters)
        return out

    # -- known peers (users of the reference asked for this) ---------------------------------
    def _load_known_peers(self) -> list[Address]:
        if not self._peers_file or not os.path.exists(self._peers_file):
            return []
        try:
            with open(self._peers_file) as f:
                data = json.load(f)
            return [(str(h), int(p)) for h, p in data.get("peers", [])][:256]
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable peers file %s: %s", self._peers_file, exc)
            return []

    def _save_known_peers(self) -> None:
        if not self._peers_file or self.peer is None:
            return
        peers = [list(a) for a in self.peer.known_addresses()][:256]
        tmp = f"{self._peers_file}.tmp"
        with open(tmp, "w") as f:
            json.dump({"saved": time.time(), "peers": peers}, f)
        os.replace(tmp, self._peers_file)


def network(*, identity: Identity | None = None, cluster_id: bytes, port: int = 0,
            host: str = "0.0.0.0", bootstrap: Iterable[str | Address] = (), config: Any = None,
            peers_file: str | None = None,
            clock: Callable[[], float] = time.monotonic) -> Network:
    """Create a peer on a UDP port. ``async with network(...) as net`` starts and closes it."""
    return Network(identity=identity, cluster_id=cluster_id, host=host, port=port,
                   bootstrap=bootstrap, config=config, peers_file=peers_file, clock=clock)
