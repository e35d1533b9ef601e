"""Micro-benchmarks as a pytest-benchmark suite, for run-to-run comparison:

    .venv/bin/python -m pytest bench/ --benchmark-save=before
    .venv/bin/python -m pytest bench/ --benchmark-compare

Not collected by `make test` (which runs `pytest tests`). Each benchmark handles one batch;
``extra_info["items"]`` says how many items a call is, so items/s = items / mean. The table
with limits and peers is bench/run.py; this suite is for spotting regressions.
"""
from __future__ import annotations

import hashlib
import os

import pytest

from bench.bench_cache import CAP, frame as cache_frame, pid
from srpfast import crypto
from srpfast.crypto import _seal
from srpfast.wire import frame
from srpfast.dataplane.cache import Cache

BATCH = 64
PACKET = 1158


@pytest.fixture(scope="module")
def frames() -> bytes:
    msgs = [os.urandom(1024) for _ in range(BATCH)]
    return b"".join(frame.encode(type=5, message=m, clock=i) for i, m in enumerate(msgs))


def test_frame_decode_batch(benchmark, frames: bytes) -> None:
    checker = frame.BatchChecker(BATCH)
    benchmark.extra_info["items"] = BATCH
    assert benchmark(checker.check, frames, BATCH) == BATCH


def test_frame_encode_many(benchmark) -> None:
    msgs = [os.urandom(1024) for _ in range(BATCH)]
    out = bytearray(PACKET * BATCH)
    benchmark.extra_info["items"] = BATCH
    assert benchmark(frame.encode_many, out, msgs, type=5) == BATCH


def test_cache_insert_at_capacity(benchmark) -> None:
    """Two disjoint sets larger than the cache, alternated: every insert is new and evicts."""
    cache = Cache(CAP, source_share=1.0)
    n = cache.capacity_entries + 1
    sets = []
    for s in range(2):
        fs = [cache_frame(s * 10**6 + i) for i in range(n)]
        sets.append((b"".join(fs), b"".join(pid(f) for f in fs)))
    turn = [0]

    def insert() -> None:
        buf, ids = sets[turn[0] & 1]
        turn[0] += 1
        cache._insert_ids_batch(buf, ids, n, "src", 0.0)
    benchmark.extra_info["items"] = n
    benchmark.pedantic(insert, rounds=6, iterations=1, warmup_rounds=1)


def test_cache_contains_batch(benchmark) -> None:
    cache = Cache(4 * 2**20, source_share=1.0)
    fs = [cache_frame(i) for i in range(2048)]
    cache._insert_ids_batch(b"".join(fs), b"".join(pid(f) for f in fs), len(fs), "src", 0.0)
    probe = b"".join(pid(f) for f in fs[:1024]) + b"".join(
        hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(1024))
    out = bytearray(2048)
    benchmark.extra_info["items"] = 2048
    assert benchmark(cache.contains_batch, probe, out) == 1024


@pytest.fixture(scope="module")
def sealing() -> tuple[bytes, bytearray]:
    key = crypto.publish_key(crypto.create_shared_key(b"bench"))
    from bench.bench_crypto import PLAIN, _frame
    template = bytearray(b"".join(_frame(os.urandom(PLAIN), i) for i in range(256)))
    return key, template


def test_seal_batch(benchmark, sealing) -> None:
    key, template = sealing
    buf = bytearray(template)

    def seal() -> bytes:
        buf[:] = template
        return _seal.seal_batch(key, buf, 256)
    benchmark.extra_info["items"] = 256
    assert set(benchmark(seal)) == {0}


def test_open_batch(benchmark, sealing) -> None:
    key, template = sealing
    sealed = bytearray(template)
    _seal.seal_batch(key, sealed, 256)
    buf = bytearray(sealed)

    def open_() -> bytes:
        buf[:] = sealed
        return _seal.open_batch(key, buf, 256)
    benchmark.extra_info["items"] = 256
    assert set(benchmark(open_)) == {0}


def test_publish_chains_1k(benchmark) -> None:
    """What emit_many of 256 1 KB values costs its publisher before the socket: the author
    envelopes (one signature) and the sealed fragment chains (two frames each, csrc/chain.c)."""
    from srpfast.control.nonces import nonce_key
    from srpfast.crypto.sealing import make_envelopes
    from srpfast.wire import constants as C
    key = crypto.publish_key(crypto.create_shared_key(b"bench"))
    author = crypto.create_identity(b"\x01" * 32)
    tag, sub, prev = b"C" * 16, b"T" * 32, b"P" * 32
    values = [os.urandom(1027) for _ in range(256)]  # a 1 KB value's encoded event
    clocks = list(range(1, 257))
    contexts = [tag + sub + prev + c.to_bytes(4, "big") for c in clocks]
    nk = nonce_key(key)

    def publish() -> int:
        envs = make_envelopes(author, values, contexts)
        buf, ids, counts = _seal.seal_chains(key, nk, C.PUBLISH, tag, sub, prev, clocks,
                                             60, 0, envs, 16)
        return len(counts)
    benchmark.extra_info["items"] = 256
    assert benchmark(publish) == 256


def test_deliver_chains_1k(benchmark) -> None:
    """What a subscriber's C path costs per 1 KB value (two fragments): DataPlane.process on
    batches of 64 frames of 256 emit_many values, each round on a fresh member's data plane:
    validate, packetIds, cache, open both fragments, assemble, verify the envelope (the
    leaves of two messages hashed together, csrc/deliver_chains.c)."""
    import random

    from srpfast.config import Config
    from srpfast.control.engine import Peer
    from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
    from srpfast.dataplane._dataplane import DataPlane
    from srpfast.wire import constants as C
    cluster, key = create_cluster_id(b"bench deliver"), create_shared_key(b"bench deliver")
    pub = Peer(create_identity(b"\x01" * 32), Config(), now=0.0, rng=random.Random(1))
    sid = pub.join(cluster, key, now=0.0)
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)  # a next hop to hand frames to
    pub.datagrams_to_send()
    pub.publish_many(sid, [os.urandom(1027) for _ in range(256)], now=0.0)
    frames = [d for d, _ in pub.datagrams_to_send() if d[4] == C.PUBLISH]
    assert len(frames) == 512
    batches = [b"".join(frames[i:i + 64]) for i in range(0, 512, 64)]

    def member() -> tuple[tuple[DataPlane], dict]:
        m = Peer(create_identity(b"\x55" * 32), Config(), now=0.0)
        m.join(cluster, key, now=0.0)
        sub = m.membership.subs[sid]
        dp = DataPlane(m.cache, max_batch=64)
        dp.set_membership([sub.tag], [sid])
        dp.set_keys([sid], [sub.tag], [sub.key])
        return (dp,), {}

    def deliver(dp: DataPlane) -> int:
        n = 0
        for b in batches:
            dp.process(b, 64, now=1.0)
            n += len(dp.messages()[2])
        return n
    benchmark.extra_info["items"] = 256
    assert benchmark.pedantic(deliver, setup=member, rounds=30, warmup_rounds=1) == 256
