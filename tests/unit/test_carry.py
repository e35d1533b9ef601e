"""Fragments kept across receive batches (srpfast/control/carry.py): a message whose frames
arrive in several batches, longer than a batch or split by a boundary, is assembled, opened
and verified in C (DataPlane.deliver_carried), and what never completes leaves for the
control plane's per-frame path after CARRY_BATCHES."""
from __future__ import annotations

import random

from srpfast.config import Config
from srpfast.control.batch import DatagramBatch, pack_sockaddr
from srpfast.control.carry import CARRY_BATCHES
from srpfast.control.dataplane import udp_address_key
from srpfast.control.engine import Peer
from srpfast.control.events import Delivered, DeliveredBatch
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.dataplane._dataplane import DataPlane
from srpfast.wire import constants as C

CLUSTER = create_cluster_id(b"carry tests")
KEY = create_shared_key(b"carry subcluster")
SOURCE = ("10.0.0.7", 7000)


def published(sizes: list[int]) -> tuple[list[bytes], Peer]:
    pub = Peer(create_identity(b"\x08" * 32), Config(), now=0.0, rng=random.Random(8))
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    pub.publish_many(sid, [bytes([65 + k % 26]) * n for k, n in enumerate(sizes)], now=0.0)
    return [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH], pub


def member() -> Peer:
    peer = Peer(create_identity(b"\x55" * 32), Config(strict=True, clock_offset=0.0),
                now=0.0, rng=random.Random(5))
    peer.join(CLUSTER, KEY, now=0.0)
    peer.attach_dataplane(DataPlane(peer.cache, max_batch=64), resolve=pack_sockaddr)
    peer.tick(1.0)
    return peer


def feed(peer: Peer, frames: list[bytes], per_batch: int) -> list[bytes]:
    """Frames in receive batches of ``per_batch``; the payloads delivered, in order."""
    for k in range(0, len(frames), per_batch):
        peer.receive_batch(DatagramBatch([(f, SOURCE) for f in frames[k:k + per_batch]],
                                         udp_address_key),
                           1.0 + k / 1e4)
    out: list[bytes] = []
    for e in peer.events():  # (C delivers batches; the frame path one message at a time)
        if isinstance(e, DeliveredBatch):
            out += e.payloads
        elif isinstance(e, Delivered):
            out.append(e.payload)
    return out


def test_a_64_kb_message_over_three_batches_is_assembled_in_c() -> None:
    frames, _ = published([65536, 1024, 1024])
    assert len(frames) == 67 + 2 + 2
    peer = member()
    got = feed(peer, frames, 30)
    assert sorted(map(len, got)) == [1024, 1024, 65536]
    c = peer.counters()
    assert c["deliver.carried"] >= 1          # the 64 KB one (and a 1 KB one split at 60)
    assert c.get("rx.publish", 0) == 3        # every message once, none by the frame path
    assert peer.dataplane.counters()["deliver.assembled"] == 3
    assert not peer._dataplane.carry.kept


def test_fragments_that_never_complete_go_to_the_frame_path() -> None:
    frames, _ = published([3000])              # 4 frames
    peer = member()
    assert feed(peer, frames[:3], 64) == []    # the last fragment does not come yet
    assert peer._dataplane.carry.kept == 3
    got = []
    for _ in range(CARRY_BATCHES + 1):         # later batches (a repeat: nothing new)
        got += feed(peer, [frames[0]], 64)
    assert not peer._dataplane.carry.kept and got == []
    # the control plane holds them now; the last fragment, once it leaves the carry too,
    # completes the message there
    got += feed(peer, frames[3:], 64)
    for _ in range(CARRY_BATCHES + 1):
        got += feed(peer, [frames[0]], 64)
    assert got == [b"A" * 3000]
    assert peer.counters().get("deliver.carried", 0) == 0
    assert peer.counters()["rx.publish"] == 4  # the frame path, one frame at a time


def test_the_data_plane_takes_fragments_out_of_the_hand_up_list_in_one_call() -> None:
    """carry_fragments (set by the engine's link): fragments C could not assemble leave the
    hand-up list for DataPlane.fragments(), copied with their packetIds, order kept; whole
    messages are delivered as before."""
    from srpfast.wire.frame import packet_id
    frames, _ = published([3000, 100])          # 4 fragments, then a one-frame message
    peer = member()
    dp = peer.dataplane
    assert dp.carry_fragments
    batch = frames[:3] + frames[4:]             # the 4th fragment is missing
    dp.process(b"".join(batch), len(batch), now=1.0)
    assert dp.n_up == 0 and dp.n_msgs == 1 and dp.n_frags == 3
    got, ids, items = dp.fragments()
    assert bytes(got) == b"".join(frames[:3]) and items == [0, 1, 2]
    assert bytes(ids) == b"".join(packet_id(f) for f in frames[:3])
    dp.process(frames[3], 1, now=1.0)           # the last one alone: still a fragment
    assert dp.n_frags == 1 and dp.n_up == 0
