"""The memory driver: ``srpfast.network(..., driver=srpfast.MemoryHub())`` runs the same
application and the same engine (C data plane included) with no sockets, inside one process.

A ``MemoryHub`` stands for a network: every network started on it gets an address on the hub
(10.77.x.y, or the numeric host it asked for) and datagrams between them arrive after a
delay drawn from ``delay`` (seeded), or not at all with probability ``loss``. There are no
NATs on the hub (every peer is public, so reflection finds them Static); the NAT models live
in the simulator's network (srpfast/sim/memnet.py). Time is the event loop's: use it to test
an application without a network, or to run many peers in one process.

The driver does what the UDP driver does (srpfast/drivers/udp.py): hand each arrival to the
engine as a receive batch (``control.batch.DatagramBatch``), send what the engine and its
data plane queued, keep one timer at the engine's next deadline, pass events on.
"""
from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from typing import Any, Callable

from srpfast.control.batch import DatagramBatch, pack_sockaddr, relayed_datagrams
from srpfast.control.dataplane import udp_address_key
from srpfast.errors import ArgumentError
from srpfast.wire.address import Address


class MemoryHub:
    """An in-process network for ``srpfast.network(driver=hub)`` (see the module doc)."""

    def __init__(self, *, delay: tuple[float, float] = (0.0002, 0.001), loss: float = 0.0,
                 seed: int = 0) -> None:
        if not (0 <= delay[0] <= delay[1]) or not 0 <= loss < 1:
            raise ArgumentError("MemoryHub: delay must be (low, high) seconds with "
                                "0 <= low <= high, loss a probability in [0, 1)")
        self.delay, self.loss = delay, loss
        self.rng = random.Random(seed)
        self.sockets: dict[Address, MemorySocket] = {}
        self._next = 1
        self.sent = self.dropped = 0

    def socket(self, host: str, port: int) -> "MemorySocket":
        try:
            ip = ipaddress.ip_address(host)
            numeric = not ip.is_unspecified
        except ValueError:
            numeric = False
        if not numeric:
            host = f"10.77.{self._next // 250}.{self._next % 250 + 1}"
        address = (host, port or 40000 + self._next)
        self._next += 1
        if address in self.sockets:
            raise ArgumentError(f"MemoryHub: {address[0]}:{address[1]} is taken on this hub; "
                                "pass port=0 for a free one")
        sock = MemorySocket(self, address)
        self.sockets[address] = sock
        return sock

    def driver(self, peer: Any, sock: "MemorySocket", *, on_event: Callable[[object], None],
               clock: Callable[[], float]) -> "MemoryDriver":
        """The driver for a socket of this hub (srpfast.drivers.base.Transport)."""
        return MemoryDriver(peer, sock, on_event=on_event, clock=clock)

    def send(self, src: Address, datagram: bytes, dst: Address) -> None:
        self.sent += 1
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            return
        asyncio.get_running_loop().call_later(self.rng.uniform(*self.delay), self._arrive,
                                              dst, datagram, src)

    def _arrive(self, dst: Address, datagram: bytes, src: Address) -> None:
        sock = self.sockets.get(dst)
        if sock is not None and sock.driver is not None:
            sock.received += 1
            sock.driver.receive(datagram, src)


class MemorySocket:
    """What the API asks of a socket, on a hub."""
    family = socket.AF_INET
    batch = 64
    gso_enabled = False

    def __init__(self, hub: MemoryHub, address: Address) -> None:
        self.hub = hub
        self._address = address
        self.driver: MemoryDriver | None = None
        self.closed = False
        self.received = 0

    @property
    def local_address(self) -> Address:
        return self._address

    def resolve(self, address: Address) -> bytes:
        return pack_sockaddr(address)

    def counters(self) -> dict[str, int]:
        return {"received": self.received}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.driver = None
            self.hub.sockets.pop(self._address, None)


class MemoryDriver:
    """Runs a Peer on a MemorySocket inside asyncio (the memory twin of UDPDriver)."""

    def __init__(self, peer: Any, sock: MemorySocket, *, on_event: Callable[[object], None],
                 loop: asyncio.AbstractEventLoop | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peer, self.sock, self.on_event, self.clock = peer, sock, on_event, clock
        self.loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.counters = {"recv.batches": 0, "actions.ignored": 0, "callback.errors": 0}
        peer.set_address_codec(pack_sockaddr)

    def start(self) -> None:
        self.sock.driver = self
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.sock.close()

    def poke(self) -> None:
        if not self._closed:
            self._flush()

    def receive(self, datagram: bytes, src: Address) -> None:
        if self._closed:
            return
        self.counters["recv.batches"] += 1
        self.peer.receive_batch(DatagramBatch([(datagram, src)], udp_address_key), self.clock())
        self._flush()

    def _on_timer(self) -> None:
        self._timer = None
        if not self._closed:
            self.peer.tick(self.clock())
            self._flush()

    def _flush(self) -> None:
        hub, me = self.sock.hub, self.sock.local_address
        for datagram, dst in self.peer.datagrams_to_send():
            hub.send(me, datagram, dst)
        for frames, sockaddrs, _ in self.peer.prepared_to_send():  # relayed by the data plane
            for datagram, dst in relayed_datagrams(frames, sockaddrs):
                hub.send(me, datagram, dst)
        # BDP actions need NATs, which a hub has none of: nothing to do (counted).
        self.counters["actions.ignored"] += len(self.peer.actions())
        for event in self.peer.events():
            try:
                self.on_event(event)
            except Exception:  # a failing handler must not stop the network
                self.counters["callback.errors"] += 1
        deadline = self.peer.next_deadline()
        if deadline is not None and not self._closed:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(max(0.0, deadline - self.clock()),
                                               self._on_timer)
