"""Introductions and NAT traversal (SPEC 5; seed STATE_3): ping, BDP spray, BDP pool, relay.

On a proven INTRO from a connected peer, ``nat.strategy`` (a table, not ifs) picks this
side's action toward the introduced peer. SPRAY and POOL (the BDP, the one amplifier SPEC 9.3
allows) also need the introduced peer's own proof that it asked, carried in the INTRO (see
"Proof of asking" below); without it this side only pings, one ping per INTRO:

- PING: ping it now and again (connect_attempts pings, 1 s apart) until it answers; the other
  side does the same, so whichever ping opens a NAT first lets the other's through.
- SPRAY (Easy side of Easy<->Hard): Spray actions from the main socket: bdp_burst probes at
  once (the reference's 1024), then bdp_probes more to further distinct ports, paced at one
  per BDP_INTERVAL (SPRAY_STEP of them every SPRAY_STEP x BDP_INTERVAL; more per tick when
  ticks are sparse), stopping as soon as the peer is
  connected. Gated (SPEC 5): only after an INTRO from a connected proven peer, at most once
  per pair per spray_window, at most max_attempts concurrent sprays.
- POOL (Hard side): PoolOpen(bdp_sockets), then one 4-byte opener (the spray's probe, not an
  SRP frame) from every pool socket to the Easy side's known address, at once: each opens
  its own public port toward it (endpoint-dependent: 256 random ports). A spray probe that
  reaches pool socket i (``on_pool_probe``) proves both NATs are open between that socket
  and the Easy peer: socket i sends one signed PING_PROBE, and its PONG keeps the socket
  (PoolKeep) for this peer. A signed PING leaves only from a socket that received something
  from the vouched host (docs/SECURITY.md threat 1), at most one per socket. After
  BDP_PROBES x BDP_INTERVAL without a PONG: PoolClose and relay through the introducer.
  At most max_pools pools search at once; a pool INTRO beyond them waits in ``waiting`` (the
  relay route serves meanwhile) and opens when a pool ends, if the Easy side's spray still
  has at least half its life (POOL_WAIT) to run: refusing it instead left the Easy side
  spraying ~3,000 probes for 10 s at a pool that never opened, for 19 of 33 pool INTROs in
  the simulator's scale run (a returning Hard peer is introduced to a dozen Easy peers at
  once), and BDP ticks were then about half of all engine ticks there.
  The Easy side sends a second burst SPRAY_REPEAT later, to the NEXT bdp_burst ports of its
  permutation: if the first burst left before the pool's openers, its probes died in the
  Hard NAT and the second one is the pair's chance; if the openers were first, the second
  burst is a second independent chance (a pair then misses with both ~0.03% of the time
  instead of ~1.8%). Sending the same ports again, as before, only ever helped the first
  case, no more than new ports do: a hit needs one of the pool's public ports among the
  ports sprayed AFTER the openers left (docs/NATLAB.md "The Easy<->Hard tail").
- RELAY (Hard<->Hard): no punch; STREAMs to the peer go through the introducer, which
  forwards within a per-pair packet budget (streams.py).
- WAIT (Static toward a NATed or unknown peer): it dials us (every row of the table pings a
  Static column); one ping after ATTEMPT_INTERVAL only if it has not connected by then.

Relay while punching (issue 12): every introduction also records the introducer as a relay
route to the peer (the SPEC 5 fallback of BDP, taken at once instead of after it fails), so
direct STREAMs flow within a round trip of the INTRO; the route is dropped as soon as the
peer connects directly (on_connected). The introducer relays within its per-pair budget.

Proof of asking (SPEC 5: "about a peer whose key proved it asked, ... never at an address
that has not taken part"). An introducer signs its INTROs, but it may name anyone at any
address: a connected attacker could aim our pool (256 sockets, BDP_PROBES signed pings) or
spray at a victim with a made-up peer id. So an INTRO carries, in ``proof``, the introduced
peer's own signed, fresh request as the introducer received it:

- to the existing peer b about joiner a: a's JOIN (a asked for introductions);
- b, on a proof that verifies, answers the introducer with a JOIN_ASK naming this intro_id
  (its consent, signed, fresh, with the address it is reachable at); only then does the
  introducer send a its INTRO about b, with that JOIN_ASK as proof (two steps, one RTT apart:
  a hole punch does not need both sides to start in the same instant).

The receiver checks the proof (``_proof``): signed by the introduced peer id, fresh and not
replayed (ProofChecker, its own namespace), same cluster/subcluster as the INTRO and a cluster
we are in, a JOIN_ASK bound to this intro_id, never a leave; and the BDP aims only at the
address the proof vouches for (``_vouched``: same host; same port too for a pool, which
targets one port). The per-host and per-introducer gates stay as a second line for keys that
collude (docs/SECURITY.md, threat 1).

Tables: attempts, sprays, pools, spray gate, pending intros, relay routes: all bounded and
expiring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from srpfast.wire import constants as C
from srpfast.wire.bodies import (JOIN_ASK, JOIN_LEAVE, JOIN_NO_BDP, NAT_EASY, NAT_HARD,
                                 NAT_UNKNOWN, NO_PROOF, PING_CONNECT, PING_PROBE,
                                 SIGNATURE_BYTES, Intro, Join, decode_body, signed_bytes)
from srpfast.control.bounded import ExpiringDict, LruSet, RateLimiter
from srpfast.control.events import PoolClose, PoolKeep, PoolOpen, PoolSend, Spray
from srpfast.crypto import verify_proof
from srpfast.errors import MalformedPacket
from srpfast.control.nat import Strategy, strategy
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.wire.frame import Frame
    from srpfast.control.peers import PoolRoute, PeerEntry
    from srpfast.control.engine import Peer

ATTEMPT_INTERVAL = 1.0
OPENER = bytes(4)       # a pool socket's NAT opener: the spray's probe (SPEC 5, not SRP)
SPRAY_REPEAT = 0.25     # the spray's second burst (new ports), this long after the first
# The paced part of a spray asks for a tick every SPRAY_STEP x BDP_INTERVAL and sends the
# SPRAY_STEP probes that fell due, back to back: SPEC 5's rate (one per BDP_INTERVAL), a fifth
# of the wake-ups. At one per 10 ms a spraying peer woke 100 times a second for 10 s: in the
# simulator at 1,000 peers under light churn, the windows with sprays took 4.3-6.5 engine
# ticks a peer a second against 1.4 without; with the step 1.9-2.3 (the busiest window's CPU
# ~10% lower: the rest is the connections the sprays make). A hit shows at most 40 ms
# later; the Hard side's pool waits the whole spray's life anyway.
SPRAY_STEP = 5
ASK_WAIT = 10.0        # an introducer waits this long for the other side's JOIN_ASK
PROOF_NONCE = b"\x83"  # replay-window namespace of INTRO proofs (no frame has this type)
POOL_WAIT = 0.5        # a pool INTRO waits for a free pool this share of a pool's life, at most


@dataclass
class _PendingIntro:
    joiner: bytes         # asked first (its JOIN); gets its INTRO once the other consents
    other: bytes          # got the first INTRO; its JOIN_ASK is awaited
    cluster_id: bytes
    subcluster_id: bytes


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
    seed: int = 0
    sent: int = 0          # ports of the seed's plan used so far (Spray.first)
    repeat_at: float = 0.0  # when the burst goes again (0: done or no burst)


@dataclass
class _PoolState:
    key: bytes
    peer_id: bytes
    address: Address
    introducer: bytes
    base_rid: int
    sent: int = 0
    started: float = 0.0
    sent_at: dict[int, float] = field(default_factory=dict)
    echoed: set[int] = field(default_factory=set)  # sockets that re-pinged on a spray probe


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
        # pool INTROs waiting for one of the max_pools (module doc, POOL): peer id ->
        # (address, introducer, since), oldest first; bounded like the pools' sockets.
        self.waiting: dict[bytes, tuple[Address, bytes, float]] = {}
        self.probes: LruSet[int] = LruSet(cfg.max_attempts)  # request ids of probe pings
        self.kept: dict[bytes, bytes] = {}  # pool key -> peer id using its kept socket
        self.routes: ExpiringDict[bytes, bytes] = ExpiringDict(cfg.relay_routes,
                                                               cfg.peer_expiry)
        # Introductions we made whose second INTRO waits for the other side's consent.
        self.pending: ExpiringDict[int, _PendingIntro] = ExpiringDict(cfg.max_attempts,
                                                                      ASK_WAIT)

    # ------------------------------------------------------------ introducing
    def send_intro(self, to: "PeerEntry", about_id: bytes, about_address: Address,
                   about_nat: int, cluster_id: bytes, subcluster_id: bytes, intro_id: int,
                   now: float, proof: bytes = NO_PROOF) -> None:
        body = Intro(introducer=self.p.peer_id, peer_id=about_id, address=about_address,
                     nat=about_nat, timestamp_ms=self.p.wall_ms(now), cluster_id=cluster_id,
                     subcluster_id=subcluster_id, intro_id=intro_id, proof=proof)
        self.p.send_to(to, self.p.signed_frame(C.INTRO, body, cluster_id[:16]))
        self.p.count("tx.intro")

    def introduce(self, a: "PeerEntry", a_address: Address, b: "PeerEntry",
                  cluster_id: bytes, subcluster_id: bytes, now: float, a_join: bytes) -> None:
        """Introduce joiner ``a`` to ``b`` (STATE_5), each INTRO carrying the other side's
        proof that it asked: first to b, with ``a_join`` (a's signed JOIN body as received);
        a's INTRO follows b's JOIN_ASK for the same intro_id (``on_ask``)."""
        intro_id = self.p.rng.getrandbits(64)
        self.send_intro(b, a.peer_id, a_address, a.nat, cluster_id, subcluster_id, intro_id, now,
                        a_join)
        self.pending.put(intro_id, _PendingIntro(a.peer_id, b.peer_id, cluster_id,
                                                 subcluster_id), now)

    def on_ask(self, f: Frame, body: Join, address: Address, now: float) -> None:
        """A verified JOIN_ASK (membership.on_join checked its signature and freshness): the
        consent of the peer we introduced someone to. Forward it, as proof, in the joiner's
        INTRO. Only from that peer, at its address, for an introduction we are waiting on."""
        p = self.p
        self.pending.expire(now)
        pend = self.pending.get(body.join_id)
        sender = p.table.at(address)
        if (pend is None or sender is None or sender.peer_id != body.peer_id
                or pend.other != body.peer_id or pend.cluster_id != body.cluster_id
                or pend.subcluster_id != body.subcluster_id or sender.pool is not None):
            p.count("drop.ask")
            return
        self.pending.pop(body.join_id)
        joiner = p.table.get(pend.joiner) or p.membership.referred_peer(pend.joiner)
        if joiner is None:
            p.count("ask.joiner_gone")
            return
        p.count("rx.ask")
        self.send_intro(joiner, sender.peer_id, sender.address, sender.nat, pend.cluster_id,
                        pend.subcluster_id, body.join_id, now, bytes(f.message))

    def _send_ask(self, introducer: "PeerEntry", body: Intro, now: float,
                  bdp: bool = True) -> None:
        """Our consent to ``body``'s introduction; ``bdp`` False: we take no part in a BDP
        for it (JOIN_NO_BDP: the other side then opens no pool / sends no spray)."""
        p = self.p
        ask = Join(peer_id=p.peer_id, cluster_id=body.cluster_id,
                   subcluster_id=body.subcluster_id, address=p.reflection.public,
                   nat=p.nat_byte, timestamp_ms=p.wall_ms(now), join_id=body.intro_id,
                   flags=JOIN_ASK | (0 if bdp else JOIN_NO_BDP))
        p.send_to(introducer, p.signed_frame(C.JOIN, ask, body.cluster_id[:16]))
        p.count("tx.ask")

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
    def on_intro(self, f: Frame, body: Intro, address: Address, now: float,
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
        ask = self._proof(body, now)
        # The joiner asked (its JOIN): consent in return, so the introducer can give it our
        # own proof (its INTRO about us follows). Also when its cluster is not ours: the
        # joiner's side is in that cluster, and that is what it checks. Sent after our action
        # below, which decides whether we take part in a BDP (JOIN_NO_BDP).
        consent = ask is not None and not ask.flags & JOIN_ASK
        if ask is not None and not any(s.cluster_id == ask.cluster_id
                                       for s in p.membership.subs.values()):
            p.count("intro.foreign_proof")  # names no cluster of ours: no BDP from us
            ask = None
        action = strategy(p.nat_byte, body.nat)
        p.count(f"intro.{action.value}")
        self.routes.put(target, body.introducer, now)  # relay while punching (docstring)
        p.streams.on_connected(target, now)  # a path appeared: queued STREAMs go now
        bdp = True
        if action in (Strategy.SPRAY, Strategy.POOL) and not self._vouched(ask, body.address,
                                                                           action):
            # SPEC 5 / 9.3: no BDP toward a peer that did not prove it asked, or at an address
            # its proof does not vouch for: one ping, no more than the INTRO carried.
            p.count("bdp.unproven")
            self._attempt(target, body.address, now)
            bdp = False
        elif action in (Strategy.SPRAY, Strategy.POOL) and ask is not None \
                and ask.flags & JOIN_NO_BDP:
            # Its consent says its own gates refused the BDP: a pool would wait 10 s for a
            # spray that never comes (holding one of max_pools), a spray ~3,000 probes for a
            # pool that never opens. The relay route above serves the pair.
            p.count("bdp.declined")
        elif action is Strategy.PING:
            self._attempt(target, body.address, now)
        elif action is Strategy.WAIT:
            self._attempt(target, body.address, now, first_ping=False)
        elif action is Strategy.SPRAY:
            self._attempt(target, body.address, now)
            bdp = self._start_spray(target, body.address, body.introducer, now)
        elif action is Strategy.POOL:
            bdp = self._start_pool(target, body.address, body.introducer, now)
        else:
            self.routes.put(target, body.introducer, now)
        if consent:
            self._send_ask(introducer, body, now, bdp)

    def _proof(self, body: Intro, now: float) -> Join | None:
        """The introduced peer's own request in ``body.proof``, verified; None otherwise
        (counted). Checks are cheap first, the signature next, the replay window last (it
        records the proof, so a forgery cannot burn a genuine proof's nonce). Whether it
        names a cluster of ours is the caller's check (on_intro)."""
        p = self.p
        raw = body.proof
        if raw == NO_PROOF:
            p.count("intro.unproven")
            return None
        try:
            ask = decode_body(C.JOIN, raw)  # (wraps every decoding error as MalformedPacket)
        except MalformedPacket:
            p.count("intro.bad_proof")
            return None
        assert isinstance(ask, Join)
        if (ask.peer_id != body.peer_id or ask.cluster_id != body.cluster_id
                or ask.subcluster_id != body.subcluster_id or ask.flags & JOIN_LEAVE
                or (ask.flags & JOIN_ASK and ask.join_id != body.intro_id)):
            p.count("intro.bad_proof")  # not about this peer, this context, this intro
            return None
        if not verify_proof(ask.peer_id, signed_bytes(C.JOIN, ask.cluster_id[:16],
                                                      raw[:-SIGNATURE_BYTES]), ask.signature):
            p.count("intro.bad_proof")
            return None
        if not p.proofs.check(ask.peer_id, ask.timestamp_ms,
                              PROOF_NONCE + ask.join_id.to_bytes(8, "big"), p.wall_ms(now)):
            p.count("intro.stale_proof")  # outside the window, or already used here
            return None
        return ask

    @staticmethod
    def _vouched(ask: Join | None, address: Address, action: Strategy) -> bool:
        """The BDP aims where the introduced peer said it is: its host (a spray covers the
        host's ports) and, for a pool, which pings one port, that port too."""
        if ask is None or ask.address is None or ask.address[0] != address[0]:
            return False
        return action is not Strategy.POOL or ask.address[1] == address[1]

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
                     now: float) -> bool:
        """Spray toward ``peer_id``'s host; False when a gate refuses it (SPEC 9.3)."""
        if peer_id in self.sprays:
            self.p.count("spray.gated")
            return True  # (already spraying at it: this introduction's pool meets that spray)
        if peer_id in self.spray_gate or len(self.sprays) >= self.p.config.max_attempts:
            self.p.count("spray.gated")
            return False
        if not self._bdp_allowed(address[0], introducer, now):
            return False
        self.spray_gate.put(peer_id, True, now)
        cfg = self.p.config
        s = _SprayState(peer_id, address[0], cfg.bdp_probes, now, introducer,
                        self.p.rng.getrandbits(32))
        self.sprays[peer_id] = s
        if cfg.bdp_burst:  # SPEC 5: the reference's burst, so the pool's first pings can hit
            self.p.act(Spray(s.host, cfg.bdp_burst, s.seed, 0))
            s.sent = cfg.bdp_burst
            s.repeat_at = now + SPRAY_REPEAT
            self.p.count("spray.probes", cfg.bdp_burst)
        return True

    def _start_pool(self, peer_id: bytes, address: Address, introducer: bytes,
                    now: float) -> bool:
        """A pool toward ``address`` (now, or when one is free: ``waiting``); False when a
        gate refuses it (SPEC 9.3)."""
        if any(s.peer_id == peer_id for s in self.pools.values()):
            return True
        # max_pools bounds pools being searched (256 sockets each). A kept socket is one
        # socket serving one connected peer, bounded by the peer table (sweep_kept): counting
        # it as a pool made a Hard peer with 4 BDP connections refuse every BDP after them,
        # while its Easy partners sprayed ~3,000 probes each at a pool that never opened
        # (the simulator: 368 of 410 pool INTROs refused, issue 15).
        if len(self.pools) >= self.p.config.max_pools:
            # Wait for a free pool (module doc, POOL), relayed meanwhile.
            self.routes.put(peer_id, introducer, now)
            if peer_id not in self.waiting and len(self.waiting) >= 4 * self.p.config.max_pools:
                self.waiting.pop(next(iter(self.waiting)))  # (the oldest: least spray left)
                self.p.count("pool.wait_overflow")
            self.waiting[peer_id] = (address, introducer, now)
            self.p.count("pool.waiting")
            return True
        if not self._bdp_allowed(address[0], introducer, now):
            self.p.count("pool.busy")
            self.routes.put(peer_id, introducer, now)
            return False
        key = self.p.rng.getrandbits(64).to_bytes(8, "big")
        # Request ids base..base+probes name this pool's pings (no pending-table churn).
        base = self.p.rng.getrandbits(63)
        cfg = self.p.config
        self.pools[key] = _PoolState(key, peer_id, address, introducer, base, started=now)
        self.p.act(PoolOpen(key, cfg.bdp_sockets))
        self.p.act(PoolSend(key, -1, OPENER, address))  # every socket opens its port
        self.p.count("pool.opened")
        self.p.count("pool.openers", cfg.bdp_sockets)
        return True

    # ------------------------------------------------------------ pacing
    def tick(self, now: float) -> None:
        p, cfg = self.p, self.p.config
        self.attempts.expire(now)
        self.pending.expire(now)
        if not (self.sprays or self.pools or len(self.attempts)):
            return
        for peer_id, att in self.attempts.items():
            if att.next <= now and att.left > 0:
                att.left -= 1
                att.next = now + ATTEMPT_INTERVAL
                p.ping(att.address, now, PING_CONNECT)
        for peer_id, s in list(self.sprays.items()):
            if s.repeat_at and now >= s.repeat_at:  # a second burst, new ports (docstring)
                s.repeat_at = 0.0
                p.act(Spray(s.host, cfg.bdp_burst, s.seed, s.sent))
                s.sent += cfg.bdp_burst
                p.count("spray.probes", cfg.bdp_burst)
            due = int((now - s.last) / cfg.bdp_interval + 1e-6)  # (float: at the deadline, 1)
            if due <= 0:
                continue
            n = min(due, s.remaining)
            s.remaining -= n
            s.last += due * cfg.bdp_interval
            p.act(Spray(s.host, n, s.seed, s.sent))
            s.sent += n
            p.count("spray.probes", n)
            if s.remaining <= 0:
                del self.sprays[peer_id]
                if peer_id not in p.table:
                    self.routes.put(peer_id, s.introducer, now)
        for key, st in list(self.pools.items()):
            if now >= st.started + self._pool_life():
                del self.pools[key]
                p.act(PoolClose(key))
                p.count("pool.gave_up")
                self.routes.put(st.peer_id, st.introducer, now)
                self._next_waiting(now)

    def next_deadline(self) -> float | None:
        if not (self.sprays or self.pools or len(self.attempts)):
            return None  # (the common case, asked after every event: no list built)
        cfg = self.p.config
        times = [a.next for _, a in self.attempts.items() if a.left > 0]
        step = SPRAY_STEP * cfg.bdp_interval
        times += [s.last + min(step, s.remaining * cfg.bdp_interval)
                  for s in self.sprays.values()]
        times += [s.repeat_at for s in self.sprays.values() if s.repeat_at]
        times += [s.started + self._pool_life() for s in self.pools.values()]
        return min(times) if times else None

    def _pool_life(self) -> float:
        """A pool waits as long as the spray it answers may last (SPEC 5: the seed's ~1000
        probes at BDP_INTERVAL), then gives up."""
        return self.p.config.bdp_probes * self.p.config.bdp_interval

    def on_pool_probe(self, pool: "PoolRoute", address: Address, now: float) -> None:
        """A datagram that is no SRP frame reached pool socket ``pool`` from the host this
        pool aims at: the Easy side's spray found the socket's public port, so its NAT is
        open toward it now. Ping from that socket at once (module docstring, POOL); only
        the pool's vouched address is pinged, once per socket, within bdp_probes."""
        st = self.pools.get(pool[0])
        if st is None or address[0] != st.address[0] or pool[1] in st.echoed \
                or st.sent >= self.p.config.bdp_probes:
            return
        st.echoed.add(pool[1])
        rid = st.base_rid + st.sent
        st.sent_at[rid] = now
        st.sent += 1
        self.p.ping(st.address, now, PING_PROBE | PING_CONNECT, pool=(pool[0], pool[1]),
                    request_id=rid)
        self.p.count("pool.echo")

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
        self._next_waiting(now)

    def _next_waiting(self, now: float) -> None:
        """A pool ended: open the pools that wait for one (module doc, POOL), skipping what
        connected meanwhile and what waited too long for the Easy side's spray."""
        limit = POOL_WAIT * self._pool_life()
        while self.waiting and len(self.pools) < self.p.config.max_pools:
            peer_id = next(iter(self.waiting))
            address, introducer, since = self.waiting.pop(peer_id)
            if peer_id in self.p.table:
                continue
            if now - since > limit:
                self.p.count("pool.wait_expired")
                continue
            self._start_pool(peer_id, address, introducer, now)

    def on_connected(self, peer: "PeerEntry", now: float) -> None:
        self.attempts.pop(peer.peer_id)
        self.routes.pop(peer.peer_id)
        if self.sprays.pop(peer.peer_id, None) is not None:
            self.p.count("spray.connected")
        self.waiting.pop(peer.peer_id, None)
        for key, st in list(self.pools.items()):
            if st.peer_id == peer.peer_id and peer.pool is None:
                del self.pools[key]  # reached another way: release the sockets
                self.p.act(PoolClose(key))
                self._next_waiting(now)

    def sweep_kept(self) -> None:
        """Close kept sockets whose peer left the table without a disconnection (evicted for
        a newcomer) or now talks to us over another path (it re-proved elsewhere)."""
        for key, peer_id in list(self.kept.items()):
            peer = self.p.table.get(peer_id)
            if peer is None or peer.pool is None or peer.pool[0] != key:
                del self.kept[key]
                self.p.act(PoolClose(key))
                self.p.count("pool.released")

    def on_disconnected(self, peer: "PeerEntry", now: float) -> None:
        if peer.pool is not None and self.kept.pop(peer.pool[0], None) is not None:
            self.p.act(PoolClose(peer.pool[0]))

    def route(self, peer_id: bytes) -> "PeerEntry | None":
        relay = self.routes.get(peer_id)
        return self.p.table.get(relay) if relay is not None else None

