"""Engine relay throughput (group "engine relay"): packets/s a peer relays with fan-out 3.

Rows, all measured in this run:
- limit: the C SHA-256 loop over 1088-byte inputs (what computing each packetId costs; a relay
  must recompute every id, SPEC 9.1), srpfast.crypto._sha256.hash_loop.
- the C data plane (srpfast.dataplane._dataplane, when built): batches of 64 new PUBLISH frames in
  memory through validate + seen + packetId + dedup + cache + choose 3 next hops + hops+1 copy.
- the Python engine path (Peer.receive_batch), the fallback when no data plane is attached.
Every frame is new (a relay's worst case: no duplicate is dropped early).
"""
from __future__ import annotations

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.harness import Row, main, quick_params  # noqa: E402
from srpfast.crypto import _sha256  # noqa: E402
from srpfast.config import Config  # noqa: E402
from srpfast.wire.constants import PACKET_BYTES, PUBLISH  # noqa: E402
from srpfast.crypto import create_identity  # noqa: E402
from srpfast.wire.frame import encode_many  # noqa: E402

GROUP = "engine receive paths (gossip mix vs Python fallback)"
BATCH = 64
PEERS = 8


def make_frames(n: int, seed: int = 1) -> bytearray:
    """n distinct sealed-size PUBLISH frames laid end to end (1024-byte messages)."""
    rng = random.Random(seed)
    buf = bytearray(n * PACKET_BYTES)
    base = rng.randbytes(1024)
    messages = [i.to_bytes(8, "big") + base[8:] for i in range(n)]
    done = encode_many(buf, messages, type=PUBLISH, cluster=b"\x07" * 16, to=b"\x09" * 32)
    assert done == n
    return buf


def limit_rate(quick: bool) -> float:
    count = 4096
    buf = bytes(random.Random(9).randbytes(1088 * count))
    calls = 5 if quick else 25
    best = 0.0
    for _ in range(2 if quick else 5):
        t0 = time.perf_counter()
        for _ in range(calls):
            _sha256.hash_loop(buf, 1088, count)
        best = max(best, calls * count / (time.perf_counter() - t0))
    return best


def _peer():
    from srpfast.control.engine import Peer
    # Defaults: the 8 sources are in the table, so each has the proven-peer budget.
    peer = Peer(create_identity(b"\x01" * 32), Config(), now=0.0, rng=random.Random(1))
    for i in range(PEERS):
        p, _ = peer.table.upsert(bytes([i + 2]) * 32, (f"10.0.0.{i + 2}", 7000), 2, 0.0)
        p.distance = 0.01 * (i + 1)
    return peer


def python_rate(quick: bool) -> float:
    n = 4096 if quick else 16384
    frames = make_frames(n, seed=2)
    items = [(bytes(frames[i * PACKET_BYTES:(i + 1) * PACKET_BYTES]),
              (f"10.0.0.{i % PEERS + 2}", 7000)) for i in range(n)]
    best = 0.0
    for _ in range(2 if quick else 3):
        peer = _peer()
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            peer.receive_batch(items[i:i + BATCH], 1.0)
            peer.datagrams_to_send()
        best = max(best, n / (time.perf_counter() - t0))
        assert peer.counters()["publish.forwarded"] == 3 * n
    return best


def dataplane_gossip_rate(quick: bool) -> float | None:
    """Received packets/s when every frame arrives three times (fan-out 3 gossip: a peer
    hears most packets from several neighbours); duplicates die in the seen pre-filter."""
    try:
        from array import array

        from srpfast.dataplane._dataplane import ADDR_BYTES, DataPlane
        from srpfast.dataplane.cache import Cache, source_key
    except ImportError:
        return None
    n = 8192 if quick else 32768
    unique = make_frames(n, seed=4)
    stream = bytearray()
    for i in range(0, n, BATCH // 4):  # each group of 16 frames, then its two echoes
        chunk = unique[i * PACKET_BYTES:(i + BATCH // 4) * PACKET_BYTES]
        stream += chunk * 3
    view = memoryview(stream)
    total = 3 * n
    sources = [(f"10.0.0.{i + 2}", 7000) for i in range(PEERS)]
    keys = array("Q", [source_key(sources[i % PEERS]) for i in range(BATCH)])
    best = 0.0
    for r in range(2 if quick else 3):
        cache = Cache(capacity_bytes=128 * 2**20, source_share=1.0, seed=r + 1)
        dp = DataPlane(cache, fanout=3, max_hops=16, seed=r + 1, max_batch=BATCH)
        dp.set_peers(bytes(ADDR_BYTES * PEERS), array("Q", [source_key(s) for s in sources]),
                     array("d", [1.0] * PEERS), bytes(PEERS))
        sent = 0
        t0 = time.perf_counter()
        for i in range(0, total - BATCH + 1, BATCH):
            sent += dp.process(view[i * PACKET_BYTES:(i + BATCH) * PACKET_BYTES], BATCH,
                               keys=keys, now=1.0)
        best = max(best, total / (time.perf_counter() - t0))
        assert sent == 3 * n, sent
    return best


def run(quick: bool) -> list[Row]:
    quick_params(quick)
    limit = limit_rate(quick)
    # The gossip mix computes one packetId per 3 frames received (2 of 3 are duplicates that
    # die in the pre-filter), so its ceiling is 3x the SHA-256 loop, not 1x.
    rows = [Row(GROUP, "C SHA-256 over 1088-byte inputs x 3 (one packetId per 3 frames "
                       "received)", 3 * limit, role="limit",
                note=f"{_sha256.impl()}; measured {limit:,.0f} ids/s")]
    # The all-new relay figure and its target live in bench_dataplane.py's group.
    gossip = dataplane_gossip_rate(quick)
    if gossip is not None:
        rows.append(Row(GROUP, "C data plane: gossip mix, each frame received 3x", gossip,
                        note="received pkt/s; 2 of 3 are duplicates"))
    rows.append(Row(GROUP, "Python engine Peer.receive_batch, fan-out 3", python_rate(quick),
                    role="peer",
                    note="fallback path without a data plane; every frame new (one "
                         "packetId per frame received, the mix's worst case)"))
    return rows


if __name__ == "__main__":
    main(run)
