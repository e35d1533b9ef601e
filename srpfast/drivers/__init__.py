"""Drivers: what runs the sans-I/O engine on a network (docs/ARCHITECTURE.md).

``base`` (the Transport / Driver interface ``network(driver=...)`` takes), ``udp`` + ``_udp``
(real UDP sockets on asyncio/uvloop: recvmmsg/sendmmsg/GSO, the kernel's frame filter, BDP
sprays and pools) and ``memory`` (``MemoryHub``: in-process datagrams, no sockets)."""
from srpfast.drivers.udp import UDPDriver

__all__ = ["UDPDriver"]
