"""The ids of the messages a member delivered (SPEC 6: each message is delivered once, and a
message waits for its predecessor while that is not delivered).

``delivered_ids(capacity)`` gives the C set (srpfast/dataplane/_idset.pyx, csrc/idset.c) when
the extension is built, else ``PyDeliveredIds``, the Python reference (a FifoSet): the same
rules either way (at most ``capacity`` ids, the oldest added goes first, a repeat does not
refresh it). Both have ``add_ready``, the delivery path's per-batch step
(Replication.on_messages): the common case, a receive batch of new messages whose
predecessors are delivered, is judged and remembered in one call; in C that is one loop with
no Python per message (it was ~0.3 us a message of Python set work, docs/ENGINE.md).
"""
from __future__ import annotations

from typing import Iterable, Protocol

from srpfast.control.bounded import FifoSet
from srpfast.errors import ArgumentError
from srpfast.wire.constants import ZERO32


class DeliveredIds(Protocol):
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def add(self, key: bytes) -> bool: ...
    def update(self, keys: Iterable[bytes]) -> None: ...
    def add_ready(self, ids: list[bytes], prevs: list[bytes], ordering: bool) -> bool: ...


class PyDeliveredIds(FifoSet[bytes]):
    def add_ready(self, ids: list[bytes], prevs: list[bytes], ordering: bool) -> bool:
        """With ``ordering``: False (nothing changes) when a message must wait, i.e. its
        previous id (prevs[k]) is not zero, not present and not an id earlier in ``ids``
        (the ids are delivered in order, so that one is delivered first). Then
        ``add_fresh(ids)``: all added (True) or, when one is present or repeats, none."""
        if len(prevs) != len(ids):
            raise ArgumentError("one previous id per id")
        if ordering:
            ok = None  # the last previous id found delivered (neighbours share the object)
            for k, prev in enumerate(prevs):
                if prev is ok or prev == ok:
                    continue
                if prev != ZERO32 and prev not in self and prev not in ids[:k]:
                    return False
                ok = prev
        return self.add_fresh(ids)


def delivered_ids(capacity: int) -> DeliveredIds:
    try:
        from srpfast.dataplane._idset import IdSet
    except ImportError:  # a build without the extensions: the Python reference path
        return PyDeliveredIds(capacity)
    return IdSet(capacity)
