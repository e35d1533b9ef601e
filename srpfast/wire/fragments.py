"""Fragmentation into a doubly-linked hash chain, and bounded reassembly (SPEC section 2).

A message longer than one frame's message area is cut into n fragments built last to first:
fragment k carries nextId = packetId(fragment k+1), so the head's packetId (the message id)
commits to every byte. All fragments share the message's previousId (its causal predecessor).

The reassembler never trusts a header field it cannot check: a fragment joins a message only
when its recomputed packetId equals the nextId its predecessor announced, and its index,
previousId and MORE flag agree with the chain. Concurrent messages cannot clobber each other
(SPEC 9.7) because fragments are keyed by their own packetId, never by (sender, index).
Everything buffered is bounded (fragments per message, bytes overall) and expires (SPEC 9.4).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from srpfast.wire import _frame
from srpfast.wire.constants import (CACHE_TTL, FLAG_MORE, MAX_FRAGMENTS, MESSAGE_BYTES, POSTAGE,
                                    PUBLISH, ZERO16, ZERO32)
from srpfast.errors import ArgumentError, CapacityError

# Seal hook: takes an encoded frame whose message area holds plaintext, returns the sealed
# frame (same header, message area replaced). Sealing adds nonce + tag (SEALING.md), so a
# sealed split must use a smaller chunk: see SEALED_CHUNK.
SealFrame = Callable[[bytes], bytes]
SEAL_OVERHEAD = 24 + 16  # XChaCha20-Poly1305 nonce + tag, per packet
SEALED_CHUNK = MESSAGE_BYTES - SEAL_OVERHEAD


def fragments_needed(length: int, max_fragments: int, *, sealed: bool = True,
                     what: str = "message") -> int:
    """Frames a ``length``-byte message takes (SEALED_CHUNK or MESSAGE_BYTES each, at least
    one); CapacityError, naming ``what``, beyond ``max_fragments``."""
    chunk = SEALED_CHUNK if sealed else MESSAGE_BYTES
    n = max(1, -(-length // chunk))
    if n > max_fragments:
        raise CapacityError(f"{what} of {length} bytes needs {n} fragments; the bound is "
                            f"{max_fragments} ({max_fragments * chunk} bytes): send less")
    return n


def split(message: bytes, previous_id: bytes = ZERO32, *, type: int = PUBLISH,
          cluster: bytes = ZERO16, to: bytes = ZERO32, clock: int = 0, ttl: int = CACHE_TTL,
          postage: int = POSTAGE, flags: int = 0, seal: SealFrame | None = None,
          max_fragments: int = MAX_FRAGMENTS) -> list[bytes]:
    """Cut ``message`` into frames (head first in the returned list).

    With ``seal``, each chunk is at most SEALED_CHUNK bytes and every frame is sealed before
    its packetId is taken, so nextId links the sealed bytes that travel.
    """
    chunk = SEALED_CHUNK if seal is not None else MESSAGE_BYTES
    n = fragments_needed(len(message), max_fragments, sealed=seal is not None)
    if flags & FLAG_MORE:
        raise ArgumentError("flags must not set MORE: split sets it on all but the last fragment")
    frames: list[bytes] = [b""] * n
    next_id = ZERO32
    for k in range(n - 1, -1, -1):
        datagram = _frame.encode(
            type=type, message=message[k * chunk:(k + 1) * chunk], previous_id=previous_id,
            next_id=next_id, clock=clock, index=k, flags=flags | (FLAG_MORE if k < n - 1 else 0),
            ttl=ttl, postage=postage, cluster=cluster, to=to)
        if seal is not None:
            datagram = seal(datagram)
        frames[k] = datagram
        next_id = _frame.packet_id(datagram)
    return frames


@dataclass
class Message:
    """A complete message: ``id`` is the head's packetId; ``frames`` are in order."""
    id: bytes
    previous_id: bytes
    frames: list[_frame.Frame]

    @property
    def body(self) -> bytes:
        return b"".join(f.message for f in self.frames)


@dataclass
class _Pending:
    head: _frame.Frame
    chain: list[_frame.Frame]
    started: float
    wanted: bytes = field(default=ZERO32)  # the nextId the chain waits for


ENTRY_OVERHEAD = 256   # bytes charged per buffered fragment on top of its message (bounds count)


class Reassembler:
    """Collect fragments in any order; emit each message once when its chain is complete.

    Non-head fragments live in one store keyed by their own packetId until they expire or are
    evicted (also after a message used them), so every head that announces an id can follow it (a forged head
    naming a real fragment's id takes nothing away from the real message). Bounds (SPEC 9.4):
    ``max_fragments`` per message; ``max_bytes`` of buffered payload plus ENTRY_OVERHEAD per
    entry (oldest stray fragments, then oldest incomplete messages, are evicted first, checked
    after every addition); ``timeout`` seconds for anything incomplete. ``missing()`` names
    the ids to ask for with QUERY (SPEC 6).
    """

    def __init__(self, *, max_fragments: int = MAX_FRAGMENTS, max_bytes: int = 4 * 2**20,
                 timeout: float = 60.0, done_ids: int = 4096) -> None:
        if max_fragments < 1 or max_bytes < MESSAGE_BYTES or timeout <= 0 or done_ids < 1:
            raise ArgumentError("max_fragments >= 1, max_bytes >= 1024, timeout > 0 and "
                                "done_ids >= 1 required")
        self.done_ids = done_ids
        self.max_fragments = max_fragments
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._held: OrderedDict[bytes, tuple[_frame.Frame, float]] = OrderedDict()
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()  # by head id
        self._waiting: dict[bytes, dict[bytes, None]] = {}  # wanted fragment id -> head ids
        self._bytes = 0
        self._done: OrderedDict[bytes, None] = OrderedDict()  # recently completed head ids
        self.counters = {"completed": 0, "duplicate": 0, "inconsistent": 0, "too_many": 0,
                         "evicted": 0, "expired": 0}

    @property
    def bytes_buffered(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._pending)

    def holds(self, packet_id: bytes) -> bool:
        """Whether a fragment or head with this id is buffered (waiting for its chain)."""
        return packet_id in self._held or packet_id in self._pending

    def add(self, frame: _frame.Frame, now: float) -> Message | None:
        """Offer one decoded frame; returns the message it completes, if any (the first of
        them: see ``offer``)."""
        done = self.offer(frame, now)
        return done[0] if done else None

    def offer(self, frame: _frame.Frame, now: float) -> list[Message]:
        """Offer one decoded frame; returns every message it completes. One fragment can
        complete several heads that name the same chain (a member's forged head beside the
        real one): each is returned, so the real one is never lost behind another (SPEC 9.7).

        The caller authenticates each frame first (opens it: the engine does), so a fragment
        is exactly what its author sent; a head that does not fit a fragment is dropped."""
        pid = frame.packet_id
        if pid in self._done or pid in self._held or pid in self._pending:
            self.counters["duplicate"] += 1
            return []
        if frame.index == 0:
            if not frame.more:
                if frame.next_id != ZERO32:
                    self.counters["inconsistent"] += 1
                    return []
                return [self._complete(Message(pid, frame.previous_id, [frame]))]
            # Any number of heads may wait for one fragment id (only the byte bound limits
            # them): a cap per id would let a member who saw a head race a few forged heads
            # naming its fragment 1 ahead of it and have the real head refused (SPEC 9.7).
            pending = _Pending(frame, [frame], now, frame.next_id)
            self._pending[pid] = pending
            self._waiting.setdefault(frame.next_id, {})[pid] = None
            self._bytes += _cost(frame)
            first = self._advance(pending)
            self._shrink()
            return [first] if first is not None else []
        self._held[pid] = (frame, now)
        self._bytes += _cost(frame)
        done = []
        for head_id in list(self._waiting.get(pid, ())):
            waiting = self._pending.get(head_id)
            if waiting is not None and (message := self._advance(waiting)) is not None:
                done.append(message)
        self._shrink()
        return done

    def _advance(self, pending: _Pending) -> Message | None:
        """Follow the chain through held fragments as far as it goes."""
        head = pending.head
        while True:
            held = self._held.get(pending.wanted)
            if held is None:
                return None
            frame = held[0]
            last = pending.chain[-1]
            if (frame.index != last.index + 1 or frame.previous_id != head.previous_id
                    or frame.type != head.type or frame.cluster != head.cluster
                    or frame.to != head.to):
                # The fragment is the one the head named (its id is its bytes) but does not
                # continue this chain: the HEAD is wrong (a member's forged head naming a real
                # fragment; the engine opens every frame before this, so a fragment's header
                # is authenticated). Drop the head, keep the fragment for the real one.
                self.counters["inconsistent"] += 1
                self._drop(head.packet_id)
                return None
            if len(pending.chain) >= self.max_fragments:
                self.counters["too_many"] += 1
                self._drop(head.packet_id)
                return None
            self._unwait(pending.wanted, head.packet_id)
            pending.chain.append(frame)
            if not frame.more:
                if frame.next_id != ZERO32:
                    self.counters["inconsistent"] += 1
                    self._drop(head.packet_id)
                    return None
                del self._pending[head.packet_id]
                self._bytes -= _cost(head)
                # The fragments stay held (within the byte bound, until they expire): another
                # head announcing the same ids (the real one, if this was forged) can still
                # complete; re-arrivals meanwhile count as duplicates.
                return self._complete(Message(head.packet_id, head.previous_id, pending.chain))
            pending.wanted = frame.next_id
            self._waiting.setdefault(frame.next_id, {})[head.packet_id] = None

    def _unwait(self, wanted: bytes, head_id: bytes) -> None:
        waiters = self._waiting.get(wanted)
        if waiters is not None:
            waiters.pop(head_id, None)
            if not waiters:
                del self._waiting[wanted]

    def _forget_held(self, pid: bytes) -> None:
        held = self._held.pop(pid, None)
        if held is not None:
            self._bytes -= _cost(held[0])

    def _complete(self, message: Message) -> Message:
        self.counters["completed"] += 1
        self._done[message.id] = None
        while len(self._done) > self.done_ids:  # bounded memory of what was delivered (SPEC 9.4)
            self._done.popitem(last=False)
        return message

    def _drop(self, head_id: bytes) -> None:
        pending = self._pending.pop(head_id, None)
        if pending is not None:
            self._bytes -= _cost(pending.head)
            self._unwait(pending.wanted, head_id)

    def _shrink(self) -> None:
        while self._bytes > self.max_bytes and (self._held or self._pending):
            self.counters["evicted"] += 1
            if self._held:
                self._forget_held(next(iter(self._held)))
            else:
                self._drop(next(iter(self._pending)))

    def missing(self) -> list[bytes]:
        """Ids of fragments that incomplete messages wait for (to ask peers with QUERY)."""
        return [p.wanted for p in self._pending.values()]

    def expire(self, now: float) -> int:
        """Forget incomplete messages and stray fragments older than ``timeout``; returns how
        many."""
        if not self._held and not self._pending:
            return 0  # (the common case, two maintenance calls a second: no list built)
        cutoff = now - self.timeout
        gone = 0
        for pid in [pid for pid, (_, t) in self._held.items() if t < cutoff]:
            self._forget_held(pid)
            gone += 1
        for head_id in [h for h, p in self._pending.items() if p.started < cutoff]:
            self._drop(head_id)
            gone += 1
        self.counters["expired"] += gone
        return gone

    def add_many(self, frames: Iterable[_frame.Frame], now: float) -> list[Message]:
        return [m for f in frames for m in self.offer(f, now)]


def _cost(frame: _frame.Frame) -> int:
    return len(frame.message) + ENTRY_OVERHEAD
