"""srpfast.crypto._sha256 against hashlib and the FIPS 180-4 example vectors, both implementations."""
import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.crypto import _sha256 as s
@pytest.fixture(params=["auto", "portable"])
def impl(request):
    s.force_portable(request.param == "portable")
    try:
        yield s.impl()
    finally:
        s.force_portable(False)


def ref(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_impl_names():
    try:
        assert s.impl() in ("sha-ni", "portable")
        s.force_portable(True)
        assert s.impl() == "portable"
    finally:
        s.force_portable(False)
    assert s.impl() in ("sha-ni", "portable")


def test_lengths_0_to_300(impl):
    rnd = random.Random(1)
    for n in range(301):
        data = bytes(rnd.getrandbits(8) for _ in range(n))
        assert s.sha256(data) == ref(data), n


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=5000), portable=st.booleans())
def test_random_lengths(data, portable):
    s.force_portable(portable)
    try:
        assert s.sha256(data) == ref(data)
        assert s.sha256(bytearray(data)) == ref(data)
        assert s.sha256(memoryview(data)) == ref(data)
    finally:
        s.force_portable(False)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=1500),
    cuts=st.tuples(st.integers(0, 1500), st.integers(0, 1500)),
    portable=st.booleans(),
)
def test_sha256_3_random_splits(data, cuts, portable):
    i, j = sorted(min(c, len(data)) for c in cuts)
    s.force_portable(portable)
    try:
        assert s.sha256_3(data[:i], data[i:j], data[j:]) == ref(data)
    finally:
        s.force_portable(False)


def test_sha256_3_boundaries(impl):
    data = bytes(range(256)) * 3
    for total in (0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200, 700):
        d = data[:total]
        for i in range(0, total + 1, 7 if total > 70 else 1):
            for j in range(i, total + 1, 5 if total > 70 else 1):
                assert s.sha256_3(d[:i], d[i:j], d[j:]) == ref(d), (total, i, j)
    assert s.sha256_3(b"", b"", b"") == ref(b"")


FIPS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ),
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


@pytest.mark.parametrize("msg,hexdigest", FIPS, ids=["abc", "448bit", "896bit", "empty", "1M-a"])
def test_fips_vectors(impl, msg, hexdigest):
    assert s.sha256(msg).hex() == hexdigest
    third = len(msg) // 3
    assert s.sha256_3(msg[:third], msg[third : 2 * third], msg[2 * third :]).hex() == hexdigest


def test_hash_loop(impl):
    buf = bytes(range(256)) * 20
    s.hash_loop(buf, 1088, 4)
    s.hash_loop(buf, 0, 10)
    s.hash_loop(b"", 0, 0)
    with pytest.raises(ValueError):
        s.hash_loop(buf, 1088, 5)
    with pytest.raises(ValueError):
        s.hash_loop(buf, -1, 1)


def test_rejects_non_buffer():
    with pytest.raises(TypeError):
        s.sha256("text")
    with pytest.raises(TypeError):
        s.sha256(None)


# ---------------------------------------------------------------- two streams (sha256_3_x2)

EDGES = (0, 1, 31, 32, 33, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1088, 1089)


def split3(data: bytes, rnd: random.Random) -> tuple[bytes, bytes, bytes]:
    i, j = sorted(rnd.randint(0, len(data)) for _ in range(2))
    return data[:i], data[i:j], data[j:]


def check_x2(m0: bytes, m1: bytes, rnd: random.Random) -> None:
    parts0, parts1 = split3(m0, rnd), split3(m1, rnd)
    d0, d1 = s.sha256_3_x2(*parts0, *parts1)
    assert (d0, d1) == (ref(m0), ref(m1)), (len(m0), len(m1), [len(p) for p in parts0 + parts1])


def test_x2_edge_length_pairs(impl):
    """Every pair of lengths around the padding and block boundaries, equal and unequal,
    so the interleaved loop ends on either stream and the tail/padding blocks differ."""
    rnd = random.Random(2)
    pool = bytes(rnd.getrandbits(8) for _ in range(2 * max(EDGES)))
    for n0 in EDGES:
        for n1 in EDGES:
            check_x2(pool[:n0], pool[len(pool) - n1:], rnd)


def test_x2_frame_shaped_parts(impl):
    """packetId layout: 32-byte previous ‖ message ‖ 32-byte next, every message length
    around the boundaries, paired with full and empty messages."""
    rnd = random.Random(3)
    prev, nxt = bytes(range(32)), bytes(range(100, 132))
    msg = bytes(rnd.getrandbits(8) for _ in range(1024))
    for n in (*range(0, 140), 500, 959, 960, 961, 1000, 1023, 1024):
        for other in (0, n, 1024):
            d0, d1 = s.sha256_3_x2(prev, msg[:n], nxt, nxt, msg[:other], prev)
            assert d0 == ref(prev + msg[:n] + nxt), (n, other)
            assert d1 == ref(nxt + msg[:other] + prev), (n, other)


def test_x2_empty_parts(impl):
    assert s.sha256_3_x2(b"", b"", b"", b"", b"", b"") == (ref(b""), ref(b""))
    data = bytes(range(200))
    for n in (55, 56, 64, 120, 200):
        d = data[:n]
        assert s.sha256_3_x2(d, b"", b"", b"", b"", d) == (ref(d), ref(d))
        assert s.sha256_3_x2(b"", d, b"", b"", b"", b"") == (ref(d), ref(b""))


@settings(max_examples=300, deadline=None)
@given(
    m0=st.binary(max_size=1500),
    m1=st.binary(max_size=1500),
    seed=st.integers(0, 2**32 - 1),
    portable=st.booleans(),
)
def test_x2_random(m0, m1, seed, portable):
    s.force_portable(portable)
    try:
        check_x2(m0, m1, random.Random(seed))
        check_x2(m0, m0, random.Random(seed + 1))  # equal lengths: fully interleaved
    finally:
        s.force_portable(False)


def test_x2_fips_vectors(impl):
    msgs = [m for m, _ in FIPS[:4]]
    for m0 in msgs:
        for m1 in msgs:
            assert s.sha256_3_x2(m0, b"", b"", b"", m1, b"") == (ref(m0), ref(m1))


def test_hash_loop_x2(impl):
    buf = bytes(range(256)) * 20
    s.hash_loop_x2(buf, 1088, 4)
    s.hash_loop_x2(buf, 1000, 5)  # odd count: last one alone
    s.hash_loop_x2(buf, 0, 10)
    s.hash_loop_x2(b"", 0, 0)
    with pytest.raises(ValueError):
        s.hash_loop_x2(buf, 1088, 5)
    with pytest.raises(ValueError):
        s.hash_loop_x2(buf, 1, -1)


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.tuples(st.integers(0, 1024), st.booleans()), min_size=0, max_size=12),
    portable=st.booleans(),
)
def test_x2_in_frame_batch_ids(items, portable):
    """The batch packetId path pairs valid frames for sha256_3_x2 across invalid ones (and
    hashes an odd one alone): every id must still equal hashlib's (SPEC 2 packetId)."""
    from srpfast.wire import frame
    rnd = random.Random(len(items))
    datagrams = []
    for n, ok in items:
        d = bytearray(frame.encode(type=6, message=rnd.randbytes(n),
                                   previous_id=rnd.randbytes(32), next_id=rnd.randbytes(32)))
        if not ok:
            d[0] = 0  # bad magic
        datagrams.append(bytes(d))
    checker = frame.BatchChecker(max(1, len(items)))
    s.force_portable(portable)
    try:
        valid = checker.check(b"".join(datagrams), len(datagrams))
    finally:
        s.force_portable(False)
    assert valid == sum(ok for _, ok in items)
    for i, d in enumerate(datagrams):
        pid = bytes(checker.ids[32 * i:32 * i + 32])
        if items[i][1]:
            n = items[i][0]
            assert pid == ref(d[70:102] + d[134:134 + n] + d[102:134]), i
        else:
            assert pid == bytes(32)


@settings(max_examples=200, deadline=None)
@given(prefix=st.integers(0, 255), a=st.binary(min_size=32, max_size=32),
       b=st.binary(min_size=32, max_size=32), portable=st.booleans())
def test_node_is_the_digest_of_its_65_bytes(prefix, a, b, portable):
    s.force_portable(portable)
    try:
        assert s.sha256_node(prefix, a, b) == ref(bytes([prefix]) + a + b)
        assert s.sha256_node(prefix, a, b) == s.sha256_3(bytes([prefix]), a, b)
    finally:
        s.force_portable(False)
    with pytest.raises(ValueError):
        s.sha256_node(prefix, a[:31], b)
    with pytest.raises(ValueError):
        s.sha256_node(256, a, b)


def test_hmac_from_midstates_matches_the_hmac_module(impl):
    """HMAC-SHA256 resumed from the key blocks' midstates (csrc/chain.c's synthetic nonces):
    every message length across the padding edges, one at a time and two interleaved, with
    lengths that differ (the longer one's tail runs alone)."""
    import hmac as std_hmac
    rnd = random.Random(3)
    key = bytes(rnd.getrandbits(8) for _ in range(32))
    data = bytes(rnd.getrandbits(8) for _ in range(1300))

    def ref_mac(m: bytes) -> bytes:
        return std_hmac.new(key, m, hashlib.sha256).digest()
    for n in list(range(0, 200)) + [1024, 1158, 1299]:
        m, other = data[:n], data[n:n + rnd.randrange(1300 - n + 1)]
        assert s.hmac(key, m) == ref_mac(m), n
        assert s.hmac_x2(key, m, other) == (ref_mac(m), ref_mac(other)), n
        assert s.hmac_x2(key, other, m) == (ref_mac(other), ref_mac(m)), n
