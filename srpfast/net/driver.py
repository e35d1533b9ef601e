"""Run one engine ``Peer`` on real UDP sockets inside an asyncio (uvloop) event loop.

The engine is sans-I/O (ARCHITECTURE.md): it takes datagrams and ``now`` and hands back
datagrams, actions, a deadline and events. This driver owns the sockets and the clock:

- readiness on the main socket -> drain it with recvmmsg (``UDPSocket.recv_batch``, C) and hand
  the whole batch to ``Peer.receive_batch``;
- after every input, flush: outgoing datagrams leave with sendmmsg in one call; what the kernel
  did not take (EAGAIN) stays queued and is retried when the socket is writable, never dropped
  silently (counted as ``send.deferred``);
- BDP actions (SPEC 5) run in C: ``Spray`` from the main socket, ``PoolOpen``/``PoolSend``/
  ``PoolKeep``/``PoolClose`` on a ``SocketPool`` whose sockets are released on every path;
- one timer, re-armed from ``Peer.next_deadline()`` (no busy loop).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from srpfast._udp import SocketPool, UDPSocket
from srpfast.control import events as ev

log = logging.getLogger("srpfast.net")

Address = tuple[str, int]
MAX_QUEUED = 65536  # outgoing datagrams held while the kernel pushes back (bounded, SPEC 9.4)


class UDPDriver:
    def __init__(self, peer: Any, sock: UDPSocket, *, on_event: Callable[[object], None],
                 loop: asyncio.AbstractEventLoop | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peer = peer
        self.sock = sock
        self.loop = loop or asyncio.get_running_loop()
        self.clock = clock
        self.on_event = on_event
        self._queue: deque[tuple[bytes, Address]] = deque()
        self._writer = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pools: dict[bytes, SocketPool] = {}
        self._kept: dict[tuple[bytes, int], UDPSocket] = {}
        self._closed = False
        self.counters = {"recv.batches": 0, "send.deferred": 0, "send.dropped_queue_full": 0,
                         "callback.errors": 0}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for fd_owner in [self.sock, *self._kept.values()]:
            self._remove_fd(fd_owner)
        for pool in self._pools.values():
            for fd in pool.fds:
                self.loop.remove_reader(fd)
            pool.close()
        self._pools.clear()
        for s in self._kept.values():
            s.close()
        self._kept.clear()
        self.sock.close()

    def _remove_fd(self, s: UDPSocket) -> None:
        if not s.closed:
            self.loop.remove_reader(s.fileno())
            self.loop.remove_writer(s.fileno())

    # -- input -------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        if self._closed:
            return
        batch = self.sock.recv_batch()
        if batch.count:
            self.counters["recv.batches"] += 1
            self.peer.receive_batch(iter(batch), self.clock())
        self._flush()

    def _on_pool_readable(self, key: bytes) -> None:
        pool = self._pools.get(key)
        if pool is None:
            return
        now = self.clock()
        for index, data, address in pool.poll():
            self.peer.receive_pool(key, index, data, address, now)
        self._flush()

    def _on_kept_readable(self, key: bytes, index: int) -> None:
        s = self._kept.get((key, index))
        if s is None:
            return
        batch = s.recv_batch()
        now = self.clock()
        for data, address in batch:
            self.peer.receive_pool(key, index, data, address, now)
        self._flush()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closed:
            return
        self.peer.tick(self.clock())
        self._flush()

    # -- output ------------------------------------------------------------------------------
    def poke(self) -> None:
        """Flush after the application called into the engine (publish, stream, join)."""
        if not self._closed:
            self._flush()

    def _flush(self) -> None:
        out = self.peer.datagrams_to_send()
        if out:
            room = MAX_QUEUED - len(self._queue)
            if len(out) > room:
                self.counters["send.dropped_queue_full"] += len(out) - room
                out = out[:room]
            self._queue.extend(out)
        self._send_queued()
        for action in self.peer.actions():
            self._act(action)
        for event in self.peer.events():
            try:
                self.on_event(event)
            except Exception:  # an application callback must never stop the network
                self.counters["callback.errors"] += 1
                log.exception("event callback failed for %r", event)
        self._arm_timer()

    def _send_queued(self) -> None:
        q = self._queue
        while q:
            chunk = [q[i] for i in range(min(len(q), self.sock.batch))]
            sent = self.sock.send_batch([d for d, _ in chunk], [a for _, a in chunk])
            for _ in range(sent):
                q.popleft()
            if sent < len(chunk):
                self.counters["send.deferred"] += len(chunk) - sent
                if not self._writer:
                    self._writer = True
                    self.loop.add_writer(self.sock.fileno(), self._on_writable)
                return
        if self._writer:
            self._writer = False
            self.loop.remove_writer(self.sock.fileno())

    def _on_writable(self) -> None:
        if not self._closed:
            self._send_queued()

    def _arm_timer(self) -> None:
        deadline = self.peer.next_deadline()
        if deadline is None or self._closed:
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, deadline - self.clock())
        self._timer_at = deadline
        self._timer = self.loop.call_later(delay, self._on_timer)

    # -- BDP actions (SPEC 5) ----------------------------------------------------------------
    def _act(self, action: object) -> None:
        if isinstance(action, ev.Spray):
            self.sock.spray(action.host, action.count, seed=action.seed)
        elif isinstance(action, ev.PoolOpen):
            if action.pool_key in self._pools:
                return
            host = "::" if self.sock.family == 10 else "0.0.0.0"
            pool = SocketPool(action.n, host)
            self._pools[action.pool_key] = pool
            for fd in pool.fds:
                self.loop.add_reader(fd, self._on_pool_readable, action.pool_key)
        elif isinstance(action, ev.PoolSend):
            kept = self._kept.get((action.pool_key, action.index))
            if kept is not None:
                kept.send_batch([action.datagram], [action.address])
                return
            pool = self._pools.get(action.pool_key)
            if pool is None:
                return
            if action.index < 0:
                pool.ping_all(action.datagram, action.address)
            else:
                pool.send_from(action.index, action.datagram, action.address)
        elif isinstance(action, ev.PoolKeep):
            pool = self._pools.pop(action.pool_key, None)
            if pool is None:
                return
            for fd in pool.fds:
                self.loop.remove_reader(fd)
            kept = pool.keep(action.index)  # closes every other socket of the pool
            self._kept[(action.pool_key, action.index)] = kept
            self.loop.add_reader(kept.fileno(), self._on_kept_readable, action.pool_key,
                                 action.index)
        elif isinstance(action, ev.PoolClose):
            pool = self._pools.pop(action.pool_key, None)
            if pool is not None:
                for fd in pool.fds:
                    self.loop.remove_reader(fd)
                pool.close()
            for k in [k for k in self._kept if k[0] == action.pool_key]:
                s = self._kept.pop(k)
                self._remove_fd(s)
                s.close()

    def open_sockets(self) -> int:
        """Sockets this driver holds (main + pools + kept): for tests of the release rule."""
        return (0 if self.sock.closed else 1) + sum(len(p) for p in self._pools.values()) + \
            len(self._kept)
