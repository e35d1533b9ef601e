"""The engine with the C data plane (srpfast.dataplane._dataplane) and real loopback batches."""
from __future__ import annotations

import random

import pytest

from srpfast.wire import constants as C
from srpfast.config import Config
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer
from srpfast.wire.frame import encode, packet_id
from tests.memnet import MemNet, delivered, joined_pair

CLUSTER = create_cluster_id(b"engine tests")
KEY = create_shared_key(b"subcluster")


def test_dataplane_relays_and_hands_up_what_the_engine_must_see() -> None:
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    import ipaddress

    from srpfast.dataplane.cache import source_key

    def resolve(address) -> bytes:  # a stand-in sockaddr layout: ip(4) + port(2) + zeros
        raw = ipaddress.ip_address(address[0]).packed + address[1].to_bytes(2, "big")
        return raw + bytes(dataplane.ADDR_BYTES - len(raw))

    net = MemNet(seed=31)
    nodes = [net.add("static") for _ in range(6)]
    net.bootstrap(nodes, nodes[0])
    net.run(5)
    relay, author = nodes[0], nodes[1]
    assert author.peer.peer_id in relay.peer.table  # so the author's frames come direct
    s = net.call(relay, relay.peer.join, CLUSTER, KEY, now=net.now)
    net.call(author, author.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1)
    dp = dataplane.DataPlane(relay.peer.cache, fanout=3, max_hops=16, seed=5, max_batch=64)
    relay.peer.attach_dataplane(dp, resolve=resolve, key=source_key)
    captured = []
    # (ANSWERs too: the relay is a fellow member, so the author's lazy push would let it
    # pull the message: announce.py)
    net.filter = lambda d, src, dst: not (d[4] in (C.PUBLISH, C.ANSWER) and dst == relay.public
                                          and (d[4] == C.ANSWER or captured.append(d) is None))
    payload = b"through C " * 400
    mid = net.call(author, author.peer.publish, s, payload, now=net.now)
    net.run(0.5)
    assert captured and not delivered(relay, mid)
    unique = {packet_id(d): d for d in reversed(captured)}  # others relayed copies too
    captured = [d for d in captured if unique.pop(packet_id(d), None) is not None]
    captured = [d[:6] + b"\x00" + d[7:] for d in captured]  # as if straight from the author
    assert len(captured) == 5  # 4000 bytes sealed: five fragments
    buf = b"".join(captured)
    keys = __import__("array").array("Q", [source_key(author.public)] * len(captured))
    n_out = dp.process(buf, len(captured), keys=keys, now=net.now)
    others = {resolve(n.public) for n in nodes[2:]}
    out_addrs = bytes(dp.out_addrs)
    dests = [out_addrs[i:i + dataplane.ADDR_BYTES]
             for i in range(0, len(out_addrs), dataplane.ADDR_BYTES)]
    assert n_out == 3 * len(captured) and set(dests) <= others  # never back to the sender
    out = bytes(dp.out_frames)
    assert all(out[i * C.PACKET_BYTES + 6] == 1 for i in range(n_out))  # hops + 1
    # All five fragments came in one batch: assembled, opened and verified in C (issue 17).
    assert dp.n_up == 0 and dp.n_msgs == 1
    _, ids, payloads, authors, prevs, _, _ = dp.messages()
    assert ids == [mid] and payloads == [payload] and authors == [author.peer.peer_id]
    assert dp.counters()["deliver.assembled"] == 1
    assert all(packet_id(d) in relay.peer.cache for d in captured)
    # The same frames again are duplicates for the data plane.
    assert dp.process(buf, len(captured), keys=keys, now=net.now) == 0
    assert relay.peer.counters()["dataplane.pushes"] >= 2


def test_fragments_split_over_batches_go_up_to_the_control_plane() -> None:
    """A message whose fragments arrive in different receive batches cannot be assembled in
    C: each batch hands its fragments up (UP_DELIVER) and the control plane reassembles."""
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    from srpfast.dataplane.cache import source_key
    net, a, b, s = joined_pair(41, CLUSTER, KEY)
    dp = dataplane.DataPlane(b.peer.cache, fanout=3, max_hops=16, seed=5, max_batch=64)
    b.peer.attach_dataplane(dp, resolve=lambda addr: bytes(dataplane.ADDR_BYTES),
                            key=source_key)
    assert dp.carry_fragments  # the engine's link takes fragments for its carry (carry.py)
    dp.carry_fragments = False  # here: the plain hand-up list
    captured: list[bytes] = []
    net.filter = lambda d, src, dst: not (d[4] in (C.PUBLISH, C.ANSWER) and dst == b.public
                                          and (d[4] == C.ANSWER or captured.append(d) is None))
    mid = net.call(a, a.peer.publish, s, b"split " * 700, now=net.now)
    net.run(0.2)
    net.filter = None
    assert len(captured) == 5
    keys = __import__("array").array("Q", [source_key(a.public)] * 5)
    ups = []
    for part in (captured[:3], captured[3:]):
        dp.process(b"".join(part), len(part), keys=keys[:len(part)], now=net.now)
        assert dp.n_msgs == 0 and dp.n_frags == 0
        ups += [(part[i], k) for i, k in (dp.up(j) for j in range(dp.n_up))]
    assert [k for _, k in ups] == [dataplane.UP_DELIVER] * 5
    for frame, _ in ups:
        net.call(b, b.peer.receive_delivered, frame, a.public, net.now)
    [got] = delivered(b, mid)
    assert got.payload == b"split " * 700 and got.author == a.peer.peer_id


def test_recv_batch_goes_through_the_data_plane_on_loopback() -> None:
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    import select

    from srpfast.control.dataplane import udp_address_key

    socks = [udp.UDPSocket("127.0.0.1", 0) for _ in range(5)]
    try:
        relay_sock, src_sock, dests = socks[0], socks[1], socks[2:]
        relay = Peer(create_identity(b"\x11" * 32), Config(strict=True, clock_offset=0.0),
                     now=100.0, rng=random.Random(1), address=relay_sock.local_address)
        author = Peer(create_identity(b"\x12" * 32), Config(strict=True, clock_offset=0.0),
                      now=100.0, rng=random.Random(2))
        dp = dataplane.DataPlane(relay.cache, fanout=3, max_hops=16, seed=3, max_batch=64)
        relay.attach_dataplane(dp, resolve=relay_sock.resolve, key=udp_address_key)
        for i, d in enumerate(dests):  # table state: three forwarding candidates
            relay.table.upsert(bytes([0x20 + i]) * 32, d.local_address, 2, 100.0)
        relay.table.upsert(author.peer_id, src_sock.local_address, 2, 100.0)
        relay.tick(101.0)  # maintenance pushes the candidates down
        relay.datagrams_to_send()  # (its heartbeat pings)
        author.ping(relay_sock.local_address, 101.0)
        frames = [encode(type=C.PUBLISH, message=b"relay me %d" % i) for i in range(10)]
        frames.append(b"short")  # malformed: dropped and counted in C
        outgoing = [d for d, _ in author.datagrams_to_send()] + frames
        src_sock.send_batch(outgoing, [relay_sock.local_address] * len(outgoing))
        got = []
        while len(got) < len(outgoing) and select.select([relay_sock.fileno()], [], [], 2)[0]:
            batch = relay_sock.recv_batch()
            assert all(k == udp_address_key(src_sock.local_address) for k in batch.keys)
            got.extend(range(len(batch)))
            relay.receive_batch(batch, 101.0)
        assert len(got) == len(outgoing)
        prepared = relay.prepared_to_send()
        assert sum(len(f) // C.PACKET_BYTES for f, _, _ in prepared) == 30
        for f, a, _ in prepared:
            relay_sock.send_prepared(f, a)
        seen = []
        for d in dests:
            while select.select([d.fileno()], [], [], 0.5)[0]:
                b = d.recv_batch()
                if not len(b):
                    break
                seen += [b.frame(i) for i in range(len(b))]
                if len(seen) >= 30:
                    break
        assert len(seen) == 30 and all(x[6] == 1 for x in seen)  # hops + 1, never the sender
        c = relay.counters()
        assert c["dataplane.forwarded"] == 30 and c["dataplane.size"] == 1
        assert c["rx.ping"] == 1  # the PING went up to the control plane and was answered
        [(pong, to)] = relay.datagrams_to_send()
        assert to == src_sock.local_address and pong[4] == C.PONG
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_udp_address_key_equals_the_kernel_batch_key(host: str) -> None:
    udp = pytest.importorskip("srpfast.drivers._udp")
    import select

    from srpfast.control.dataplane import udp_address_key
    try:
        a, b = udp.UDPSocket(host, 0), udp.UDPSocket(host, 0)
    except OSError:
        pytest.skip(f"no {host} on this machine")
    try:
        b.send_batch([b"x" * 1158], [a.local_address])
        assert select.select([a.fileno()], [], [], 2)[0]
        batch = a.recv_batch()
        assert list(batch.keys) == [udp_address_key(b.local_address)]
    finally:
        a.close()
        b.close()


def test_a_member_behind_the_data_plane_keeps_the_copy_that_opens() -> None:
    """SPEC 9.1 through C: the forged copy is cached first, the real one comes up as
    UP_VARIANT, is delivered, and replaces the forged copy in the cache."""
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    from srpfast.control.events import Delivered
    from tests.memnet import joined_pair

    net, a, b, s = joined_pair(171, CLUSTER, KEY)
    dp = dataplane.DataPlane(b.peer.cache, fanout=3, max_hops=16, seed=5, max_batch=64)
    b.peer.attach_dataplane(dp, resolve=lambda addr: bytes(dataplane.ADDR_BYTES))
    net.filter = lambda d, src, dst: d[4] != C.PUBLISH
    mid = net.call(a, a.peer.publish, s, b"through C, once", now=net.now)
    real = a.peer.cache.get(mid)
    forged = bytearray(real)
    forged[8:12] = (77).to_bytes(4, "big")
    batch = [bytes(forged), real]  # one receive batch: C sees both before Python sees any
    dp.process(b"".join(batch), 2, now=net.now)
    for j in range(dp.n_up):
        i, kind = dp.up(j)
        b.peer.receive_delivered(batch[i], a.public, net.now, kind == dataplane.UP_VARIANT)
    got = [e.payload for e in b.peer.events() if isinstance(e, Delivered)]
    assert got == [b"through C, once"]
    assert b.peer.cache.get(mid)[8:12] == real[8:12]
    counters = b.peer.counters()
    assert counters["publish.forged_evicted"] == 1 and counters["publish.variant_adopted"] == 1


def test_whole_messages_reach_the_engine_as_batches_from_c_on_loopback() -> None:
    """A member behind the data plane: one-frame messages are opened and verified in C and
    come out as DeliveredBatch events; a fragmented message still takes the control-plane
    path (Delivered); a message whose predecessor is missing is held until it comes (SPEC 6
    ordering), and nothing is delivered twice across the two paths."""
    pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    import select

    from srpfast.dataplane._dataplane import DataPlane
    from srpfast.control.dataplane import udp_address_key
    from srpfast.control.events import Delivered, DeliveredBatch

    def publish(peer: Peer, sub: bytes, messages: list[bytes]) -> list[bytes]:
        peer.publish_many(sub, messages, now=100.0)
        return [d for d, _ in peer.datagrams_to_send() if d[4] == C.PUBLISH]

    rx, tx = udp.UDPSocket("127.0.0.1", 0), udp.UDPSocket("127.0.0.1", 0)
    try:
        member = Peer(create_identity(b"\x31" * 32), Config(strict=True), now=100.0,
                      rng=random.Random(1), address=rx.local_address)
        author = Peer(create_identity(b"\x32" * 32), Config(strict=True), now=100.0,
                      rng=random.Random(2))
        sub = member.join(CLUSTER, KEY, now=100.0)
        author.join(CLUSTER, KEY, now=100.0)
        author.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 100.0)  # a next hop
        author.datagrams_to_send()
        member.attach_dataplane(DataPlane(member.cache, max_batch=rx.batch),
                                resolve=rx.resolve, key=udp_address_key)
        member.datagrams_to_send()
        bulk = publish(author, sub, [b"bulk %d" % k for k in range(20)])
        long = publish(author, sub, [b"L" * 2500])          # three fragments
        first = publish(author, sub, [b"first"])
        second = publish(author, sub, [b"second"])          # previousId = first's id

        def deliver(frames: list[bytes]) -> list:
            tx.send_batch(frames, [rx.local_address] * len(frames))
            got = 0
            while got < len(frames) and select.select([rx.fileno()], [], [], 2)[0]:
                batch = rx.recv_batch()
                got += len(batch)
                member.receive_batch(batch, 100.5)
            assert got == len(frames)
            return [e for e in member.events() if isinstance(e, (Delivered, DeliveredBatch))]

        events = deliver(bulk + long + second)
        [batch] = [e for e in events if isinstance(e, DeliveredBatch)]
        # (the three fragments of the long one came in the same batch: assembled in C too)
        assert batch.payloads == [b"bulk %d" % k for k in range(20)] + [b"L" * 2500]
        assert batch.subcluster_id == sub and set(batch.authors) == {author.peer_id}
        assert [e.payload for e in batch.events()] == batch.payloads
        assert not [e for e in events if isinstance(e, Delivered)]
        assert member.counters()["deliver.held"] == 1  # "second" waits for "first"
        events = deliver(first)
        assert [type(e).__name__ for e in events] == ["DeliveredBatch", "Delivered"]
        assert events[0].payloads == [b"first"] and events[1].payload == b"second"
        # Every frame again, through the control plane's own path: all known, none delivered.
        for frame in bulk + long + first + second:
            member.receive(frame, tx.local_address, 100.6)
        assert not [e for e in member.events() if isinstance(e, (Delivered, DeliveredBatch))]
        c = member.counters()
        assert c["deliver.messages"] == 23 and c["dataplane.deliver.ok"] == 22
        assert c["dataplane.deliver.fragment"] == 3
    finally:
        rx.close()
        tx.close()
