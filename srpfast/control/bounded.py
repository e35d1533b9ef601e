"""Small bounded containers every growing table of the engine is built from (SPEC 9.4).

- ``LruSet`` / ``LruDict``: at most ``capacity`` entries, the least recently touched goes first.
- ``FifoSet``: at most ``capacity`` keys, the oldest added goes first (no refresh on a repeat):
  a set and a deque, several times cheaper per key than an OrderedDict (~0.1 against ~0.9 us
  at 65,536 keys), for the per-message tables of the delivery path.
- ``WindowSet``: a FifoSet whose keys also leave once their own deadline has passed (a
  replay window's: the JOIN dedup set, control/membership.py).
- ``ExpiringDict``: like LruDict, and entries older than their deadline are dropped by
  ``expire(now)`` (work proportional to what expires, since deadlines are inserted in order
  of a fixed lifetime).
- ``RateLimiter``: a token bucket per key (source address, SPEC 9.6) in an LRU table.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from itertools import islice
from types import MappingProxyType
from typing import Generic, Hashable, Iterable, Iterator, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FifoSet(Generic[K]):
    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 0)
        self._s: set[K] = set()
        # (maxlen: an append at capacity drops the oldest in C; _s forgets it first)
        self._q: deque[K] = deque(maxlen=self.capacity)

    def __contains__(self, key: object) -> bool:
        return key in self._s

    def __len__(self) -> int:
        return len(self._s)

    def add(self, key: K) -> bool:
        """True when key is new (and now remembered)."""
        s = self._s
        if key in s:
            return False
        q = self._q
        if len(q) == self.capacity:
            if not q:
                return True  # (capacity 0: remembers nothing)
            s.discard(q[0])
        s.add(key)
        q.append(key)
        return True

    def add_fresh(self, keys: list[K]) -> bool:
        """Add every key of ``keys`` when none is present and none repeats (True); otherwise
        change nothing (False). Test, insert and eviction run in C (set operations, the
        deque's maxlen): the delivery path's common case, a batch of new message ids, costs
        no Python per key."""
        fresh = set(keys)
        s = self._s
        if len(fresh) != len(keys) or not s.isdisjoint(fresh):
            return False
        q, cap = self._q, self.capacity
        excess = len(q) + len(keys) - cap
        if excess > 0:  # the oldest ones the deque drops below
            s.difference_update(islice(q, excess))
        s |= fresh
        q.extend(keys)
        if len(keys) > cap:  # (more than fit at all: the deque kept the newest)
            s.difference_update(keys[:len(keys) - cap])
        return True

    def update(self, keys: Iterable[K]) -> None:
        for key in keys:
            self.add(key)


class WindowSet(Generic[K]):
    """At most ``capacity`` keys, each given a deadline when added; keys leave in the order
    they were added, the oldest when the set is full or once its deadline is <= ``now``
    (``add`` and ``expire``). A key behind one with a later deadline waits for it: kept
    longer than its deadline, never shorter. Three C containers (a set, a deque of keys, a
    deque of deadlines): ~40 bytes a key more than a FifoSet, for a table that holds what
    one window brought rather than everything up to its bound."""

    __slots__ = ("capacity", "_s", "_q", "_t")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 0)
        self._s: set[K] = set()
        self._q: deque[K] = deque()
        self._t: deque[int] = deque()

    def __contains__(self, key: object) -> bool:
        return key in self._s

    def __len__(self) -> int:
        return len(self._s)

    def expire(self, now: int) -> None:
        """Forget the keys at the old end whose deadline is <= ``now``."""
        t, q, s = self._t, self._q, self._s
        while t and t[0] <= now:
            t.popleft()
            s.discard(q.popleft())

    def add(self, key: K, deadline: int, now: int) -> bool:
        """True when key is new (and now remembered until ``deadline``); first forgets what
        expired by ``now`` and, when full, the oldest key."""
        self.expire(now)
        s = self._s
        if key in s:
            return False
        if not self.capacity:
            return True  # (capacity 0: remembers nothing)
        if len(self._q) >= self.capacity:
            self._t.popleft()
            s.discard(self._q.popleft())
        s.add(key)
        self._q.append(key)
        self._t.append(deadline)
        return True


class LruSet(Generic[K]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._d: OrderedDict[K, None] = OrderedDict()

    def add(self, key: K) -> bool:
        """True when key is new (and now remembered)."""
        d = self._d
        if key in d:
            d.move_to_end(key)
            return False
        d[key] = None
        if len(d) > self.capacity:
            d.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def discard(self, key: K) -> None:
        self._d.pop(key, None)

    @property
    def members(self) -> "OrderedDict[K, None]":
        """The underlying ordered dict, for loops that test and add many keys per call
        (``key in m`` / ``m[key] = None``) without a method call each: call ``trim()``
        after, which restores the bound."""
        return self._d

    def trim(self) -> None:
        d = self._d
        while len(d) > self.capacity:
            d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


class LruDict(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._d: OrderedDict[K, V] = OrderedDict()
        self.evicted = 0
        # Bumped whenever the set of keys may have changed (a new key, an eviction, a pop,
        # an expiry): a reader that derives something from the keys recomputes it only then
        # (control/announce.py, Announcer.fellows).
        self.changes = 0

    def __setitem__(self, key: K, value: V) -> None:
        d = self._d
        if key in d:
            d.move_to_end(key)
        else:
            self.changes += 1  # (a new key; an eviction below comes with one)
        d[key] = value
        if len(d) > self.capacity:
            d.popitem(last=False)
            self.evicted += 1

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._d.get(key, default)

    def __getitem__(self, key: K) -> V:
        return self._d[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def pop(self, key: K, default: V | None = None) -> V | None:
        self.changes += 1
        return self._d.pop(key, default)

    def __len__(self) -> int:
        return len(self._d)

    def present(self, keys: Iterable[K]) -> list[K]:
        """The keys of ``keys`` held here, in their order; the test runs in C (no Python per
        key: a receive batch's ids against the pending queries, Replication.on_messages)."""
        return list(filter(self._d.__contains__, keys))

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._d.items()))

    @property
    def mapping(self) -> "Mapping[K, V]":
        """The entries, read-only, for a loop that tests many keys (``key in m``) without a
        method call each (as LruSet.members)."""
        return MappingProxyType(self._d)

    def values(self) -> list[V]:
        return list(self._d.values())

    def keys(self) -> list[K]:
        return list(self._d.keys())


class ExpiringDict(LruDict[K, V]):
    """LruDict whose entries also die ``lifetime`` seconds after they were (re)set."""

    def __init__(self, capacity: int, lifetime: float) -> None:
        super().__init__(capacity)
        self.lifetime = lifetime
        self._t: OrderedDict[K, float] = OrderedDict()

    def put(self, key: K, value: V, now: float) -> None:
        self[key] = value
        self._t.pop(key, None)
        self._t[key] = now + self.lifetime
        while len(self._t) > len(self._d):  # evicted by the LRU bound
            k = next(iter(self._t))
            if k in self._d:
                break
            self._t.popitem(last=False)

    def pop(self, key: K, default: V | None = None) -> V | None:
        self._t.pop(key, None)
        return super().pop(key, default)

    def expire(self, now: float) -> list[tuple[K, V]]:
        gone: list[tuple[K, V]] = []
        t = self._t
        if not t:  # (called every tick by several tables: most are empty)
            return gone
        first = next(iter(t))
        if t[first] > now and first in self._d:
            return gone  # (the next common case, nothing due: no (key, deadline) pair made)
        while t:
            k, deadline = next(iter(t.items()))
            if deadline > now and k in self._d:
                break
            t.popitem(last=False)
            v = self._d.pop(k, None)
            if v is not None:
                gone.append((k, v))
        if gone:
            self.changes += 1
        return gone


class RateLimiter:
    """Token bucket per key: ``rate`` tokens/s up to ``burst``; ``allow`` spends ``cost``.

    The table holds at most ``capacity`` keys (LRU): a flood from many addresses cannot grow
    it, and an evicted key starts again with a full bucket (a fresh address gets its burst,
    which is the price of bounded memory; the burst is small against the cache share rule)."""

    def __init__(self, rate: float, burst: float, capacity: int) -> None:
        self.rate = rate
        self.burst = burst
        self._b: LruDict[Hashable, list[float]] = LruDict(capacity)

    def allow(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        b = self._b.get(key)
        if b is None:
            self._b[key] = [self.burst - cost, now]
            return True
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        if tokens < cost:
            b[0] = tokens
            return False
        b[0] = tokens - cost
        return True

    def take(self, key: Hashable, now: float, want: int) -> int:
        """Spend up to ``want`` whole tokens; returns how many were spent. The same outcome
        as ``want`` calls of ``allow(key, now)`` in a row (one datagram, one token), in one
        step: a batch path admits exactly what the per-datagram path would (SPEC 9.6)."""
        b = self._b.get(key)
        if b is None:
            b = self._b[key] = [self.burst, now]
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        granted = min(want, max(0, int(tokens)))
        b[0] = tokens - granted
        return granted

    def __len__(self) -> int:
        return len(self._b)
