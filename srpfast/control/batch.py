"""One receive-batch interface for every driver (issue 14).

The engine's batch path (``Peer.receive_batch`` -> the C data plane) takes a buffer of
datagrams laid out every ``slot`` bytes, their true lengths, their senders' keys and a way to
get each datagram and address back. The UDP driver hands it ``srpfast.drivers._udp.RecvBatch`` (filled
by recvmmsg, keys computed in C); any other driver (the in-memory network, a simulator, a
test) builds a ``DatagramBatch`` from (datagram, address) pairs. Both have the same surface, so
the engine runs the same code, C data plane included, whatever the driver.

``pack_sockaddr``/``unpack_sockaddr``: the data plane names next hops by packed sockaddr
(Linux ``sockaddr_in``/``sockaddr_in6`` layout, ADDR_BYTES long), which is what the UDP socket
sends to; a driver without sockets maps them back to (host, port) with ``unpack_sockaddr``.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from array import array
from typing import Callable, Iterator, Sequence

from srpfast.wire import constants as C
from srpfast.wire.address import Address

SLOT = C.PACKET_BYTES  # one frame per slot
ADDR_BYTES = 28  # sizeof(sockaddr_in6), the data plane's SRP_DP_ADDR_BYTES (checked by a test)


class DatagramBatch:
    """(datagram, address) pairs as a receive batch: ``data`` (``slot`` bytes per datagram,
    longer ones truncated as recvmmsg would), ``lens`` (true lengths), ``keys`` (sender keys,
    by ``key``), ``frame(i)``, ``address(i)``, ``len()`` and iteration. The buffers are built
    on first use: a lone control datagram never needs them (Peer.receive_batch)."""

    __slots__ = ("count", "slot", "_key", "_items", "_data", "_lens", "_keys")
    waits = None  # (no kernel receive stamps: RecvBatch.waits has them; queue_wait)
    _lens: "array[int]"  # (set by _fill, with _data: a lone datagram never allocates them)
    _keys: "array[int]"

    def __init__(self, items: Sequence[tuple[bytes, Address]],
                 key: Callable[[Address], int]) -> None:
        self.count = len(items)
        self.slot = SLOT
        self._items = list(items)
        self._key = key
        self._data: bytearray | None = None

    def _fill(self) -> bytearray:
        items = self._items
        buf = bytearray(SLOT * self.count)
        self._lens = array("I", [len(d) for d, _ in items])
        self._keys = array("Q", [self._key(a) for _, a in items])
        for i, (d, _) in enumerate(items):
            n = min(len(d), SLOT)
            buf[i * SLOT:i * SLOT + n] = d[:n]
        self._data = buf
        return buf

    @property
    def data(self) -> bytearray:
        return self._fill() if self._data is None else self._data

    @property
    def lens(self) -> array:  # type: ignore[type-arg]
        if self._data is None:
            self._fill()
        return self._lens

    @property
    def keys(self) -> array:  # type: ignore[type-arg]
        if self._data is None:
            self._fill()
        return self._keys

    def frame(self, i: int) -> bytes:
        return bytes(self._items[i][0])

    def address(self, i: int) -> Address:
        return self._items[i][1]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[bytes, Address]]:
        return iter(self._items)


def queue_wait(waits: Sequence[int] | None, i: int) -> float:
    """Seconds datagram ``i`` of a receive batch waited in the socket's queue, from the
    batch's ``waits`` (RecvBatch.waits, microseconds); 0.0 for a batch without stamps."""
    return waits[i] / 1e6 if waits is not None else 0.0


def relayed_datagrams(frames: bytes | memoryview,
                      sockaddrs: bytes | memoryview) -> Iterator[tuple[bytes, Address]]:
    """(datagram, address) pairs of one ``Peer.prepared_to_send()`` batch, for a driver
    without sockets (the UDP driver sends the packed sockaddrs as they are)."""
    n = len(frames) // SLOT
    step = len(sockaddrs) // n if n else 0
    for i in range(n):
        yield (bytes(frames[i * SLOT:(i + 1) * SLOT]),
               unpack_sockaddr(bytes(sockaddrs[i * step:(i + 1) * step])))


def pack_sockaddr(address: Address) -> bytes:
    """(numeric host, port) -> the kernel's sockaddr_in / sockaddr_in6 bytes, ADDR_BYTES long."""
    host, port = address[0], int(address[1])
    ip = ipaddress.ip_address(host.split("%")[0])
    if ip.version == 4:
        raw = struct.pack("=H", socket.AF_INET) + struct.pack(">H", port) + ip.packed
    else:
        raw = (struct.pack("=H", socket.AF_INET6) + struct.pack(">HI", port, 0) + ip.packed
               + struct.pack("=I", 0))
    return raw + bytes(ADDR_BYTES - len(raw))


def unpack_sockaddr(raw: bytes) -> Address:
    family = struct.unpack("=H", raw[:2])[0]
    port = struct.unpack(">H", raw[2:4])[0]
    if family == socket.AF_INET:
        return (str(ipaddress.IPv4Address(raw[4:8])), port)
    return (str(ipaddress.IPv6Address(raw[8:24])), port)
