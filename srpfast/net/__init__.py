"""The real-network driver: the sans-I/O engine on UDP sockets and an asyncio/uvloop loop."""
from srpfast.net.driver import UDPDriver

__all__ = ["UDPDriver"]
