"""Fragmentation (SPEC 2): shuffled, duplicated, missing then completed, tampered, bounded."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.wire import frame
from srpfast.wire.constants import FLAG_MORE, MESSAGE_BYTES
from srpfast.errors import ArgumentError, CapacityError


def decoded(frames):
    return [frame.decode(d) for d in frames]


@given(st.binary(max_size=20 * MESSAGE_BYTES), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_shuffled_and_duplicated_fragments_reassemble_once(message, rnd):
    frames = frame.split(message, b"\x07" * 32, cluster=b"c" * 16)
    assert len(frames) == max(1, -(-len(message) // MESSAGE_BYTES))
    items = decoded(frames) * 2
    rnd.shuffle(items)
    r = frame.Reassembler()
    done = [m for f in items if (m := r.add(f, 0.0))]
    assert len(done) == 1
    assert done[0].body == message
    assert done[0].id == frame.packet_id(frames[0])
    assert done[0].previous_id == b"\x07" * 32
    assert len(r) == 0
    r.expire(1e9)
    assert r.bytes_buffered == 0


def test_chain_links_each_fragment_to_the_next():
    frames = decoded(frame.split(bytes(3000)))
    for k, f in enumerate(frames):
        assert f.index == k
        assert f.more == (k < len(frames) - 1)
        expected_next = frames[k + 1].packet_id if k + 1 < len(frames) else bytes(32)
        assert f.next_id == expected_next


def test_missing_fragment_then_completed():
    frames = decoded(frame.split(random.Random(1).randbytes(5000)))
    r = frame.Reassembler()
    for f in frames[:2] + frames[3:]:
        assert r.add(f, 0.0) is None
    assert r.missing() == [frames[2].packet_id]
    m = r.add(frames[2], 1.0)
    assert m is not None and m.body == b"".join(f.message for f in frames)
    assert r.missing() == []


def test_tampered_fragment_rejected_then_real_one_accepted():
    frames = frame.split(random.Random(2).randbytes(4000))
    tampered = bytearray(frames[1])
    tampered[200] ^= 1  # message byte: a different packetId, linked by nobody
    r = frame.Reassembler(timeout=5)
    assert r.add(frame.decode(frames[0]), 0.0) is None
    assert r.add(frame.decode(bytes(tampered)), 0.0) is None
    assert r.add(frame.decode(frames[2]), 0.0) is None
    assert r.add(frame.decode(frames[3]), 0.0) is None
    assert r.missing() == [frame.packet_id(frames[1])]
    m = r.add(frame.decode(frames[1]), 1.0)
    assert m is not None
    assert r.expire(10.0) == 4  # the tampered orphan (never delivered) and the used fragments


def test_a_head_that_does_not_fit_its_fragment_is_dropped_and_the_fragment_kept():
    # The engine opens every frame before reassembly, so a fragment's header is its author's
    # (the AEAD's additional data): when a head names a fragment that does not continue its
    # chain (here another previousId: a member's forged head), the head is what is wrong.
    frames = frame.split(bytes(2500))
    real = frame.decode(frames[0])
    forged = frame.encode(type=real.type, message=b"forged", previous_id=b"\x01" * 32,
                          next_id=real.next_id, index=0, flags=FLAG_MORE)
    r = frame.Reassembler()
    assert r.add(frame.decode(forged), 0.0) is None
    assert r.add(frame.decode(frames[1]), 0.0) is None
    assert r.counters["inconsistent"] == 1 and len(r) == 0  # the forged head is gone
    assert r.add(frame.decode(frames[2]), 0.0) is None
    assert r.add(real, 0.0).body == bytes(2500)            # the real one took its fragments


def test_one_fragment_completes_every_head_that_names_its_chain():
    frames = frame.split(bytes(2500))
    real = frame.decode(frames[0])
    twin = frame.encode(type=real.type, message=b"twin", next_id=real.next_id, index=0,
                        flags=FLAG_MORE)
    r = frame.Reassembler()
    assert r.offer(frame.decode(twin), 0.0) == [] and r.offer(real, 0.0) == []
    assert r.offer(frame.decode(frames[1]), 0.0) == []
    done = r.offer(frame.decode(frames[2]), 0.0)
    assert sorted(m.id for m in done) == sorted([real.packet_id, frame.packet_id(twin)])


def test_concurrent_messages_with_same_previous_id_do_not_clobber():
    a = frame.split(b"A" * 3000, bytes(32))
    b = frame.split(b"B" * 3000, bytes(32))
    items = decoded(a) + decoded(b)
    random.Random(3).shuffle(items)
    r = frame.Reassembler()
    bodies = sorted(m.body for f in items if (m := r.add(f, 0.0)))
    assert bodies == [b"A" * 3000, b"B" * 3000]


def test_bounds():
    with pytest.raises(CapacityError):
        frame.split(bytes(MESSAGE_BYTES * 5 + 1), max_fragments=5)
    with pytest.raises(ArgumentError):
        frame.split(b"x", flags=FLAG_MORE)
    # Buffered bytes never exceed the bound: orphans are evicted oldest first.
    r = frame.Reassembler(max_bytes=4 * MESSAGE_BYTES)
    for i in range(50):
        for f in decoded(frame.split(random.Random(i).randbytes(3 * MESSAGE_BYTES)))[1:]:
            r.add(f, float(i))
        assert r.bytes_buffered <= 4 * MESSAGE_BYTES
    assert r.counters["evicted"] > 0
    # Too many fragments for the receiver's bound: dropped, never buffered past it.
    r = frame.Reassembler(max_fragments=3)
    for f in decoded(frame.split(bytes(5 * MESSAGE_BYTES))):
        assert r.add(f, 0.0) is None
    assert r.counters["too_many"] == 1
    # Completed messages are remembered (a late copy of a fragment starts nothing) up to
    # done_ids (Config.completed_ids), oldest forgotten first.
    r = frame.Reassembler(done_ids=3)
    heads = []
    for i in range(5):
        frames = decoded(frame.split(random.Random(100 + i).randbytes(2 * MESSAGE_BYTES)))
        assert [m for f in frames if (m := r.add(f, 0.0))]
        heads.append(frames[0])
        assert len(r._done) == min(i + 1, 3)
    assert r.add(heads[-1], 1.0) is None  # remembered: a duplicate
    assert r.counters["duplicate"] == 1
    assert r.add(heads[0], 1.0) is not None  # forgotten: completes again (fragment still held)
    with pytest.raises(ArgumentError):
        frame.Reassembler(done_ids=0)


def test_incomplete_messages_expire():
    frames = decoded(frame.split(bytes(3000)))
    r = frame.Reassembler(timeout=30)
    r.add(frames[0], 0.0)
    assert r.expire(29.0) == 0
    assert r.expire(31.0) == 1
    assert len(r) == 0 and r.bytes_buffered == 0


def test_sealed_split_uses_smaller_chunks_and_links_sealed_bytes():
    def seal(d: bytes) -> bytes:  # a length-changing transform standing in for AEAD framing
        f = frame.decode(d)
        return frame.encode(type=f.type, message=b"N" * 24 + f.message + b"T" * 16,
                            previous_id=f.previous_id, next_id=f.next_id, index=f.index,
                            flags=f.flags | 2, clock=f.clock)
    frames = decoded(frame.split(bytes(3000), seal=seal))
    assert len(frames) == 4 and all(f.length <= MESSAGE_BYTES for f in frames)
    assert frames[0].next_id == frames[1].packet_id


def test_forged_head_cannot_take_a_real_message_away():
    real = decoded(frame.split(random.Random(7).randbytes(3000)))
    forged = frame.decode(frame.encode(type=5, message=b"forged head", next_id=real[1].packet_id,
                                       flags=1))
    r = frame.Reassembler()
    done = [m for f in [forged] + real[1:] + real[:1] if (m := r.add(f, 0.0))]
    bodies = [m.body for m in done]
    assert b"".join(f.message for f in real) in bodies  # the real message still completes


def test_heads_without_fragments_are_bounded_by_bytes():
    r = frame.Reassembler(max_bytes=64 * 1024)
    for i in range(2000):
        head = frame.encode(type=5, message=b"", next_id=i.to_bytes(32, "big"), flags=1)
        r.add(frame.decode(head), 0.0)
        assert r.bytes_buffered <= 64 * 1024
    assert len(r) <= 64 * 1024 // 256
