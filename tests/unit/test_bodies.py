"""Control bodies (SPEC 3): round trips for every type, IPv4 and IPv6, bounds, garbage."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.wire import bodies as b
from srpfast.errors import ArgumentError, MalformedPacket

ID = st.binary(min_size=32, max_size=32)
U64 = st.integers(0, 2**64 - 1)
NAT = st.sampled_from([m | (f << 4) for m in range(4) for f in range(4)])
ADDR = st.one_of(
    st.none(),
    st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
    st.tuples(st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str),
              st.integers(0, 65535)),
)
SIG = st.binary(min_size=64, max_size=64)

STRATEGIES = {
    b.Ping: st.builds(b.Ping, ID, U64, U64, NAT, st.integers(0, b.PING_FLAGS),
                      st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                      st.binary(min_size=8, max_size=8), st.integers(0, b.PING_RTT_MAX_US), SIG),
    b.Pong: st.builds(b.Pong, ID, U64, U64, ID, ADDR, NAT, st.integers(0, b.PONG_FLAGS),
                      st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                      st.binary(min_size=8, max_size=8), U64, st.integers(0, b.PONG_HOLD_MAX_US),
                      SIG),
    b.Intro: st.builds(b.Intro, ID, ID, ADDR.filter(lambda a: a is not None), NAT, U64, ID, ID,
                       U64, st.binary(min_size=b.PROOF_BYTES, max_size=b.PROOF_BYTES), SIG),
    b.Join: st.builds(b.Join, ID, ID, ID, ADDR, NAT, U64, U64, st.integers(0, 2), SIG),
    b.Query: st.builds(b.Query, U64, ID.filter(any), st.integers(0, 1)),
}


@pytest.mark.parametrize("cls", list(STRATEGIES))
def test_round_trip(cls):
    @given(STRATEGIES[cls])
    @settings(max_examples=150)
    def check(body):
        raw = body.encode()
        assert len(raw) == cls.size() <= 1024
        assert b.decode_body(cls.TYPE, raw) == body
    check()


@given(st.integers(0, 2), st.integers(0, 16), st.binary(min_size=8, max_size=8),
       st.lists(ID, max_size=b.SYNC_MAX_IDS), st.lists(st.integers(0, 2**32 - 1), min_size=16,
                                                       max_size=16))
def test_sync_round_trip(kind, depth, prefix, ids, counts):
    if kind == 0:
        body = b.Sync(1, b.SYNC_SUMMARY, depth, prefix, 16,
                      buckets=tuple((c, os.urandom(8)) for c in counts))
    else:
        body = b.Sync(2, b.SYNC_IDS if kind == 1 else b.SYNC_WANT, depth, prefix, len(ids),
                      ids=tuple(ids))
    assert b.decode_body(b.SYNC, body.encode()) == body


def test_ping_rtt_over_the_bound_is_malformed():
    """A PING's reported round trip (peers.py, "Distance") over 60 s is no path: malformed,
    which the engine counts as drop.body."""
    ok = b.Ping(os.urandom(32), 1, 2, rtt_us=b.PING_RTT_MAX_US)
    assert b.decode_body(b.PING, ok.encode()) == ok
    for bad in (b.PING_RTT_MAX_US + 1, 2**32 - 1):
        with pytest.raises(MalformedPacket):
            b.decode_body(b.PING, b.Ping(os.urandom(32), 1, 2, rtt_us=bad).encode())


def test_pong_hold_over_the_bound_is_malformed():
    """A PONG's hold (handshake.py, "Round trips") over 60 s: malformed, as PING rtt_us."""
    def pong(hold: int) -> b.Pong:
        return b.Pong(os.urandom(32), 1, 2, os.urandom(32), ("198.18.0.1", 7), hold_us=hold)
    ok = pong(b.PONG_HOLD_MAX_US)
    assert b.decode_body(b.PONG, ok.encode()) == ok
    for bad in (b.PONG_HOLD_MAX_US + 1, 2**32 - 1):
        with pytest.raises(MalformedPacket):
            b.decode_body(b.PONG, pong(bad).encode())


def test_ipv6_and_mapped_addresses():
    assert b.unpack_address(b.pack_address(("::1", 5))) == ("::1", 5)
    assert b.unpack_address(b.pack_address(("::ffff:198.18.0.1", 7))) == ("198.18.0.1", 7)
    assert b.unpack_address(b.pack_address(None)) is None


@pytest.mark.parametrize("raw", [
    b"\x05" + bytes(18),                       # unknown family
    b"\x04" + bytes(4) + b"\x01" + bytes(13),  # IPv4 with a non-zero tail
    b"\x00" + bytes(17) + b"\x01",             # "none" with a port
])
def test_bad_addresses(raw):
    with pytest.raises(MalformedPacket):
        b.unpack_address(raw)


def test_range_checks():
    ping = b.Ping(os.urandom(32), 1, 2).encode()
    bad_nat = ping[:48] + b"\x44" + ping[49:]
    bad_flags = ping[:49] + b"\x80" + ping[50:]
    for raw in (bad_nat, bad_flags, ping[:-1], ping + b"\x00"):
        with pytest.raises(MalformedPacket) as err:
            b.decode_body(b.PING, raw)
        assert err.value.reason == "body"
    with pytest.raises(MalformedPacket):
        b.decode_body(b.QUERY, b.Query(1, bytes(32)).encode())
    with pytest.raises(MalformedPacket):
        b.decode_body(9, b"")  # ANSWER has no body of its own
    with pytest.raises(ArgumentError):
        b.Ping(b"short", 1, 2).encode()
    with pytest.raises(ArgumentError):
        b.pack_address(("127.0.0.1", 70000))


@given(st.sampled_from([1, 2, 3, 4, 7, 8, 9]), st.binary(max_size=1024))
@settings(max_examples=600)
def test_garbage_raises_only_malformed(type_, raw):
    try:
        b.decode_body(type_, raw)
    except MalformedPacket:
        pass


def test_signed_bytes_bind_type_and_cluster():
    body = b.Ping(os.urandom(32), 1, 2)
    assert body.unsigned() == body.encode()[:-64]
    assert b.signed_bytes(1, b"a" * 16, body.unsigned()) != b.signed_bytes(2, b"a" * 16,
                                                                          body.unsigned())
    assert b.signed_bytes(1, b"a" * 16, body.unsigned()) != b.signed_bytes(1, b"b" * 16,
                                                                          body.unsigned())
