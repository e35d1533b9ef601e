"""Run one engine ``Peer`` on real UDP sockets inside an asyncio (uvloop) event loop.

The engine is sans-I/O (ARCHITECTURE.md): it takes datagrams and ``now`` and hands back
datagrams, actions, a deadline and events. This driver owns the sockets and the clock:

- readiness on the main socket -> drain it with recvmmsg (``UDPSocket.recv_batch``, C) and hand
  the RecvBatch to the engine, which runs it through the C data plane (``DataPlane``, built
  here on the engine's cache): relayed PUBLISH frames go straight back out with sendmmsg to
  pre-resolved addresses, never entering Python per packet; only control packets and
  deliveries for our subclusters reach the control plane;
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
import socket
import time
from collections import deque
from typing import Any, Callable

from srpfast.control import events as ev
from srpfast.dataplane._dataplane import RUN_MIN as GSO_MIN_RUN, DataPlane
from srpfast.drivers._udp import SocketPool, UDPSocket, spray_ports
from srpfast.wire.address import Address
from srpfast.wire.constants import PACKET_BYTES as FRAME

log = logging.getLogger("srpfast.drivers")

MAX_QUEUED = 65536  # outgoing datagrams held while the kernel pushes back (bounded, SPEC 9.4)
# Receive batches drained per readiness callback before yielding: 2 x RECV_BATCH (512), as 8
# x 128 before, so a wake-up still drains at most 1,024 frames before the loop runs anything
# else (the events of a wake-up are flushed at its end: the same bound on their wait).
BATCHES_PER_WAKEUP = 2
# GSO_MIN_RUN (the data plane's RUN_MIN): frames to one destination worth a UDP GSO
# super-datagram (Linux >= 4.18); one definition for relayed runs and queued runs alike.


def route_source(address: Address) -> str | None:
    """The source address the kernel picks toward ``address``: a route lookup through a
    connected UDP socket, which sends nothing (None when there is no route)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((address[0], address[1]))
            source: str = s.getsockname()[0]
            return source
    except OSError:
        return None


class UDPDriver:
    def __init__(self, peer: Any, sock: UDPSocket, *, on_event: Callable[[object], None],
                 loop: asyncio.AbstractEventLoop | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peer = peer
        self.sock = sock
        self.loop = loop or asyncio.get_running_loop()
        self.clock = clock
        self.on_event = on_event
        # Outgoing (frame, packed sockaddr) pairs the kernel has not taken yet.
        self._queue: deque[tuple[bytes | memoryview, bytes]] = deque()
        # Spray probes the kernel did not take (a full send buffer: the C spray stops at
        # EAGAIN): (host, the ports still to go), sent when the socket is writable again. A
        # burst of 1024 often meets a send buffer still holding the last flush (NATLAB.md).
        self._spray_backlog: deque[tuple[str, Any]] = deque()
        self._writer = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pools: dict[bytes, SocketPool] = {}
        self._kept: dict[tuple[bytes, int], UDPSocket] = {}
        self._closed = False
        self.counters = {"recv.batches": 0, "send.deferred": 0, "send.gso_groups": 0,
                         "send.dropped_queue_full": 0, "callback.errors": 0,
                         # 1: the socket has kernel receive stamps (0: the kernel refused
                         # them, and round trips keep the loop's wait: docs/NET.md)
                         "recv.stamps": int(bool(getattr(sock, "stamps", False)))}
        # The engine owns its data plane (issue 14); the socket brings its address packing.
        if peer.dataplane is None or peer.dataplane.max_batch < sock.batch:
            cfg = peer.config
            peer.attach_dataplane(DataPlane(peer.cache, fanout=cfg.fanout,
                                            max_hops=cfg.max_hops,
                                            seed=peer.rng.getrandbits(64),
                                            max_batch=sock.batch,
                                            delivered_ids=cfg.dataplane_delivered,
                                            seen_copies=cfg.seen_ids,
                                            verified_roots=cfg.verified_envelopes),
                                  resolve=sock.resolve)
        else:
            peer.set_address_codec(sock.resolve)
        self.dataplane = peer.dataplane
        # _on_readable sends what each batch relayed before the next: no copy (engine.py).
        peer.relay_views = True
        peer.send_now = self._send_now  # a publish's frames leave before its bookkeeping
        peer.driver_clock = clock  # a ping's round trip timed to its sends (handshake.py)
        reflection = getattr(peer, "reflection", None)
        if reflection is not None and sock.local_address[0] in ("0.0.0.0", "::", ""):
            # A wildcard bind: reflection compares what reflectors saw with the address the
            # kernel routes from toward them, so a public host can prove it is Static
            # (nat.classify, issue 12).
            reflection.local_source = route_source

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.peer.relay_views = False  # nobody drains after each batch any more
        self.peer.send_now = None
        self.peer.driver_clock = None
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
        for _ in range(BATCHES_PER_WAKEUP):
            batch = self.sock.recv_batch()
            if not batch.count:
                break
            self.counters["recv.batches"] += 1
            # The engine runs the whole RecvBatch through the C data plane (after its
            # per-source rate check, SPEC 9.6); relayed frames come back prepared.
            self.peer.receive_batch(batch, self.clock())
            for frames, sockaddrs, runs in self.peer.prepared_to_send():
                self._send_relayed(frames, sockaddrs, runs)
            if batch.count < self.sock.batch:
                break
        if self.sock.pending:  # frames of a GRO read already out of the kernel: no wakeup
            self.loop.call_soon(self._on_readable)  # would come for them (udp.h)
        self._flush()

    def _send_relayed(self, frames: bytes | memoryview, sockaddrs: bytes | memoryview,
                      runs: list[tuple[int, int]]) -> None:
        """Frames the data plane forwarded, grouped by next hop (DataPlane.runs), in one C
        call: each run leaves as UDP GSO super-datagrams (one pass down the stack per 56
        frames instead of one per frame), the rest as plain datagrams, all in one sendmmsg
        for a batch (UDPSocket.send_runs). What the kernel does not take is queued in order,
        as copies (frames and sockaddrs may be views of the data plane's buffers)."""
        n = len(frames) // FRAME
        if n == 0:
            return
        done = 0
        if not self._queue:  # (older frames wait: these go behind them)
            if self.sock.gso_enabled:
                self.counters["send.gso_groups"] += len(runs)
            done = self.sock.send_runs(frames, sockaddrs, runs)
            if done == n:
                return
        step = len(sockaddrs) // n
        for k in range(done, n):
            self._enqueue(bytes(frames[k * FRAME:(k + 1) * FRAME]),
                          bytes(sockaddrs[k * step:(k + 1) * step]))
        self._send_queued()

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
        try:
            self.peer.tick(self.clock())
            self._flush()
        finally:
            self._arm_timer()  # ticks must never stop, whatever went wrong above

    # -- output ------------------------------------------------------------------------------
    def poke(self) -> None:
        """Flush after the application called into the engine (publish, stream, join)."""
        if not self._closed:
            self._flush()

    def _enqueue(self, frame: bytes | memoryview, sockaddr: bytes) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self.counters["send.dropped_queue_full"] += 1
            return
        self._queue.append((frame, sockaddr))

    def _send_outputs(self) -> None:
        """Send what the engine queued: datagrams, then frame runs (publishes)."""
        resolve = self.sock.resolve
        runs = self.peer.frames_to_send()  # (taken first: datagrams_to_send would split them)
        for datagram, address in self.peer.datagrams_to_send():
            try:
                self._enqueue(datagram, resolve(address))
            except (ValueError, OSError):  # an address this socket cannot reach (family)
                self.counters["send.unroutable"] = self.counters.get("send.unroutable", 0) + 1
        self._send_queued()
        for frames, address in runs:
            try:
                sockaddr = resolve(address)
            except (ValueError, OSError):
                self.counters["send.unroutable"] = self.counters.get("send.unroutable", 0) + 1
                continue
            self._send_run(frames, sockaddr)

    def _send_now(self) -> None:
        """The engine's ``send_now`` hook: a publish's frames leave as soon as they are
        sealed, before its bookkeeping (engine.py); actions and events wait for _flush."""
        if not self._closed:
            self._send_outputs()

    def _flush(self) -> None:
        self._send_outputs()
        for action in self.peer.actions():
            try:
                self._act(action)
            except (OSError, ValueError, OverflowError) as exc:
                # An action built from remote input (e.g. a spray at an address this socket's
                # family cannot reach) must be a counted failure, not an exception in the
                # loop; the remaining actions still run (a lost PoolClose would leak sockets).
                key = f"action.failed.{type(action).__name__}"
                self.counters[key] = self.counters.get(key, 0) + 1
                log.debug("action %r failed: %s", action, exc)
        for event in self.peer.events():
            try:
                self.on_event(event)
            except Exception:  # an application callback must never stop the network
                self.counters["callback.errors"] += 1
                log.exception("event callback failed for %r", event)
        self._arm_timer()

    def _send_run(self, frames: bytes | memoryview, sockaddr: bytes) -> None:
        """Frames to one address (a publish): UDP GSO super-datagrams straight from the
        buffer, no Python per frame; what the kernel does not take is queued in order."""
        n = len(frames) // FRAME
        done = 0
        if not self._queue:  # (older frames wait: these go behind them)
            if self.sock.gso_enabled:
                done = self.sock.send_gso(frames, FRAME, sockaddr)
                self.counters["send.gso_groups"] += 1
            else:
                done = self.sock.send_prepared(frames, sockaddr * n)
        for k in range(done, n):
            self._enqueue(frames[k * FRAME:(k + 1) * FRAME], sockaddr)
        if self._queue:
            self._send_queued()

    def _send_queued(self) -> None:
        if not self._send_sprays():
            return
        q = self._queue
        while q:
            chunk = [q[i] for i in range(min(len(q), self.sock.batch))]
            run = 1  # a run of frames to one destination (e.g. a stream): one GSO send
            while run < len(chunk) and chunk[run][1] == chunk[0][1]:
                run += 1
            if run >= GSO_MIN_RUN and self.sock.gso_enabled:
                chunk = chunk[:run]
                sent = self.sock.send_gso(b"".join(f for f, _ in chunk), FRAME, chunk[0][1])
            else:
                sent = self.sock.send_prepared(b"".join(f for f, _ in chunk),
                                               b"".join(a for _, a in chunk))
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

    def _send_sprays(self) -> bool:
        """The spray backlog, oldest first; False (writer armed) while the kernel is full."""
        b = self._spray_backlog
        while b:
            host, ports = b[0]
            sent = self.sock.spray(host, ports=ports)
            if sent < len(ports):
                b[0] = (host, ports[sent:])
                if not self._writer:
                    self._writer = True
                    self.loop.add_writer(self.sock.fileno(), self._on_writable)
                return False
            b.popleft()
        return True

    def _spray(self, host: str, ports: Any) -> None:
        if self._spray_backlog:  # behind the probes already waiting
            self._spray_backlog.append((host, ports))
            return
        sent = self.sock.spray(host, ports=ports)
        if sent < len(ports):
            self.counters["spray.deferred"] = self.counters.get("spray.deferred", 0) + \
                len(ports) - sent
            self._spray_backlog.append((host, ports[sent:]))
            self._send_sprays()

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
            plan = spray_ports(action.seed, action.first + action.port_count)
            self._spray(action.host, plan[action.first:])
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
            sending = self._pools.get(action.pool_key)
            if sending is None:
                return
            if action.index < 0:
                sending.ping_all(action.datagram, action.address)
            else:
                sending.send_from(action.index, action.datagram, action.address)
        elif isinstance(action, ev.PoolKeep):
            kept_pool = self._pools.pop(action.pool_key, None)
            if kept_pool is None:
                return
            for fd in kept_pool.fds:
                self.loop.remove_reader(fd)
            kept = kept_pool.keep(action.index)  # closes every other socket of the pool
            self._kept[(action.pool_key, action.index)] = kept
            self.loop.add_reader(kept.fileno(), self._on_kept_readable, action.pool_key,
                                 action.index)
        elif isinstance(action, ev.PoolClose):
            closed = self._pools.pop(action.pool_key, None)
            if closed is not None:
                for fd in closed.fds:
                    self.loop.remove_reader(fd)
                closed.close()
            for k in [k for k in self._kept if k[0] == action.pool_key]:
                s = self._kept.pop(k)
                self._remove_fd(s)
                s.close()

    def open_sockets(self) -> int:
        """Sockets this driver holds (main + pools + kept): for tests of the release rule."""
        return (0 if self.sock.closed else 1) + sum(len(p) for p in self._pools.values()) + \
            len(self._kept)
