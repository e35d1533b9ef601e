"""The delivered-id set (control/delivered.py): the C IdSet (csrc/idset.c) keeps exactly the
FifoSet rules of its Python reference, through one id at a time, batches (add_fresh), evictions
and the delivery path's add_ready (a batch is remembered only when none of it must wait for an
undelivered predecessor, SPEC 6, and none was delivered before)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from srpfast.control.delivered import PyDeliveredIds, delivered_ids
from srpfast.dataplane._idset import IdSet
from srpfast.errors import ArgumentError, ArgumentTypeError
from srpfast.wire.constants import ZERO32


def _id(k: int) -> bytes:
    return k.to_bytes(32, "big")


def test_delivered_ids_is_the_c_set_when_built() -> None:
    assert isinstance(delivered_ids(8), IdSet)


@pytest.mark.parametrize("make", [IdSet, PyDeliveredIds])
def test_add_ready_takes_a_batch_whose_predecessors_are_delivered_or_earlier_in_it(make) -> None:
    s = make(16)
    a, b, c, d = (_id(k) for k in (1, 2, 3, 4))
    assert s.add_ready([a, b], [ZERO32, ZERO32], True)
    # c names b (delivered), d names c (earlier in the same batch): ready
    assert s.add_ready([c, d], [b, c], True) and all(x in s for x in (a, b, c, d))
    e, f, missing = _id(5), _id(6), _id(99)
    # f names a message that is neither delivered nor earlier in the batch: it must wait, so
    # nothing of the batch is remembered (the caller takes the per-message path)
    assert not s.add_ready([e, f], [d, missing], True) and e not in s and f not in s
    # ...and with ordering off (order_wait 0, or the held table full) nothing waits
    assert s.add_ready([e, f], [d, missing], False) and e in s and f in s
    # a predecessor later in the batch does not count: f2 would go out before its predecessor
    g, h = _id(7), _id(8)
    assert not s.add_ready([h, g], [g, ZERO32], True) and len(s) == 6
    # one delivered before, or a repeat inside the batch: nothing added
    assert not s.add_ready([g, a], [ZERO32, ZERO32], True) and g not in s
    assert not s.add_ready([g, g], [ZERO32, ZERO32], True) and g not in s
    # a chain of single messages (emit() calls): each names the one before it
    chain = [_id(k) for k in range(20, 30)]
    assert s.add_ready(chain, [a] + chain[:-1], True) and all(x in s for x in chain)
    with pytest.raises(ArgumentError):
        s.add_ready([g], [], True)


def test_bad_ids_are_typed_errors() -> None:
    s = IdSet(4)
    with pytest.raises(ArgumentError):
        s.add(b"short")
    with pytest.raises(ArgumentTypeError):
        s.add_fresh(["not bytes"])  # type: ignore[list-item]
    assert b"short" not in s and 5 not in s and len(s) == 0
    assert s.add(bytearray(_id(1))) and _id(1) in s and memoryview(_id(1)) in s


@settings(max_examples=60, deadline=None)
@given(cap=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_c_set_matches_the_python_reference(cap: int, seed: int) -> None:
    rng = random.Random(seed)
    c, py = IdSet(cap), PyDeliveredIds(cap)
    pool = [_id(k) for k in range(2 * cap + 8)] + [ZERO32]
    for _ in range(400):
        op = rng.random()
        if op < 0.35:
            k = rng.choice(pool)
            assert c.add(k) == py.add(k)
        elif op < 0.55:
            ks = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
            if rng.random() < 0.5:  # distinct, longer than the C set's prefetch distance (8)
                ks = rng.sample(pool, min(len(pool), rng.randint(0, 20)))
            assert c.add_fresh(ks) == py.add_fresh(ks)
        elif op < 0.8:
            ids = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
            prevs = [rng.choice(pool) for _ in ids]
            ordering = rng.random() < 0.8
            assert c.add_ready(ids, prevs, ordering) == py.add_ready(ids, prevs, ordering)
        else:
            k = rng.choice(pool)
            assert (k in c) == (k in py)
        assert len(c) == len(py)
    assert [k in c for k in pool] == [k in py for k in pool]


def test_large_batches_and_wraparound() -> None:
    """Batches longer than the in-C repeat table (sorted instead) and many times the capacity
    (the ring wraps, every eviction removes its index entry)."""
    c, py = IdSet(1000), PyDeliveredIds(1000)
    for start in range(0, 20000, 700):
        ids = [_id(k) for k in range(start, start + 700)]
        assert c.add_fresh(ids) == py.add_fresh(ids) is True
    assert not c.add_fresh([_id(1), _id(2)] * 400)
    assert len(c) == len(py) == 1000
    assert [(_id(k) in c) for k in range(20100)] == [(_id(k) in py) for k in range(20100)]


def test_index_grows_with_the_ids_not_the_capacity() -> None:
    """The index is touched at random, so it starts small and doubles as ids come (a
    simulator's engines deliver a few messages each); ids stay found across every growth."""
    s = IdSet(65536)
    ring_and_hashes = 65536 * (32 + 4)
    assert s.memory_bytes - ring_and_hashes < 4096  # 64 slots of 8 bytes, and the struct
    ids = [_id(k) for k in range(10000)]
    for k in range(0, 10000, 100):
        assert s.add_fresh(ids[k:k + 100]) if k % 200 else all(s.add(i) for i in ids[k:k + 100])
    assert len(s) == 10000 and all(i in s for i in ids) and _id(10001) not in s
    assert 2 * 10000 * 8 <= s.memory_bytes - ring_and_hashes <= 4 * 10000 * 8 + 4096
