"""The send window: flow control for a publisher that offers more than the path carries.

UDP has no back-pressure: a publisher can hand the kernel frames far faster than a subscriber
reads them, and what overflows the subscriber's socket buffer is lost (issue 17: 60-70% of
64 KB values). So a publisher keeps at most ``send_window`` of its own frames
unacknowledged: what does not fit waits in a bounded backlog (``send_backlog`` frames; a
publish beyond it raises CapacityError) and leaves as acknowledgements come back, and the
application waits for room with ``await subcluster.drain()``.

The acknowledgement is existing control traffic: the HAVE that lazy push already sends
(announce.py, PROTOCOL.md §6 "Lazy push"). A member that delivers messages whose author is a
connected fellow tells that author on its next loop turn (``Announcer.fresh(..., authors=...)``),
not after ``announce_delay``: one HAVE per wake-up naming the newest delivered message of that
author, i.e. one a subscriber has taken out of its socket buffer. Acknowledgement is cumulative:
messages leave in order, so one delivered says every earlier one was delivered or lost (loss
is lazy push's to repair, not the window's). Each published message is in the window from
its send until a HAVE names it or a later one, or ``send_window_timeout`` (a subscriber that
never acknowledges: counted ``flow.timeout``), whichever comes first. Nothing is tracked while the
subcluster has no connected fellow member: nobody could acknowledge.

The window is one per peer (all subclusters), in frames, so a 64 KB value (67 frames) takes
67 times the room of a 600-byte one. The first HAVE releases a message: with several
subscribers the fastest one paces the publisher (the others catch up through lazy push
repair, SPEC 6), which is the usual trade of one-to-many flow control.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Iterable

from srpfast.wire.constants import PACKET_BYTES
from srpfast.control.events import WindowOpen
from srpfast.errors import CapacityError

if TYPE_CHECKING:
    from srpfast.control.peers import PeerEntry
    from srpfast.control.engine import Peer


class FlowWindow:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.limit = cfg.send_window
        self.timeout = cfg.send_window_timeout
        self.backlog_limit = cfg.send_backlog
        # head id -> (deadline, frames), in send order (so deadlines are in order too)
        self._unacked: OrderedDict[bytes, tuple[float, int]] = OrderedDict()
        self.frames = 0  # frames sent and not yet acknowledged (nor timed out)
        # published, not sent yet: [frames, counts, heads, peers, next message, its offset,
        # acknowledged, subcluster id]
        self._backlog: deque[list[Any]] = deque()
        self.backlog_frames = 0
        self.waiting = False  # someone waits in drain(): emit WindowOpen when room appears
        # The last publish had a connected fellow member to acknowledge it (send()).
        self.acknowledging = False

    @property
    def idle(self) -> bool:
        """Nothing of ours in flight or waiting, and a fellow acknowledges what we send: the
        subscribers have caught up, so a new emit() has nothing to wait behind (Nagle's
        rule; publishing.py seals it at once)."""
        return self.acknowledging and not self.frames and not self._backlog

    @property
    def open(self) -> bool:
        """Room for more: nothing waits to be sent and the window is not full (drain())."""
        return not self._backlog and self.frames < self.limit

    def check_room(self, frames: int) -> None:
        """CapacityError before a publish that would overflow the bounded backlog."""
        if self._backlog and self.backlog_frames + frames > self.backlog_limit:
            raise CapacityError(
                f"the send backlog holds {self.backlog_frames} frames (Config.send_backlog "
                f"= {self.backlog_limit}): the subscribers are slower than this publisher; "
                f"await subcluster.drain() between publishes")

    def send(self, subcluster_id: bytes, frames: bytes, counts: list[int], heads: list[bytes],
             peers: "list[PeerEntry]", acknowledged: bool, now: float) -> None:
        """Send a publish's frames to ``peers`` as the window allows; the rest waits in the
        backlog, in order. ``acknowledged``: a connected fellow member will HAVE them. Lazy
        push (announce.py) hears of each message when it leaves, not while it waits: a
        fellow told of an id still in our backlog would pull it early."""
        p = self.p
        self.acknowledging = acknowledged
        if not acknowledged and not self._backlog:
            for peer in peers:  # nobody to acknowledge: nothing to pace against
                p.send_frames_to(peer, frames)
            if p.send_now is not None:  # (engine.py: they leave before the bookkeeping)
                p.send_now()
            p.announce.fresh(subcluster_id, heads, now)
            return
        self._backlog.append([frames, counts, heads, peers, 0, 0, acknowledged, subcluster_id])
        self.backlog_frames += sum(counts)
        self.pump(now, publishing=True)

    def pump(self, now: float, publishing: bool = False) -> None:
        """Send backlog messages while the window has room (whole messages, in order).
        ``publishing``: called by a publish, whose frames leave at once (Peer.send_now)
        before their lazy-push bookkeeping; what acknowledgements release leaves with the
        driver's next flush, one per wake-up."""
        p, u = self.p, self._unacked
        deadline = now + self.timeout
        while self._backlog and self.frames < self.limit:
            entry = self._backlog[0]
            frames, counts, heads, peers, k, off, acknowledged, sub_id = entry
            first, start = k, off
            while k < len(counts) and (self.frames < self.limit or not acknowledged):
                n = counts[k]
                if acknowledged:
                    u[heads[k]] = (deadline, n)
                    self.frames += n
                self.backlog_frames -= n
                off += n * PACKET_BYTES
                k += 1
            if k == len(counts):  # (the window's state first: send_now below may raise)
                self._backlog.popleft()
            else:
                entry[4], entry[5] = k, off
            if k > first:  # (a view, not a copy, of a publish the window lets part of go)
                run = memoryview(frames)[start:off] if start or off < len(frames) else frames
                for peer in peers:
                    p.send_frames_to(peer, run)
                if publishing and p.send_now is not None:  # before the bookkeeping below
                    p.send_now()
                p.announce.fresh(sub_id, heads[first:k], now)

    def acked(self, ids: Iterable[bytes], now: float) -> None:
        u = self._unacked
        if not u:
            return
        freed = 0
        for pid in ids:
            if pid not in u:
                continue
            while u:  # cumulative: everything sent before it is released with it
                head, (_, n) = u.popitem(last=False)
                freed += n
                if head == pid:
                    break
        if freed:
            self.frames -= freed
            self.p.count("flow.acked_frames", freed)
            self.pump(now)
            self._maybe_open()

    def next_deadline(self) -> float | None:
        if not self._unacked:
            return None
        return next(iter(self._unacked.values()))[0]

    def expire(self, now: float) -> None:
        u = self._unacked
        dropped = 0
        while u:
            head, (deadline, n) = next(iter(u.items()))
            if deadline > now:
                break
            del u[head]
            self.frames -= n
            dropped += 1
        if dropped:
            self.p.count("flow.timeout", dropped)
            self.pump(now)
            self._maybe_open()

    def _maybe_open(self) -> None:
        if self.waiting and self.open:
            self.waiting = False
            self.p.emit(WindowOpen())
