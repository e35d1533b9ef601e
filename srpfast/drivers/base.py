"""The driver interface: what ``srpfast.network(..., driver=...)`` plugs in (issue 14).

The engine (srpfast/control/engine.py) is sans-I/O: bytes, addresses and a clock value in;
datagrams, relayed frame batches, actions, events and a deadline out. A driver brings the
rest: sockets (or something that carries datagrams), time, and the loop that calls the
engine. Two ship with the package, and they run the same engine unchanged:

    "udp"                 real UDP sockets on asyncio/uvloop: recvmmsg/sendmmsg/GSO, BDP
                          socket pools (srpfast/drivers/udp.py, _udp.pyx, _udp_pool.pxi)
    srpfast.MemoryHub()   in-process datagrams with seeded delay and loss, no sockets
                          (srpfast/drivers/memory.py)

A third party driver is any object with ``socket`` and ``driver`` as in ``Transport`` below.
The contract with the engine, which both drivers keep:

- hand arrivals to ``peer.receive_batch`` as one batch per wake-up: an
  ``srpfast.drivers._udp.RecvBatch`` or a ``srpfast.control.batch.DatagramBatch``, so the C
  data plane sees every datagram (relay and member delivery in C);
- send ``peer.datagrams_to_send()`` and ``peer.prepared_to_send()`` (the data plane's relayed
  frames with packed sockaddrs: ``control.batch.relayed_datagrams`` unpacks them), and carry
  out ``peer.actions()`` (BDP sprays and pools, or count them as unsupported);
- call ``peer.tick(now)`` at ``peer.next_deadline()`` and pass ``peer.events()`` on;
- tell the engine its bound address (``set_bound_address``) and, if its sockaddrs differ from
  ``control.batch.pack_sockaddr``'s, its own packing (``set_address_codec``).
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from srpfast.wire.address import Address


class DriverSocket(Protocol):
    """The main socket of one network: bound at ``Transport.socket``, closed by its driver."""
    family: int

    @property
    def local_address(self) -> Address: ...

    def counters(self) -> dict[str, int]: ...


class Driver(Protocol):
    """Runs one engine on one socket: started once, poked after every API call that queued
    output, closed once (it releases every socket it opened)."""
    counters: dict[str, int]
    sock: Any

    def start(self) -> None: ...

    def poke(self) -> None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """What ``network(driver=...)`` takes: a source of sockets and of drivers for them."""

    def socket(self, host: str, port: int) -> DriverSocket: ...

    def driver(self, peer: Any, sock: Any, *, on_event: Callable[[object], None],
               clock: Callable[[], float]) -> Driver: ...


# Frames a receive batch on the engine's main socket: the engine's per-batch Python (~45 us,
# cold in the CPU caches after the data-plane call) is shared by more of them (docs/NET.md,
# Sockets). 512, not 128: the on_batch subscriber row's receiving process took ~0.4 us less
# CPU a message (medians 3.87 -> 3.46 us, interleaved runs, session 16), the relay row the
# same; the batch buffer (593 KiB) and the data plane's scratch grow with it (control/
# carry.py keeps up to twice a batch of fragments). bench/bench_network.py's receive ceiling
# reads so too.
RECV_BATCH = 512

# The heap a receiving process keeps (docs/NET.md, "The heap"): glibc's mmap threshold raised
# to this once, before the first socket, so malloc keeps up to twice it of freed heap instead
# of returning its top to the kernel after every receive batch. A 64 KiB value costs its
# subscriber two such allocations (the message's payload, then the value); with the default
# threshold (128 KiB) ~20% of its CPU went to faulting those pages back in, zeroed.
HEAP_HINT = 4 << 20
_heap_primed = False


class UDPTransport:
    """The default transport: real UDP sockets and the asyncio/uvloop UDP driver."""

    def socket(self, host: str, port: int) -> DriverSocket:
        from srpfast.drivers._udp import UDPSocket, prime_malloc
        global _heap_primed
        if not _heap_primed:
            prime_malloc(HEAP_HINT)
            _heap_primed = True
        # The engine's main socket lets only SRP frames and BDP probes past the kernel: a
        # garbage flood never takes the receive buffer's space from real frames (SECURITY.md).
        # GRO: a sender's run of frames (a GSO send, a NIC's burst) is one read (docs/NET.md).
        # Receive stamps: how long each datagram waited for a busy loop (RecvBatch.waits),
        # taken out of ping round trips (docs/NET.md, "Receive timestamps").
        sock: DriverSocket = UDPSocket(host, port, filter_frames=True, gro=True,
                                       batch=RECV_BATCH, stamps=True)
        return sock

    def driver(self, peer: Any, sock: Any, *, on_event: Callable[[object], None],
               clock: Callable[[], float]) -> Driver:
        from srpfast.drivers.udp import UDPDriver
        return UDPDriver(peer, sock, on_event=on_event, clock=clock)


__all__ = ["Driver", "DriverSocket", "Transport", "UDPTransport"]
