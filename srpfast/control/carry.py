"""Fragments kept across receive batches, so C assembles messages that straddle them.

The C data plane assembles a fragmented message when all its fragments are in one receive
batch (deliver.c). A message split by a batch boundary (one 1 KB value in ~32: two frames
back to back), and every message longer than a batch (a 64 KB value is 67 frames, a batch
64), used to go to the control plane's per-frame path: Python per frame, ~2x the CPU of C.
Now the fragments process() hands back as UP_DELIVER are kept here (copied: the batch buffer
is reused) and offered to ``DataPlane.deliver_carried`` after every batch, which assembles,
opens and verifies the whole messages among them in C (their frames were already cached and
forwarded). Bounded (SPEC 9.4): at most ``MAX_CARRIED`` frames, each kept for at most
``CARRY_BATCHES`` further batches; what leaves unassembled takes the per-frame path as
before (it also evicts and counts forged copies, SPEC 9.1).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from srpfast.dataplane._dataplane import MAX_CARRIED
from srpfast.wire import constants as C
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.control.engine import Peer

CARRY_BATCHES = 4  # a fragment waits this many later batches for the rest of its message
OFF_FLAGS, OFF_INDEX = 7, 12  # header offsets (PROTOCOL.md §2)


def is_fragment(datagram: bytes) -> bool:
    """Part of a multi-frame message: MORE set, or not the first frame."""
    return bool(datagram[OFF_FLAGS] & C.FLAG_MORE) or datagram[OFF_INDEX:OFF_INDEX + 2] != b"\0\0"


class FragmentCarry:
    def __init__(self, peer: "Peer", dataplane: Any) -> None:
        self.p = peer
        self.dp = dataplane
        self.batch = 0
        # (frame, packetId, source address, batch it arrived in), arrival order
        self.kept: list[tuple[bytes, bytes, Address, int]] = []

    def keep(self, datagram: bytes, packet_id: bytes, address: Address) -> None:
        self.kept.append((bytes(datagram), packet_id, address, self.batch))

    def deliver(self, keyed: list[bytes], now: float) -> None:
        """After a batch: the whole messages among the kept fragments, in C; then what is
        too old (or beyond the bound) goes to the per-frame path."""
        self.batch += 1
        kept = self.kept
        if not kept:
            return
        p, dp = self.p, self.dp
        left = dp.deliver_carried(b"".join(k[0] for k in kept), b"".join(k[1] for k in kept),
                                  len(kept))
        if dp.n_msgs:
            p.count("deliver.carried", dp.n_msgs)
            p.replication.on_messages(dp.messages(), keyed, now)
        rest = [kept[i] for i in left]
        room = MAX_CARRIED - dp.max_batch  # (a whole next batch of fragments must still fit)
        stale = [k for k in rest if self.batch - k[3] > CARRY_BATCHES]
        if len(rest) - len(stale) > room:
            stale = rest[:len(rest) - room]
        if stale:
            gone = {id(k) for k in stale}
            self.kept = [k for k in rest if id(k) not in gone]
            for datagram, pid, address, _ in stale:
                p.receive_delivered(datagram, address, now, False, pid)
        else:
            self.kept = rest
