"""Threat: an INTRO aiming a BDP pool or spray at any address (issue 13, item 1; SPEC 5, 9.3).

The attack on the old code: a peer that classified itself Hard, once an attacker holding any
key completed the PING/PONG handshake with it, accepted a signed INTRO naming a made-up peer
id at a victim address with nat=Easy, and opened a pool of 256 sockets pinging the victim
(4 INTROs, 4.6 KB -> 1,194 datagrams, 1.38 MB: ~300x). The Easy side's spray entered through
the same door. Now a spray or a pool needs, inside the INTRO, the introduced peer's own
signed, fresh request (its JOIN, or its JOIN_ASK for this intro_id), verified by the receiver,
and aims only at the address that request vouches for. Without it: one ping per INTRO.

Measured here: bytes toward the victim / bytes the attacker sent (the attack's
amplification), pools opened, spray probes sent."""
from __future__ import annotations

import pytest

from srpfast.wire import constants as C
from srpfast.wire.bodies import JOIN_ASK, JOIN_LEAVE, NAT_EASY, NAT_HARD
from srpfast.crypto import create_cluster_id, create_identity
from tests.adversarial.intro_attack import Tally, connect, engine, join_proof

CLUSTER = create_cluster_id(b"adversarial intro")
OTHER = create_cluster_id(b"somebody else's cluster")
VICTIM = ("198.51.100.7", 4444)
TARGET_AT, ATTACKER_AT = ("10.0.0.1", 1000), ("10.0.0.2", 2000)
SIDES = [pytest.param(NAT_HARD, NAT_EASY, id="hard-target-pool"),
         pytest.param(NAT_EASY, NAT_HARD, id="easy-target-spray")]


def _setup(mine: int):
    target, attacker = engine(1), engine(2)
    handshake = connect(target, attacker, TARGET_AT, ATTACKER_AT)
    target.join(CLUSTER, None, now=0.0)  # a member of CLUSTER: valid proofs may name it
    target.datagrams_to_send()
    target.reflection.mapping = mine
    return target, attacker, handshake


def _intro(target, attacker, about: bytes, address, nat: int, intro_id: int,
           proof: bytes | None = None, cluster: bytes = CLUSTER, now: float = 0.0) -> int:
    """The attacker (connected, signing with its own key) sends one INTRO; returns its bytes."""
    kw = {} if proof is None else {"proof": proof}
    attacker.traversal.send_intro(attacker.table.get(target.peer_id), about, address, nat,
                                  cluster, C.ZERO32, intro_id, now, **kw)
    sent = 0
    for d, to in attacker.datagrams_to_send():
        assert to == TARGET_AT
        sent += len(d)
        target.receive(d, ATTACKER_AT, now)
    return sent


@pytest.mark.parametrize("mine,theirs", SIDES)
def test_intros_about_made_up_peers_get_one_ping_each_and_no_bdp(mine, theirs) -> None:
    """The reported attack: INTROs naming made-up peer ids at victims, no proof."""
    target, attacker, handshake = _setup(mine)
    tally = Tally(VICTIM[0])
    sent = handshake
    for k in range(4):
        fake = create_identity(bytes([100 + k]) * 32).peer_id
        sent += _intro(target, attacker, fake, (VICTIM[0], VICTIM[1] + k), theirs, 1000 + k)
    tally.drain(target)
    tally.run(target, 0.0, 5.0)
    c = target.counters()
    assert tally.pools == 0 and tally.spray_probes == 0
    assert c.get("pool.opened", 0) == 0 and c.get("spray.probes", 0) == 0
    assert c["bdp.unproven"] == 4 and c["intro.unproven"] == 4
    assert tally.datagrams <= 4  # one ping per INTRO, each the size of the INTRO
    assert tally.bytes / sent <= 1.0
    print(f"forged INTROs: {tally.bytes} B toward the victim for {sent} B sent: "
          f"{tally.bytes / sent:.2f}x")


def _forgeries():
    """(name, proof builder, counter that names the refusal)."""
    fake = create_identity(b"\x61" * 32)
    attacker_key = create_identity(b"\x02" * 32)

    def make(**kw):
        def build(now_ms: int, intro_id: int) -> tuple[bytes, bytes, bytes]:
            args = dict(who=fake, cluster_id=CLUSTER, subcluster_id=C.ZERO32, address=VICTIM,
                        nat=NAT_EASY, timestamp_ms=now_ms, join_id=7, flags=0, signer=None)
            args.update({k: v(now_ms, intro_id) if callable(v) else v for k, v in kw.items()})
            return fake.peer_id, join_proof(**args), args["cluster_id"]
        return build

    return [
        ("signed_by_someone_else", make(signer=attacker_key), "intro.bad_proof"),
        ("other_cluster", make(cluster_id=OTHER), "intro.foreign_proof"),
        ("a_leave", make(flags=JOIN_LEAVE), "intro.bad_proof"),
        ("ask_for_another_intro", make(flags=JOIN_ASK, join_id=lambda t, i: i + 1),
         "intro.bad_proof"),
        ("stale", make(timestamp_ms=lambda t, i: t - 120_000), "intro.stale_proof"),
        ("vouches_for_elsewhere", make(address=("203.0.113.5", 4444)), "bdp.unproven"),
        ("no_address", make(address=None), "bdp.unproven"),
    ]


@pytest.mark.parametrize("mine,theirs", SIDES)
@pytest.mark.parametrize("name,build,counter", _forgeries(), ids=[f[0] for f in _forgeries()])
def test_forged_proofs_open_nothing(mine, theirs, name, build, counter) -> None:
    target, attacker, handshake = _setup(mine)
    tally = Tally(VICTIM[0])
    peer_id, proof, cluster = build(target.wall_ms(0.0), 555)
    sent = handshake + _intro(target, attacker, peer_id, VICTIM, theirs, 555, proof, cluster)
    tally.drain(target)
    tally.run(target, 0.0, 3.0)
    assert target.counters().get(counter, 0) == 1, target.counters()
    assert tally.pools == 0 and tally.spray_probes == 0
    assert tally.bytes / sent <= 1.0


@pytest.mark.parametrize("mine,theirs", SIDES)
def test_a_proof_is_good_once(mine, theirs) -> None:
    """A genuine proof replayed in a second INTRO (new intro_id) is refused the second time."""
    target, attacker, _ = _setup(mine)
    who = create_identity(b"\x62" * 32)
    proof = join_proof(who, CLUSTER, C.ZERO32, VICTIM, theirs, target.wall_ms(0.0), 9)
    _intro(target, attacker, who.peer_id, VICTIM, theirs, 1, proof)
    _intro(target, attacker, who.peer_id, VICTIM, theirs, 2, proof)
    assert target.counters()["intro.stale_proof"] == 1


@pytest.mark.parametrize("mine,theirs", SIDES)
def test_colluding_keys_stay_within_the_bdp_gates(mine, theirs) -> None:
    """The residual risk (docs/SECURITY.md): an attacker that makes a fresh key per made-up
    peer can sign valid proofs vouching for the victim's address. The second line holds:
    one BDP per target host per spray_window, whatever the peer ids (six INTROs, one BDP)."""
    target, attacker, handshake = _setup(mine)
    tally = Tally(VICTIM[0])
    sent = handshake
    for k in range(6):
        who = create_identity(bytes([0x70 + k]) * 32)
        proof = join_proof(who, CLUSTER, C.ZERO32, VICTIM, theirs, target.wall_ms(0.0), k)
        sent += _intro(target, attacker, who.peer_id, VICTIM, theirs, 2000 + k, proof)
    tally.drain(target)
    tally.run(target, 0.0, 12.0)
    cfg = target.config
    if mine == NAT_EASY:
        assert 0 < tally.spray_probes <= 2 * cfg.bdp_burst + cfg.bdp_probes and tally.pools == 0
        assert target.counters()["bdp.gated_host"] == 5
    else:
        # One pool: a 4-byte opener from each socket, a signed PING only from a socket the
        # victim answered (none here), plus one ping per INTRO.
        assert tally.pools == 1 and tally.datagrams <= cfg.bdp_sockets + 6
        assert target.counters()["pool.busy"] == 5
    print(f"colluding keys, {'easy' if mine == NAT_EASY else 'hard'} target: "
          f"{tally.bytes} B toward the victim for {sent} B sent: "
          f"{tally.bytes / sent:.1f}x, bounded per host and window")


def test_a_genuine_introduction_still_sprays_and_pools_and_a_forged_one_does_not() -> None:
    """In-memory network with modelled NATs: Easy and Hard peers introduced by a Static peer
    connect by BDP (the proofs travel in the INTROs); then a connected attacker's forged
    INTROs (made-up peer, victim address) open no pool and no spray on the same peers."""
    from tests.memnet import MemNet

    net = MemNet(seed=2)
    s1, s2 = net.add("static"), net.add("static")
    e, h = net.add("easy"), net.add("hard")
    mallory = net.add("static")
    for n in (s2, e, h, mallory):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    for n in (e, h):
        net.call(n, n.peer.add_peer, s2.public, net.now)
        net.call(n, n.peer.add_peer, mallory.public, net.now)  # so mallory is connected
    net.run(35)
    for n in (s1, e, h):
        net.call(n, n.peer.join, CLUSTER, None, now=net.now)
    net.run(15)
    assert e.peer.nat == "easy" and h.peer.nat == "hard"
    # The genuine BDP ran on both sides (spray and pool); the pair connected, by a kept pool
    # socket or, when the spray's burst opened the port of the Hard side's own connect ping,
    # on its main socket.
    assert e.sprayed > 0 and h.peer.counters()["pool.opened"] == 1
    assert e.peer.peer_id in h.peer.table and h.peer.peer_id in e.peer.table
    assert sum(n.peer.counters().get("rx.ask", 0) for n in net.nodes) >= 1  # two-step INTROs
    # (Every introducer of the pair reuses the joiner's one JOIN as proof: only the first use
    # counts, later ones are replays and get a ping. What matters: the BDP happened.)

    toward_victim: list[int] = []
    net.filter = lambda d, src, dst: dst[0] != VICTIM[0] or toward_victim.append(len(d)) is None
    sprayed, pools = e.sprayed, h.peer.counters()["pool.opened"]
    unproven = [n.peer.counters().get("bdp.unproven", 0) for n in (h, e)]
    sent = 0
    for k, (node, nat) in enumerate(((h, NAT_EASY), (e, NAT_HARD))):
        fake = create_identity(bytes([0x90 + k]) * 32).peer_id
        remote = mallory.peer.table.get(node.peer.peer_id)
        assert remote is not None and node.peer.table.get(mallory.peer.peer_id) is not None
        net.call(mallory, mallory.peer.traversal.send_intro, remote, fake, VICTIM, nat,
                 CLUSTER, C.ZERO32, 4242 + k, net.now)
        sent += C.PACKET_BYTES
    net.run(5)
    assert e.sprayed == sprayed and h.peer.counters()["pool.opened"] == pools
    assert [n.peer.counters()["bdp.unproven"] for n in (h, e)] == [u + 1 for u in unproven]
    assert len(toward_victim) <= 2 and sum(toward_victim) / sent <= 1.0


def test_a_real_hard_peer_on_loopback_is_no_amplifier(run) -> None:
    """The reported attack against a real peer (UDP sockets, the asyncio driver, real BDP
    pools): the attacker at 127.0.0.66 completes the handshake with its own key, then sends
    four INTROs about made-up peers at four victims (127.0.0.91-94) with nat=Easy. Counted at
    the victims' sockets: what the target sent them, against all the attacker sent."""
    import asyncio
    import time

    import srpfast
    from srpfast.drivers._udp import UDPSocket

    attacker = engine(2, now=time.monotonic(), clock_offset=None)
    attacker_sent = 0

    async def scenario() -> None:
        nonlocal attacker_sent
        victims = [UDPSocket(f"127.0.0.{91 + k}", 0) for k in range(4)]
        sock = UDPSocket("127.0.0.66", 0)
        net = None
        try:
            net = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1")
            target = net.peer
            target.reflection.mapping = NAT_HARD  # it classified itself Hard
            to = ("127.0.0.1", net.address[1])

            def pump() -> None:
                nonlocal attacker_sent
                now = time.monotonic()
                out = attacker.datagrams_to_send()
                if out:
                    attacker_sent += sum(len(d) for d, _ in out)
                    sock.send_batch([d for d, _ in out], [a for _, a in out])
                for d, a in sock.recv_batch():
                    attacker.receive(d, a, now)

            def drain_victims() -> tuple[int, int]:
                n = b = 0
                for v in victims:
                    for d, _ in v.recv_batch():
                        n, b = n + 1, b + len(d)
                return n, b

            attacker.add_peer(to, time.monotonic())
            end = time.monotonic() + 5
            while time.monotonic() < end and not (target.table.get(attacker.peer_id)
                                                  and attacker.table.get(target.peer_id)):
                pump()
                await asyncio.sleep(0.01)
            remote = attacker.table.get(target.peer_id)
            assert remote is not None and target.table.get(attacker.peer_id) is not None
            for k, v in enumerate(victims):
                fake = create_identity(bytes([0xA0 + k]) * 32).peer_id
                attacker.traversal.send_intro(remote, fake, v.local_address, NAT_EASY, CLUSTER,
                                              C.ZERO32, 7000 + k, time.monotonic())
            got = sent_bytes = 0
            end = time.monotonic() + 3.0  # the old code sent ~1,200 datagrams in 2.8 s
            while time.monotonic() < end:
                pump()
                n, b = drain_victims()
                got, sent_bytes = got + n, sent_bytes + b
                await asyncio.sleep(0.01)
            c = target.counters()
            assert c.get("pool.opened", 0) == 0 and c.get("spray.probes", 0) == 0
            assert not net._driver._pools  # no socket pool was ever bound
            assert c["bdp.unproven"] == 4
            assert got <= 4, got  # one ping per INTRO
            assert sent_bytes / attacker_sent <= 1.0
            print(f"loopback: {got} datagrams, {sent_bytes} B toward the victims for "
                  f"{attacker_sent} B sent by the attacker: {sent_bytes / attacker_sent:.2f}x")
        finally:
            for s in (*victims, sock):
                s.close()
            if net is not None:
                await net.close()

    run(scenario(), timeout=20)
