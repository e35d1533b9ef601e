"""FifoSet (control/bounded.py): the oldest added goes first, whether keys come one at a time
(add, update) or a batch at once (add_fresh, the delivery fast path), and add_fresh changes
nothing unless every key is new."""
from __future__ import annotations

from srpfast.control.bounded import FifoSet


def test_fifo_set_forgets_the_oldest_first() -> None:
    s: FifoSet[int] = FifoSet(3)
    assert [s.add(k) for k in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert len(s) == 3 and 1 not in s and all(k in s for k in (2, 3, 4))
    s.update([5, 2, 6])
    assert len(s) == 3 and sorted(k for k in range(10) if k in s) == [2, 5, 6]  # (2 came back)


def test_add_fresh_adds_a_batch_of_new_keys_or_nothing() -> None:
    s: FifoSet[int] = FifoSet(4)
    assert s.add_fresh([1, 2, 3])
    assert not s.add_fresh([4, 2])           # 2 is there: nothing added
    assert not s.add_fresh([5, 5])           # a repeat inside the batch: nothing added
    assert len(s) == 3 and 4 not in s and 5 not in s
    assert s.add_fresh([4, 5])               # at capacity the oldest (1) goes
    assert len(s) == 4 and 1 not in s and all(k in s for k in (2, 3, 4, 5))
    assert s.add(6) and 2 not in s and len(s) == 4
    assert s.add_fresh([7, 8, 9, 10, 11, 12])  # more than fit: the newest 4 stay
    assert len(s) == 4 and all(k in s for k in (9, 10, 11, 12))


def test_capacity_zero_remembers_nothing() -> None:
    s: FifoSet[int] = FifoSet(0)
    assert s.add(1) and 1 not in s and len(s) == 0
    assert s.add_fresh([1, 2]) and len(s) == 0
