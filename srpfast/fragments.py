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

from srpfast import _frame
from srpfast.constants import (CACHE_TTL, FLAG_MORE, MAX_FRAGMENTS, MESSAGE_BYTES, POSTAGE,
                               PUBLISH, ZERO16, ZERO32)
from srpfast.errors import ArgumentError, CapacityError

# Seal hook: takes an encoded frame whose message area holds plaintext, returns the sealed
# frame (same header, message area replaced). Sealing adds nonce + tag (SEALING.md), so a
# sealed split must use a smaller chunk: see SEALED_CHUNK.
SealFrame = Callable[[bytes], bytes]
SEAL_OVERHEAD = 24 + 16  # XChaCha20-Poly1305 nonce + tag, per packet
SEALED_CHUNK = MESSAGE_BYTES - SEAL_OVERHEAD


def split(message: bytes, previous_id: bytes = ZERO32, *, type: int = PUBLISH,
          cluster: bytes = ZERO16, to: bytes = ZERO32, clock: int = 0, ttl: int = CACHE_TTL,
          postage: int = POSTAGE, flags: int = 0, seal: SealFrame | None = None,
          max_fragments: int = MAX_FRAGMENTS) -> list[bytes]:
    """Cut ``message`` into frames (head first in the returned list).

    With ``seal``, each chunk is at most SEALED_CHUNK bytes and every frame is sealed before
    its packetId is taken, so nextId links the sealed bytes that travel.
    """
    chunk = SEALED_CHUNK if seal is not None else MESSAGE_BYTES
    n = max(1, -(-len(message) // chunk))
    if n > max_fragments:
        raise CapacityError(f"message of {len(message)} bytes needs {n} fragments; the bound is "
                            f"{max_fragments} ({max_fragments * chunk} bytes): send less")
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


class Reassembler:
    """Collect fragments in any order; emit each message once when its chain is complete.

    Bounds: ``max_fragments`` per message, ``max_bytes`` of buffered fragment payload overall
    (oldest orphans, then oldest pending messages, are evicted first), and ``timeout`` seconds
    for an incomplete message. ``missing()`` names the ids to ask for with QUERY (SPEC 6).
    """

    def __init__(self, *, max_fragments: int = MAX_FRAGMENTS, max_bytes: int = 4 * 2**20,
                 timeout: float = 60.0) -> None:
        if max_fragments < 1 or max_bytes < MESSAGE_BYTES or timeout <= 0:
            raise ArgumentError("max_fragments >= 1, max_bytes >= 1024 and timeout > 0 required")
        self.max_fragments = max_fragments
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._orphans: OrderedDict[bytes, tuple[_frame.Frame, float]] = OrderedDict()
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()  # by head id
        self._waiting: dict[bytes, bytes] = {}  # wanted fragment id -> head id
        self._bytes = 0
        self._done: OrderedDict[bytes, None] = OrderedDict()  # recently completed head ids
        self.counters = {"completed": 0, "duplicate": 0, "inconsistent": 0, "too_many": 0,
                         "evicted": 0, "expired": 0}

    @property
    def bytes_buffered(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frame: _frame.Frame, now: float) -> Message | None:
        """Offer one decoded frame; returns the message it completes, if any."""
        pid = frame.packet_id
        if pid in self._done or pid in self._orphans or pid in self._pending:
            self.counters["duplicate"] += 1
            return None
        head_id = self._waiting.get(pid)
        if head_id is not None:
            return self._extend(self._pending[head_id], frame, now)
        if frame.index == 0:
            if not frame.more:
                if frame.next_id != ZERO32:
                    self.counters["inconsistent"] += 1
                    return None
                return self._complete(Message(pid, frame.previous_id, [frame]))
            pending = _Pending(frame, [frame], now, frame.next_id)
            self._pending[pid] = pending
            self._charge(frame)
            self._waiting[frame.next_id] = pid
            return self._pull_orphans(pending, now)
        # A middle or last fragment whose predecessor has not arrived: hold it, bounded.
        self._orphans[pid] = (frame, now)
        self._charge(frame)
        self._shrink()
        return None

    def _extend(self, pending: _Pending, frame: _frame.Frame, now: float) -> Message | None:
        last = pending.chain[-1]
        if (frame.index != last.index + 1 or frame.previous_id != pending.head.previous_id
                or frame.type != pending.head.type or frame.cluster != pending.head.cluster
                or frame.to != pending.head.to):
            # The id matches (the bytes are the author's) but a relay-mutable header field
            # was altered: refuse this copy, keep waiting for an intact one.
            self.counters["inconsistent"] += 1
            return None
        if len(pending.chain) >= self.max_fragments:
            self.counters["too_many"] += 1
            self._drop(pending.head.packet_id)
            return None
        del self._waiting[pending.wanted]
        pending.chain.append(frame)
        self._charge(frame)
        if not frame.more:
            if frame.next_id != ZERO32:
                self.counters["inconsistent"] += 1
                self._drop(pending.head.packet_id)
                return None
            head_id = pending.head.packet_id
            self._release(pending)
            del self._pending[head_id]
            return self._complete(Message(head_id, pending.head.previous_id, pending.chain))
        pending.wanted = frame.next_id
        self._waiting[frame.next_id] = pending.head.packet_id
        return self._pull_orphans(pending, now)

    def _pull_orphans(self, pending: _Pending, now: float) -> Message | None:
        held = self._orphans.pop(pending.wanted, None)
        if held is None:
            return None
        self._bytes -= len(held[0].message)
        return self._extend(pending, held[0], now)

    def _complete(self, message: Message) -> Message:
        self.counters["completed"] += 1
        self._done[message.id] = None
        while len(self._done) > 4096:  # bounded memory of what was delivered (SPEC 9.4)
            self._done.popitem(last=False)
        return message

    def _charge(self, frame: _frame.Frame) -> None:
        self._bytes += len(frame.message)

    def _release(self, pending: _Pending) -> None:
        self._bytes -= sum(len(f.message) for f in pending.chain)
        self._waiting.pop(pending.wanted, None)

    def _drop(self, head_id: bytes) -> None:
        pending = self._pending.pop(head_id, None)
        if pending is not None:
            self._release(pending)

    def _shrink(self) -> None:
        while self._bytes > self.max_bytes and (self._orphans or self._pending):
            self.counters["evicted"] += 1
            if self._orphans:
                frame, _ = self._orphans.popitem(last=False)[1]
                self._bytes -= len(frame.message)
            else:
                self._drop(next(iter(self._pending)))

    def missing(self) -> list[bytes]:
        """Ids of fragments that incomplete messages wait for (to ask peers with QUERY)."""
        return [p.wanted for p in self._pending.values()]

    def expire(self, now: float) -> int:
        """Forget incomplete messages and orphans older than ``timeout``; returns how many."""
        cutoff = now - self.timeout
        gone = 0
        for pid in [pid for pid, (_, t) in self._orphans.items() if t < cutoff]:
            frame, _ = self._orphans.pop(pid)
            self._bytes -= len(frame.message)
            gone += 1
        for head_id in [h for h, p in self._pending.items() if p.started < cutoff]:
            self._drop(head_id)
            gone += 1
        self.counters["expired"] += gone
        return gone

    def add_many(self, frames: Iterable[_frame.Frame], now: float) -> list[Message]:
        return [m for f in frames if (m := self.add(f, now)) is not None]
