"""Holds (control/holds.py), the lazy push's record of what fellows announced: the same
pairs, order and lifetimes as the OrderedDict of (message id, peer id) -> time it replaced
(announce.on_have's setdefault, then dropping from the old end while over the cap or older
than the window), checked step by step on random HAVE sequences."""
from __future__ import annotations

import random
from collections import OrderedDict

from srpfast.control.holds import Holds


def test_holds_behaves_as_the_ordered_dict_it_replaced() -> None:
    for seed in range(200):
        r = random.Random(seed)
        od: OrderedDict[tuple[bytes, bytes], float] = OrderedDict()
        holds = Holds()
        ids = [bytes([i]) * 32 for i in range(r.randint(1, 20))]
        fellows = [bytes([100 + i]) * 32 for i in range(r.randint(1, 8))]
        cap, window, now = r.randint(1, 40), r.uniform(1, 10), 0.0
        for _ in range(200):
            now += r.choice([0.0, 0.0, 0.1, 0.5, 2.0])
            q = r.choice(fellows)
            named = [r.choice(ids) for _ in range(r.randint(0, 6))]  # (repeats too)
            for pid in named:
                od.setdefault((pid, q), now)
            while od and (len(od) > cap or next(iter(od.values())) < now - window):
                od.popitem(last=False)
            holds.add(q, named, now)
            holds.prune(cap, now - window)
            assert list(holds) == list(od) and len(holds) == len(od)
            q2 = r.choice(fellows)
            assert holds.news_for(q2, ids) == tuple(i for i in ids if (i, q2) not in od)
            assert [(i, q2) in holds for i in ids] == [(i, q2) in od for i in ids]


def test_a_message_id_is_kept_once_however_many_fellows_named_it() -> None:
    holds = Holds()
    first = bytes(range(32))
    for k in range(5):
        holds.add(bytes([k]) * 32, [bytes(bytearray(first))], float(k))  # a copy per HAVE
    assert len(holds) == 5 and len({id(pid) for pid, _ in holds}) == 1
    holds.prune(2, -1.0)
    assert [q[0] for _, q in holds] == [3, 4]
    holds.prune(10, 4.0)  # added before 4.0: gone
    assert [q[0] for _, q in holds] == [4] and (first, bytes([4]) * 32) in holds
