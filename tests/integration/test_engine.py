"""The sans-I/O engine on the in-memory network (tests/memnet.py): virtual time, no sockets.

Hostile input: test_engine_hostile.py; the C data plane: test_engine_dataplane.py."""
from __future__ import annotations

import random
from functools import partial

from srpfast.wire import constants as C
from srpfast.config import Config
from srpfast.control.events import (Connection, Delivered, Disconnection, Join as JoinEvent,
                                    Leave, Ready, StreamData)
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer
from srpfast.wire.frame import encode, packet_id
from srpfast.sim.natmatrix import introduce_pair
from tests.memnet import MemNet, delivered, joined_pair, mesh, pair

CLUSTER = create_cluster_id(b"engine tests")
KEY = create_shared_key(b"subcluster")
_mesh = partial(mesh, cluster_id=CLUSTER, shared_key=KEY)


def test_two_peers_connect_with_proofs_and_exchange() -> None:
    net, a, b = pair()
    assert b.peer.peer_id in a.peer.table and a.peer.peer_id in b.peer.table
    assert [e.peer_id for e in a.of(Connection)] == [b.peer.peer_id]
    assert b.of(Ready) and b.of(Ready)[0].address == b.public
    assert a.peer.counters()["rx.ping"] >= 1 and b.peer.counters()["rx.pong"] >= 1
    # distance = ping -> pong delay, bounded by the network's two-way delay
    assert 0.0 < a.peer.table.get(b.peer.peer_id).distance <= 0.061 or \
        0.0 < b.peer.table.get(a.peer.peer_id).distance <= 0.061

    sa = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    sb = net.call(b, b.peer.join, CLUSTER, KEY, now=net.now)
    assert sa == sb != C.ZERO32
    net.run(1)
    assert [e.peer_id for e in a.of(JoinEvent)] == [b.peer.peer_id]
    assert [e.peer_id for e in b.of(JoinEvent)] == [a.peer.peer_id]

    big = bytes(range(256)) * 20  # 5120 bytes: 6 sealed fragments
    mid = net.call(a, a.peer.publish, sa, big, now=net.now)
    net.run(1)
    [got] = delivered(b, mid)
    assert got.payload == big and got.author == a.peer.peer_id and got.hops == 0
    assert got.previous_id == C.ZERO32 and got.clock >= 1
    mid2 = net.call(a, a.peer.publish, sa, b"second", now=net.now)
    net.run(1)
    [got2] = delivered(b, mid2)
    assert got2.previous_id == mid and got2.clock > got.clock  # causal chain (SPEC 2)
    assert not delivered(a, mid)  # the author does not deliver to itself

    net.call(b, b.peer.stream, a.peer.peer_id, b"direct bytes" * 300, now=net.now)
    net.run(1)
    assert [e.data for e in a.of(StreamData)] == [b"direct bytes" * 300]
    assert a.of(StreamData)[0].peer_id == b.peer.peer_id

    # Keep-alive holds the connection over many intervals; silence ends it.
    net.run(200)
    assert b.peer.peer_id in a.peer.table and not a.of(Disconnection)
    b.online = False
    net.run(a.peer.config.peer_expiry + 5)
    assert [e.peer_id for e in a.of(Disconnection)] == [b.peer.peer_id]
    assert [e.peer_id for e in a.of(Leave)] == [b.peer.peer_id]  # leave really removes it
    assert not a.peer.membership.is_member(sa, b.peer.peer_id)


def test_leave_join_fires_leave_event() -> None:
    net, a, b, s = joined_pair(3, CLUSTER, KEY)
    net.call(b, b.peer.leave, s, now=net.now)
    net.run(1)
    assert [e.peer_id for e in a.of(Leave)] == [b.peer.peer_id]
    assert not a.peer.membership.is_member(s, b.peer.peer_id)
    assert b.peer.peer_id in a.peer.table  # leaving a subcluster is not disconnecting


def test_membership_only_for_that_subcluster() -> None:
    net, a, b = pair(seed=4)
    s1 = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    net.call(b, b.peer.join, CLUSTER, create_shared_key(b"other"), now=net.now)
    net.run(1)
    assert not a.of(JoinEvent) and not b.of(JoinEvent)
    assert not a.peer.membership.is_member(s1, b.peer.peer_id)


def test_reflection_classifies_static_easy_hard() -> None:
    net = MemNet(seed=5)
    s1, s2 = net.add("static"), net.add("static")
    e, h = net.add("easy"), net.add("hard")
    for n in (s2, e, h):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    for n in (e, h):
        net.call(n, n.peer.add_peer, s2.public, net.now)
    net.call(s1, s1.peer.add_peer, s2.public, net.now)
    net.run(40)
    assert s1.peer.nat == "static" and s2.peer.nat == "static"
    assert e.peer.nat == "easy" and h.peer.nat == "hard"
    assert e.peer.info()["public_address"] == e.public
    assert e.of(Ready)


def test_reflection_never_stalls_without_reflectors() -> None:
    net, a, b = pair(seed=6)
    net.run(120)
    r = a.peer.reflection
    assert r.ready and a.peer.counters().get("reflect.too_few", 0) >= 2
    # backoff grows but stays capped, so it keeps trying
    assert r.next_round - net.now <= a.peer.config.reflect_backoff_max + 1


def _traversal_net(seed: int, kinds: tuple[str, str]):
    net = MemNet(seed=seed)
    x, y = introduce_pair(net, kinds, CLUSTER, KEY)
    return net, x, y


def test_easy_and_hard_connect_by_birthday_paradox() -> None:
    net, e, h = _traversal_net(2, ("easy", "hard"))
    net.run(15)
    assert e.peer.nat == "easy" and h.peer.nat == "hard"
    assert 0 < e.sprayed <= 2 * e.peer.config.bdp_burst + e.peer.config.bdp_probes
    assert h.peer.counters()["pool.kept"] == 1
    key, index = h.peer.table.get(e.peer.peer_id).pool
    assert list(h.pools) == [key]  # the other pool sockets were released (PoolKeep)
    kept = [s for s, (n, k, i) in net.sockets.items() if k == key]
    assert len(kept) == 1 and net.sockets[kept[0]][2] == index
    assert e.peer.peer_id in h.peer.table and h.peer.peer_id in e.peer.table
    # Data flows over the kept pool socket.
    net.call(h, h.peer.stream, e.peer.peer_id, b"through the pool", now=net.now)
    net.run(1)
    assert [x.data for x in e.of(StreamData)] == [b"through the pool"]
    net.call(e, e.peer.stream, h.peer.peer_id, b"back", now=net.now)
    net.run(1)
    assert [x.data for x in h.of(StreamData)] == [b"back"]


def test_hard_and_hard_relay_through_introducer() -> None:
    net, h1, h2 = _traversal_net(8, ("hard", "hard"))
    net.run(5)
    assert h2.peer.peer_id not in h1.peer.table
    assert h1.peer.counters().get("intro.relay", 0) >= 1
    net.call(h1, h1.peer.stream, h2.peer.peer_id, b"relayed", now=net.now)
    net.run(1)
    assert [x.data for x in h2.of(StreamData)] == [b"relayed"]
    assert sum(n.peer.counters().get("relay.frames", 0) for n in net.nodes) >= 1


def test_publish_reaches_every_subscriber_and_no_outsider() -> None:
    net, nodes, sub = _mesh(11)
    max_hops = []
    # (frames only: a BDP probe or pool opener is 4 bytes, no header)
    net.filter = lambda d, src, dst: (len(d) > 6 and max_hops.append(d[6])) or True
    outsider_key = create_shared_key(b"eavesdropper")
    for x in nodes[45:]:  # same cluster, another subcluster: cannot read ours
        net.call(x, x.peer.join, CLUSTER, outsider_key, now=net.now)
    author = nodes[9]
    secret = b"for members only " * 100
    mid = net.call(author, author.peer.publish, sub, secret, now=net.now)
    net.run(40)
    members = [x for x in nodes[:40] if x is not author]
    missing = [net.index(x) for x in members if len(delivered(x, mid)) != 1]
    assert missing == []
    assert all(not delivered(x, mid) for x in nodes[40:])
    # Relays carried it (it is cached well beyond the members) but never in clear.
    holders = sum(mid in x.peer.cache for x in nodes[40:])
    assert holders >= 1
    for x in nodes:
        for pid in x.peer.cache.ids_with_prefix("", limit=10_000):
            assert b"for members only" not in x.peer.cache.get(pid)
    assert max(max_hops) <= C.MAX_HOPS


def test_hops_never_pass_max_hops() -> None:
    net, a, b = pair(seed=12)
    s = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    net.call(b, b.peer.join, CLUSTER, KEY, now=net.now)
    c = net.add("static")
    net.call(c, c.peer.add_peer, b.public, net.now)
    net.run(1)
    mid = net.call(a, a.peer.publish, s, b"x", now=net.now)
    frame = a.peer.cache.get(mid)
    assert frame is not None
    at16, at17 = bytearray(frame), bytearray(frame)
    at16[6], at17[6] = 16, 17
    fresh = Peer(create_identity(b"\x09" * 32), net.config, now=net.now)
    fresh.receive(bytes(at17), a.public, net.now)
    assert fresh.counters()["drop.hops"] == 1 and mid not in fresh.cache
    # A frame already at 16 hops is cached but never forwarded.
    c.peer.datagrams_to_send()
    c.peer.receive(bytes(at16), a.public, net.now)
    assert c.peer.counters()["publish.hop_limit"] == 1 and mid in c.peer.cache
    assert not [d for d, _ in c.peer.datagrams_to_send() if d[4] == C.PUBLISH]
    # and a relay adds exactly one hop
    at3 = bytearray(frame)
    at3[6] = 3
    d = Peer(create_identity(b"\x0a" * 32), net.config, now=net.now)
    d.table.upsert(b"\x01" * 32, ("10.9.9.9", 1), 0, net.now)
    d.receive(bytes(at3), ("10.9.9.8", 1), net.now)
    out = [x for x, _ in d.datagrams_to_send() if x[4] == C.PUBLISH]
    assert out and all(x[6] == 4 for x in out)


def test_offline_peer_catches_up_by_sync() -> None:
    net, nodes, sub = _mesh(13, n=20, members=20)
    late = nodes[15]
    late.online = False
    mid = net.call(nodes[2], nodes[2].peer.publish, sub, b"while you were away", now=net.now)
    net.run(20)
    assert not delivered(late, mid)
    late.online = True
    net.run(120)
    assert [e.payload for e in delivered(late, mid)] == [b"while you were away"]
    assert late.peer.counters().get("rx.answer", 0) >= 1


def test_missing_fragment_is_fetched_by_query() -> None:
    net, a, b, s = joined_pair(14, CLUSTER, KEY)
    payload = bytes(random.Random(1).randbytes(3000))
    dropped = []

    def lose_second_fragment(d: bytes, src, dst) -> bool:
        if d[4] == C.PUBLISH and d[12:14] == b"\x00\x01" and not dropped:
            dropped.append(d)
            return False
        return True

    net.filter = lose_second_fragment
    mid = net.call(a, a.peer.publish, s, payload, now=net.now)
    net.run(0.5)
    assert dropped and not delivered(b, mid)
    net.run(5)
    [got] = delivered(b, mid)
    assert got.payload == payload
    assert b.peer.counters()["tx.query"] >= 1 and a.peer.counters()["query.answered"] >= 1


def test_opened_fragments_leave_with_the_message_the_reassembler_gave_up() -> None:
    net, a, b, s = joined_pair(14, CLUSTER, KEY, config=Config(reassembly_timeout=3.0))
    # fragment 1 never arrives, neither as a PUBLISH nor as an ANSWER to the queries
    net.filter = lambda d, src, dst: not (d[4] in (C.PUBLISH, C.ANSWER)
                                          and d[12:14] == b"\x00\x01")
    mid = net.call(a, a.peer.publish, s, bytes(random.Random(1).randbytes(3000)), now=net.now)
    r = b.peer.replication
    held = 0
    for _ in range(40):
        net.run(0.25)
        held = max(held, len(r._plain))
        # (only while the reassembler holds the fragments: no opened plaintext outlives them)
        assert len(r._plain) <= 3 * len(r.reassembler)
    assert held == 3 and len(r.reassembler) == 0 and len(r._plain) == 0
    assert not delivered(b, mid)


def test_ordered_delivery_waits_for_previous() -> None:
    net, a, b, s = joined_pair(15, CLUSTER, KEY)
    first_frames = []
    net.filter = lambda d, src, dst: not (d[4] == C.PUBLISH and not first_frames
                                          and first_frames.append(d) is None)
    m1 = net.call(a, a.peer.publish, s, b"one", now=net.now)
    net.run(0.1)
    net.filter = None
    m2 = net.call(a, a.peer.publish, s, b"two", now=net.now)
    net.run(3)
    order = [e.message_id for e in b.of(Delivered)]
    assert order == [m1, m2]  # m2 was held until m1 was fetched by QUERY


def test_same_seed_same_event_log() -> None:
    def run_once() -> list:
        net, nodes, sub = _mesh(21, n=16, members=12, loss=0.05, duplicate=0.05)
        mid = net.call(nodes[1], nodes[1].peer.publish, sub, b"deterministic", now=net.now)
        net.run(20)
        return net.log + [(0, 0, mid.hex())]

    first, second = run_once(), run_once()
    assert first == second
    assert any("Delivered" in e[2] for e in first) and any("Connection" in e[2] for e in first)


def test_lossy_reordering_mesh_still_delivers_to_every_member() -> None:
    net, nodes, sub = _mesh(41, n=30, members=24, loss=0.1, duplicate=0.05, delay=(0.005, 0.2))
    mid = net.call(nodes[1], nodes[1].peer.publish, sub, b"lossy " * 1000, now=net.now)
    net.run(60)
    members = [x for x in nodes[:24] if x is not nodes[1]]
    assert [net.index(x) for x in members if len(delivered(x, mid)) != 1] == []
    assert sum(x.peer.counters().get("publish.duplicate", 0)
               + x.peer.counters().get("dataplane.duplicate", 0) for x in nodes) > 0


def test_answers_follow_the_query_path_back() -> None:
    # a - b - c in a line: only c holds the packet; a asks b, b asks c, the ANSWER comes back
    # through b to a and nowhere else (SPEC 9.8). intro_peers=0 keeps it a line (b would
    # otherwise introduce a and c, and a's one query could go straight to c).
    net = MemNet(seed=51, config=Config(strict=True, clock_offset=0.0, query_fanout=1,
                                        want_peers=1, seek_interval=1e6, push_count=0,
                                        sync_interval=1e6, intro_peers=0))
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.call(a, a.peer.add_peer, b.public, net.now)
    net.call(c, c.peer.add_peer, b.public, net.now)
    net.run(1)
    assert c.peer.peer_id not in a.peer.table
    sa = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    net.call(c, c.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1)
    # c publishes while b loses every packet c sends (and c's SYNC pushes): only c caches it.
    net.filter = lambda d, src, dst: not (src == c.public and d[4] in (C.PUBLISH, C.ANSWER))
    mid = net.call(c, c.peer.publish, sa, b"deep", now=net.now)
    net.run(40)
    assert mid in c.peer.cache and mid not in b.peer.cache and mid not in a.peer.cache
    answers = []
    net.filter = lambda d, src, dst: answers.append((src, dst)) or True if d[4] == C.ANSWER \
        else True
    net.call(a, a.peer.replication.want, mid, net.now)
    net.run(2)
    assert (c.public, b.public) in answers and (b.public, a.public) in answers
    assert all(dst in (a.public, b.public) for _, dst in answers)
    [got] = delivered(a, mid)
    assert got.payload == b"deep"
    assert b.peer.counters()["answer.routed"] >= 1 and b.peer.counters()["query.forwarded"] >= 1


def test_far_members_are_refreshed_by_announces_and_expire_when_silent() -> None:
    cfg = Config(strict=True, clock_offset=0.0, intro_peers=0, join_interval=20.0,
                 member_ttl=60.0, seek_interval=1e6)
    net = MemNet(seed=61, config=cfg)
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.call(a, a.peer.add_peer, b.public, net.now)
    net.call(c, c.peer.add_peer, b.public, net.now)
    net.run(1)
    s = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    net.call(c, c.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1)
    assert c.peer.peer_id not in a.peer.table  # c is known only through b's relay
    assert [e.peer_id for e in a.of(JoinEvent)] == [c.peer.peer_id]
    net.run(200)  # > 3 x member_ttl: announces (hops 1, relayed by b) keep c a member
    assert not a.of(Leave) and a.peer.membership.is_member(s, c.peer.peer_id)
    assert b.peer.counters().get("tx.intro", 0) == 0  # announces never introduce
    c.online = False
    net.run(cfg.member_ttl + cfg.join_interval + 5)
    assert [e.peer_id for e in a.of(Leave)] == [c.peer.peer_id]
    assert not a.peer.membership.is_member(s, c.peer.peer_id)


def test_offline_peer_gets_the_packet_from_expiry_rebroadcast() -> None:
    # SYNC and pushes are starved (budget 1, push 0) so only expiry can bring the packet.
    cfg = Config(strict=True, clock_offset=0.0, cache_ttl=5, sync_budget=1, push_count=0)
    net = MemNet(seed=71, config=cfg)
    a, b, late = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([a, b, late], a)
    net.run(3)
    s = [net.call(x, x.peer.join, CLUSTER, KEY, now=net.now) for x in (a, b, late)][0]
    net.run(1)
    late.online = False
    mid = net.call(a, a.peer.publish, s, b"after expiry", now=net.now)
    net.run(2)
    assert delivered(b, mid) and not delivered(late, mid)
    late.online = True
    net.run(10)
    [got] = delivered(late, mid)
    assert got.payload == b"after expiry"
    assert a.peer.counters()["expiry.rebroadcast"] >= 1
    assert sum(x.peer.counters().get("sync.pushed", 0) for x in (a, b)) == 0
    frame = late.peer.cache.get(mid)
    assert frame is None or frame[20] < cfg.postage  # postage was spent on the way


def test_address_change_reclassifies_and_peers_follow() -> None:
    from srpfast.control.events import NetworkChange
    net = MemNet(seed=81)
    s1, s2 = net.add("static"), net.add("static")
    e = net.add("easy", filtering="open")
    net.call(s2, s2.peer.add_peer, s1.public, net.now)
    for x in (s1, s2):
        net.call(e, e.peer.add_peer, x.public, net.now)
    net.run(40)
    assert e.peer.nat in ("easy", "static") and e.of(Ready)
    old_public = e.peer.info()["public_address"]
    # The NAT reboots with a new public address (DHCP lease, roaming): mappings are gone.
    nat = e.nat
    del net.nats[nat.host]
    nat.host = "100.99.0.1"
    nat.reset()
    net.nats[nat.host] = nat
    net.run(70)
    changes = e.of(NetworkChange)
    assert changes and changes[-1].address[0] == "100.99.0.1" != old_public[0]
    assert s1.peer.table.get(e.peer.peer_id).address[0] == "100.99.0.1"  # proven move
    # classified again: by the change detector or by the next scheduled round, whichever first
    assert e.peer.counters()["reflect.classified"] >= 2


def test_concurrent_fragmented_messages_and_streams_never_clobber() -> None:
    net = MemNet(seed=91, delay=(0.001, 0.3))  # heavy reordering
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([a, b, c], a)
    net.run(3)
    s = [net.call(x, x.peer.join, CLUSTER, KEY, now=net.now) for x in (a, b, c)][0]
    net.run(2)
    rng = random.Random(5)
    authors = (a, b)
    payloads = [[rng.randbytes(rng.randint(2000, 9000)) for _ in range(3)] for _ in authors]
    ids = {}
    for i in range(3):
        for k, x in enumerate(authors):
            ids[net.call(x, x.peer.publish, s, payloads[k][i], now=net.now)] = payloads[k][i]
            net.call(x, x.peer.stream, c.peer.peer_id, payloads[k][i][::-1], now=net.now)
    net.run(10)
    got = {e.message_id: e.payload for e in c.of(Delivered)}
    assert got == ids
    streams = sorted((e.peer_id, e.data) for e in c.of(StreamData))
    want = sorted((x.peer.peer_id, p[::-1]) for k, x in enumerate(authors) for p in payloads[k])
    assert streams == want


def test_members_that_joined_before_us_are_known_when_we_join() -> None:
    # intro_peers=8: every peer that hears late's JOIN introduces it to all its peers, so
    # "late reaches every early peer within 1 s" does not hang on which 3 of 4 each picks.
    net = MemNet(seed=101, config=Config(strict=True, clock_offset=0.0, intro_peers=8))
    nodes = [net.add("static") for _ in range(6)]
    net.bootstrap(nodes, nodes[0])
    net.run(3)
    early, late = nodes[:5], nodes[5]
    for x in early:  # everyone else joins first; late hears the JOINs as a non-member
        net.call(x, x.peer.join, CLUSTER, KEY, now=net.now)
    net.run(2)
    assert not late.of(JoinEvent)
    s = net.call(late, late.peer.join, CLUSTER, KEY, now=net.now)
    net.run(1)
    assert {e.peer_id for e in late.of(JoinEvent)} == {x.peer.peer_id for x in early}
    for x in early:
        assert x.peer.membership.is_member(s, late.peer.peer_id)
    assert late.peer.known_addresses()[0] in {x.public for x in early}
    assert set(late.peer.known_addresses()) == {x.public for x in early}


def test_a_long_chain_held_for_its_first_message_delivers_in_order() -> None:
    cfg = Config(strict=True, clock_offset=0.0, order_wait=30.0, query_retry=100.0,
                 rate_packets=1e6, rate_burst=1e6)
    net, a, b, s = joined_pair(111, CLUSTER, KEY, config=cfg)
    held_back = []

    def lose_first(d: bytes, src, dst) -> bool:
        if d[4] in (C.QUERY, C.ANSWER, C.SYNC):  # no repair path during the test
            return False
        if d[4] == C.PUBLISH and not held_back:
            held_back.append((d, src))
            return False
        return True

    net.filter = lose_first
    ids = [net.call(a, a.peer.publish, s, b"m%d" % i, now=net.now) for i in range(1000)]
    net.run(1)
    net.filter = None
    assert not b.of(Delivered) and b.peer.counters()["deliver.held"] == 999
    d, src = held_back[0]
    net.call(b, b.peer.receive, d, src, net.now)  # the first message finally arrives
    order = [e.message_id for e in b.of(Delivered)]
    assert order == ids  # a 999-deep chain, released in causal order


def test_held_message_is_delivered_when_its_predecessor_never_comes() -> None:
    cfg = Config(strict=True, clock_offset=0.0, order_wait=3.0, query_retry=1.0)
    net, a, b, s = joined_pair(121, CLUSTER, KEY, config=cfg)
    lost = []

    def never_first(d: bytes, src, dst) -> bool:
        if d[4] in (C.ANSWER, C.SYNC):
            return False
        if d[4] == C.PUBLISH and (not lost or d == lost[0]):
            lost.append(d)
            return False
        return True

    net.filter = never_first
    net.call(a, a.peer.publish, s, b"first, lost forever", now=net.now)
    a.peer.cache.remove(packet_id(lost[0]))  # nobody can answer for it any more
    m2 = net.call(a, a.peer.publish, s, b"second", now=net.now)
    net.run(1)
    assert not b.of(Delivered) and b.peer.counters()["deliver.held"] == 1
    net.run(4)
    [got] = b.of(Delivered)
    assert got.message_id == m2 and got.previous_id == packet_id(lost[0])
    assert b.peer.counters()["tx.query"] >= 2  # asked, and asked again before giving up


def test_connect_attempts_retry_then_stop() -> None:
    cfg = Config(strict=True, clock_offset=0.0, connect_attempts=3)
    net, a, b = pair(seed=141, config=cfg)
    c_id = create_identity(b"\x33" * 32)
    a.peer.datagrams_to_send()
    a.peer.traversal._attempt(c_id.peer_id, ("10.77.0.1", 9), net.now)
    pings = []
    net.filter = lambda d, src, dst: pings.append(dst) or True
    net.run(5)
    assert pings.count(("10.77.0.1", 9)) == 3  # the first at once, two retries, no more
    assert c_id.peer_id not in a.peer.traversal.attempts


def test_reflection_mismatch_backs_off_and_retries() -> None:
    from srpfast.control.nat import Sample
    net = MemNet(seed=171)
    s1, s2, e = net.add("static"), net.add("static"), net.add("easy")
    net.call(s2, s2.peer.add_peer, s1.public, net.now)
    for x in (s1, s2):
        net.call(e, e.peer.add_peer, x.public, net.now)
    net.run(40)
    r = e.peer.reflection
    assert r.ready and r.name == "easy"
    # Two reflectors that disagree on our host (one lies, or the path changed mid-round).
    fails = e.peer.counters().get("reflect.mismatch", 0)
    r._decide([Sample(s1.peer.peer_id, ("203.0.113.1", 4000)),
               Sample(s2.peer.peer_id, ("198.51.100.1", 4000))], net.now)
    assert e.peer.counters()["reflect.mismatch"] == fails + 1
    assert r.name == "easy" and net.now < r.next_round <= net.now + r.p.config.reflect_backoff_max
    net.run(r.next_round - net.now + 5)
    assert e.peer.counters()["reflect.classified"] >= 2 and r.name == "easy"


def test_whole_cluster_publish_and_another_cluster_cannot_read() -> None:
    net, a, b = pair(seed=181)
    c = net.add("static")
    net.call(c, c.peer.add_peer, a.public, net.now)
    net.run(1)
    assert net.call(a, a.peer.join, CLUSTER, None, now=net.now) == C.ZERO32
    net.call(b, b.peer.join, CLUSTER, None, now=net.now)
    net.call(c, c.peer.join, create_cluster_id(b"another app"), None, now=net.now)
    net.run(1)
    mid = net.call(a, a.peer.publish, C.ZERO32, b"to everyone in the cluster", now=net.now)
    net.run(2)
    assert [e.payload for e in delivered(b, mid)] == [b"to everyone in the cluster"]
    assert not delivered(c, mid) and mid in c.peer.cache  # relayed and cached, not readable


def test_a_tick_at_the_deadline_always_moves_the_deadline() -> None:
    # A driver sleeps until next_deadline() and ticks: that must never leave the deadline
    # where it was (a busy loop), whatever is pending (spray pacing, expired cache entries).
    net, e, h = _traversal_net(2, ("easy", "hard"))
    for _ in range(300):  # until the INTROs are in: the spray and the pool are pacing
        net.run(0.005)
        if e.peer.traversal.sprays and h.peer.traversal.pools:
            break
    assert e.peer.traversal.sprays and h.peer.traversal.pools
    cfg = Config(strict=True, clock_offset=0.0, cache_ttl=1)
    p = Peer(create_identity(b"\x55" * 32), cfg, now=net.now)
    p.cache.insert(encode(type=C.PUBLISH, message=b"old", ttl=1), source="x", now=net.now)
    for peer in (e.peer, h.peer, p):
        now = net.now
        for _ in range(300):
            d = peer.next_deadline()
            assert d is not None
            now = max(now, d)
            peer.tick(now)
            assert peer.next_deadline() > now


def test_publish_many_signs_once_per_batch_and_every_member_delivers() -> None:
    """A batch of messages carries one author signature: a receiver verifies it once and
    every message of the batch is still delivered, authenticated, exactly once."""
    net, a, b = pair(seed=201)
    s = net.call(a, a.peer.join, CLUSTER, KEY, now=net.now)
    net.call(b, b.peer.join, CLUSTER, KEY, now=net.now)
    net.run(2)
    payloads = [f"bulk {i}".encode() for i in range(40)]
    mids = net.call(a, a.peer.publish_many, s, payloads, now=net.now)
    net.run(2)
    got = {e.message_id: e for e in b.of(Delivered)}
    assert [got[m].payload for m in mids] == payloads
    assert all(got[m].author == a.peer.peer_id for m in mids)
    c = b.peer.counters()  # (delivered by the engine's C data plane: csrc/deliver.c)
    assert c["dataplane.deliver.ok"] == 40
    assert c["dataplane.deliver.sig_checked"] == 1  # one Ed25519 verification for 40 messages
    assert net.call(a, a.peer.publish_many, s, [], now=net.now) == []


def test_a_lost_challenge_answer_is_retried_within_seconds_not_at_the_next_heartbeat() -> None:
    """b pings a; a answers with a challenge; b's answer is lost. b thinks it is connected, a
    does not know b, so a ignores b's JOINs (no introductions) until b's next heartbeat,
    keep_alive (30 s) later: a peer stuck with one half-open connection. b now pings again
    challenge_recheck after answering, so a enters b within seconds."""
    net = MemNet(seed=77)
    a, b = net.add("static"), net.add("static")
    dropped = []

    def lose_first_challenge_answer(d: bytes, src, dst) -> bool:
        if d[4] == C.PONG and dst == a.public and not dropped:
            dropped.append(d)
            return False
        return True

    net.filter = lose_first_challenge_answer
    net.call(b, b.peer.add_peer, a.public, net.now)
    net.run(3)
    # (a may also learn b from its own pings: a NAT change tells every peer at once, issue
    # 12; either way the half-open connection closes within seconds, not keep_alive)
    assert dropped and a.peer.peer_id in b.peer.table and b.peer.peer_id in a.peer.table


def test_no_have_goes_to_a_fellow_that_announced_the_id_to_us() -> None:
    """A fellow that sent us a HAVE of an id holds that message: our own HAVE of it (right
    away or in a digest) would tell it nothing (announce.py), so it hears only of ids it
    did not name."""
    net, a, b, sub = joined_pair(41, CLUSTER, KEY)
    ann, fellow = a.peer.announce, a.peer.table.get(b.peer.peer_id)
    assert fellow is not None and ann.fellows(sub) == [fellow]
    heard: list[bytes] = []
    on_have = b.peer.announce.on_have

    def record(peer, ids, now, fellows=0):  # type: ignore[no-untyped-def]
        heard.extend(ids)
        on_have(peer, ids, now, fellows)

    b.peer.announce.on_have = record
    named, other = b"\x01" * 32, b"\x02" * 32
    ann.on_have(fellow, [named], net.now)
    net.call(a, ann.fresh, sub, [named], net.now)
    net.run(1.5)  # the HAVE after announce_delay, and the digest after announce_digest
    assert heard == [] and a.peer.counters()["announce.suppressed"] == 2
    net.call(a, ann.fresh, sub, [other], net.now)
    net.run(1.5)
    assert heard and set(heard) == {other}


def test_one_side_of_a_connection_sends_the_keep_alives() -> None:
    """The smaller peer id pings every keep_alive; the other counts each answered PING as
    its own heartbeat and stays quiet (PROTOCOL.md "Keep-alive"). Both stay connected for
    many expiry periods, and when the pinging side goes quiet the other takes over."""
    from srpfast.wire.bodies import PING_HEARTBEAT
    net, a, b = pair(seed=42)
    beats: dict[bytes, int] = {a.peer.peer_id: 0, b.peer.peer_id: 0}
    for n in (a, b):
        original = n.peer.ping

        def ping(address, now, flags=0, *args, _o=original, _id=n.peer.peer_id, **kw):  # type: ignore[no-untyped-def]
            if flags == PING_HEARTBEAT:
                beats[_id] += 1
            return _o(address, now, flags, *args, **kw)

        n.peer.ping = ping  # type: ignore[method-assign]
    keep = a.peer.config.keep_alive
    net.run(10 * keep)
    low, high = sorted((a, b), key=lambda n: n.peer.peer_id)
    assert 8 <= beats[low.peer.peer_id] <= 11 and beats[high.peer.peer_id] <= 1
    assert not a.of(Disconnection) and not b.of(Disconnection)
    assert b.peer.peer_id in a.peer.table and a.peer.peer_id in b.peer.table
    # The pinging side stops heartbeating (as if its timer were lost): the other's backup
    # keeps the connection, one PING every 1.5 x keep_alive.
    low.peer.config = low.peer.config.replace(keep_alive=1e9)
    before = beats[high.peer.peer_id]
    net.run(10 * keep)
    assert 5 <= beats[high.peer.peer_id] - before <= 8
    assert not a.of(Disconnection) and not b.of(Disconnection)


def test_what_a_fellow_announced_is_remembered_for_the_digest_window_only() -> None:
    """announce.holds forgets a (message, fellow) pair after digest_window s, when we no
    longer announce that message (it grew to ~0.55 MiB a peer when only capped)."""
    from srpfast.control.announce import digest_window
    net, a, b, sub = joined_pair(43, CLUSTER, KEY)
    DIGEST_WINDOW = digest_window(net.config)
    ann, fellow = a.peer.announce, a.peer.table.get(b.peer.peer_id)
    assert fellow is not None
    ann.on_have(fellow, [b"\x01" * 32], net.now)
    ann.on_have(fellow, [b"\x02" * 32], net.now + DIGEST_WINDOW / 2)
    assert len(ann.holds) == 2
    ann.on_have(fellow, [b"\x03" * 32], net.now + DIGEST_WINDOW + 1)
    assert [pid for pid, _ in ann.holds] == [b"\x02" * 32, b"\x03" * 32]


def test_peers_that_join_together_re_announce_spread_out() -> None:
    # A fleet started in the same second must not re-announce (nor seek, nor re-ping its
    # bootstrap peers) in the same second for ever: each round comes a random 0-25% early
    # (control/jitter.py, PROTOCOL.md §6 "Timers"), never late (member_ttl counts on it).
    cfg = Config(strict=True, clock_offset=0.0, join_interval=40.0, member_ttl=120.0)
    net = MemNet(seed=71, config=cfg)
    hub = net.add("static")
    spokes = [net.add("static") for _ in range(8)]
    for x in spokes:
        net.call(x, x.peer.add_peer, hub.public, net.now)
    net.run(2)
    t0 = net.now
    for x in spokes:
        net.call(x, x.peer.join, CLUSTER, KEY, now=t0)
    due = [x.peer.membership.next_announce - t0 for x in spokes]
    assert all(0.75 * cfg.join_interval <= d <= cfg.join_interval for d in due)
    assert max(due) - min(due) > 1.0  # spread, not one instant
    sent: list[tuple[int, float]] = []
    net.filter = lambda d, src, dst: (sent.append((d[6], net.now)) if d[4] == C.JOIN else None) \
        or True
    net.run(cfg.join_interval + 1)
    announces = sorted(t - t0 for hops, t in sent if hops == 1)
    assert len(announces) >= len(spokes)  # every spoke re-announced within join_interval
    assert announces[-1] - announces[0] > 1.0


def test_a_peer_reconnecting_to_many_asks_for_no_introductions_it_does_not_need() -> None:
    # A peer that comes back pings its saved peers at once; connections still on their way
    # count toward want_peers, so it does not ask each of the first ones for introductions
    # (PROTOCOL.md §6): each would be a NAT traversal for a table those pings are filling.
    def asks(n_known: int) -> int:
        cfg = Config(strict=True, clock_offset=0.0, want_peers=4, seek_interval=1e6)
        net = MemNet(seed=73, config=cfg)
        known = [net.add("static") for _ in range(n_known)]
        for x in known[1:]:  # (a mesh the others already form, to introduce from)
            net.call(x, x.peer.add_peer, known[0].public, net.now)
        net.run(3)
        back = net.add("static")
        net.call(back, back.peer.join, CLUSTER, KEY, now=net.now)
        hops0: list[bytes] = []
        net.filter = lambda d, src, dst: (hops0.append(dst) if d[4] == C.JOIN and d[6] == 0
                                          and src == back.public else None) or True
        for x in known:
            net.call(back, back.peer.add_peer, x.public, net.now)
        net.run(2)
        assert len(back.peer.table) >= min(n_known, 4)
        return len(hops0)

    assert asks(8) == 0   # 8 dialled and on their way: want_peers (4) on their own
    assert asks(3) >= 3   # 3: each connection asks, as a newcomer's do


def test_a_returning_peer_wants_each_id_of_one_peer_only() -> None:
    # A peer that comes back syncs with every peer it reconnects to at once and each lists
    # the same ids (SYNC IDS): it WANTs each id of the first lister only
    # (sync.SyncEngine.asked) and, for the others, keeps a pull from them in case the WANT
    # is not answered (announce.expect with that holder).
    from srpfast.control.sync import WANT_HOLD
    from srpfast.wire.bodies import SYNC_IDS
    net = MemNet(seed=75, config=Config(strict=True, clock_offset=0.0))
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    for x in (a, b):
        net.call(c, c.peer.add_peer, x.public, net.now)
    net.run(2)
    ids = [bytes([i]) * 32 for i in range(1, 6)]
    wants: list[bytes] = []
    net.filter = lambda d, src, dst: (wants.append(dst) if src == c.public
                                      and d[4] == C.SYNC else None) or True
    sync = c.peer.sync
    for x in (a, b):
        entry = c.peer.table.get(x.peer.peer_id)
        assert entry is not None
        net.call(c, sync._on_ids, entry, sync._ids_body(7, "", SYNC_IDS, ids), "", net.now)
    assert wants == [a.public]  # one WANT, to the first lister
    assert c.peer.counters().get("sync.want_held", 0) == len(ids)
    pulls = c.peer.announce.pulls
    assert all(pulls[i][1] == b.peer.peer_id and pulls[i][0] <= net.now + WANT_HOLD
               for i in ids)
