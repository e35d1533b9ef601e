"""Frame codec (SPEC 2): round trips, fixed vectors, every malformed rule alone, batch API."""
import array
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.wire import frame
from srpfast.wire.constants import PACKET_BYTES
from srpfast.errors import ArgumentError, MalformedPacket


def reference_id(d: bytes) -> bytes:
    length = int.from_bytes(d[14:16], "big")
    return hashlib.sha256(d[70:102] + d[134:134 + length] + d[102:134]).digest()


fields = st.fixed_dictionaries({
    "type": st.integers(1, 9),
    "message": st.binary(max_size=1024),
    "previous_id": st.binary(min_size=32, max_size=32),
    "next_id": st.binary(min_size=32, max_size=32),
    "clock": st.integers(0, 2**32 - 1),
    "index": st.integers(0, 2**16 - 1),
    "hops": st.integers(0, 255),
    "flags": st.integers(0, 3),
    "ttl": st.integers(0, 2**32 - 1),
    "postage": st.integers(0, 255),
    "cluster": st.binary(min_size=16, max_size=16),
    "to": st.binary(min_size=32, max_size=32),
})


@given(fields)
@settings(max_examples=300)
def test_round_trip_every_field(kw):
    d = frame.encode(**kw)
    assert len(d) == PACKET_BYTES
    f = frame.decode(d)
    for name, value in kw.items():
        assert getattr(f, name) == value, name
    assert f.length == len(kw["message"])
    assert f.version == 1
    assert f.packet_id == reference_id(d) == frame.packet_id(d)
    assert f.raw == d


def test_fixed_vector_layout_by_offset():
    d = frame.encode(type=6, message=b"abc", previous_id=b"\x11" * 32, next_id=b"\x22" * 32,
                     clock=0x01020304, index=0x0506, hops=7, flags=3, ttl=0x0A0B0C0D,
                     postage=0x0E, cluster=b"\x33" * 16, to=b"\x44" * 32)
    expected = (b"SRP\x00" + bytes([6, 1, 7, 3]) + bytes.fromhex("01020304") + bytes.fromhex("0506")
                + bytes.fromhex("0003") + bytes.fromhex("0A0B0C0D") + bytes([0x0E, 0])
                + b"\x33" * 16 + b"\x44" * 32 + b"\x11" * 32 + b"\x22" * 32 + b"abc" + bytes(1021))
    assert d == expected
    assert frame.packet_id(d).hex() == hashlib.sha256(b"\x11" * 32 + b"abc" + b"\x22" * 32).hexdigest()


# Committed vectors: SHA-256 of the whole datagram (pins every byte) and its packetId.
COMMITTED = [
    (dict(type=5, message=b"hello, world", clock=1),
     "48bbec84b7593dcddcb0625453fbcdd260a9a9238c399ee1af149430682a3f0b",
     "da696cf872930491d2ac7c1e14396e3abaac4f5325f90db10670ff284b35a0fa"),
    (dict(type=1, message=b"", previous_id=bytes(range(32)), next_id=bytes(range(32, 64)), hops=3,
          flags=1, index=2, ttl=60, postage=2, cluster=b"C" * 16, to=b"T" * 32),
     "cb942e673b3c0b80357a2c3591270e5c3f73490f986dc8dc6bd5383eed7addb6",
     "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"),
    (dict(type=6, message=bytes(range(256)) * 4, clock=0xFFFFFFFF, flags=2),
     "15c9c7b17a9c798f90ef9c1903aa63dc84b60ec44410234e1a5d0d39cb857495",
     "e3bef5f1a48772b4f8e43370c1b53e4d759b7c7847b36c317fbf7a9d795f045f"),
]


@pytest.mark.parametrize("kw,datagram_sha,pid", COMMITTED)
def test_committed_vectors(kw, datagram_sha, pid):
    d = frame.encode(**kw)
    assert hashlib.sha256(d).hexdigest() == datagram_sha
    assert frame.packet_id(d).hex() == pid == reference_id(d).hex()


def base() -> bytearray:
    return bytearray(frame.encode(type=5, message=b"xyz"))


@pytest.mark.parametrize("mutate,reason", [
    (lambda d: d[:-1], "size"),
    (lambda d: d + b"\x00", "size"),
    (lambda d: b"", "size"),
    (lambda d: b"SRQ\x00" + d[4:], "magic"),
    (lambda d: d[:4] + b"\x00" + d[5:], "type"),
    (lambda d: d[:4] + b"\x0a" + d[5:], "type"),
    (lambda d: d[:5] + b"\x02" + d[6:], "version"),
    (lambda d: d[:7] + b"\x04" + d[8:], "flags"),
    (lambda d: d[:7] + b"\x80" + d[8:], "flags"),
    (lambda d: d[:14] + (1025).to_bytes(2, "big") + d[16:], "length"),
    (lambda d: d[:-1] + b"\x01", "padding"),
    (lambda d: d[:137] + b"\x01" + d[138:], "padding"),
])
def test_each_malformed_rule_alone(mutate, reason):
    d = bytes(mutate(base()))
    assert frame.validate(d) == reason
    with pytest.raises(MalformedPacket) as err:
        frame.decode(d)
    assert err.value.reason == reason
    assert isinstance(err.value, ValueError)
    with pytest.raises(MalformedPacket):
        frame.packet_id(d)


def test_reserved_byte_ignored_on_receive():
    d = base()
    d[21] = 0xFF
    assert frame.decode(bytes(d)).packet_id == frame.packet_id(frame.encode(type=5, message=b"xyz"))


@given(st.binary(max_size=2000))
@settings(max_examples=500)
def test_garbage_raises_only_malformed(data):
    try:
        frame.decode(data)
    except MalformedPacket:
        pass


@given(st.binary(min_size=PACKET_BYTES - 4, max_size=PACKET_BYTES - 4))
@settings(max_examples=300)
def test_garbage_with_magic_raises_only_malformed(tail):
    try:
        f = frame.decode(b"SRP\x00" + tail)
    except MalformedPacket:
        return
    assert f.packet_id == reference_id(b"SRP\x00" + tail)


@pytest.mark.parametrize("kw", [
    {"type": 0}, {"type": 10}, {"type": 5, "message": bytes(1025)}, {"type": 5, "flags": 4},
    {"type": 5, "hops": 256}, {"type": 5, "clock": -1}, {"type": 5, "index": 65536},
    {"type": 5, "previous_id": b"short"}, {"type": 5, "cluster": bytes(32)},
])
def test_encode_rejects_bad_arguments(kw):
    with pytest.raises(ArgumentError):
        frame.encode(**kw)


def test_batch_check_matches_single_calls():
    good = [frame.encode(type=5, message=os.urandom(i * 37 % 1024)) for i in range(20)]
    bad = bytearray(good[3])
    bad[0] = 0
    items = good[:3] + [bytes(bad)] + good[4:]
    checker = frame.BatchChecker(32)
    buf = b"".join(items)
    valid = checker.check(buf, len(items))
    assert valid == len(items) - 1
    for i, d in enumerate(items):
        name = frame.VERDICT_NAMES[checker.verdicts[i]]
        assert name == frame.validate(d)
        if name == "ok":
            assert bytes(checker.ids[32 * i:32 * i + 32]) == frame.packet_id(d)
    assert checker.counters()["magic"] == 1 and checker.counters()["ok"] == 19


def test_batch_check_with_received_lengths_and_stride():
    stride = 1160  # a receive slot one byte larger than a frame
    d = frame.encode(type=1, message=b"p")
    buf = bytearray(stride * 3)
    for i in range(3):
        buf[i * stride:i * stride + PACKET_BYTES] = d
    lens = array.array("I", [PACKET_BYTES, 100, PACKET_BYTES + 2])
    checker = frame.BatchChecker(3)
    assert checker.check(buf, 3, lens, stride) == 1
    assert [frame.VERDICT_NAMES[v] for v in checker.verdicts] == ["ok", "size", "size"]


def test_batch_checker_rejects_oversized_count():
    with pytest.raises(ArgumentError):
        frame.BatchChecker(2).check(bytes(PACKET_BYTES * 3), 3)


def test_encode_many_into_callers_buffer():
    msgs = [b"a", b"bb" * 300, b""]
    out = bytearray(PACKET_BYTES * 3)
    assert frame.encode_many(out, msgs, type=5, clock=9) == 3
    for i, m in enumerate(msgs):
        f = frame.decode(bytes(out[i * PACKET_BYTES:(i + 1) * PACKET_BYTES]))
        assert f.message == m and f.clock == 9
    with pytest.raises(ArgumentError):
        frame.encode_many(bytearray(10), msgs, type=5)


def test_batch_checker_refuses_strides_that_could_overflow_size_checks():
    with pytest.raises(ArgumentError):
        frame.BatchChecker(8).check(bytes(PACKET_BYTES), 5, stride=2**62)


def test_decode_takes_a_packet_id_a_c_path_already_computed():
    from srpfast.wire.frame import decode, encode, packet_id
    d = encode(type=5, message=b"known id")
    pid = packet_id(d)
    f = decode(d, pid)
    assert f.packet_id == pid and decode(d).packet_id == pid
    with pytest.raises(ValueError):
        decode(d, b"short")
