"""EnvelopeVerifier in C (srpfast/crypto/_envelope.pyx, csrc/seal.c srp_env_parse_memo) against
the Python class it replaced, kept here as the oracle: every envelope, genuine or tampered,
in order or not, must give the same result, the same counters and the same LRU of verified
batches. The walk memo only saves hashing; it never decides what verifies."""
from __future__ import annotations

import random
import struct
from collections import OrderedDict

import pytest

from srpfast import crypto
from srpfast.crypto import _seal
from srpfast.errors import ArgumentError, CryptoError

CTX = crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 7)


class Oracle:
    """srpfast.crypto.sealing.EnvelopeVerifier as it was in Python (session 14)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self.counters = {"ok": 0, "cached": 0, "malformed": 0, "forged": 0}

    def open(self, envelope: bytes, context: bytes) -> tuple[bytes, bytes]:
        parsed = _seal.parse_envelope(envelope, context)
        if parsed is None:
            self.counters["malformed"] += 1
            raise CryptoError("malformed author envelope")
        count, author, sig, root, offset = parsed
        key = author + sig + root + count.to_bytes(2, "big")
        cache = self._verified
        if key in cache:
            cache.move_to_end(key)
            self.counters["cached"] += 1
        else:
            if not _seal.verify_root(author, count, root, sig):
                self.counters["forged"] += 1
                raise CryptoError("author signature does not verify")
            cache[key] = None
            if len(cache) > self.capacity:
                cache.popitem(last=False)
        self.counters["ok"] += 1
        return author, bytes(envelope[offset:])


def outcome(v: object, env: bytes, ctx: bytes) -> object:
    try:
        return v.open(env, ctx)  # type: ignore[attr-defined]
    except CryptoError as e:
        return str(e)


def same(a: crypto.EnvelopeVerifier, b: Oracle, env: bytes, ctx: bytes = CTX) -> object:
    got, want = outcome(a, env, ctx), outcome(b, env, ctx)
    assert got == want
    assert a.counters == b.counters
    assert list(a._verified) == list(b._verified)
    return got


def tampered(rnd: random.Random, env: bytes, batches: list[list[bytes]]) -> bytes:
    """One of the changes a key holder could make to a genuine envelope."""
    count = struct.unpack_from(">H", env, 1)[0]
    depth = (count - 1).bit_length()
    what = rnd.randrange(7)
    if what == 0 and depth:                       # a path node, low or high in the tree
        i = 101 + rnd.randrange(32 * depth)
        return env[:i] + bytes([env[i] ^ 1 << rnd.randrange(8)]) + env[i + 1:]
    if what == 1:                                 # another index (a sibling's, often)
        index = struct.unpack_from(">H", env, 3)[0] ^ (1 << rnd.randrange(depth + 1))
        return env[:3] + struct.pack(">H", index) + env[5:]
    if what == 2:                                 # another batch's signature field
        return env[:37] + rnd.choice(batches)[0][37:101] + env[101:]
    if what == 3:                                 # another message's path, same batch
        other = rnd.choice(batches[[b[0][37:101] for b in batches].index(env[37:101])])
        return env[:101] + other[101:101 + 32 * depth] + env[101 + 32 * depth:]
    if what == 4:                                 # truncated
        return env[:rnd.randrange(len(env) + 1)]
    if what == 5:                                 # another author
        return env[:5] + crypto.create_identity(b"\x09" * 32).public_key + env[37:]
    i = rnd.randrange(len(env))                   # any byte
    return env[:i] + bytes([env[i] ^ 1 << rnd.randrange(8)]) + env[i + 1:]


@pytest.mark.parametrize("capacity", [1, 2, 4096])
@pytest.mark.parametrize("seed", range(4))
def test_same_results_counters_and_lru_as_the_python_class(capacity: int, seed: int) -> None:
    rnd = random.Random(seed)
    authors = [crypto.create_identity(bytes([k + 1]) * 32) for k in range(2)]
    batches = []
    for b in range(6):  # batches of 1 .. 256, two authors; two share their first payloads
        n = rnd.choice([1, 2, 3, 7, 8, 9, 40, 256])
        payloads = [b"%d-%d" % (b % 4, i) * rnd.randrange(1, 40) for i in range(n)]
        batches.append(crypto.make_envelopes(authors[b % 2], payloads, [CTX] * n))
    v, o = crypto.EnvelopeVerifier(capacity), Oracle(capacity)
    b, i = 0, -1
    for _ in range(1500):
        how = rnd.randrange(10)
        if how < 6:
            i += 1
            if i >= len(batches[b]):
                i = 0
        elif how == 6:
            b = rnd.randrange(len(batches))
            i = rnd.randrange(len(batches[b]))
        elif how == 7:
            i = rnd.randrange(len(batches[b]))
        env = batches[b][i]
        if rnd.randrange(3) == 0:
            env = tampered(rnd, env, batches)
        ctx = CTX if rnd.randrange(20) else crypto.header_context(b"C" * 16, b"T" * 32,
                                                                   b"P" * 32, 8)
        same(v, o, env, ctx)
    assert v.counters["ok"] > 0 and v.counters["forged"] > 0 and v.counters["malformed"] > 0


def test_a_warm_verifier_refuses_every_tampered_byte() -> None:
    """The batch's root is cached and the memo holds the neighbour's walk: still, any byte
    changed anywhere (index, author, signature, path, payload) is refused, as the Python class
    refused it, including a genuine payload whose path nodes above the join were changed."""
    author = crypto.create_identity()
    envs = crypto.make_envelopes(author, [b"m%d" % i for i in range(16)], [CTX] * 16)
    v, o = crypto.EnvelopeVerifier(), Oracle(4096)
    for k in (4, 5, 6):
        env = envs[k]
        for i in range(len(env)):
            same(v, o, envs[k - 1])  # warm: the neighbour's walk and the cached root
            assert isinstance(same(v, o, env[:i] + bytes([env[i] ^ 0x40]) + env[i + 1:]), str)
    assert v.counters["forged"] > 0 and v.counters["malformed"] > 0


def test_a_batch_in_order_costs_about_one_node_hash_a_message() -> None:
    author = crypto.create_identity()
    envs = crypto.make_envelopes(author, [b"x%d" % i for i in range(256)], [CTX] * 256)
    v = crypto.EnvelopeVerifier()
    for e in envs:
        assert v.open(e, CTX)[0] == author.public_key
    # 8 for the first message, then 1 + 1/2 + 1/4 ... (the levels below the join): < 2 each
    assert v.nodes_hashed < 2 * 256 < 8 * 256
    assert v.counters == {"ok": 256, "cached": 255, "malformed": 0, "forged": 0}


def test_buffers_and_caller_errors() -> None:
    author = crypto.create_identity()
    env = crypto.make_envelope(author, b"payload", CTX)
    v = crypto.EnvelopeVerifier()
    buf = bytearray(b"\x00" * 10 + env + b"\xff" * 10)
    got = v.open(memoryview(buf)[10:10 + len(env)], memoryview(CTX))
    assert got == (author.public_key, b"payload") and type(got[1]) is bytes
    buf[-11] ^= 1  # the payload returned is a copy: the buffer may be reused
    assert got[1] == b"payload"
    assert v.open(bytearray(env), CTX) == got
    with pytest.raises(ArgumentError):
        v.open(env, CTX[:-1])
    with pytest.raises(TypeError):
        v.open("text", CTX)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError):
        crypto.EnvelopeVerifier(0)
    assert v.counters == {"ok": 2, "cached": 1, "malformed": 0, "forged": 0}
    assert len(v) == 1 and v.capacity == 4096


def test_open_envelope_uses_the_verifier_passed_even_while_it_is_empty() -> None:
    """An empty verifier is falsy (len 0): ``verifier or EnvelopeVerifier(1)`` used to drop it,
    so a verifier passed to open_envelope never remembered anything."""
    author = crypto.create_identity()
    envs = crypto.make_envelopes(author, [b"a", b"b"], [CTX] * 2)
    v = crypto.EnvelopeVerifier()
    assert crypto.open_envelope(envs[0], CTX, v) == (author.public_key, b"a")
    assert crypto.open_envelope(envs[1], CTX, v) == (author.public_key, b"b")
    assert len(v) == 1 and v.counters["cached"] == 1
