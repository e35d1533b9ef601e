"""Threat: sync bombs and query storms from a connected peer (issue 13; SPEC 6 Sync/Query,
9.3, 9.4, 9.8).

A proven peer (it completed the handshake) sends 500 SYNC requests of every kind and 500
QUERYs (for cached ids and unknown ids) in one burst. What the target sends back is bounded:
SYNC replies by sync_budget frames per peer per sync_interval, a QUERY by one ANSWER (one frame
for one frame), an unknown id by at most query_fanout forwards per distinct query id (a
replayed query id is dropped as a duplicate), and no route is kept beyond query_pending."""
from __future__ import annotations

import os
import random

from srpfast.crypto import _sodium
from srpfast.wire import constants as C
from srpfast.wire.bodies import (SYNC_HAVE, SYNC_IDS, SYNC_SUMMARY, SYNC_TAG_BYTES, SYNC_WANT, Query,
                                 Sync)
from srpfast.config import Config
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer
from srpfast.wire.frame import encode
from tests.adversarial.intro_attack import connect

A, M, H = ("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.0.3", 3)


def _setup():
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1e9, rate_burst=1e9)
    peers = [Peer(create_identity(bytes([i]) * 32), cfg, now=0.0, rng=random.Random(i))
             for i in (1, 2, 3)]
    target, mallory, honest = peers
    connect(target, mallory, A, M)
    connect(target, honest, A, H)
    for i in range(100):  # the target caches 100 frames
        f = encode(type=C.PUBLISH, message=b"cached %d" % i)
        target.receive(f, H, 0.0)
    target.datagrams_to_send()
    return target, mallory, cfg


def _out(target) -> tuple[int, int]:
    to_m = to_h = 0
    for d, to in target.datagrams_to_send():
        if d[4] in (C.PING, C.PONG):  # heartbeats: not caused by the storm
            continue
        to_m += to == M
        to_h += to == H
    return to_m, to_h


def test_a_sync_bomb_is_capped_by_the_sync_budget() -> None:
    target, mallory, cfg = _setup()
    ids = target.cache.ids_with_prefix("", limit=30)
    kinds = [Sync(1, SYNC_SUMMARY, 0, bytes(8), 16, buckets=tuple((0, bytes(8)) for _ in range(16))),
             Sync(2, SYNC_IDS, 0, bytes(8), 30, ids=tuple(os.urandom(32) for _ in range(30))),
             Sync(3, SYNC_WANT, 0, bytes(8), len(ids), ids=tuple(ids)),
             Sync(4, SYNC_HAVE, 0, bytes(8), 30, ids=tuple(os.urandom(32) for _ in range(30)))]
    # Mallory is a connected peer with its own key: it tags its SYNCs properly (the tag only
    # stops spoofers of its address), so the budget is what bounds it.
    tx, _ = mallory.streams.pair_keys(target.peer_id)
    tagged = [k.untagged() + _sodium.generichash(k.untagged(), tx, SYNC_TAG_BYTES)
              for k in kinds]
    for i in range(500):
        target.receive(encode(type=C.SYNC, message=tagged[i % 4]), M, 1.0)
    to_m, _ = _out(target)
    target.tick(5.0)  # lazy-push pulls fall due
    to_m += _out(target)[0]
    print(f"sync bomb: 500 SYNC frames -> {to_m} frames back (sync_budget {cfg.sync_budget}), "
          f"sync.budget={target.counters().get('sync.budget', 0)}")
    assert to_m <= cfg.sync_budget
    assert target.counters()["sync.budget"] > 0


def test_a_query_storm_gets_one_frame_per_frame_and_no_unbounded_routes() -> None:
    target, mallory, cfg = _setup()
    ids = target.cache.ids_with_prefix("", limit=100)
    sent = 0
    for i in range(500):
        wanted = ids[i % len(ids)] if i % 2 else os.urandom(32)
        qid = i % 250  # the second 250 replay the first 250 query ids
        target.receive(encode(type=C.QUERY, message=Query(qid + 1, wanted, 0).encode()), M, 1.0)
        sent += 1
    to_m, to_h = _out(target)
    routes = len(target.replication.routes)
    c = target.counters()
    print(f"query storm: {sent} QUERYs -> {to_m} frames back, {to_h} forwarded, "
          f"{routes} routes (cap {cfg.query_pending}), {c.get('query.duplicate', 0)} replays")
    assert to_m <= sent and to_h <= cfg.query_fanout * sent
    assert c["query.duplicate"] == 250 and to_m == 125 and routes <= cfg.query_pending


def test_equal_summaries_are_charged_so_they_cannot_be_asked_without_end() -> None:
    """A summary is computed for the asking peer (a depth-2 one walks leaf lists in C), so
    one that sends nothing back (the asker copied our buckets) still costs a budget unit, and
    past the budget none is computed: 500 such requests cost sync_budget computations."""
    target, mallory, cfg = _setup()
    ours = target.cache.summary("")
    req = Sync(7, SYNC_SUMMARY, 0, bytes(8), 16,
               buckets=tuple((n, int(h).to_bytes(8, "big")) for _, n, h in ours))
    tx, _ = mallory.streams.pair_keys(target.peer_id)
    tagged = req.untagged() + _sodium.generichash(req.untagged(), tx, SYNC_TAG_BYTES)
    before = target.counters().get("sync.budget", 0)
    for _ in range(500):
        target.receive(encode(type=C.SYNC, message=tagged), M, 1.0)
    to_m, _ = _out(target)
    assert to_m == 0  # equal buckets: nothing to answer
    assert target.counters()["sync.budget"] - before == 500 - cfg.sync_budget
