"""What a subcluster hands the application: its values' metadata (Meta), the subcluster itself
(emit, emit_many, drain, handlers, iterators) and its other members (RemotePeer: direct
sealed streams). The Network (srpfast.api) creates them and feeds them delivered batches.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Sequence, overload

from srpfast.control import events as ev
from srpfast.errors import CapacityError
from srpfast.handlers import Emitter, Handler, call_handler, check_handler, log, naming, spawn
from srpfast.publishing import Publisher
from srpfast.wire.envelope import check_event_name, encode_event

if TYPE_CHECKING:
    from srpfast.api import Network

QUEUE_BOUND = 1024  # messages() buffers at most this many undelivered values per iterator


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
    """Meta(author, packet_id, clock, previous_id, hops, subcluster_id) for message k of a
    batch, built without the frozen dataclass's __init__ (one object.__setattr__ a field:
    ~1.6 us, a quarter of a subscriber's CPU per one-value message with on() handlers);
    filling the new instance's __dict__ gives the same object in ~0.6 us (test_meta.py)."""
    m: Meta = _new(Meta)
    m.__dict__.update(author=b.authors[k], packet_id=b.message_ids[k], clock=b.clocks[k],
                      previous_id=b.previous_ids[k], hops=b.hops[k],
                      subcluster_id=b.subcluster_id, latency=None)
    return m


_new = object.__new__


class Metas(Sequence[Meta]):
    """The Meta of each value of a batch (``Subcluster.on_batch``), built when indexed: a
    batch handler that never looks at metadata pays nothing for it."""

    __slots__ = ("_b", "_ks")

    def __init__(self, batch: "ev.DeliveredBatch", ks: list[int]) -> None:
        self._b = batch
        self._ks = ks

    def __len__(self) -> int:
        return len(self._ks)

    @overload
    def __getitem__(self, i: int) -> Meta: ...
    @overload
    def __getitem__(self, i: slice) -> list[Meta]: ...

    def __getitem__(self, i: int | slice) -> Meta | list[Meta]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._ks)))]
        return _meta(self._b, self._ks[i])


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
        with naming(f"emit({name!r}, value)"):
            self._net._stream(self.peer_id, encode_event(name, value), None)

    async def send(self, name: str, value: Any) -> None:
        """Send and wait until the message is handed to the network (at once when a path
        exists). Raises DeliveryError when no path appeared within Config.stream_queue_age,
        CapacityError when the queue is full or the value too large."""
        self._net._require_open()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with naming(f"send({name!r}, value)"):
            self._net._stream(self.peer_id, encode_event(name, value), future)
        await future

    def __repr__(self) -> str:
        return f"RemotePeer({self.peer_id.hex()[:16]}…)"


class Subcluster(Emitter):
    """A subcluster we joined (``await net.subcluster(shared_key=...)``): messages sealed with
    its key reach every member, and only members can read them.

    Events: a value event by its name -> ``handler(value, meta)`` for each message;
    ``#join`` -> ``handler(peer: RemotePeer)`` when a signed JOIN proves a peer is a member;
    ``#leave`` -> ``handler(peer: RemotePeer)`` when it leaves or is gone. ``peers`` maps
    peer ids to the members known now."""

    def __init__(self, net: "Network", subcluster_id: bytes) -> None:
        super().__init__()
        self._net = net
        self.subcluster_id = subcluster_id
        self.peers: dict[bytes, RemotePeer] = {}
        self._iterators: dict[str, list[asyncio.Queue[tuple[Any, Meta] | None]]] = {}
        self._batch_handlers: dict[str, list[Handler]] = {}
        self._publisher = Publisher(net, subcluster_id)  # emit coalescing, drain()

    def on_batch(self, name: str, handler: Handler) -> Handler:
        """Call ``handler(values, metas)`` once per batch of event ``name``: ``values`` a list,
        ``metas`` a lazy sequence of Meta (built when indexed). The fast way to consume bulk
        data: one call per receive batch (up to 64 messages) instead of one per message.
        Per-message handlers (``on``) and iterators (``messages``) still see every value."""
        self._batch_handlers.setdefault(check_handler(name, handler), []).append(handler)
        return handler

    def off_batch(self, name: str, handler: Handler) -> None:
        if handler in self._batch_handlers.get(name, []):
            self._batch_handlers[name].remove(handler)

    def emit(self, name: str, value: Any) -> asyncio.Future[bytes]:
        """Publish to every member (sealed). The emit() calls of one event-loop iteration
        leave together, as one signed batch (at most 256 wait; docs/GUIDE.md "Publishing"),
        packed into as few messages as fit (small values share one): the messages are
        concurrent, each naming the message published before that batch as its previous_id,
        and the values inside one message keep their order. When nothing was published for
        a few milliseconds and the subscribers have acknowledged all of it (nothing to wait
        behind), the first emit() leaves at once, alone. Returns a future of the id of the
        message that carries the value (set when the batch is sealed, at the end of this
        loop iteration, or at once). Raises CapacityError for a value too large for one
        message, or when the send backlog is full (Config.send_backlog). Does not wait for
        the subscribers: ``await drain()`` does."""
        self._net._require_open()
        try:  # (as _naming does, without building the call's name on every emit)
            return self._publisher.emit(encode_event(name, value))
        except CapacityError as exc:
            raise CapacityError(f"emit({name!r}, value): {exc}") from None

    def emit_many(self, name: str, values: Iterable[Any]) -> list[bytes]:
        """Publish many values of event ``name`` at once: packed into as few messages as fit
        (small values share one; a 1 KB value costs ~1.1 frames), one author signature per
        256 messages (the fast path for bulk data). The messages of one call are concurrent:
        each names the message published before the call as its predecessor; the values
        inside one message keep their order. Returns, for each value, the id of the message
        that carries it.
        Raises CapacityError when the send backlog is full (Config.send_backlog): ``await
        drain()`` between calls."""
        self._net._require_open()
        try:  # (as _naming does, without building the call's name on every call)
            return self._publisher.publish(name, values)
        except CapacityError as exc:
            raise CapacityError(f"emit_many({name!r}, values): {exc}") from None

    async def drain(self) -> None:
        """Wait until what this peer published has room to leave: the send window
        (Config.send_window frames not yet acknowledged by a subscriber) is not full and
        nothing waits behind it. A publisher that awaits drain() between emits is slowed to
        what its subscribers take, instead of losing messages (docs/GUIDE.md "Flow
        control"). Returns at once when no connected member could acknowledge."""
        self._net._require_open()
        await self._publisher.drain()

    async def messages(self, name: str) -> AsyncIterator[tuple[Any, Meta]]:
        """Iterate over values of event ``name`` as they arrive (bounded buffer: when full, the
        oldest value is dropped and counted in ``net.metrics()['api.iterator_overflow']``)."""
        check_event_name(name)
        queue: asyncio.Queue[tuple[Any, Meta] | None] = asyncio.Queue()
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
        queues = self._iterators.get(name)
        for queue in queues or ():
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
                    if result is not None and asyncio.iscoroutine(result):
                        spawn(result, name)
                except Exception:  # one bad handler must not silence the others or the loop
                    log.exception("batch handler for %r failed", name)
        # The values of one packed message share its Meta (it is immutable): one each.
        metas: dict[int, Meta] = {}
        handlers, iterators = self._handlers, self._iterators
        for k, name, value in singles:
            meta = metas.get(k)
            if meta is None:
                meta = metas[k] = _meta(batch, k)
            hs = handlers.get(name)  # (per value: a handler may call on() or off())
            if hs is not None and len(hs) == 1 and not iterators.get(name):
                call_handler(hs[0], name, value, meta)  # the common case, without _deliver's frames
            else:
                self._deliver(name, value, meta)

    def _close_iterators(self) -> None:
        for queues in self._iterators.values():
            for q in queues:
                q.put_nowait(None)
