"""The real-network driver: the sans-I/O engine on UDP sockets and an asyncio/uvloop loop."""
from srpfast.drivers.udp import UDPDriver

__all__ = ["UDPDriver"]
