"""Threat: spoofed-source and many-source floods growing the peer's tables, memory or file
descriptors without bound (issue 13; SPEC 9.4: every table that grows with input is bounded
and expires).

1. A real peer (srpfast.network, the uvloop driver, its C data plane) with small caps, flooded
   on loopback from 256 source addresses (127.5.x.y: many senders without raw sockets) with
   signed PINGs from fresh keys, QUERYs, JOINs, fragments with unknown successors, STREAMs,
   SYNCs and garbage. Every table stays at or under its bound (tables.py census), the ones
   the flood aims at reach it (so the bound, not luck, is what held), and RSS and open fds
   stay bounded.
2. A proven (connected) attacker, sans-I/O, fills what only a connected peer can reach: query
   routes, lazy-push pulls, held out-of-order messages, relay routes."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

from srpfast.wire import constants as C
from srpfast.wire.bodies import SYNC_HAVE, Join, Ping, Query, Sync
from srpfast.config import Config
from srpfast.crypto import create_cluster_id, create_identity
from srpfast.wire.frame import encode
from tests.adversarial.tables import open_fds, over_bound, rss_bytes, table_sizes
from tests.integration.test_engine_hostile import mallory_frame

CLUSTER = create_cluster_id(b"adversarial floods")
SMALL = dict(max_peers=16, rate_table=64, pending_pings=32, proof_capacity=256, join_seen=64,
             query_pending=32, relay_routes=16, order_held=16, announce_pending=32,
             reassembly_bytes=64 * 1024, seen_ids=256, delivered_ids=256, max_members=16,
             stream_keys=16, max_attempts=16, cache_bytes=256 * 1024)
SOURCES = 256


def _flood(source: int, now_ms: int) -> list[bytes]:
    """What one source sends: 12 datagrams of every kind a stranger can send."""
    me = create_identity(source.to_bytes(4, "big") * 8)
    rid = int.from_bytes(os.urandom(8), "big")
    out = [mallory_frame(me, C.PING, Ping(peer_id=me.peer_id, request_id=rid,
                                          timestamp_ms=now_ms)),
           mallory_frame(me, C.JOIN, Join(peer_id=me.peer_id, cluster_id=CLUSTER,
                                          subcluster_id=C.ZERO32, address=None, nat=1,
                                          timestamp_ms=now_ms, join_id=rid), CLUSTER[:16]),
           encode(type=C.SYNC, message=Sync(rid, SYNC_HAVE, 0, bytes(8), 1,
                                            ids=(os.urandom(32),)).encode()),
           encode(type=C.STREAM, message=os.urandom(900), to=os.urandom(32), flags=1,
                  next_id=os.urandom(32)),
           os.urandom(1158), os.urandom(77)]
    out += [encode(type=C.QUERY, message=Query(rid + k, os.urandom(32), 0).encode())
            for k in range(3)]
    out += [encode(type=C.PUBLISH, message=os.urandom(1000), flags=1, next_id=os.urandom(32),
                   cluster=CLUSTER[:16]) for _ in range(3)]  # heads of chains never finished
    return out


def test_a_many_source_flood_leaves_every_table_under_its_bound(run) -> None:
    import srpfast
    from srpfast.drivers._udp import UDPSocket

    async def scenario() -> dict:
        net = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1",
                                    config=Config(**SMALL))
        try:
            to = ("127.0.0.1", net.address[1])
            await asyncio.sleep(0.1)
            rss0, fds0, sent = rss_bytes(), open_fds(), 0
            peak: dict[str, int] = {}
            for s in range(SOURCES):
                sock = UDPSocket(f"127.5.{s // 200}.{s % 200 + 1}", 0)
                try:
                    frames = _flood(s, net.peer.wall_ms(time.monotonic()))
                    sent += sock.send_batch(frames, [to] * len(frames))  # true lengths
                finally:
                    sock.close()
                if s % 16 == 15:
                    await asyncio.sleep(0.02)  # let the driver drain (the socket buffer is finite)
                    for k, (v, _) in table_sizes(net.peer).items():
                        peak[k] = max(peak.get(k, 0), v)
                    assert not over_bound(net.peer), over_bound(net.peer)
            await asyncio.sleep(0.3)
            c = net.metrics()
            return dict(sent=sent, rx=c.get("rx", 0) + c.get("dataplane.ok", 0), peak=peak,
                        bounds={k: v[1] for k, v in table_sizes(net.peer).items()},
                        rss=rss_bytes() - rss0, fds=open_fds() - fds0, counters=c)
        finally:
            await net.close()

    r = run(scenario(), timeout=60)
    print(f"flood: {r['sent']} datagrams from {SOURCES} sources; RSS +{r['rss'] / 2**20:.1f} MiB, "
          f"fds +{r['fds']}; tables at their bound: "
          + ", ".join(f"{k}={r['peak'][k]}/{r['bounds'][k]}" for k in sorted(r["peak"])
                      if r["peak"][k] >= r["bounds"][k]))
    peak, bounds = r["peak"], r["bounds"]
    # The flood reached the bounds it aims at: the cap, not a quiet run, is what held.
    for name in ("peer.rate", "handshake.challenges"):
        assert peak[name] == bounds[name], (name, peak[name], bounds[name])
    assert r["counters"].get("drop.sync_unknown", 0) > 0
    assert r["fds"] <= 2 and r["rss"] < 64 * 2**20


def _connected(cfg: Config):
    from tests.adversarial.intro_attack import connect
    from srpfast.control.engine import Peer
    import random
    target = Peer(create_identity(b"\x01" * 32), cfg, now=0.0, rng=random.Random(1))
    attacker = Peer(create_identity(b"\x02" * 32), cfg, now=0.0, rng=random.Random(2))
    connect(target, attacker, ("10.0.0.1", 1), ("10.0.0.2", 2))
    target.datagrams_to_send()
    return target, attacker, ("10.0.0.2", 2)


@pytest.mark.parametrize("seconds", [0.0, 400.0], ids=["during", "after-expiry"])
def test_a_connected_attacker_cannot_grow_route_pull_or_held_tables(seconds) -> None:
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1e9, rate_burst=1e9, **SMALL)
    target, attacker, src = _connected(cfg)
    target.join(CLUSTER, None, now=0.0)
    for i in range(2000):
        q = encode(type=C.QUERY, message=Query(i + 1, os.urandom(32), 0).encode())
        target.receive(q, src, 0.0)  # unknown ids: routes remembered for a proven asker
        have = Sync(i, SYNC_HAVE, 0, bytes(8), 30, ids=tuple(os.urandom(32) for _ in range(30)))
        target.receive(encode(type=C.SYNC, message=have.encode()), src, 0.0)
        if i % 50 == 0:
            target.tick(i / 100)
            target.datagrams_to_send()
            assert not over_bound(target), over_bound(target)
    sizes = table_sizes(target)
    assert sizes["replication.routes"][0] <= cfg.query_pending
    assert sizes["announce.pulls"][0] <= cfg.announce_pending
    target.tick(seconds + 30)
    if seconds:
        target.tick(seconds + 31)
        sizes = table_sizes(target)
        assert sizes["replication.routes"][0] == 0  # expired, not only capped
    assert not over_bound(target)
    print("connected attacker: " + ", ".join(f"{k}={v[0]}/{v[1]}" for k, v in sizes.items()
                                              if k.startswith(("replication.", "announce."))))
