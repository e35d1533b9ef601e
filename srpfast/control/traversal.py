"""Introductions and NAT traversal (SPEC 5; seed STATE_3): ping, BDP spray, BDP pool, relay.

On a proven INTRO from a connected peer, ``nat.strategy`` (a table, not ifs) picks this
side's action toward the introduced peer:

- PING: ping it now and again (connect_attempts pings, 1 s apart) until it answers; the other
  side does the same, so whichever ping opens a NAT first lets the other's through.
- SPRAY (Easy side of Easy<->Hard): Spray actions from the main socket, BDP_PROBES in total,
  paced at one per BDP_INTERVAL (several per tick when ticks are sparse), stopping as soon as
  the peer is connected. Gated (SPEC 5): only after an INTRO from a connected proven peer,
  at most once per pair per spray_window, at most max_attempts concurrent sprays.
- POOL (Hard side): PoolOpen(bdp_sockets), then one fresh signed PING_PROBE every
  BDP_INTERVAL from the next pool socket to the Easy side's known address; the first PONG
  that arrives on a pool socket keeps that socket (PoolKeep) for this peer. After
  BDP_PROBES pings without an answer: PoolClose and relay through the introducer.
- RELAY (Hard<->Hard): no punch; STREAMs to the peer go through the introducer, which
  forwards within a per-pair packet budget (streams.py).
- WAIT (Static toward a NATed or unknown peer): it dials us (every row of the table pings a
  Static column); one ping after ATTEMPT_INTERVAL only if it has not connected by then.

Relay while punching (issue 12): every introduction also records the introducer as a relay
route to the peer (the SPEC 5 fallback of BDP, taken at once instead of after it fails), so
direct STREAMs flow within a round trip of the INTRO; the route is dropped as soon as the
peer connects directly (on_connected). The introducer relays within its per-pair budget.

Tables: attempts, sprays, pools, spray gate, relay routes: all bounded and expiring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from srpfast import constants as C
from srpfast.bodies import NAT_EASY, NAT_HARD, NAT_UNKNOWN, PING_CONNECT, PING_PROBE, Intro
from srpfast.control.bounded import ExpiringDict, LruSet, RateLimiter
from srpfast.control.events import PoolClose, PoolKeep, PoolOpen, Spray
from srpfast.nat import Strategy, strategy

if TYPE_CHECKING:
    from srpfast.control.peers import PoolRoute, RemotePeer
    from srpfast.engine import Peer

Address = tuple[str, int]
ATTEMPT_INTERVAL = 1.0
POOL_BURST = 16


@dataclass
class _Attempt:
    address: Address
    next: float
    left: int


@dataclass
class _SprayState:
    peer_id: bytes
    host: str
    remaining: int
    last: float
    introducer: bytes


@dataclass
class _PoolState:
    key: bytes
    peer_id: bytes
    address: Address
    introducer: bytes
    base_rid: int
    sent: int = 0
    last: float = 0.0
    started: float = 0.0
    sent_at: dict[int, float] = field(default_factory=dict)


class Traversal:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.attempts: ExpiringDict[bytes, _Attempt] = ExpiringDict(
            cfg.max_attempts, ATTEMPT_INTERVAL * (cfg.connect_attempts + 1))
        self.sprays: dict[bytes, _SprayState] = {}
        self.spray_gate: ExpiringDict[bytes, bool] = ExpiringDict(cfg.max_attempts * 4,
                                                                  cfg.spray_window)
        # SPEC 9.3 gates on the amplifier: one BDP per target host per window, and a budget
        # per introducer, so made-up peer ids in INTROs cannot aim us at a victim repeatedly.
        self.bdp_hosts: ExpiringDict[str, bool] = ExpiringDict(cfg.max_attempts * 4,
                                                               cfg.spray_window)
        self.bdp_budget = RateLimiter(cfg.bdp_per_introducer / cfg.spray_window,
                                      cfg.bdp_per_introducer, cfg.max_peers * 2)
        self.pools: dict[bytes, _PoolState] = {}
        self.probes: LruSet[int] = LruSet(cfg.max_attempts)  # request ids of probe pings
        self.kept: dict[bytes, bytes] = {}  # pool key -> peer id using its kept socket
        self.routes: ExpiringDict[bytes, bytes] = ExpiringDict(cfg.relay_routes,
                                                               cfg.peer_expiry)

    # ------------------------------------------------------------ introducing
    def send_intro(self, to: "RemotePeer", about_id: bytes, about_address: Address,
                   about_nat: int, cluster_id: bytes, subcluster_id: bytes, intro_id: int,
                   now: float) -> None:
        body = Intro(introducer=self.p.peer_id, peer_id=about_id, address=about_address,
                     nat=about_nat, timestamp_ms=self.p.wall_ms(now), cluster_id=cluster_id,
                     subcluster_id=subcluster_id, intro_id=intro_id)
        self.p.send_to(to, self.p.signed_frame(C.INTRO, body, cluster_id[:16]))
        self.p.count("tx.intro")

    def introduce(self, a: "RemotePeer", a_address: Address, b: "RemotePeer",
                  cluster_id: bytes, subcluster_id: bytes, now: float) -> None:
        """INTRO to both sides with the same intro_id, so both act at once (STATE_5)."""
        intro_id = self.p.rng.getrandbits(64)
        self.send_intro(a, b.peer_id, b.address, b.nat, cluster_id, subcluster_id, intro_id, now)
        self.send_intro(b, a.peer_id, a_address, a.nat, cluster_id, subcluster_id, intro_id, now)

    def probe_for(self, requester: bytes, address: Address, nat: int, now: float) -> None:
        """Filtering test (SPEC 5): ask one other connected peer to ping the requester at
        ``address``; if that unsolicited ping arrives, the requester's filtering is open."""
        others = [q for q in self.p.table.peers()
                  if q.peer_id != requester and q.pool is None and q.confirmed]
        if not others:
            return
        # The probe is unsolicited on purpose, so behind a Linux NAT it knocks: the
        # requester's mapping toward the helper changes port (docs/NATLAB.md). Prefer Hard
        # helpers (their probe leaves from a fresh port nobody uses again, and nobody uses a
        # Hard peer as a reflector), then unknown, Easy, Static ones (issue 12).
        rank = {NAT_HARD: 0, NAT_UNKNOWN: 1, NAT_EASY: 2}
        best = min(rank.get(q.mapping, 3) for q in others)
        helper = self.p.rng.choice([q for q in others if rank.get(q.mapping, 3) == best])
        self.send_intro(helper, requester, address, nat, bytes(32), bytes(32),
                        self.p.rng.getrandbits(64), now)
        self.p.count("reflect.probe_requests")

    # ------------------------------------------------------------ receiving INTRO
    def on_intro(self, f, body: Intro, address: Address, now: float,
                 pool: "PoolRoute | None") -> None:
        p = self.p
        introducer = p.table.get(body.introducer)
        if introducer is None or introducer.address != address:
            p.count("drop.intro_unknown")  # only connected, proven peers introduce (SPEC 5)
            return
        if not p.verify_body(C.INTRO, f.cluster, body, body.introducer, body.intro_id,
                             body.timestamp_ms, now, body.cluster_id):
            return
        p.count("rx.intro")
        target = body.peer_id
        if target == p.peer_id or body.address is None:
            p.count("intro.self")
            return
        if body.cluster_id == C.ZERO32:
            # A filtering-probe request (probe_for), not an introduction: one ping to the
            # test port, never a connection attempt or a BDP toward it. Not a pending ping
            # either (explicit request id): its PONG connects nobody.
            rid = p.rng.getrandbits(64)
            self.probes.add(rid)  # its PONG is expected, and then ignored
            p.ping(body.address, now, PING_CONNECT, request_id=rid)
            p.count("probe.sent")
            return
        if target in p.table:
            p.count("intro.known")
            return
        action = strategy(p.nat_byte, body.nat)
        p.count(f"intro.{action.value}")
        self.routes.put(target, body.introducer, now)  # relay while punching (docstring)
        p.streams.on_connected(target, now)  # a path appeared: queued STREAMs go now
        if action is Strategy.PING:
            self._attempt(target, body.address, now)
        elif action is Strategy.WAIT:
            self._attempt(target, body.address, now, first_ping=False)
        elif action is Strategy.SPRAY:
            self._attempt(target, body.address, now)
            self._start_spray(target, body.address, body.introducer, now)
        elif action is Strategy.POOL:
            self._start_pool(target, body.address, body.introducer, now)
        else:
            self.routes.put(target, body.introducer, now)

    def _attempt(self, peer_id: bytes, address: Address, now: float,
                 first_ping: bool = True) -> None:
        left = self.p.config.connect_attempts - (1 if first_ping else 0)
        self.attempts.put(peer_id, _Attempt(address, now + ATTEMPT_INTERVAL, left), now)
        if first_ping:
            self.p.ping(address, now, PING_CONNECT)

    def _bdp_allowed(self, host: str, introducer: bytes, now: float) -> bool:
        self.bdp_hosts.expire(now)
        if host in self.bdp_hosts:
            self.p.count("bdp.gated_host")
            return False
        if not self.bdp_budget.allow(introducer, now):
            self.p.count("bdp.gated_introducer")
            return False
        self.bdp_hosts.put(host, True, now)
        return True

    def _start_spray(self, peer_id: bytes, address: Address, introducer: bytes,
                     now: float) -> None:
        if peer_id in self.spray_gate or len(self.sprays) >= self.p.config.max_attempts:
            self.p.count("spray.gated")
            return
        if not self._bdp_allowed(address[0], introducer, now):
            return
        self.spray_gate.put(peer_id, True, now)
        self.sprays[peer_id] = _SprayState(peer_id, address[0], self.p.config.bdp_probes,
                                           now - self.p.config.bdp_interval, introducer)

    def _start_pool(self, peer_id: bytes, address: Address, introducer: bytes,
                    now: float) -> None:
        if any(s.peer_id == peer_id for s in self.pools.values()):
            return
        if (len(self.pools) + len(self.kept) >= self.p.config.max_pools
                or not self._bdp_allowed(address[0], introducer, now)):
            self.p.count("pool.busy")
            self.routes.put(peer_id, introducer, now)
            return
        key = self.p.rng.getrandbits(64).to_bytes(8, "big")
        # Request ids base..base+probes name this pool's pings (no pending-table churn).
        base = self.p.rng.getrandbits(63)
        self.pools[key] = _PoolState(key, peer_id, address, introducer, base,
                                     last=now - self.p.config.bdp_interval, started=now)
        self.p.act(PoolOpen(key, self.p.config.bdp_sockets))
        self.p.count("pool.opened")

    # ------------------------------------------------------------ pacing
    def tick(self, now: float) -> None:
        p, cfg = self.p, self.p.config
        self.attempts.expire(now)
        for peer_id, att in self.attempts.items():
            if att.next <= now and att.left > 0:
                att.left -= 1
                att.next = now + ATTEMPT_INTERVAL
                p.ping(att.address, now, PING_CONNECT)
        for peer_id, s in list(self.sprays.items()):
            due = int((now - s.last) / cfg.bdp_interval + 1e-6)  # (float: at the deadline, 1)
            if due <= 0:
                continue
            n = min(due, s.remaining)
            s.remaining -= n
            s.last += due * cfg.bdp_interval
            p.act(Spray(s.host, n, p.rng.getrandbits(32)))
            p.count("spray.probes", n)
            if s.remaining <= 0:
                del self.sprays[peer_id]
                if peer_id not in p.table:
                    self.routes.put(peer_id, s.introducer, now)
        for key, st in list(self.pools.items()):
            due = int((now - st.last) / cfg.bdp_interval + 1e-6)
            if due <= 0:
                continue
            st.last += due * cfg.bdp_interval
            # A late tick sends a few at once, never a burst of signed pings (POOL_BURST).
            for _ in range(min(due, POOL_BURST, cfg.bdp_probes - st.sent)):
                rid = st.base_rid + st.sent
                index = st.sent % cfg.bdp_sockets
                st.sent_at[rid] = now
                st.sent += 1
                p.ping(st.address, now, PING_PROBE | PING_CONNECT, pool=(key, index),
                       request_id=rid)
            if st.sent >= cfg.bdp_probes:
                del self.pools[key]
                p.act(PoolClose(key))
                p.count("pool.gave_up")
                self.routes.put(st.peer_id, st.introducer, now)

    def next_deadline(self) -> float | None:
        cfg = self.p.config
        times = [a.next for _, a in self.attempts.items() if a.left > 0]
        times += [s.last + cfg.bdp_interval for s in self.sprays.values()]
        times += [s.last + cfg.bdp_interval for s in self.pools.values()]
        return min(times) if times else None

    # ------------------------------------------------------------ outcomes
    def pool_for_pong(self, request_id: int, peer_id: bytes,
                      pool: "PoolRoute | None") -> float | None:
        """The send time if this PONG answers one of our pool pings (and arrived on it)."""
        if pool is None:
            return None
        st = self.pools.get(pool[0])
        if st is None or st.peer_id != peer_id:
            return None
        return st.sent_at.get(request_id)

    def keep_pool(self, pool: "PoolRoute", peer_id: bytes, now: float) -> None:
        st = self.pools.pop(pool[0], None)
        if st is None:
            return
        self.kept[pool[0]] = peer_id
        self.p.act(PoolKeep(pool[0], pool[1]))
        self.p.count("pool.kept")

    def on_connected(self, peer: "RemotePeer", now: float) -> None:
        self.attempts.pop(peer.peer_id)
        self.routes.pop(peer.peer_id)
        if self.sprays.pop(peer.peer_id, None) is not None:
            self.p.count("spray.connected")
        for key, st in list(self.pools.items()):
            if st.peer_id == peer.peer_id and peer.pool is None:
                del self.pools[key]  # reached another way: release the sockets
                self.p.act(PoolClose(key))

    def on_disconnected(self, peer: "RemotePeer", now: float) -> None:
        if peer.pool is not None and self.kept.pop(peer.pool[0], None) is not None:
            self.p.act(PoolClose(peer.pool[0]))

    def route(self, peer_id: bytes) -> "RemotePeer | None":
        relay = self.routes.get(peer_id)
        return self.p.table.get(relay) if relay is not None else None

