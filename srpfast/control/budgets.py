"""Per-sender rate budgets (SPEC 9.6): every sender has one, proven peers a larger one.

Every datagram is charged to its sender's token bucket, on both receive paths (the engine's
per-datagram path and the data plane's batch path charge the same bucket: keys are the UDP
layer's keyed sender keys, dataplane.rate_key). A stranger (an address not in our peer table)
gets ``rate_packets``/s with ``rate_burst``: enough for handshakes, queries and the odd
message, and cheap to bound under a spoofed flood. A proven peer (in the table: it completed
the PING/PONG round trip from that address, SPEC 9.2) gets ``rate_peer_packets``/s with
``rate_peer_burst``, sized for a publisher at full speed (issue 17: the single stranger-sized
budget dropped most frames of a fast publisher). The peer tier is still a budget: a proven
peer that floods is bounded too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Hashable

from srpfast.control.bounded import RateLimiter
from srpfast.control.dataplane import rate_key

if TYPE_CHECKING:
    from srpfast.config import Config
    from srpfast.control.peers import PeerTable


class SenderBudgets:
    def __init__(self, cfg: "Config", table: "PeerTable") -> None:
        self.strangers = RateLimiter(cfg.rate_packets, cfg.rate_burst, cfg.rate_table)
        self.peers = RateLimiter(cfg.rate_peer_packets, cfg.rate_peer_burst,
                                 2 * cfg.max_peers)
        self._table = table
        self._version = -1
        self._proven: set[Hashable] = set()

    def _tier(self, key: Hashable) -> RateLimiter:
        table = self._table
        if table.version != self._version:  # rebuilt only when the table changed
            self._proven = {rate_key(p.address) for p in table.peers() if p.pool is None}
            self._version = table.version
        return self.peers if key in self._proven else self.strangers

    def allow(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        return self._tier(key).allow(key, now, cost)

    def take(self, key: Hashable, now: float, want: int) -> int:
        """Up to ``want`` datagrams of one sender pass: what ``want`` allow() calls would."""
        return self._tier(key).take(key, now, want)

    def __len__(self) -> int:
        return len(self.strangers) + len(self.peers)
