"""Member delivery in C (csrc/deliver.c through DataPlane.set_keys / messages()): whole
messages of our subclusters are opened and verified in the data plane call; everything else
stays on the hand-up list for the control plane."""
from __future__ import annotations

import random

import pytest

from srpfast.wire import constants as C
from srpfast.dataplane._dataplane import UP_DELIVER, UP_VARIANT, DataPlane
from srpfast.config import Config
from srpfast.control.nonces import seal_synthetic
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer
from srpfast.wire.frame import encode, packet_id

CLUSTER = create_cluster_id(b"deliver tests")
KEY = create_shared_key(b"deliver subcluster")


def author_frames(count: int, batch: int, payload=lambda k: b"m%d" % k, seed: int = 1,
                  identity=None) -> tuple[list[bytes], bytes, Peer]:
    """Sealed one-frame PUBLISH messages from a real Peer's publish path: (frames, sub id,
    author peer)."""
    pub = Peer(identity or create_identity(bytes([seed]) * 32), Config(), now=0.0,
               rng=random.Random(seed))
    sub_id = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)  # a next hop to hand frames to
    pub.datagrams_to_send()
    frames = []
    for i in range(0, count, batch):
        pub.publish_many(sub_id, [payload(k) for k in range(i, min(i + batch, count))], now=0.0)
        frames += [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    assert len(frames) == count
    return frames, sub_id, pub


def member_plane(max_batch: int = 64) -> tuple[DataPlane, Peer, bytes]:
    member = Peer(create_identity(b"\x55" * 32), Config(), now=0.0)
    sub_id = member.join(CLUSTER, KEY, now=0.0)
    sub = member.membership.subs[sub_id]
    dp = DataPlane(member.cache, max_batch=max_batch)
    dp.set_membership([sub.tag], [sub_id])
    dp.set_keys([sub_id], [sub.tag], [sub.key])
    return dp, member, sub_id


def run(dp: DataPlane, frames: list[bytes]) -> tuple[tuple, list[tuple[int, int]]]:
    dp.process(b"".join(frames), len(frames), now=1.0)
    return dp.messages(), [dp.up(j) for j in range(dp.n_up)]


def test_a_batch_of_messages_is_delivered_in_c_with_one_signature_check() -> None:
    frames, sub_id, pub = author_frames(60, 60)
    dp, _, _ = member_plane()
    (subs, ids, payloads, authors, prevs, clocks, hops), up = run(dp, frames)
    assert up == []  # nothing left for the control plane
    assert subs == 0 and payloads == [b"m%d" % k for k in range(60)]
    assert ids == [packet_id(f) for f in frames]
    assert set(authors) == {pub.peer_id} and set(prevs) == {C.ZERO32}
    assert clocks == [int.from_bytes(f[8:12], "big") for f in frames] and hops == [0] * 60
    c = dp.counters()
    assert c["deliver.ok"] == 60 and c["deliver.sig_checked"] == 1
    assert c["deliver.sig_cached"] == 0  # the rest stopped at verified tree nodes
    assert dp.message_item(59) == 59


def test_single_signature_messages_and_both_orders_of_a_batch() -> None:
    frames, _, _ = author_frames(8, 1)
    dp, _, _ = member_plane()
    (_, _, payloads, *_), up = run(dp, frames)
    assert payloads == [b"m%d" % k for k in range(8)] and up == []
    assert dp.counters()["deliver.sig_checked"] == 8
    frames, _, _ = author_frames(40, 40, seed=2)
    dp, _, _ = member_plane()
    (_, _, payloads, *_), _ = run(dp, frames[::-1])
    assert payloads == [b"m%d" % k for k in range(40)][::-1]
    assert dp.counters()["deliver.sig_checked"] == 1


def _with_plain(frame: bytes, edit) -> bytes:
    """Open a sealed frame, edit its plaintext (an author envelope) and seal it again with
    the subcluster key: a member forging inside a correct seal."""
    from srpfast.crypto import open_frame, publish_key
    key = publish_key(KEY)
    plain = edit(bytearray(open_frame(key, frame)))
    fresh = encode(type=C.PUBLISH, message=bytes(plain), cluster=frame[22:38],
                   to=frame[38:70], previous_id=frame[70:102], clock=int.from_bytes(
                       frame[8:12], "big"))
    return seal_synthetic(key, fresh)


def test_what_fails_in_c_stays_with_the_control_plane() -> None:
    frames, _, _ = author_frames(4, 4)
    tampered = bytearray(frames[0])
    tampered[200] ^= 1  # ciphertext: the seal does not open
    bad_sig = _with_plain(frames[1], lambda p: p[:37] + bytes([p[37] ^ 1]) + p[38:])
    bad_env = _with_plain(frames[2], lambda p: b"\x09" + p[1:])  # unknown envelope version
    # version 1 (BLAKE2b-256 tree, docs/SEALING.md) is malformed since version 2
    old_env = _with_plain(frames[3], lambda p: b"\x01" + p[1:])
    dp, _, _ = member_plane()
    (_, _, payloads, *_), up = run(dp, [bytes(tampered), bad_sig, bad_env, old_env, frames[3]])
    assert payloads == [b"m3"]
    assert up == [(0, UP_DELIVER), (1, UP_DELIVER), (2, UP_DELIVER), (3, UP_DELIVER)]
    c = dp.counters()
    assert (c["deliver.seal"], c["deliver.signature"], c["deliver.envelope"]) == (1, 1, 2)


def test_known_tree_nodes_never_vouch_for_another_author() -> None:
    """After a genuine batch, its tree nodes are remembered as (author, count, level, pos):
    the same leaf and path under another author's name must still need that author's
    signature over the root, which it does not have."""
    frames, _, pub = author_frames(8, 8)
    dp, _, _ = member_plane()
    run(dp, frames[:4])
    mallory = create_identity(b"\x66" * 32)
    claimed = _with_plain(frames[4], lambda p: p[:5] + mallory.public_key + p[37:])
    (_, _, _, authors, *_), up = run(dp, [claimed, frames[5]])
    assert authors == [pub.peer_id] and up == [(0, UP_DELIVER)]
    assert dp.counters()["deliver.signature"] == 1


def test_interleaved_signers_and_late_messages_need_no_second_signature_check() -> None:
    """The newest verified nodes of the current signer are kept apart (deliver.c memo) and
    move to the node table when another signer's message comes: two authors interleaved
    one message at a time, and each author's early messages arriving after everything else,
    are all delivered with one Ed25519 check per batch."""
    a, _, pa = author_frames(32, 32, seed=3)
    b, _, pb = author_frames(32, 32, seed=4)
    dp, _, _ = member_plane()
    mixed = [f for pair in zip(a[4:28], b[4:28]) for f in pair]
    got = []
    for k in range(0, len(mixed), 16):
        (_, _, payloads, authors, *_), up = run(dp, mixed[k:k + 16])
        assert up == []
        got += list(zip(authors, payloads))
    (_, _, payloads, authors, *_), up = run(dp, a[28:] + a[:4] + b[:4] + b[28:])
    assert up == []
    got += list(zip(authors, payloads))
    assert sorted(p for au, p in got if au == pa.peer_id) == sorted(b"m%d" % k for k in range(32))
    assert sorted(p for au, p in got if au == pb.peer_id) == sorted(b"m%d" % k for k in range(32))
    c = dp.counters()
    assert c["deliver.ok"] == 64 and c["deliver.sig_checked"] == 2 and c["deliver.signature"] == 0


def test_a_context_or_index_change_breaks_the_path() -> None:
    frames, _, _ = author_frames(8, 8)
    dp, _, _ = member_plane()
    run(dp, frames[:2])
    wrong_index = _with_plain(frames[2], lambda p: p[:3] + (5).to_bytes(2, "big") + p[5:])
    (_, _, payloads, *_), up = run(dp, [wrong_index, frames[3]])
    assert payloads == [b"m3"] and up == [(0, UP_DELIVER)]


def test_fragments_and_variants_go_up() -> None:
    pub = Peer(create_identity(b"\x07" * 32), Config(), now=0.0)
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    pub.publish(sid, b"y" * 3000, now=0.0)
    fragments = [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    assert len(fragments) == 4
    dp, _, _ = member_plane()
    # (all four in one batch would be assembled in C: split over two batches they go up)
    (_, ids, *_), up = run(dp, fragments[:2])
    (_, ids2, *_), up2 = run(dp, fragments[2:])
    assert ids == ids2 == [] and [k for _, k in up + up2] == [UP_DELIVER] * 4
    assert dp.counters()["deliver.fragment"] == 4
    frames, _, _ = author_frames(2, 2, seed=4)
    variant = bytearray(frames[0])
    variant[8:12] = (999).to_bytes(4, "big")  # another copy of one packetId
    (_, ids, *_), up = run(dp, [frames[0], bytes(variant)])
    assert ids == [packet_id(frames[0])] and up == [(1, UP_VARIANT)]


def test_keys_off_hands_everything_up_and_too_many_keys_is_an_error() -> None:
    frames, _, _ = author_frames(3, 3)
    dp, _, _ = member_plane()
    dp.set_keys([], [], [])
    (_, ids, *_), up = run(dp, frames)
    assert ids == [] and up == [(i, UP_DELIVER) for i in range(3)]
    from srpfast.errors import ArgumentError
    with pytest.raises(ArgumentError, match="one 32-byte id"):
        dp.set_keys([b"\x01" * 32], [b"\x02" * 16], [])
    with pytest.raises(ArgumentError, match="at most"):
        dp.set_keys([b"\x01" * 32] * 65, [b"\x02" * 16] * 65, [b"\x03" * 32] * 65)


def test_a_message_is_delivered_once_even_after_its_cached_copy_is_gone() -> None:
    frames, _, _ = author_frames(5, 5)
    dp, member, _ = member_plane()
    (_, ids, *_), _ = run(dp, frames)
    assert len(ids) == 5
    for pid in ids[:3]:
        member.cache.remove(pid)  # evicted: the cache no longer recognises them
    (_, again, *_), up = run(dp, frames)
    assert again == [] and up == []
    c = dp.counters()
    # 3 known to the data plane's seen-copies table (no longer cached), 2 still cached
    assert c["seen"] == 3 and c["duplicate"] == 2


def test_an_altered_copy_of_a_delivered_message_is_not_a_silent_repeat() -> None:
    """SPEC 9.1 after delivery: the genuine copy left the cache, a relay alters a header field
    the packetId does not cover and the data plane caches that copy. C must hand it up (the
    control plane evicts it), not drop it as a repeat of the delivered message."""
    frames, _, _ = author_frames(1, 1)
    dp, member, _ = member_plane()
    (_, [pid], *_), _ = run(dp, frames)
    member.cache.remove(pid)
    altered = bytearray(frames[0])
    altered[8] ^= 0x01  # clock: in the AD, not in the packetId
    assert packet_id(bytes(altered)) == pid
    (_, ids, *_), up = run(dp, [bytes(altered)])
    assert ids == [] and up == [(0, UP_DELIVER)]
    assert dp.counters()["deliver.seal"] == 1 and dp.counters()["deliver.duplicate"] == 0
    member.receive_delivered(bytes(altered), ("10.0.0.9", 9), 1.0, False, pid)
    assert member.cache.get(pid) is None  # evicted by the control plane
    assert member.counters()["publish.forged_evicted"] == 1


def _fragmented(sizes: list[int]) -> tuple[list[bytes], Peer]:
    pub = Peer(create_identity(b"\x08" * 32), Config(), now=0.0, rng=random.Random(8))
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    pub.publish_many(sid, [b"x" * n for n in sizes], now=0.0)
    return [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH], pub


def test_multi_fragment_messages_in_one_batch_are_assembled_in_c() -> None:
    """issue 17: a 1 KB value is 2 fragments; when a message's fragments share a receive
    batch, C follows nextId from the head, opens each, verifies the whole envelope."""
    sizes = [1024, 3000, 10, 984 * 5]
    frames, pub = _fragmented(sizes)
    dp, _, _ = member_plane()
    shuffled = frames[:]
    random.Random(3).shuffle(shuffled)  # order within the batch does not matter
    (subs, ids, payloads, authors, prevs, clocks, hops), up = run(dp, shuffled)
    assert up == [] and sorted(payloads, key=len) == [b"x" * s for s in sorted(sizes)]
    assert dp.counters()["deliver.assembled"] == 3 and set(authors) == {pub.peer_id}
    (_, ids2, *_), _ = run(dp, frames)  # the same messages again: never delivered twice
    assert ids2 == []


def test_a_fragment_that_does_not_open_leaves_the_whole_message_to_the_control_plane() -> None:
    frames, _ = _fragmented([1500])
    assert len(frames) == 2
    dp, _, _ = member_plane()
    bad = bytearray(frames[1])
    bad[6] = 0   # hops is outside the AEAD's data and the packetId: still the same id ...
    bad[7] ^= 2  # ... but clearing SEALED makes the fragment fail to open in C
    (_, ids, *_), up = run(dp, [frames[0], bytes(bad)])
    assert ids == [] and sorted(k for _, k in up) == [UP_DELIVER, UP_DELIVER]
    assert dp.counters()["deliver.seal"] >= 1


def _reseal(frame: bytes, edit) -> bytes:
    """Edit the plaintext of a sealed fragment and seal it again with every header field kept
    (a member forging inside a correct seal; the chain's nextId links stay intact)."""
    from srpfast.crypto import open_frame, publish_key
    key = publish_key(KEY)
    plain = edit(bytearray(open_frame(key, frame)))
    fresh = encode(type=C.PUBLISH, message=bytes(plain), cluster=frame[22:38], to=frame[38:70],
                   previous_id=frame[70:102], next_id=frame[102:134],
                   clock=int.from_bytes(frame[8:12], "big"),
                   index=int.from_bytes(frame[12:14], "big"), flags=frame[7] & ~2,
                   ttl=int.from_bytes(frame[16:20], "big"), postage=frame[20])
    return seal_synthetic(key, fresh)


def test_fragmented_messages_are_verified_in_pairs_whatever_fails_between_them() -> None:
    """deliver_chains.c verifies two assembled messages at a time (their leaves hashed together):
    a forged message paired with a genuine one, an odd count (the last verified alone), and
    two copies of one message in one batch (the first taken, the copy left as a repeat)."""
    rnd = random.Random(5)
    values = [rnd.randbytes(1500) for _ in range(5)]
    pub = Peer(create_identity(b"\x09" * 32), Config(), now=0.0, rng=random.Random(9))
    sid = pub.join(CLUSTER, KEY, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    pub.publish_many(sid, values, now=0.0)
    frames = [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    heads = [f for f in frames if f[12:14] == b"\x00\x00"]
    tails = {packet_id(f): f for f in frames if f[12:14] != b"\x00\x00"}
    chains = [[h, tails[h[102:134]]] for h in heads]
    assert len(chains) == 5
    # a payload byte of message 2 altered inside a correct seal: it opens, then its leaf
    # folds to a root nobody signed; message 3, opened after it, moves into its arena slots
    chains[2][0] = _reseal(chains[2][0], lambda p: p[:-1] + bytes([p[-1] ^ 1]))
    batch = [f for c in chains for f in c] + chains[3]  # message 3 twice
    dp, _, _ = member_plane()
    left = dp.deliver_carried(b"".join(batch), b"".join(packet_id(f) for f in batch),
                              len(batch))
    _, ids, payloads, authors, *_ = dp.messages()
    assert payloads == [values[0], values[1], values[3], values[4]]
    assert ids == [packet_id(chains[k][0]) for k in (0, 1, 3, 4)]
    assert set(authors) == {pub.peer_id}
    assert left == [4, 5, 10, 11]  # the forged message, and the repeat of message 3
    c = dp.counters()
    assert (c["deliver.assembled"], c["deliver.signature"], c["deliver.duplicate"]) == (4, 1, 1)
    # a copy right behind its original, while the original waits for a partner: settled
    # first, so the copy is a repeat and is never delivered twice
    twice = chains[0] + chains[0]
    dp, _, _ = member_plane()
    left = dp.deliver_carried(b"".join(twice), b"".join(packet_id(f) for f in twice), 4)
    assert dp.messages()[2] == [values[0]] and left == [2, 3]
    assert dp.counters()["deliver.duplicate"] == 1


def test_the_delivered_id_table_grows_and_forgets_nothing_it_delivered() -> None:
    """The delivered-id table starts at 4 KiB and doubles as it fills (csrc/keyset.h): 1,500
    messages make it grow five times, and every one of them is still known afterwards. The
    seen-copies table is one slot and the cache forgets them, so only the delivered ids can
    recognise the copies sent again."""
    frames, _, _ = author_frames(1500, 250)
    member = Peer(create_identity(b"\x56" * 32), Config(), now=0.0)
    sub_id = member.join(CLUSTER, KEY, now=0.0)
    sub = member.membership.subs[sub_id]
    dp = DataPlane(member.cache, max_batch=64, seen_copies=1)
    dp.set_membership([sub.tag], [sub_id])
    dp.set_keys([sub_id], [sub.tag], [sub.key])
    delivered = []
    for k in range(0, len(frames), 50):
        (_, ids, *_), up = run(dp, frames[k:k + 50])
        assert up == []
        delivered += ids
    assert len(set(delivered)) == 1500
    for pid in delivered:
        member.cache.remove(pid)
    again = 0
    for k in range(0, len(frames), 50):
        (_, ids, *_), up = run(dp, frames[k:k + 50])
        again += len(ids) + len(up)
    c = dp.counters()
    assert again == 0 and c["deliver.ok"] == 1500, c
    assert c["deliver.duplicate"] >= 1500 - 1, c
