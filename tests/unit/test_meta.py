"""subcluster._meta builds the Meta of a delivered message without the frozen dataclass's __init__:
it must be the very object Meta(...) would be (every field, equality, hash, frozen)."""
from __future__ import annotations

import dataclasses

import pytest

from srpfast.subcluster import Meta, _meta
from srpfast.control.events import DeliveredBatch


def test_meta_of_a_batch_is_the_meta_the_constructor_builds() -> None:
    b = DeliveredBatch(b"s" * 32, [b"i" * 32, b"j" * 32], [b"v", b"w"], [b"a" * 32, b"b" * 32],
                       [7, 8], [b"p" * 32, b"q" * 32], [0, 2])
    m = _meta(b, 1)
    want = Meta(b"b" * 32, b"j" * 32, 8, b"q" * 32, 2, b"s" * 32)
    assert m == want and hash(m) == hash(want) and repr(m) == repr(want)
    assert [f.name for f in dataclasses.fields(Meta)] == list(vars(m))  # no field missed
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.hops = 3  # type: ignore[misc]
    assert dataclasses.replace(m, latency=0.5).latency == 0.5


def test_delivered_batch_is_the_event_the_constructor_builds() -> None:
    """events.delivered_batch (the C delivery path's event, one a receive batch) skips the
    frozen dataclass's __init__ the same way: the same object in every respect."""
    from srpfast.control.events import delivered_batch
    cols = (b"s" * 32, [b"i" * 32], [b"v"], [b"a" * 32], [7], [b"p" * 32], [0])
    b, want = delivered_batch(*cols), DeliveredBatch(*cols)
    assert type(b) is DeliveredBatch
    assert b == want and repr(b) == repr(want)
    assert [f.name for f in dataclasses.fields(DeliveredBatch)] == list(vars(b))
    assert b.events() == want.events()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.hops = []  # type: ignore[misc]
