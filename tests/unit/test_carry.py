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


def member(max_batch: int = 64) -> Peer:
    peer = Peer(create_identity(b"\x55" * 32), Config(strict=True, clock_offset=0.0),
                now=0.0, rng=random.Random(5))
    peer.join(CLUSTER, KEY, now=0.0)
    peer.attach_dataplane(DataPlane(peer.cache, max_batch=max_batch), resolve=pack_sockaddr)
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


def test_a_batch_larger_than_256_whole_of_fragments_that_wait_is_kept_in_bounds() -> None:
    """The carry holds what is left after a batch plus a whole next batch of fragments in one
    deliver_carried call: DataPlane.max_carried is twice max_batch (256 at the least). A
    receive batch of 512 (the UDP transport's) made only of fragments still waiting for
    their last one is kept, the next such batch pushes the oldest out to the frame path, and
    every message is delivered once its last fragment comes (strict: an error would raise)."""
    frames, _ = published([3000] * 340)         # 4 fragments each
    assert len(frames) == 4 * 340
    heads = [f for k, f in enumerate(frames) if k % 4 != 3]
    tails = [f for k, f in enumerate(frames) if k % 4 == 3]
    peer = member(max_batch=512)
    dp = peer.dataplane
    assert dp.max_carried == 1024 and DataPlane(peer.cache).max_carried == 256
    got = feed(peer, heads[:510], 512)          # 170 messages, none complete
    assert got == [] and peer._dataplane.carry.kept == 510
    got += feed(peer, heads[510:], 512)         # 170 more: the room is max_carried - 512
    assert peer._dataplane.carry.kept <= dp.max_carried - dp.max_batch
    got += feed(peer, tails, 512)
    for _ in range(CARRY_BATCHES + 1):          # later batches: what still waits leaves
        got += feed(peer, [frames[0]], 512)
    assert sorted(got) == sorted(bytes([65 + k % 26]) * 3000 for k in range(340))
    assert peer.counters().get("drop.internal", 0) == 0
    assert not peer._dataplane.carry.kept


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


def test_a_straddling_message_and_the_batch_s_own_make_one_event_carried_first() -> None:
    # 1 KB values are two frames each: batches of 5 frames cut every other message in two.
    frames, _ = published([1024] * 10)
    assert len(frames) == 20
    peer = member()
    for k in range(0, len(frames), 5):
        peer.receive_batch(DatagramBatch([(f, SOURCE) for f in frames[k:k + 5]],
                                         udp_address_key), 1.0 + k / 1e4)
    events = [e for e in peer.events() if isinstance(e, (Delivered, DeliveredBatch))]
    # one DeliveredBatch per receive batch, never a second one for the carried message
    assert all(isinstance(e, DeliveredBatch) for e in events)
    assert [len(e.payloads) for e in events] == [2, 3, 2, 3]
    got = [p for e in events for p in e.payloads]
    assert got == [bytes([65 + k]) * 1024 for k in range(10)]  # publishing order kept
    assert peer.counters()["deliver.carried"] == 2  # the two messages cut in two
    assert not peer._dataplane.carry.kept


def test_a_receive_batch_holding_two_emit_many_batches_delivers_both_at_once() -> None:
    # The second publish_many names the last message of the first as its predecessor; both
    # arrive in one receive batch: nothing is held, nothing asked for, order kept.
    pub = Peer(create_identity(b"\x08" * 32), Config(), now=0.0, rng=random.Random(8))
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    frames = []
    for first in (0, 3):
        pub.publish_many(sid, [bytes([65 + first + k]) * 50 for k in range(3)], now=0.0)
        frames += [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    assert len(frames) == 6
    peer = member()
    peer.receive_batch(DatagramBatch([(f, SOURCE) for f in frames], udp_address_key), 1.0)
    events = [e for e in peer.events() if isinstance(e, (Delivered, DeliveredBatch))]
    assert len(events) == 1 and isinstance(events[0], DeliveredBatch)
    assert events[0].payloads == [bytes([65 + k]) * 50 for k in range(6)]
    assert events[0].previous_ids[3] == events[0].message_ids[2]  # (the chain of batches)
    c = peer.counters()
    assert c.get("deliver.held", 0) == 0 and not peer.replication.held
    assert all(m in peer.replication.delivered for m in events[0].message_ids)


def test_messages_delivered_in_c_answer_the_queries_waiting_for_them() -> None:
    """Replication.on_messages finds the batch's ids among the pending query routes and
    wanted ids in C (LruDict.present): a route for one of them (exact) and one for a
    successor of a predecessor get their ANSWER (SPEC 9.8), a wanted id is no longer asked
    for, and the rest of the batch costs no lookup per message."""
    pub = Peer(create_identity(b"\x08" * 32), Config(), now=0.0, rng=random.Random(8))
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    frames = []
    heads = []
    for first in (0, 3):
        heads += pub.publish_many(sid, [bytes([65 + first + k]) * 50 for k in range(3)],
                                  now=0.0)
        frames += [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    peer = member()
    rep = peer.replication
    asker, other = ("10.0.0.8", 8000), ("10.0.0.9", 9000)
    rep.routes.put(heads[1], [asker], 0.5)              # exact: the second message
    rep.routes.put(b"S" + heads[2], [other], 0.5)       # the successor of the third
    rep.routes.put(b"\x07" * 32, [asker], 0.5)          # an id not in this batch
    rep.wanted.put(heads[4], [0.5, 1], 0.5)
    rep.wanted.put(b"\x09" * 32, [0.5, 1], 0.5)
    peer.datagrams_to_send()
    peer.receive_batch(DatagramBatch([(f, SOURCE) for f in frames], udp_address_key), 1.0)
    answers = [(d, a) for d, a in peer.datagrams_to_send() if d[4] == C.ANSWER]
    # heads[3] names heads[2] as its predecessor: the successor route gets it
    assert sorted(a for _, a in answers) == sorted([asker, other])
    assert peer.counters()["answer.routed"] == 2
    assert heads[1] not in rep.routes and b"S" + heads[2] not in rep.routes
    assert b"\x07" * 32 in rep.routes
    assert heads[4] not in rep.wanted and b"\x09" * 32 in rep.wanted
    assert len([e for e in peer.events() if isinstance(e, DeliveredBatch)]) == 1
