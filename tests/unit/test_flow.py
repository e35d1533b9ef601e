"""The send window (srpfast/control/flow.py): a publisher keeps at most send_window of its own
frames unacknowledged; the rest waits in a bounded backlog and leaves as fellow members' HAVEs
acknowledge delivery. On the in-memory network (real engines, real crypto)."""
import os

import pytest

from srpfast.wire import constants as C
from srpfast.wire.bodies import SYNC_HAVE
from srpfast.config import Config
from srpfast.errors import CapacityError
from srpfast.wire.frame import decode
from tests.memnet import delivered, joined_pair

CLUSTER = b"\x11" * 32
KEY = b"\x22" * 32
VALUE = os.urandom(1000)  # envelope + 1000 B: two frames per message


def config(**kw):
    return Config(strict=True, clock_offset=0.0, dataplane_delivered=1 << 14, **kw)


def _publish_frames(net, src):
    """Count the PUBLISH frames ``src`` puts on the wire (a filter that drops nothing)."""
    seen = {"n": 0}

    def watch(datagram, s, d):
        if s == src.public and datagram[4] == C.PUBLISH:
            seen["n"] += 1
        return True
    net.filter = watch
    return seen


def test_publisher_sends_at_most_the_window_then_acks_release_the_rest():
    net, a, b, s = joined_pair(3, CLUSTER, KEY, config=config(send_window=64))
    sent = _publish_frames(net, a)
    ids = net.call(a, a.peer.publish_many, s, [VALUE] * 200, now=net.now)
    flow = a.peer.flow
    assert sent["n"] <= 64 + 2           # the window (whole messages: one may overshoot)
    assert flow.backlog_frames == 400 - flow.frames > 0
    assert not flow.open
    net.run(3)
    assert all(delivered(b, mid) for mid in ids)
    assert flow.open and flow.frames == 0 and flow.backlog_frames == 0
    assert a.peer.counters().get("flow.timeout", 0) == 0
    assert a.peer.counters()["flow.acked_frames"] == 400
    assert b.peer.counters()["announce.acks"] >= 400 // 64


def test_nothing_is_tracked_without_a_fellow_member():
    net, a, b, s = joined_pair(4, CLUSTER, KEY, config=config(send_window=64))
    other = net.call(a, a.peer.join, CLUSTER, b"\x33" * 32, now=net.now)  # b is not in it
    net.call(a, a.peer.publish_many, other, [VALUE] * 100, now=net.now)
    assert a.peer.flow.frames == 0 and a.peer.flow.open


def test_unacknowledged_messages_leave_the_window_after_the_timeout():
    net, a, b, s = joined_pair(5, CLUSTER, KEY,
                               config=config(send_window=64, send_window_timeout=0.5))

    def no_have(datagram, src, dst):  # b's HAVEs never reach a
        if src == b.public and datagram[4] == C.SYNC:
            f = decode(datagram)
            return not (f.message and f.message[8] == SYNC_HAVE)
        return True
    net.filter = no_have
    ids = net.call(a, a.peer.publish_many, s, [VALUE] * 100, now=net.now)
    net.run(6)
    assert all(delivered(b, mid) for mid in ids)  # slowed to a window per timeout, not lost
    assert a.peer.counters()["flow.timeout"] >= 100 - 32
    assert a.peer.flow.open


def test_a_full_backlog_refuses_the_publish_and_changes_nothing():
    net, a, b, s = joined_pair(6, CLUSTER, KEY,
                               config=config(send_window=16, send_backlog=100))
    net.call(a, a.peer.publish_many, s, [VALUE] * 40, now=net.now)
    clock, frames = a.peer.clock, a.peer.flow.backlog_frames
    with pytest.raises(CapacityError, match="drain"):
        a.peer.publish_many(s, [VALUE] * 20, now=net.now)
    assert a.peer.clock == clock and a.peer.flow.backlog_frames == frames


def test_emit_refuses_at_once_when_the_backlog_is_full():
    """The API side: emit() raises CapacityError itself (the caller hears it), instead of a
    failed batch later."""
    import asyncio

    import srpfast

    async def scenario():
        key = srpfast.create_shared_key(b"backlog")
        cfg = srpfast.Config(send_window=16, send_backlog=64)
        hub = srpfast.MemoryHub()
        cluster = srpfast.create_cluster_id(b"backlog")
        async with srpfast.network(cluster_id=cluster, host="10.0.0.1", driver=hub,
                                   config=cfg) as a, \
                srpfast.network(cluster_id=cluster, host="10.0.0.2", driver=hub, config=cfg,
                                bootstrap=[a.address]) as b:
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            for _ in range(200):
                if b.identity.peer_id in sa.peers and a.identity.peer_id in sb.peers:
                    break
                await asyncio.sleep(0.01)
            sa.emit_many("v", [VALUE] * 60)  # 120 frames: 16 sent, the rest in the backlog
            with pytest.raises(CapacityError, match="drain"):
                for _ in range(100):
                    sa.emit("v", VALUE)
    asyncio.run(scenario())


def test_a_publish_calls_send_now_once_its_frames_are_queued_before_its_bookkeeping():
    # Peer.send_now (the UDP driver sets it) lets a lone value's frames leave before the
    # publish caches them and counts them: its one-way latency (docs/BENCHMARKS.md).
    net, a, b, s = joined_pair(6, CLUSTER, KEY, config=config())
    peer = a.peer
    at_hook = []

    def announced() -> int:  # lazy push's entries for our own messages (announce.py)
        return sum(len(ids) for ids in peer.announce.fresh_ids.values())

    def send_now():  # what the engine has done when the frames may leave
        at_hook.append((sum(len(f) for f, _ in peer._bulk) // C.PACKET_BYTES, len(peer.cache),
                        peer.counters().get("publish.messages", 0), announced()))
    peer.send_now = send_now
    cached, before = len(peer.cache), announced()
    [mid] = net.call(a, peer.publish_many, s, [VALUE], now=net.now)
    # two frames queued; not announced, cached nor counted yet
    assert at_hook == [(2, cached, 0, before)]
    assert len(peer.cache) == cached + 2 and mid in peer.cache  # then the bookkeeping ran
    assert peer.counters()["publish.messages"] == 1 and announced() == before + 1
    net.run(1)
    assert delivered(b, mid)  # (the hook left them queued: the simulated driver sent them)


def test_delivered_ids_are_recorded_on_the_next_tick_which_acknowledges_them():
    # Announcer.delivered (the C delivery path): lazy push's bookkeeping follows the
    # application's handlers instead of preceding them; the HAVE that acknowledges the
    # author still leaves on the next tick (the next loop turn), as fresh() did.
    net, a, b, s = joined_pair(7, CLUSTER, KEY, config=config())
    ann, mid = b.peer.announce, b"\x07" * 32

    def recorded() -> bool:
        return s in ann.recent and any(mid == i for _, i in ann.recent[s].items())
    acks = b.peer.counters().get("announce.acks", 0)
    ann.delivered(s, [mid], net.now, [a.peer.peer_id])
    assert not recorded() and ann.ack_at == net.now  # a tick is due now, nothing recorded
    net.call(b, b.peer.tick, net.now)
    assert recorded() and mid in ann.fresh_ids[s]  # recorded, in order, then acknowledged
    assert b.peer.counters()["announce.acks"] == acks + 1
    ann.delivered(s, [b"\x08" * 32], net.now, [a.peer.peer_id])
    net.call(b, b.peer.publish_many, s, [VALUE], now=net.now)  # fresh() records it first
    assert [i for _, i in ann.recent[s].items()][-2] == b"\x08" * 32
