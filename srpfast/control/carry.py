"""Fragments kept across receive batches, so C assembles messages that straddle them.

The C data plane assembles a fragmented message when all its fragments are in one receive
batch (deliver.c). A message split by a batch boundary (one 1 KB value in ~32: two frames
back to back), and every message longer than a batch (a 64 KB value is 67 frames, a batch
64), used to go to the control plane's per-frame path: Python per frame, ~2x the CPU of C.
Now the fragments process() could not assemble are taken off its hand-up list in the same C
call (``DataPlane.carry_fragments``, set by the engine's link; ``DataPlane.fragments()``: frames
and packetIds back to back), kept here (copied: the batch buffer is reused; no Python per
fragment) and offered to ``DataPlane.deliver_carried`` after every batch, which assembles,
opens and verifies the whole messages among them in C (their frames were already cached and
forwarded). Bounded (SPEC 9.4): at most ``MAX_CARRIED`` frames, each kept for at most
``CARRY_BATCHES`` further batches; what leaves unassembled takes the per-frame path as
before (it also evicts and counts forged copies, SPEC 9.1).
"""
from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING, Any

from srpfast.dataplane._dataplane import MAX_CARRIED
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

    def deliver(self, keyed: list[bytes], now: float) -> None:
        """After a batch: the whole messages among the kept fragments, in C; then what is
        too old (or beyond the bound) goes to the per-frame path."""
        self.batch += 1
        n = len(self.born)
        if not n:
            return
        p, dp = self.p, self.dp
        left = dp.deliver_carried(self.frames, self.ids, n)
        if dp.n_msgs:
            p.count("deliver.carried", dp.n_msgs)
            p.replication.on_messages(dp.messages(), keyed, now)
        room = MAX_CARRIED - dp.max_batch  # (a whole next batch of fragments must still fit)
        born, oldest = self.born, self.batch - CARRY_BATCHES
        stale = [i for i in left if born[i] < oldest]
        if len(left) - len(stale) > room:  # (left is in arrival order: oldest first)
            stale = left[:len(left) - room]
        if len(left) == n and not stale:
            return  # (nothing taken: kept as they are)
        frames, ids, addrs = self.frames, self.ids, self.addrs
        out = [(bytes(frames[i * C.PACKET_BYTES:(i + 1) * C.PACKET_BYTES]),
                bytes(ids[32 * i:32 * i + 32]), addrs[i]) for i in stale]
        gone = set(stale)
        rest = [i for i in left if i not in gone]
        self.frames = bytearray().join(frames[i * C.PACKET_BYTES:(i + 1) * C.PACKET_BYTES]
                                       for i in rest)
        self.ids = bytearray().join(ids[32 * i:32 * i + 32] for i in rest)
        self.addrs = [addrs[i] for i in rest]
        self.born = [born[i] for i in rest]
        for datagram, pid, address in out:
            p.receive_delivered(datagram, address, now, False, pid)
