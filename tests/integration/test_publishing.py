"""emit() coalescing, drain() and drop.internal end to end (issue 17), on real UDP sockets
on loopback and, for the last test, the benchmark's own publisher and subscriber processes."""
import asyncio
import os

import pytest

import srpfast
from bench.e2e_procs import run_pair

from loopback import mesh, wait_for

pytestmark = pytest.mark.slow


def test_emits_of_one_loop_turn_leave_as_one_signed_batch_after_a_lone_first(run):
    async def scenario():
        key = srpfast.create_shared_key(b"coalesce")
        async with mesh(2) as (a, b):
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in sa.peers)
            got = []
            sb.on("n", lambda v, m: got.append((v, m)))
            first = await sa.emit("n", {"k": -1})  # before: the batch's predecessor
            assert await wait_for(lambda: len(got) == 1 and a.peer.flow.idle)  # acknowledged
            # Nagle's rule: with nothing in flight the first emit() of the turn leaves at
            # once, alone; the others of that loop turn wait for its end, as one batch
            futures = [sa.emit("n", {"k": k}) for k in range(101)]  # one loop turn
            assert futures[0].done() and not any(f.done() for f in futures[1:])
            lone = futures[0].result()
            ids = await asyncio.gather(*futures[1:])
            # packed (PROTOCOL.md "Application events"): 100 small values fit one message,
            # whose id each future gives
            assert len(set(ids)) == 1
            assert await wait_for(lambda: len(got) == 102)
            metas = [m for v, m in got[2:]]
            assert got[1][1].packet_id == lone and got[1][1].previous_id == first
            # one batch: concurrent, all naming the message before it (PROTOCOL.md §6)
            assert {m.previous_id for m in metas} == {lone}
            assert sorted(m.packet_id for m in metas) == sorted(ids)
            assert [v["k"] for v, m in got[2:]] == list(range(1, 101))  # in order, one message
            assert a.metrics()["publish.messages"] == 3
    run(scenario())


def test_a_burst_arrives_in_gro_reads_and_every_value_once_in_order(run):
    # 2,000 values of 1 KB (~290 packed messages of up to 8 frames, ~2,300 frames) leave as
    # GSO runs; the subscriber's socket has GRO on, so they arrive as reads of up to 56
    # frames, cut back into frames in C: more than the driver takes per wake-up, so the
    # rest of a read waits in the socket's landing area (docs/NET.md "GRO") and must be
    # handed out without any further datagram arriving.
    async def scenario():
        key = srpfast.create_shared_key(b"gro")
        async with mesh(2) as (a, b):
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in sa.peers
                                  and a.identity.peer_id in sb.peers)
            got = []
            sb.on_batch("v", lambda values, metas: got.extend(values))
            values = [k.to_bytes(4, "big") + bytes(1020) for k in range(2000)]
            for k in range(0, len(values), 500):
                ids = sa.emit_many("v", values[k:k + 500])
                assert len(ids) == 500 and len(set(ids)) < 500 / 6  # packed
                await sa.drain()
            assert await wait_for(lambda: len(got) >= len(values), 30)
            await asyncio.sleep(0.2)
            assert sorted(got) == values  # each once (packed messages are concurrent)
            m = b.metrics()
            assert m["udp.gro_reads"] > 0 and m.get("drop.internal", 0) == 0
            assert b._driver.sock.pending == 0
    run(scenario(), timeout=90)


def test_drain_paces_a_publisher_to_what_its_subscriber_takes(run):
    async def scenario():
        key = srpfast.create_shared_key(b"drain")
        cfg = srpfast.Config(send_window=128)
        async with mesh(2, config=cfg) as (a, b):
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in sa.peers
                                  and a.identity.peer_id in sb.peers)
            got = []
            sb.on_batch("v", lambda values, metas: got.extend(values))
            value = os.urandom(20_000)  # 21 frames a message
            for _ in range(40):
                sa.emit_many("v", [value] * 5)
                assert a.peer.flow.frames <= 128 + 21  # never more unacknowledged
                await sa.drain()
                assert a.peer.flow.open
            assert await wait_for(lambda: len(got) == 200, 30)
            m = a.metrics()
            assert m["flow.acked_frames"] > 0 and m.get("drop.internal", 0) == 0
    run(scenario(), timeout=90)


@pytest.mark.parametrize("mode,size,count", [("many", 1024, 3000), ("emit", 1024, 2000),
                                             ("many", 65536, 60)])
def test_benchmark_processes_lose_nothing_and_count_no_internal_error(mode, size, count):
    """What `make bench` runs end to end (bench/srp_peers.py, default Config): every message
    delivered, and no exception counted inside either engine (drop.internal)."""
    args = ["--mode", mode, "--count", str(count)]
    r = run_pair("srp_peers.py", args, args + ["--size", str(size)], 60.0)
    assert not r["timed_out"]
    assert r["delivered"] == r["sent"] == count
    for side in ("pub", "sub"):
        assert r[side]["metrics"].get("drop.internal", 0) == 0, (side, r[side]["metrics"])
