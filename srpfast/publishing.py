"""What ``Subcluster.emit`` / ``emit_many`` / ``drain`` do between the application and the
engine (srpfast/api.py keeps the public signatures and docstrings).

Coalescing: the emit() calls of one event-loop iteration are sealed together as ONE signed
batch (one Ed25519 signature per 256 messages, docs/SEALING.md), by a flush the first of them
schedules with ``loop.call_soon``: so a plain emit() loop is not bound by one signature per
message, and what it costs in latency is at most the rest of that loop iteration. 256 pending
messages (one signature's worth) are sealed at once, so a loop that never yields does not
grow the list. Messages sealed in one batch are concurrent: each names the message published
before the batch as its previousId (PROTOCOL.md §6), as emit_many's values always did.
Nagle's rule: an emit() with nothing to wait behind (``FlowWindow.idle``: a fellow member
acknowledges what we send and has acknowledged all of it, nothing waits in the backlog) from a
publisher quiet for ``QUIET`` (nothing published for a few milliseconds) is sealed and sent
at once, not a loop turn later (~30 us of a lone value's one-way latency,
docs/BENCHMARKS.md); the emit() calls after it in that loop iteration are one batch as above.
A loop that publishes back to back is never quiet (without QUIET, each time its subscribers
caught up during a drain() one value left alone: a signature and a verification more every
few dozen values, ~1 us of CPU per value on both sides), so its emit() calls are coalesced
as before.

Packing: the events sealed together are packed into as few messages as fit (wire/envelope.py
``pack_events``; emit_many's bytes values straight from the values, ``pack_values``), each at
most ``PACK_FRAMES`` frames: small values share a frame instead of taking a 1158-byte frame
each, and a 1 KB value costs ~1.07 frames instead of 2 (its envelope and seal overhead push
it past one). A packed message's id is the id of each of its events (emit() futures,
emit_many's list, Meta.packet_id). Why sixteen frames: the per-message work on both sides
(head fragment's whole-frame nonce, Merkle path, flow window and lazy-push entries,
ordering, delivery bookkeeping) is shared by ~14 values of 1 KB (~140 of 100 bytes), and the last
frame's slack and the envelope are paid once per 14 values instead of once per 7 (256 values
of 1 KB: 19 messages of 15 frames, 275 frames, against 37 messages, 293 frames at eight).
Measured A/B, 1 KB values, emit_many, two processes on loopback: publisher and subscriber
each ~0.5 us of CPU per value lower than at eight. A message still fits a receive batch (512
frames, RECV_BATCH) many times over, so the data plane assembles it in C unless it straddles
two batches (~1 in 10 at 128 frames, rarer at 512; control/carry.py assembles those a batch
later).

Flow control: ``drain()`` waits until the engine's send window (control/flow.py) has room,
woken by its WindowOpen event.
"""
from __future__ import annotations

import asyncio
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Iterable

from srpfast.config import Config
from srpfast.errors import CapacityError
from srpfast.wire.envelope import pack_events, pack_values
from srpfast.wire.fragments import SEALED_CHUNK
from srpfast.crypto.sealing import MAX_BATCH, envelope_overhead

PACK_FRAMES = 16  # the most frames a packed message fills (the module docstring says why)
# Nagle's rule applies to a publisher quiet this long (seconds of loop time; uvloop's clock
# counts whole milliseconds, so 2 means at least 1 ms): a lone value now and then, never a
# loop that publishes back to back (module doc).
QUIET = 0.002
# The bytes of events one packed message carries: PACK_FRAMES sealed chunks less the author
# envelope of a full signed batch (docs/SEALING.md).
PACK_BYTES = PACK_FRAMES * SEALED_CHUNK - envelope_overhead(MAX_BATCH)

if TYPE_CHECKING:
    from srpfast.api import Network


class Publisher:
    """The pending emit() messages of one subcluster and its drain() waiters."""

    def __init__(self, net: "Network", subcluster_id: bytes) -> None:
        self._net = net
        self._sid = subcluster_id
        self._pending: list[bytes] = []
        self._futures: list[asyncio.Future[bytes]] = []
        self._scheduled = False
        self._waiters: list[asyncio.Future[None]] = []
        self._max: int | None = None  # max_message(), once the engine exists
        # The network's event loop, from the first emit() (asyncio.get_running_loop() cost
        # ~0.4 us, a tenth of what an emit() costs in all; a Network never changes loops).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last = -1.0  # loop time of the last publish (Nagle's rule: QUIET)

    def max_message(self) -> int:
        """The longest encoded event one message of a full batch can carry."""
        if self._max is None:
            cfg: Config = self._net.peer.config
            self._max = cfg.max_fragments * SEALED_CHUNK - envelope_overhead(MAX_BATCH)
        return self._max

    def emit(self, message: bytes) -> "asyncio.Future[bytes]":
        if len(message) > (self._max or self.max_message()):
            raise CapacityError(
                f"the value is {len(message)} bytes encoded; a message carries at most "
                f"{self.max_message()} (Config.max_fragments fragments): send less, or in chunks")
        # A full send backlog refuses here, where the caller hears it (one frame at least for
        # each message waiting: CapacityError says to await drain()).
        flow = self._net.peer.flow
        flow.check_room(len(self._pending) + 1)
        loop = self._loop or self._bind_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.append(message)
        self._futures.append(future)
        if len(self._pending) >= MAX_BATCH:
            self.flush()
        elif not self._scheduled:
            if flow.idle and loop.time() - self._last >= QUIET:  # Nagle's rule (module doc)
                self.flush()  # (nothing to wait behind: it leaves now)
            else:
                self._scheduled = True
                loop.call_soon(self.flush)
        return future

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()  # (RuntimeError outside a running loop)
        return self._loop

    def publish(self, name: str, values: Iterable[Any]) -> list[bytes]:
        """emit_many: pending emit() messages first (they came first), then these events,
        packed; the message id of each value."""
        payloads, owner = pack_values(name, values, PACK_BYTES)
        self.flush()
        if self._loop is not None:
            self._last = self._loop.time()
        net = self._net
        mids: list[bytes] = net.peer.publish_packed(self._sid, payloads, now=net._now())
        net._poke()
        n = len(owner)  # (itemgetter: the per-value lookup in C; one key returns a scalar)
        if n < 2 or len(mids) == 1:
            return mids * n if len(mids) == 1 else [mids[i] for i in owner]
        return list(itemgetter(*owner)(mids))

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        events, futures = self._pending, self._futures
        self._pending, self._futures = [], []
        if self._loop is not None:
            self._last = self._loop.time()
        net = self._net
        payloads, owner = pack_events(events, PACK_BYTES)
        try:
            mids: list[Any] = net.peer.publish_packed(self._sid, payloads, now=net._now())
        except Exception as exc:  # (CapacityError: backlog full) every caller hears of it
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # (retrieved: #error says it, not asyncio's log)
            net._emit_failed(len(events), exc)
            return
        net._poke()
        for future, i in zip(futures, owner):
            if not future.done():
                future.set_result(mids[i])

    async def drain(self) -> None:
        # (No flush here: emit() calls still waiting join the batch being filled, up to 256
        # under one signature; they leave at the end of this loop turn, or at 256.)
        flow = self._net.peer.flow
        while not flow.open:
            self._net._require_open()
            flow.waiting = True
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def window_open(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
