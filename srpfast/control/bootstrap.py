"""Bootstrap: reaching the first peers of a network (seed STATE_0, "PEERS").

``add`` pings an address (reflect + connect). While the peer table is empty, every bootstrap
address is pinged again with backoff 2 s, 4 s, ... capped at ``keep_alive``, for as long as the
peer runs: a bootstrap node that starts late, or a network that comes back, is still found.
Connected, the bootstrap addresses missing from the table are pinged every 2 x keep_alive
(less a random 0-25%: jitter.py, so a fleet started together does not ping them at once):
after a partition each side's tables hold only its own side, and this is how they meet again.
A bootstrap peer that refuses us (a full table: handshake.on_pong, REFUSED_AFTER challenges in
a row) is left out of that for 2 x keep_alive x 2^k after its k-th refusal, at most
REFUSED_BACKOFF_MAX: re-pinging it every minute re-ran the refused handshake (a signed round
each) for every peer a popular bootstrap node has no room for.

Nobody answering is not silent: if no peer at all has been admitted ``bootstrap_timeout``
seconds after the first address was added, one ``ErrorEvent`` (code ``bootstrap.unanswered``)
names the addresses tried and what to check, and ``bootstrap.unanswered`` is counted. Retries
go on after it. "Answered" means any proven peer (a PONG round trip), not only a bootstrap
address: a peer someone else connected to is not cut off.

A peer given no address at all is the first node of its network: ``Peer.ready_alone`` makes it
ready at once (Reflection.announce_alone) instead of waiting for a PONG that cannot come.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from srpfast.wire.bodies import PING_CONNECT, PING_REFLECT
from srpfast.control.bounded import LruSet
from srpfast.control.jitter import early
from srpfast.control.events import ErrorEvent
from srpfast.errors import ArgumentError
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.control.engine import Peer

UNANSWERED = "bootstrap.unanswered"  # ErrorEvent code and counter name
CAPACITY = 64  # bootstrap addresses remembered (LRU): they are re-pinged, so keep it small
REJOIN_FACTOR = 2.0  # connected: missing bootstrap peers are pinged every 2 x keep_alive
REFUSED_BACKOFF_MAX = 32.0  # ... one that refused us waits at most this many keep_alives


def check_address(address: Address) -> None:
    """A caller's (host, port): the engine takes numeric hosts only (no DNS in sans-I/O
    code; srpfast.api resolves names first)."""
    if (not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str)
            or not isinstance(address[1], int) or not 0 < address[1] <= 0xFFFF):
        raise ArgumentError(f"address must be a (host: str, port: int 1..65535) tuple, got "
                            f"{address!r}")


def format_address(address: Address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def unanswered_message(entries: Iterable[str], waited: float, tries: int) -> str:
    """The one wording of "nobody answered", for the engine's ErrorEvent and the API's
    BootstrapError: which entries, how long, and what to check."""
    names = ", ".join(entries) or "(none)"
    return (f"bootstrap: no peer answered within {waited:g} s ({tries} ping round"
            f"{'s' if tries != 1 else ''}) from {names}. Check that each address and port is "
            f"right, that an srpfast peer of the same cluster runs there, and that no firewall "
            f"drops UDP between you; still retrying with backoff.")


class Bootstrap:
    def __init__(self, peer: "Peer", now: float) -> None:
        self.p = peer
        self.addresses: LruSet[Address] = LruSet(CAPACITY)
        self.next_at = now + 1.0
        self.tries = 0          # re-ping rounds since we were last connected (the backoff)
        self.rounds = 0         # ping rounds to the bootstrap addresses, the first included
        self.since: float | None = None  # when the first address was added
        self.answered = False   # a proven peer was admitted (any, not only a bootstrap one)
        self.reported = False   # the unanswered ErrorEvent fired (once)
        # bootstrap address -> (rejoin it from, its refusals in a row): refused_by
        self.refused: dict[Address, tuple[float, int]] = {}

    def add(self, address: Address, now: float) -> None:
        check_address(address)
        self.addresses.add(address)
        if self.since is None:
            self.since = now
            self.rounds = 1
        self.p.ping(address, now, PING_CONNECT | PING_REFLECT)

    def on_admitted(self) -> None:
        self.answered = True

    def refused_by(self, address: Address, now: float) -> None:
        """The peer at ``address`` does not enter us (handshake.on_pong): if it is a bootstrap
        address, the rejoin leaves it alone for a while, longer after each refusal."""
        if address not in self.addresses:
            return
        _, k = self.refused.get(address, (0.0, 0))
        wait = min(REFUSED_BACKOFF_MAX, REJOIN_FACTOR * 2.0 ** k) * self.p.config.keep_alive
        self.refused[address] = (now + wait, k + 1)
        if len(self.refused) > CAPACITY:  # (addresses that left the LRU set)
            self.refused = {a: r for a, r in self.refused.items() if a in self.addresses}

    def refused_before(self, address: Address) -> bool:
        """``address`` is a bootstrap peer that refused us before (refused_by)."""
        return address in self.refused

    def held_by(self, address: Address) -> None:
        """The peer at ``address`` holds us now (handshake.on_pong): no backoff left."""
        if self.refused:
            self.refused.pop(address, None)

    def deadline(self) -> float | None:
        """When the unanswered report falls due (None: it cannot, or it already fired)."""
        if self.answered or self.reported or self.since is None:
            return None
        return self.since + self.p.config.bootstrap_timeout

    def tick(self, now: float) -> None:
        p, cfg = self.p, self.p.config
        if len(p.table):
            self.answered = True
            self.tries = 0
            if now >= self.next_at and len(self.addresses):
                # Connected, but not to every bootstrap peer: ping the missing ones now and
                # then. After a partition heals (a link, a region, a NAT that came back) this
                # is how the two sides meet again: each side's tables only hold its own side,
                # and nothing else would dial across (docs/SIMULATION.md, partition-heal).
                self.next_at = now + early(REJOIN_FACTOR * cfg.keep_alive, p.rng)
                for address in list(self.addresses.members):
                    if p.table.at(address) is None:
                        refused = self.refused.get(address)
                        if refused is not None and now < refused[0]:
                            p.count("bootstrap.rejoin_refused")
                            continue
                        p.ping(address, now, PING_CONNECT | PING_REFLECT)
                        p.count("bootstrap.rejoin")
        elif now >= self.next_at and len(self.addresses):
            # Alone: ping the bootstrap addresses again, backing off 2 s, 4 s, ... keep_alive.
            self.tries += 1
            self.rounds += 1
            self.next_at = now + min(cfg.keep_alive, 2.0 ** self.tries)
            for address in list(self.addresses.members):
                p.ping(address, now, PING_CONNECT | PING_REFLECT)
        due = self.deadline()
        if due is not None and now >= due:
            self.reported = True
            p.count(UNANSWERED)
            entries = [format_address(a) for a in self.addresses.members]
            p.emit(ErrorEvent(unanswered_message(entries, cfg.bootstrap_timeout, self.rounds),
                              UNANSWERED))
