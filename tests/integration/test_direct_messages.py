"""Direct messages with honest semantics (issue 11): ``#join`` means "a member is known",
``peer.emit`` waits for a path instead of vanishing, and a message that can never go ends in a
typed error, not silence. Real UDP on loopback, and the engine on the in-memory network."""
from __future__ import annotations

import asyncio

import pytest

import srpfast
from srpfast.config import Config
from srpfast.control.events import StreamData, StreamResult
from srpfast.crypto import create_identity
from tests.memnet import MemNet

from loopback import mesh, wait_for

KEY = srpfast.create_shared_key(b"greetings")


@pytest.mark.slow
@pytest.mark.parametrize("run_no", range(10))
def test_readme_join_then_emit_delivers_every_welcome(run, run_no: int) -> None:
    """The README pattern, 6 peers started together: every member welcomes every other
    member from its #join handler, mostly before any path between them exists."""
    n = 6

    async def scenario() -> None:
        async with mesh(n, cluster=b"readme %d" % run_no) as nets:
            got: dict[int, set[bytes]] = {i: set() for i in range(n)}
            errors: list[object] = []
            for i, net in enumerate(nets):
                net.on("#error", errors.append)
                # A welcome can arrive before its sender's JOIN: it then comes as #stream.
                net.on("#stream", lambda pid, name, v, i=i: got[i].add(pid))
                greetings = await net.subcluster(shared_key=KEY)

                def on_join(peer, i=i) -> None:
                    peer.on("welcome", lambda value, meta, i=i, pid=peer.peer_id:
                            got[i].add(pid))
                    peer.emit("welcome", {"to": peer.peer_id.hex()})

                greetings.on("#join", on_join)
            ids = [net.identity.peer_id for net in nets]
            want = {i: set(ids) - {ids[i]} for i in range(n)}
            assert await wait_for(lambda: all(got[i] == want[i] for i in range(n)), 20), (
                {i: len(got[i]) for i in range(n)})
            assert not errors
            for net in nets:
                m = net.metrics()
                assert m.get("stream.expired", 0) == 0 and m.get("stream.overflow", 0) == 0
    run(scenario(), timeout=60)


@pytest.mark.slow
def test_send_to_a_peer_that_never_becomes_reachable_raises_delivery_error(run) -> None:
    async def scenario() -> None:
        cfg = Config(stream_queue_age=1.0, maintenance_interval=0.2)
        async with mesh(2, config=cfg) as (a, b):
            sub = await a.subcluster(shared_key=KEY)
            ghost = srpfast.RemotePeer(a, create_identity(b"\x51" * 32).peer_id)
            errors: list[object] = []
            a.on("#error", errors.append)
            with pytest.raises(srpfast.DeliveryError, match="no path"):
                await asyncio.wait_for(ghost.send("hello", {"x": 1}), 10)
            ghost.emit("hello", {"x": 2})  # fire and forget: the drop still surfaces
            assert await wait_for(lambda: bool(errors), 10)
            assert a.metrics()["stream.expired"] == 2
            assert sub is not None
    run(scenario(), timeout=30)


def test_engine_queues_a_direct_message_until_the_peer_connects() -> None:
    cfg = Config(strict=True, clock_offset=0.0)
    net = MemNet(seed=5, config=cfg)
    a, b = net.add("static"), net.add("static")
    ticket, sent = net.call(a, a.peer.stream, b.peer.peer_id, b"early bird", now=net.now)
    assert not sent and a.peer.counters()["stream.queued"] == 1
    net.run(2)
    assert not b.of(StreamData)
    net.call(b, b.peer.add_peer, a.public, net.now)  # now a path appears
    net.run(2)
    assert [e.data for e in b.of(StreamData)] == [b"early bird"]
    assert a.of(StreamResult) == [StreamResult(ticket, b.peer.peer_id, None)]
    assert a.peer.streams.queued_bytes == 0


def test_engine_direct_message_queue_is_bounded_by_bytes() -> None:
    cfg = Config(strict=True, clock_offset=0.0, stream_queue_bytes=64 * 1024)
    net = MemNet(seed=6, config=cfg)
    a = net.add("static")
    nobody = create_identity(b"\x52" * 32).peer_id
    for _ in range(2):
        net.call(a, a.peer.stream, nobody, b"x" * 30_000, now=net.now)
    with pytest.raises(srpfast.CapacityError, match="stream_queue_bytes"):
        a.peer.stream(nobody, b"x" * 30_000, now=net.now)
    assert a.peer.counters()["stream.overflow"] == 1
    assert a.peer.streams.queued_bytes == 60_000
