"""Fragments kept across receive batches, so C assembles messages that straddle them.

The C data plane assembles a fragmented message when all its fragments are in one receive
batch (deliver_chains.c). A message split by a batch boundary (one 1 KB value in ~32: two frames
back to back), and every message longer than a batch (a 64 KB value is 67 frames, a batch
64), used to go to the control plane's per-frame path: Python per frame, ~2x the CPU of C.
Now the fragments process() could not assemble are taken off its hand-up list in the same C
call (``DataPlane.carry_fragments``, set by the engine's link; ``DataPlane.fragments()``: frames
and packetIds back to back), kept here (copied: the batch buffer is reused; no Python per
fragment) and offered to ``DataPlane.deliver_carried`` after every batch, which assembles,
opens and verifies the whole messages among them in C (their frames were already cached and
forwarded). Bounded (SPEC 9.4): at most ``DataPlane.max_carried`` frames (twice the receive
batch, 256 at the least: what is kept after a batch and a whole next batch of fragments fit
one deliver_carried call), each kept for at most ``CARRY_BATCHES`` further batches; what
leaves unassembled takes the per-frame path as before (it also evicts and counts forged
copies, SPEC 9.1).
"""
from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING, Any

from srpfast.wire import constants as C
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.control.engine import Peer

CARRY_BATCHES = 4  # a fragment waits this many later batches for the rest of its message


class FragmentCarry:
    def __init__(self, peer: "Peer", dataplane: Any) -> None:
        self.p = peer
        self.dp = dataplane
        self.batch = 0
        # The kept fragments in arrival order: their frames (PACKET_BYTES each) and packetIds
        # (32 bytes each) back to back, as deliver_carried takes them, so keeping a batch's
        # fragments is two copies in C, not Python per fragment; beside them the source
        # address and the batch each arrived in.
        self.frames = bytearray()
        self.ids = bytearray()
        self.addrs: list[Address] = []
        self.born: list[int] = []

    @property
    def kept(self) -> int:
        """How many fragments are kept."""
        return len(self.born)

    def keep_many(self, frames: Any, ids: Any, addrs: list[Address]) -> None:
        """Fragments of this batch (DataPlane.fragments(): frames and ids back to back, one
        address each), copied: the batch's buffers are reused."""
        self.frames += frames
        self.ids += ids
        self.addrs += addrs
        self.born += repeat(self.batch, len(addrs))

    def deliver(self, keyed: list[bytes], now: float, whole: tuple[Any, ...] | None = None) -> None:
        """After a batch: the whole messages among the kept fragments, in C; then what is
        too old (or beyond the bound) goes to the per-frame path. ``whole``: the batch's own
        whole messages (DataPlane.messages()), delivered after the carried ones (older: an
        author's next message may name one as its predecessor) in the same on_messages call
        when no kept fragment leaves for the per-frame path in between. One call, one
        DeliveredBatch event: each call costs a fixed share of Python (~40 us with its event
        and handler call), and a 1 KB publisher's stream straddles every other batch."""
        self.batch += 1
        n = len(self.born)
        p = self.p
        if not n:
            if whole is not None:
                p.replication.on_messages(whole, keyed, now)
            return
        dp = self.dp
        left = dp.deliver_carried(self.frames, self.ids, n)
        carried = None
        if dp.n_msgs:
            p.count("deliver.carried", dp.n_msgs)
            carried = dp.messages()
        room = dp.max_carried - dp.max_batch  # (a whole next batch of fragments must still fit)
        born, oldest = self.born, self.batch - CARRY_BATCHES
        stale = [i for i in left if born[i] < oldest]
        if len(left) - len(stale) > room:  # (left is in arrival order: oldest first)
            stale = left[:len(left) - room]
        if carried is not None:
            if whole is not None and not stale:
                carried, whole = _joined(carried, whole), None
            p.replication.on_messages(carried, keyed, now)
        if len(left) == n and not stale:
            if whole is not None:
                p.replication.on_messages(whole, keyed, now)
            return  # (nothing taken: kept as they are)
        frames, ids, addrs = self.frames, self.ids, self.addrs
        out = [(bytes(frames[i * C.PACKET_BYTES:(i + 1) * C.PACKET_BYTES]),
                bytes(ids[32 * i:32 * i + 32]), addrs[i]) for i in stale]
        if stale:
            gone = set(stale)
            rest = [i for i in left if i not in gone]
        else:
            rest = left
        a = n - len(rest)
        if not rest or (rest[0] == a and rest[-1] == n - 1):
            # The usual case: what stays is a tail, the first fragments of a message the
            # next batch completes: slices, not a join per fragment (left is ascending).
            self.frames = frames[a * C.PACKET_BYTES:]
            self.ids = ids[32 * a:]
            self.addrs = addrs[a:]
            self.born = born[a:]
        else:
            self.frames = bytearray().join(frames[i * C.PACKET_BYTES:(i + 1) * C.PACKET_BYTES]
                                           for i in rest)
            self.ids = bytearray().join(ids[32 * i:32 * i + 32] for i in rest)
            self.addrs = [addrs[i] for i in rest]
            self.born = [born[i] for i in rest]
        for datagram, pid, address in out:
            p.receive_delivered(datagram, address, now, False, pid)
        if whole is not None:
            p.replication.on_messages(whole, keyed, now)


def _joined(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two DataPlane.messages() column tuples as one, a's messages first (subs: one int when
    both share it, else a list)."""
    sa, sb = a[0], b[0]
    if type(sa) is int and type(sb) is int and sa == sb:
        subs: Any = sa
    else:
        subs = ([sa] * len(a[1]) if type(sa) is int else list(sa)) + \
            ([sb] * len(b[1]) if type(sb) is int else list(sb))
    return (subs, *(x + y for x, y in zip(a[1:], b[1:])))
