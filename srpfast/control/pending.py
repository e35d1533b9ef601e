"""What the engine waits for in the PING/PONG exchange (SPEC 3, 9.2): our own pings awaiting
their PONG, and the challenges we sent to unproven pingers awaiting redemption. Both live in
bounded, expiring tables of srpfast.control.engine.Peer (docs/ENGINE.md, "Tables")."""
from __future__ import annotations

from srpfast.control.peers import PoolRoute
from srpfast.wire.address import Address



class PendingPing:
    """A ping of ours awaiting its PONG: where it went, when, and for which reflection round."""
    __slots__ = ("address", "sent", "flags", "pool", "reflect_round")

    def __init__(self, address: Address, sent: float, flags: int, pool: PoolRoute | None,
                 reflect_round: int) -> None:
        self.address = address
        self.sent = sent
        self.flags = flags
        self.pool = pool
        self.reflect_round = reflect_round


class Challenge:
    """A PONG challenge we sent to an unproven PING (Peer._on_ping): who may redeem it."""
    __slots__ = ("peer_id", "address", "pool", "sent")

    def __init__(self, peer_id: bytes, address: Address, pool: PoolRoute | None,
                 sent: float) -> None:
        self.peer_id = peer_id
        self.address = address
        self.pool = pool
        self.sent = sent
