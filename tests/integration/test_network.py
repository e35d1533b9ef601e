"""The public API on real UDP sockets (loopback only; issue 6)."""
import asyncio
import json
import os
import subprocess
import sys

import pytest

import srpfast
from srpfast.drivers import _udp
from loopback import mesh, wait_for

pytestmark = pytest.mark.slow


def test_two_peers_exchange_direct_streams(run):
    async def scenario():
        async with mesh(2) as (a, b):
            key = srpfast.create_shared_key(b"pair")
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in sa.peers
                                  and a.identity.peer_id in sb.peers)
            got_b, got_a = [], []
            sb.peers[a.identity.peer_id].on("hi", lambda v, m: got_b.append(v))
            sa.peers[b.identity.peer_id].on("hi", lambda v, m: got_a.append(v))
            sa.peers[b.identity.peer_id].emit("hi", {"from": "a"})
            sb.peers[a.identity.peer_id].emit("hi", b"\x00raw bytes")
            assert await wait_for(lambda: got_a and got_b)
            assert got_b == [{"from": "a"}] and got_a == [b"\x00raw bytes"]
    run(scenario())


def test_twenty_peers_three_subclusters_members_only(run):
    async def scenario():
        keys = [srpfast.create_shared_key(f"topic {t}".encode()) for t in range(3)]
        async with mesh(20) as nets:
            subs, got = {}, {}
            for i, net in enumerate(nets):
                topic = i % 3
                subs[i] = await net.subcluster(shared_key=keys[topic])
                got[i] = []
                subs[i].on("m", lambda v, meta, i=i: got[i].append(v))
            members = {t: [i for i in range(20) if i % 3 == t] for t in range(3)}
            assert await wait_for(lambda: all(
                len(subs[i].peers) == len(members[i % 3]) - 1 for i in range(20)), 20)
            for t in range(3):
                subs[members[t][0]].emit("m", {"topic": t})
            assert await wait_for(lambda: all(
                got[i] == [{"topic": i % 3}] for i in range(20) if i not in
                (members[0][0], members[1][0], members[2][0])), 20)
            await asyncio.sleep(0.3)  # nothing else may trickle in: non-members cannot read
            for i in range(20):
                assert all(v["topic"] == i % 3 for v in got[i])
    run(scenario(), timeout=90)


def test_emit_many_reaches_batch_and_message_handlers_once_each(run):
    async def scenario():
        key = srpfast.create_shared_key(b"bulk")
        async with mesh(2) as (a, b):
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in sa.peers)
            batches, singles, metas = [], [], []

            def on_values(values, ms):
                batches.append(list(values))
                metas.extend(ms[:])

            sb.on_batch("n", on_values)
            sb.on("n", lambda v, m: singles.append(v))
            values = [{"k": k} for k in range(150)] + [b"raw"]
            ids = sa.emit_many("n", values)
            assert await wait_for(lambda: len(singles) == len(values))
            await asyncio.sleep(0.2)  # and nothing twice
            got = [v for batch in batches for v in batch]
            assert sorted(map(repr, got)) == sorted(map(repr, values)) == sorted(map(repr,
                                                                                   singles))
            assert len(batches) < len(values)  # delivered in batches, not one call each
            assert {m.author for m in metas} == {a.identity.peer_id}
            assert sorted(m.packet_id for m in metas) == sorted(ids)
            # Packed (PROTOCOL.md "Application events"): 151 small values share a few
            # messages, each value's id is its message's, every message through C.
            assert len(ids) == len(values) and len(set(ids)) < len(values) / 10
            assert b.metrics()["deliver.messages"] == len(set(ids))
    run(scenario())


def test_join_and_leave_events_fire_exactly_once(run):
    async def scenario():
        key = srpfast.create_shared_key(b"membership")
        async with mesh(3) as (a, b, c):
            sa = await a.subcluster(shared_key=key)
            joins, leaves = [], []
            sa.on("#join", lambda p: joins.append(p.peer_id))
            sa.on("#leave", lambda p: leaves.append(p.peer_id))
            await b.subcluster(shared_key=key)
            assert await wait_for(lambda: b.identity.peer_id in joins)
            await asyncio.sleep(0.5)
            assert joins == [b.identity.peer_id]  # c never joined this subcluster
            await b.close()
            assert await wait_for(lambda: leaves == [b.identity.peer_id], 15)
            await asyncio.sleep(0.3)
            assert leaves == [b.identity.peer_id] and joins == [b.identity.peer_id]
    run(scenario())


def test_restart_with_saved_identity_and_peers_rejoins(run, tmp_path):
    async def scenario():
        key_path, peers_path = str(tmp_path / "id.key"), str(tmp_path / "peers.json")
        identity = srpfast.create_identity()
        srpfast.save_identity(identity, key_path)
        shared = srpfast.create_shared_key(b"restart")
        async with mesh(3) as nets:
            cluster_id = srpfast.create_cluster_id(b"srpfast tests")
            boot = [("127.0.0.1", nets[0].address[1])]
            s0 = await nets[0].subcluster(shared_key=shared)
            p = await srpfast.network(identity=identity, cluster_id=cluster_id,
                                      host="127.0.0.1", bootstrap=boot, peers_file=peers_path)
            await p.subcluster(shared_key=shared)
            assert await wait_for(lambda: identity.peer_id in s0.peers)
            await p.close()
            saved = json.load(open(peers_path))["peers"]
            assert ["127.0.0.1", nets[0].address[1]] in saved
            again = srpfast.load_identity(key_path)
            # No bootstrap this time: only the saved peers file.
            p2 = await srpfast.network(identity=again, cluster_id=cluster_id, host="127.0.0.1",
                                       peers_file=peers_path)
            try:
                s2 = await p2.subcluster(shared_key=shared)
                assert await wait_for(lambda: nets[0].identity.peer_id in s2.peers)
                assert p2.identity.peer_id == identity.peer_id
            finally:
                await p2.close()
    run(scenario())


def test_offline_sender_and_subscriber_meet_through_relay_caches(run):
    async def scenario():
        shared = srpfast.create_shared_key(b"mailbox")
        cluster_id = srpfast.create_cluster_id(b"srpfast tests")
        async with mesh(4) as relays:
            boot = [("127.0.0.1", relays[0].address[1]), ("127.0.0.1", relays[1].address[1])]
            sender = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1",
                                           bootstrap=boot)
            s = await sender.subcluster(shared_key=shared)
            assert await wait_for(lambda: sender.ready.is_set())
            await asyncio.sleep(0.3)
            mid = await s.emit("letter", {"text": "while you were away"})
            assert await wait_for(lambda: all(
                mid in r.peer.cache for r in relays[:1]) or sum(
                mid in r.peer.cache for r in relays) >= 1, 5)
            await sender.close()
            receiver = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1",
                                             bootstrap=boot)
            try:
                got = []
                r = await receiver.subcluster(shared_key=shared)
                r.on("letter", lambda v, meta: got.append((v, meta.packet_id)))
                assert await wait_for(lambda: got, 20)
                assert got[0] == ({"text": "while you were away"}, mid)
            finally:
                await receiver.close()
    run(scenario())


def test_hard_side_socket_pool_is_fully_released(run):
    async def scenario():
        from srpfast.control import events as ev
        async with mesh(1) as (a,):
            before = _udp.open_fds()
            drv = a._driver
            drv._act(ev.PoolOpen(b"k" * 8, 32))
            assert drv.open_sockets() == 33 and _udp.open_fds() == before + 32 + 1  # + epoll
            drv._act(ev.PoolKeep(b"k" * 8, 5))
            assert drv.open_sockets() == 2 and _udp.open_fds() == before + 1
            drv._act(ev.PoolClose(b"k" * 8))
            assert drv.open_sockets() == 1 and _udp.open_fds() == before
            drv._act(ev.PoolOpen(b"j" * 8, 16))  # still open when the network closes
        assert _udp.open_fds() < before
    run(scenario())


def _read_until(proc, needle: str, timeout: float) -> list[str]:
    """Lines of proc's stdout up to the first containing needle (bounded in time)."""
    import select
    import time
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
    raise AssertionError(f"{needle!r} not seen within {timeout}s: {lines}")


def test_srp_peer_processes_exchange_lines():
    """Two real `srp peer` processes: a line typed into one is printed by the other."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    cmd = [sys.executable, "-m", "srpfast.cli", "peer", "--host", "127.0.0.1", "--join", "t"]
    procs = []
    try:
        # a only listens: headless, with a status line (peers, rx, delivered, drops) every
        # second, so a failure says what a saw. In session 14's CI b missed a's #join: a's
        # JOIN came before b's `await net.subcluster()` returned, and the event was dispatched
        # before `srp peer` registered its handler (fixed in Network.subcluster; see
        # test_members_known_before_subscribing_get_their_join_event). Session 13's one
        # failure (a silent: no #join of b, no line) is not explained by it.
        a = subprocess.Popen(cmd + ["--serve", "--status-interval", "1"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                             env=env)
        procs.append(a)
        first = _read_until(a, " on ", 20)[-1]
        port = int(first.split(" on ")[1].split(",")[0].rsplit(":", 1)[1])
        b = subprocess.Popen(cmd + ["--bootstrap", f"127.0.0.1:{port}"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
        procs.append(b)
        _read_until(b, "#join", 20)  # b has met a in the subcluster
        b.stdin.write("hello from b\n")
        b.stdin.flush()
        _read_until(a, "hello from b", 20)
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


def test_failed_start_and_close_release_the_socket(run, tmp_path):
    async def scenario():
        cluster_id = srpfast.create_cluster_id(b"srpfast tests")
        before = _udp.open_fds()
        # Its only bootstrap entry is IPv6, the socket IPv4: start fails (BootstrapError).
        bad = srpfast.network(cluster_id=cluster_id, host="127.0.0.1", bootstrap="[::1]:9000")
        with pytest.raises(srpfast.BootstrapError):
            await bad.start()
        assert _udp.open_fds() == before
        unwritable = str(tmp_path / "missing-dir" / "peers.json")
        net = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1",
                                    peers_file=unwritable)
        with pytest.raises(OSError):
            await net.close()
        assert _udp.open_fds() == before
    run(scenario())


def test_a_failing_action_is_counted_not_raised(run):
    async def scenario():
        from srpfast.control import events as ev
        async with mesh(1) as (a,):
            a.peer.act(ev.Spray("::1", 4, 1))  # IPv6 target on an IPv4 socket
            a.peer.act(ev.PoolOpen(b"p" * 8, 4))
            a.peer.act(ev.PoolClose(b"p" * 8))
            a._driver.poke()
            assert a._driver.counters.get("action.failed.Spray") == 1
            assert a._driver.open_sockets() == 1  # the later PoolClose still ran
    run(scenario())


def test_members_known_before_subscribing_get_their_join_event(run):
    """A member whose JOIN came before we joined its subcluster (kept in the engine until
    then) is announced with #join to a handler registered right after `await subcluster()`:
    the join's flush runs on the next loop turn, not inside the call (it lost that event, and
    `srp peer` missed its bootstrap peer's #join when that JOIN came first)."""
    async def scenario():
        key = srpfast.create_shared_key(b"known before")
        async with mesh(2) as (a, b):
            await a.subcluster(shared_key=key)
            # b is connected to a and holds a's JOIN for the subcluster it has not joined
            assert await wait_for(lambda: any(
                peer_id == a.identity.peer_id for (_, peer_id) in b.peer.membership.others.keys()))
            sub = await b.subcluster(shared_key=key)
            joined: list[bytes] = []
            sub.on("#join", lambda peer: joined.append(peer.peer_id))
            assert await wait_for(lambda: a.identity.peer_id in joined, timeout=5)
            assert joined.count(a.identity.peer_id) == 1
    run(scenario())
