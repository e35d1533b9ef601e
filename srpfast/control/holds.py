"""What fellows announced to us: (message id, fellow's peer id) pairs, each with the time it
was first announced, for the lazy push (control/announce.py, ``Announcer.holds``).

The behaviour is an insertion-ordered map of pairs to their time, as an OrderedDict kept it:
``add`` inserts the pairs not yet held (a held pair keeps its place and time), ``prune`` drops
pairs from the old end while there are more than ``cap`` or the oldest is older than
``window``, ``__contains__`` tests a pair. Only the layout differs. The OrderedDict took
~230 bytes a pair: a (message id, peer id) tuple, the HAVE's own copy of the 32-byte id (one
bytes object per HAVE that named it: every id a peer's ~30 fellows named held ~30 copies),
a dict slot and the ordering node. A peer held ~370 pairs (300 simulated peers, a message
every 3 s: about every fellow names every message of the 36-s digest window), ~87 KiB a
peer. Here a message id is kept once, with the fellows that named it, and the order is three
deques of pointers: ~120 bytes a pair where each HAVE adds one (tracemalloc, 12 ids x 31
fellows; the OrderedDict 232), less where a HAVE adds several (docs/SIMULATION_SCALE_LOG.md,
"Memory").
"""
from __future__ import annotations

from collections import deque
from itertools import repeat
from typing import Iterable, Iterator


def _named(held: "tuple[bytes, bytes | set[bytes]] | None", qid: bytes) -> bool:
    if held is None:
        return False
    qids = held[1]
    return qid == qids if isinstance(qids, bytes) else qid in qids


class Holds:
    __slots__ = ("_by_id", "_times", "_fellows", "_ids")

    def __init__(self) -> None:
        # message id -> (that id, the peer id that announced it, or a set of them once
        # several did: a set of one took ~200 bytes). The id object kept in _ids below is
        # this one, so a message's id is held once however many HAVEs named it.
        self._by_id: dict[bytes, tuple[bytes, bytes | set[bytes]]] = {}
        # the pairs, oldest first, as three deques of one length (a pointer each a pair;
        # a tuple each was ~70 bytes): when each was added (one float object per add),
        # by whom, which id
        self._times: deque[float] = deque()
        self._fellows: deque[bytes] = deque()
        self._ids: deque[bytes] = deque()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        return _named(self._by_id.get(pair[0]), pair[1])

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """The pairs, oldest first."""
        return zip(list(self._ids), list(self._fellows))

    def news_for(self, qid: bytes, ids: Iterable[bytes]) -> tuple[bytes, ...]:
        """The ids of ``ids`` that peer ``qid`` has not announced to us."""
        get = self._by_id.get
        return tuple(i for i in ids if not _named(get(i), qid))

    def add(self, qid: bytes, ids: Iterable[bytes], now: float) -> None:
        """Peer ``qid`` announced ``ids`` at ``now``: the pairs not held yet are added."""
        by_id = self._by_id
        added = 0
        for pid in ids:
            held = by_id.get(pid)
            if held is None:
                by_id[pid] = (pid, qid)
            else:
                qids = held[1]
                if isinstance(qids, bytes):
                    if qid == qids:
                        continue
                    by_id[pid] = (held[0], {qids, qid})
                elif qid in qids:
                    continue
                else:
                    qids.add(qid)
                pid = held[0]
            self._ids.append(pid)
            added += 1
        if added:
            self._times.extend(repeat(now, added))
            self._fellows.extend(repeat(qid, added))

    def prune(self, cap: int, oldest: float) -> None:
        """Drop pairs from the old end while more than ``cap`` are held or the oldest was
        added before ``oldest``."""
        times, fellows, ids, by_id = self._times, self._fellows, self._ids, self._by_id
        while times and (times[0] < oldest or len(times) > cap):
            times.popleft()
            qid = fellows.popleft()
            pid = ids.popleft()
            held = by_id[pid]
            qids = held[1]
            if isinstance(qids, bytes):
                del by_id[pid]  # (its one fellow: this one)
            else:
                qids.discard(qid)
                if len(qids) == 1:
                    by_id[pid] = (held[0], next(iter(qids)))
