"""FifoSet (control/bounded.py): the oldest added goes first, whether keys come one at a time
(add, update) or a batch at once (add_fresh, the delivery fast path), and add_fresh changes
nothing unless every key is new. WindowSet: the same order, and a key also leaves once its
deadline passed (the JOIN dedup set, control/membership.py)."""
from __future__ import annotations

from srpfast.control.bounded import FifoSet, WindowSet


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


def test_window_set_forgets_a_key_once_its_deadline_passed() -> None:
    s: WindowSet[int] = WindowSet(100)
    assert s.add(1, 10, 0) and s.add(2, 20, 0) and not s.add(1, 30, 5)
    assert len(s) == 2
    assert s.add(3, 15, 10)                  # 1's deadline (10) has come: it leaves
    assert 1 not in s and 2 in s and 3 in s
    s.expire(17)                             # 3 (15) waits behind 2 (20): never early
    assert 3 in s and len(s) == 2
    s.expire(20)
    assert len(s) == 0
    assert s.add(1, 40, 20)                  # forgotten: new again


def test_window_set_is_bounded_before_any_deadline() -> None:
    s: WindowSet[int] = WindowSet(3)
    for k in range(5):
        assert s.add(k, 1000, 0)
    assert len(s) == 3 and sorted(k for k in range(5) if k in s) == [2, 3, 4]
    z: WindowSet[int] = WindowSet(0)
    assert z.add(1, 1000, 0) and 1 not in z and len(z) == 0
