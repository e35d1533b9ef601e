"""srpfast._sha256 against hashlib and the FIPS 180-4 example vectors, both implementations."""
import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast import _sha256 as s


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
