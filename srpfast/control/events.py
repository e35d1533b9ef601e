"""What the engine reports (events) and asks its driver to do beyond plain sends (actions).

Both are frozen dataclasses: a driver matches on the class. Events drain with Peer.events(),
actions with Peer.actions(). docs/ENGINE.md lists when each fires.
"""
from __future__ import annotations

from dataclasses import dataclass

from srpfast.wire.address import Address



# ---- events ----
@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Ready(Event):
    """Once: after the first successful reflection, or the first proven PONG when reflection
    is impossible (fewer than two reflectors), or at once for the first node of a network
    (Peer.ready_alone: address None, nat "unknown"). ``nat`` is the mapping name."""
    address: Address | None
    nat: str


@dataclass(frozen=True)
class NetworkChange(Event):
    """After Ready: reflection classified us differently (address or NAT), or a peer that
    was ready alone learned its public address from its first proven PONG."""
    address: Address | None
    nat: str


@dataclass(frozen=True)
class Connection(Event):
    peer_id: bytes
    address: Address


@dataclass(frozen=True)
class Disconnection(Event):
    peer_id: bytes


@dataclass(frozen=True)
class Join(Event):
    subcluster_id: bytes
    peer_id: bytes


@dataclass(frozen=True)
class Leave(Event):
    subcluster_id: bytes
    peer_id: bytes


@dataclass(frozen=True)
class Delivered(Event):
    subcluster_id: bytes
    message_id: bytes
    payload: bytes
    author: bytes
    clock: int
    previous_id: bytes
    hops: int


@dataclass(frozen=True)
class DeliveredBatch(Event):
    """Many messages of one subcluster, delivered together: what the C delivery path
    (csrc/deliver.c) produces for a receive batch, as columns (k-th entry of each list is
    message k, in arrival order). Equal authors / previous ids may share one bytes object.
    ``events()`` gives the same messages as Delivered events."""
    subcluster_id: bytes
    message_ids: list[bytes]
    payloads: list[bytes]
    authors: list[bytes]
    clocks: list[int]
    previous_ids: list[bytes]
    hops: list[int]

    def events(self) -> list[Delivered]:
        return [Delivered(self.subcluster_id, *m) for m in zip(
            self.message_ids, self.payloads, self.authors, self.clocks, self.previous_ids,
            self.hops)]


_new = object.__new__


def delivered_batch(subcluster_id: bytes, message_ids: list[bytes], payloads: list[bytes],
                    authors: list[bytes], clocks: list[int], previous_ids: list[bytes],
                    hops: list[int]) -> DeliveredBatch:
    """``DeliveredBatch(...)``, the same object, built without the frozen dataclass's
    __init__ (one object.__setattr__ a field: ~3 us, ~0.7 us this way; one a receive batch on
    the C delivery path, cold in the CPU caches after the data plane's call), as subcluster._meta
    builds a Meta."""
    e: DeliveredBatch = _new(DeliveredBatch)
    e.__dict__.update(subcluster_id=subcluster_id, message_ids=message_ids, payloads=payloads,
                      authors=authors, clocks=clocks, previous_ids=previous_ids, hops=hops)
    return e


@dataclass(frozen=True)
class StreamData(Event):
    peer_id: bytes
    data: bytes


@dataclass(frozen=True)
class StreamResult(Event):
    """A direct message that had to wait for a path (Streams.send returned sent=False) left
    the queue: ``error`` None when it was handed to the network, else why it was dropped
    ("expired": no path within Config.stream_queue_age)."""
    ticket: int
    peer_id: bytes
    error: str | None


@dataclass(frozen=True)
class WindowOpen(Event):
    """The send window (control/flow.py) has room again after someone waited for it: the
    API wakes ``drain()`` callers."""


@dataclass(frozen=True)
class ErrorEvent(Event):
    """Something the application should know and may fix; the engine carries on. ``reason``
    says what happened and what to check; ``code`` is a short stable name
    (``bootstrap.unanswered``; ``error`` when the emitter gives none). The API hands it to
    ``#error`` handlers as srpfast.ErrorInfo."""
    reason: str
    code: str = "error"


# ---- actions (BDP, SPEC 5) ----
@dataclass(frozen=True)
class Action:
    pass


@dataclass(frozen=True)
class Spray(Action):
    """Easy side: send ``port_count`` short non-SRP probes from the main socket to distinct
    pseudo-random ports (1024..65535) of ``host``: entries ``first`` .. ``first+port_count``
    of the permutation drawn from ``seed`` (so the paced part never repeats the burst)."""
    host: str
    port_count: int
    seed: int
    first: int = 0


@dataclass(frozen=True)
class PoolOpen(Action):
    """Hard side: bind ``n`` extra UDP sockets under ``pool_key``."""
    pool_key: bytes
    n: int


@dataclass(frozen=True)
class PoolSend(Action):
    """Send ``datagram`` to ``address`` from pool socket ``index`` (-1: from every socket)."""
    pool_key: bytes
    index: int
    datagram: bytes
    address: Address


@dataclass(frozen=True)
class PoolKeep(Action):
    """Keep socket ``index`` of the pool (it reached the peer); close the others."""
    pool_key: bytes
    index: int


@dataclass(frozen=True)
class PoolClose(Action):
    pool_key: bytes
