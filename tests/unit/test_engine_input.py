"""Any datagram into Peer.receive is handled or counted, never raised (SPEC 9.5).

The engine runs with strict=True, so a bug in its own code (not a malformed input) would
re-raise here instead of hiding in "drop.internal"."""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srpfast.wire import constants as C
from srpfast.config import Config
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer
from srpfast.wire.frame import encode

PEER = Peer(create_identity(b"\x01" * 32), Config(strict=True, clock_offset=0.0), now=0.0,
            rng=random.Random(1))
PEER.join(b"\x05" * 32, None, now=0.0)


@st.composite
def framed(draw) -> bytes:
    """Valid frames of every type with arbitrary message bytes (reach the body decoders)."""
    t = draw(st.integers(1, 9))
    msg = draw(st.binary(max_size=300))
    cluster = draw(st.sampled_from([C.ZERO16, b"\x05" * 16]))
    to = draw(st.sampled_from([C.ZERO32, PEER.peer_id]))
    hops = draw(st.integers(0, 40))
    return encode(type=t, message=msg, cluster=cluster, to=to, hops=hops,
                  flags=draw(st.integers(0, 3)), index=draw(st.integers(0, 3)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=1200), framed()), st.integers(1, 65535))
def test_receive_never_raises(datagram: bytes, port: int) -> None:
    PEER.receive(datagram, ("10.0.0.2", port), 1.0)
    PEER.tick(2.0)
    counters = PEER.counters()
    assert counters.get("drop.internal", 0) == 0
    assert counters["rx"] >= 1


# Signed, well-formed control bodies with arbitrary field values: they pass the proof check
# and reach the handlers' logic (INTRO from a known introducer, PONG to a pending ping, ...).
from srpfast.wire.bodies import (Intro, Join, Ping, Pong, Query, Sync, SYNC_IDS, SYNC_SUMMARY,  # noqa: E402
                                 SYNC_WANT, signed_bytes)
from srpfast.crypto import sign_proof  # noqa: E402

SIGNERS = [create_identity(bytes([i]) * 32) for i in (7, 8, 9)]
NOW = 50.0
HOST = Peer(create_identity(b"\x02" * 32), Config(strict=True, clock_offset=0.0), now=NOW,
            rng=random.Random(2))
HOST.join(b"\x05" * 32, None, now=NOW)
for i, s in enumerate(SIGNERS[:2]):  # two known peers (one can introduce)
    HOST.table.upsert(s.peer_id, (f"10.0.0.{i + 10}", 7000), 0x12, NOW)
ids32 = st.sampled_from([C.ZERO32, b"\x05" * 32] + [s.peer_id for s in SIGNERS])
addr = st.one_of(st.none(), st.tuples(st.sampled_from(["10.0.0.10", "10.0.0.11", "::1"]),
                                      st.integers(0, 65535)))
nat = st.integers(0, 3).flatmap(lambda m: st.integers(0, 3).map(lambda f: m | f << 4))
u64 = st.integers(0, 2**64 - 1)
ts = st.integers(int(NOW * 1000) - 5000, int(NOW * 1000) + 5000)


def _signed(type_: int, body, signer, cluster: bytes) -> bytes:
    unsigned = body.unsigned()
    sig = sign_proof(signer, signed_bytes(type_, cluster, unsigned))
    return encode(type=type_, message=unsigned + sig, cluster=cluster)


@st.composite
def signed_control(draw) -> tuple[bytes, tuple[str, int]]:
    signer = draw(st.sampled_from(SIGNERS))
    kind = draw(st.sampled_from(["ping", "pong", "intro", "join", "query", "sync"]))
    cluster = draw(st.sampled_from([C.ZERO16, b"\x05" * 16]))
    if kind == "ping":
        body = Ping(signer.peer_id, draw(u64), draw(ts), draw(nat), draw(st.integers(0, 31)),
                    draw(st.integers(0, 65535)), draw(st.integers(0, 2**32 - 1)),
                    rtt_us=draw(st.integers(0, 2**32 - 1)))
        d = _signed(C.PING, body, signer, C.ZERO16)
    elif kind == "pong":
        body = Pong(signer.peer_id, draw(u64), draw(ts), draw(st.sampled_from(
            [HOST.peer_id, C.ZERO32])), draw(addr), draw(nat), draw(st.integers(0, 7)),
            challenge=draw(u64), hold_us=draw(st.integers(0, 2**32 - 1)))
        d = _signed(C.PONG, body, signer, C.ZERO16)
    elif kind == "intro":
        a = draw(addr) or ("10.0.0.99", 1)
        about = draw(st.sampled_from(SIGNERS))  # the introduced peer, and its proof (or junk)
        sub, intro_id = draw(ids32), draw(u64)
        ask = Join(about.peer_id, b"\x05" * 32, sub, draw(st.sampled_from([a, None])),
                   draw(nat), draw(ts), draw(st.sampled_from([intro_id, draw(u64)])),
                   draw(st.integers(0, 3)))
        proof = draw(st.sampled_from([
            bytes(197), draw(st.binary(min_size=197, max_size=197)),
            ask.unsigned() + sign_proof(about, signed_bytes(C.JOIN, b"\x05" * 16,
                                                              ask.unsigned()))]))
        body = Intro(signer.peer_id, about.peer_id, a, draw(nat), draw(ts), b"\x05" * 32,
                     sub, intro_id, proof)
        d = _signed(C.INTRO, body, signer, cluster)
    elif kind == "join":
        body = Join(signer.peer_id, b"\x05" * 32, draw(ids32), draw(addr), draw(nat), draw(ts),
                    draw(u64), draw(st.integers(0, 3)))
        d = _signed(C.JOIN, body, signer, cluster)
    elif kind == "query":
        body = Query(draw(u64), b"\x05" * 32, draw(st.integers(0, 1)))
        d = encode(type=C.QUERY, message=body.encode(), hops=draw(st.integers(0, 16)))
    else:
        sync_kind = draw(st.sampled_from([SYNC_SUMMARY, SYNC_IDS, SYNC_WANT]))
        depth = draw(st.integers(0, 3 if sync_kind == SYNC_SUMMARY else 16))
        prefix = bytes.fromhex(draw(st.text("0123456789abcdef", min_size=depth,
                                            max_size=depth)).ljust(16, "0"))
        if sync_kind == SYNC_SUMMARY:
            buckets = tuple((draw(st.integers(0, 40)), draw(st.binary(min_size=8, max_size=8)))
                            for _ in range(16))
            body = Sync(draw(u64), sync_kind, depth, prefix, 16, buckets=buckets)
        else:
            ids = tuple(draw(st.lists(ids32, max_size=5)))
            body = Sync(draw(u64), sync_kind, depth, prefix, len(ids), ids=ids)
        d = encode(type=C.SYNC, message=body.encode())
    source = draw(st.sampled_from([("10.0.0.10", 7000), ("10.0.0.11", 7000),
                                   ("10.0.0.99", 1)]))
    return d, source


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(signed_control(), min_size=1, max_size=4))
def test_signed_bodies_never_break_the_engine(items) -> None:
    for datagram, source in items:
        HOST.receive(datagram, source, NOW)
    HOST.tick(NOW + 1)
    HOST.datagrams_to_send()
    HOST.actions()
    HOST.events()
    assert HOST.counters().get("drop.internal", 0) == 0
    assert len(HOST.table) <= HOST.config.max_peers
