"""The bounded table of proven peers and forwarding weights (SPEC 5, 6; seed STATE_0, STATE_4).

Only a peer whose PING or PONG was signed by the key its peerId names, with a fresh timestamp
and nonce, is ever entered (SPEC 9.2); the engine checks that before calling ``upsert``.

Bounds: at most ``capacity`` peers. A full table admits a newcomer only by evicting the peer
silent longest, and only if that one has been silent for more than ``keep_alive`` (the engine
passes 1.5 x its keep-alive: a missed heartbeat), so a flood of fresh identities cannot push
out peers that are talking. Peers silent for ``expiry`` seconds
are removed by ``expire``.

Distance (SPEC 6: "shorter distance (last ping->pong delay) ... preferred"). A ping->pong
sample is the path's round trip plus however long either loop left the datagrams waiting,
so a sample taken while a loop is busy is too LONG, never too short (handshake.py takes a
wait off only when it is shorter than the round trip; a lying PONG hold_us aside: SECURITY.md
section 13). A peer's handshake falls in its join burst (12 demo peers started at once in
one process measured 3-260 ms to each other on loopback, and the last to join weighed up to
~20x less). On real sockets most of that wait is taken out (handshake.py, "Round trips":
kernel receive stamps, PINGs and PONGs sent at once, the PONG's ``hold_us``; the demo's
samples: 0.1-4 ms). What is left, and every sample in the simulator's virtual time, the
window absorbs: ``distance`` is the
minimum of the last DISTANCE_SAMPLES samples (a windowed minimum, as TCP's min-RTT and BBR's
min_rtt filter): a shorter sample counts at once, a longer one once the shorter ones are
that many samples old (the path may have changed). A window of samples, not of time: in
one of 300 s an old pair's distance is the minimum of ~20 samples and a new pair's of ~3,
and where the delay jitters that alone makes new pairs look longer (the simulator draws
each datagram's delay from 5-30 ms: the expected minimum round trip of 20 samples is 17 ms,
of 3 26 ms, of 4 24 ms). Samples: each PONG to one of our pings (``sample``) and the
challenge round trip at the handshake (handshake.on_pong), and the sample the pinger reports
in its PING (``rtt_us``, handshake.on_ping): of a pair only the smaller id sends heartbeats
(heartbeats.py), and the other side had only its handshake sample for ever. A reported
sample is taken from the pinger's own measurements only (``rtt``), never from what it was
told, so no old minimum can circulate between the two, and each goes in one PING only (a
retry repeating it would fill the other side's window with one measurement). Like
``uptime`` it is the peer's word: a peer may claim a short distance to be an eager next hop
more often, which the 10 ms floor of the weight bounds (docs/SECURITY.md). When samples
come is heartbeats.py's ("Distance").
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import Iterable

from srpfast.wire.bodies import NAT_HARD
from srpfast.wire.address import Address

# The distance is the minimum of this many last samples (module doc): an idle pair samples
# every keep_alive, a busy one every DISTANCE_REMEASURE heartbeat periods (heartbeats.py).
DISTANCE_SAMPLES = 4

PoolRoute = tuple[bytes, int]


@dataclass(slots=True)
class PeerEntry:
    peer_id: bytes
    address: Address
    nat: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0          # last proven packet from it
    last_ping: float = -1e18        # last ping we sent it
    last_sent: float = -1e18        # last control frame we sent it (engine.send_to)
    distance: float = 1.0           # min ping -> pong delay of ``samples``, s (module doc)
    samples: tuple[float, ...] = ()  # the last DISTANCE_SAMPLES samples, own or reported
    measured: float = -1e18         # our last sample (own or reported: heartbeats.py)
    rtt: float = 0.0                # our latest own sample, what our next PING to it reports
    rtt_reported: bool = True       # ... already went in a PING (each goes in one: module doc)
    rtts: int = 0                   # own samples so far
    uptime: float = 0.0             # its uptime as it reported, seconds, at last_seen
    pool: PoolRoute | None = None   # reached through a kept BDP pool socket (hard side)
    cache_count: int = 0
    cache_summary: bytes = bytes(8)
    last_sync: float = -1e18
    observed: Address | None = None  # how it sees us (its last PONG)
    confirmed: bool = False         # it answered one of our pings: it has us in its table
    retry: int = 0                  # times our last heartbeat may still go again (engine)
    lost: bool = False              # a heartbeat went unanswered: its next PONG reconnects
    keyed: bool = False             # it answered us unchallenged (holds us): keyed heartbeats
    rechecks: int = 0               # its challenges we answered in a row (handshake.on_pong)
    refused: bool = False           # it challenged REFUSED_AFTER answers in a row: it does not
    #                                 enter us (a full table); no heartbeats, it expires
    subclusters: set[bytes] = field(default_factory=set)  # proven JOINs it sent us

    @property
    def mapping(self) -> int:
        return self.nat & 0x0F

    def sample(self, rtt: float, now: float, own: bool = True) -> None:
        """A ping->pong delay of ``rtt`` s (``own``: we measured it; else the peer reported
        it in its PING): the distance is the minimum of the last few (module doc)."""
        self.samples = (self.samples + (rtt,))[-DISTANCE_SAMPLES:]
        self.distance = min(self.samples)
        self.measured = now
        if own:
            self.rtt, self.rtt_reported = rtt, False
            self.rtts += 1

    def weight(self, now: float) -> float:
        """Forwarding weight: shorter distance and longer uptime preferred (SPEC 6)."""
        up = self.uptime + (now - self.last_seen)
        if up > 3600.0:  # (min(up, 3600.0) without the builtin call: every peer at each
            up = 3600.0  # forwarder rebuild and data-plane push, ~1.4% of a simulated peer)
        return (1.0 + up / 600.0) / (self.distance + 0.01)


class PeerTable:
    def __init__(self, capacity: int, expiry: float, keep_alive: float) -> None:
        self.capacity = capacity
        self.expiry = expiry
        self.keep_alive = keep_alive
        self.by_id: dict[bytes, PeerEntry] = {}
        self.by_address: dict[Address, PeerEntry] = {}
        self.refused = 0
        self.version = 0  # bumped whenever membership or an address/route changes
        # A full table's oldest last_seen, from the last scan that found no peer to evict.
        # last_seen only moves forward (it is set to ``now``), so the oldest can only get
        # newer: until floor + keep_alive nobody is evictable, and a busy public peer with a
        # full table need not scan all of it for every stranger (O(capacity) per proof).
        self._floor = -float("inf")
        # No peer's last_seen is older than this (the same rule: last_seen is only ever set
        # to ``now``, here and by a tagged SYNC, sync.on_sync, and the engine's clock is
        # monotonic), so ``expire`` need not walk the table until now - expiry passes it:
        # the walk, every maintenance pass over up to max_peers entries, was ~4% of a
        # simulated peer's CPU (cProfile). Lowered by each new entry (and by a clock that
        # went back, as _floor), recomputed by each walk.
        self._oldest_seen = float("inf")

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self.by_id

    def get(self, peer_id: bytes) -> PeerEntry | None:
        return self.by_id.get(peer_id)

    def at(self, address: Address) -> PeerEntry | None:
        return self.by_address.get(address)

    def upsert(self, peer_id: bytes, address: Address, nat: int, now: float,
               pool: PoolRoute | None = None) -> tuple[PeerEntry | None, bool]:
        """Enter or refresh a PROVEN peer. Returns (peer or None when refused, created)."""
        peer = self.by_id.get(peer_id)
        if peer is None:
            if len(self.by_id) >= self.capacity and not self._evict_one(now):
                self.refused += 1
                return None, False
            if now < self._floor:  # a clock that went back: the floor no longer holds
                self._floor = -float("inf")
            peer = PeerEntry(peer_id, address, nat, first_seen=now, last_seen=now, pool=pool)
            if now < self._oldest_seen:
                self._oldest_seen = now
            self.by_id[peer_id] = peer
            self.version += 1
            # If another key held this address, the newest proof owns it now; the old entry
            # stays by id until it re-proves from wherever it moved, or expires.
            self.by_address[address] = peer
            return peer, True
        if address != peer.address or pool != peer.pool:
            if self.by_address.get(peer.address) is peer:
                del self.by_address[peer.address]
            peer.address = address
            peer.pool = pool
            self.by_address[address] = peer
            self.version += 1
        peer.nat = nat if nat else peer.nat
        if now < self._floor:
            self._floor = -float("inf")
        if now < self._oldest_seen:  # (a clock that went back)
            self._oldest_seen = now
        peer.last_seen = now
        return peer, False

    def _evict_one(self, now: float) -> bool:
        if now - self._floor <= self.keep_alive:
            return False
        oldest = min(self.by_id.values(), key=lambda p: p.last_seen)
        if now - oldest.last_seen <= self.keep_alive:
            self._floor = oldest.last_seen
            return False
        self.remove(oldest.peer_id)
        return True

    def remove(self, peer_id: bytes) -> PeerEntry | None:
        peer = self.by_id.pop(peer_id, None)
        if peer is not None:
            self.version += 1
            if self.by_address.get(peer.address) is peer:
                del self.by_address[peer.address]
        return peer

    def expire(self, now: float) -> list[PeerEntry]:
        if now - self._oldest_seen <= self.expiry:  # (so now - last_seen <= expiry for all)
            return []
        gone = [p for p in self.by_id.values() if now - p.last_seen > self.expiry]
        for p in gone:
            self.remove(p.peer_id)
        self._oldest_seen = min((p.last_seen for p in self.by_id.values()),
                                default=float("inf"))
        return gone

    def peers(self) -> list[PeerEntry]:
        return list(self.by_id.values())


def choose_weighted(candidates: Iterable[PeerEntry], k: int, now: float, rng: random.Random,
                    *, my_mapping: int = 0, exclude: Iterable[bytes] = ()) -> list[PeerEntry]:
    """Up to k distinct peers, drawn with probability proportional to weight (weighted
    sampling without replacement, Efraimidis-Spirakis keys u^(1/w)). A Hard peer never picks
    Hard peers (SPEC 6: their mappings cannot meet). Random, not greedy: always picking the
    same best peers would starve the rest of the mesh of gossip."""
    excluded = set(exclude)
    keyed = []
    for p in candidates:
        if p.peer_id in excluded:
            continue
        if my_mapping == NAT_HARD and p.mapping == NAT_HARD:
            continue
        u = rng.random() or 1e-12
        keyed.append((u ** (1.0 / p.weight(now)), p.peer_id, p))
    keyed.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [p for _, _, p in keyed[:k]]


class Forwarder:
    """Cumulative weights over the eligible peers, for O(log n) weighted picks per packet on
    the relay path (choose_weighted sorts every peer per call). Rebuilt when the table's
    version changes, and every WEIGHTS_REFRESH s (engine.py) as distances and uptimes move."""

    def __init__(self) -> None:
        self.key: tuple[int, int] = (-1, -1)
        self.built_at = -float("inf")
        self.peers: list[PeerEntry] = []
        self.cum: list[float] = []
        self.total = 0.0

    def rebuild(self, table: PeerTable, now: float, my_mapping: int) -> None:
        self.key = (table.version, my_mapping)
        self.built_at = now
        self.peers = [p for p in table.by_id.values()
                      if not (my_mapping == NAT_HARD and p.mapping == NAT_HARD)]
        total, cum = 0.0, []
        for p in self.peers:
            total += p.weight(now)
            cum.append(total)
        self.cum, self.total = cum, total

    def pick(self, k: int, rng: random.Random, exclude: bytes | None = None) -> list[PeerEntry]:
        peers = self.peers
        n = len(peers)
        if n == 0 or k <= 0:
            return []
        if n <= k + (exclude is not None):
            return [p for p in peers if p.peer_id != exclude][:k]
        chosen: list[PeerEntry] = []
        cum, total = self.cum, self.total
        for _ in range(8 * k):
            p = peers[min(bisect.bisect_right(cum, rng.random() * total), n - 1)]
            if p.peer_id != exclude and p not in chosen:
                chosen.append(p)
                if len(chosen) == k:
                    return chosen
        for p in peers:  # pathological weights: fill deterministically
            if len(chosen) == k:
                break
            if p.peer_id != exclude and p not in chosen:
                chosen.append(p)
        return chosen
