"""Helpers of the INTRO amplification tests: an attacker holding its own keys, sans-I/O."""
from __future__ import annotations

import random

from srpfast.wire import constants as C
from srpfast.wire.bodies import JOIN_ASK, Join, signed_bytes
from srpfast.config import Config
from srpfast.control.events import PoolOpen, PoolSend, Spray
from srpfast.crypto import Identity, create_identity, sign_proof
from srpfast.control.engine import Peer

SPRAY_PROBE_BYTES = 4  # a BDP spray probe (docs/PROTOCOL.md, section 5)


def engine(seed: int, now: float = 0.0, clock_offset: float | None = 10_000.0) -> Peer:
    """A sans-I/O peer; ``clock_offset=None`` signs with the real wall clock (real peers)."""
    return Peer(create_identity(bytes([seed]) * 32),
                Config(strict=True, clock_offset=clock_offset), now=now,
                rng=random.Random(seed))


def connect(target: Peer, attacker: Peer, target_at, attacker_at, now: float = 0.0) -> int:
    """The PING/PONG handshake (with its challenge round trip); returns bytes the attacker
    sent to do it."""
    sent = 0
    attacker.add_peer(target_at, now)
    for _ in range(4):
        for d, to in attacker.datagrams_to_send():
            if to == target_at:
                sent += len(d)
                target.receive(d, attacker_at, now)
        for d, to in target.datagrams_to_send():
            if to == attacker_at:
                attacker.receive(d, target_at, now)
    assert attacker.peer_id in target.table and target.peer_id in attacker.table
    return sent


def join_proof(who: Identity, cluster_id: bytes, subcluster_id: bytes, address, nat: int,
               timestamp_ms: int, join_id: int, flags: int = 0,
               signer: Identity | None = None) -> bytes:
    """A signed JOIN body (what an INTRO's proof carries), signed by ``signer`` (default
    ``who``: a valid proof)."""
    body = Join(peer_id=who.peer_id, cluster_id=cluster_id, subcluster_id=subcluster_id,
                address=address, nat=nat, timestamp_ms=timestamp_ms, join_id=join_id,
                flags=flags)
    unsigned = body.unsigned()
    return unsigned + sign_proof(signer or who, signed_bytes(C.JOIN, cluster_id[:16], unsigned))


class Tally:
    """What a target sends toward a victim host: datagrams, pool pings, spray probes."""

    def __init__(self, victim_host: str) -> None:
        self.host = victim_host
        self.bytes = self.datagrams = self.pools = self.spray_probes = 0

    def drain(self, target: Peer) -> None:
        for d, to in target.datagrams_to_send():
            if to[0] == self.host:
                self.bytes += len(d)
                self.datagrams += 1
        for act in target.actions():
            if isinstance(act, PoolOpen):
                self.pools += 1
            elif isinstance(act, PoolSend) and act.address[0] == self.host:
                # index -1: the same datagram from every pool socket (the BDP openers)
                n = target.config.bdp_sockets if act.index < 0 else 1
                self.bytes += n * len(act.datagram)
                self.datagrams += n
            elif isinstance(act, Spray) and act.host == self.host:
                self.spray_probes += act.port_count
                self.bytes += act.port_count * SPRAY_PROBE_BYTES
                self.datagrams += act.port_count

    def run(self, target: Peer, start: float, seconds: float, step: float = 0.01) -> None:
        t = start
        while t < start + seconds:
            target.tick(t)
            self.drain(target)
            t += step


__all__ = ["engine", "connect", "join_proof", "Tally", "JOIN_ASK"]
