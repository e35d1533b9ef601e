"""Reflection: learning our public address and NAT type (SPEC 5; seed STATE_0..STATE_2).

A round pings two reflectors (Static or Easy peers, else any proven non-Hard peer) with
PING_REFLECT; each PONG reports the address it saw us at. ``nat.classify`` (pure) decides.
The round never stalls (SPEC 9.10): too few reflectors, a mismatch or a timeout schedule a
retry after an exponential backoff (reflect_backoff doubling up to reflect_backoff_max) and the
peer stays fully usable meanwhile. A success schedules the next round after KEEP_ALIVE, which
is skipped while proven PONGs keep saying where they see us (SPEC 5: re-run when the network
changes or nothing was heard for KEEP_ALIVE). A change of how any peer sees us starts a round
at once (network change).

Events: Ready once (first classification, or the first proven PONG when fewer than two
reflectors exist, or at once for the first node of a network: announce_alone),
NetworkChange when the address or mapping changes afterwards, and when a peer that was ready
alone learns its public address from its first proven PONG.

Issue 12 (measured in the NAT lab, docs/NATLAB.md):
- the first round starts as soon as a second reflector connects (``on_connected``), not at
  the next maintenance pass after a too-few backoff;
- a NAT byte that changes (first classification included) reaches every connected peer at
  once: a heartbeat PING (its header carries ``nat``, SPEC 3) and our JOINs again straight to
  them (``Membership.renew``), so introducers hold the fresh value and introduce again with
  it, instead of holding "unknown" until the next keep-alive (30 s);
- with a wildcard bind, ``local_source`` (set by the driver: the route's source address
  toward a reflector) lets ``nat.classify`` recognise Static without a filtering probe.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from srpfast.wire.bodies import (FILTER_UNKNOWN, NAT_EASY, NAT_HARD, NAT_STATIC, NAT_UNKNOWN,
                                 PING_HEARTBEAT, PING_REFLECT)
from srpfast.control.events import NetworkChange, Ready
from srpfast.control.nat import (FILTERING_NAMES, MAPPING_NAMES, WILDCARDS, Evidence, Outcome, Sample,
                                 classify, filtering_from, nat_byte)
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.control.peers import PeerEntry
    from srpfast.control.engine import Peer



class Reflection:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        self.mapping = NAT_UNKNOWN
        self.filtering = FILTER_UNKNOWN
        self.public: Address | None = None
        self.ready = False
        self.round_id = 0
        self.round_started: float | None = None
        self.round_samples: list[Sample] = []
        self.round_size = 0
        self.last_samples: list[Sample] = []
        self.next_round = -1e18
        self.last_told = -1e18  # the last proven PONG that said where it saw us (tick)
        self.changed = False    # a PONG saw us elsewhere (on_pong): the next tick runs a round
        self.last_heard = -1e18  # the last other proven frame (a tagged SYNC: heard())
        self._deferred_for: float | None = None  # max(last_told, last_heard) at a deferral
        self.failures = 0
        self.evidence = Evidence()
        # (host, port) -> the local source address the kernel routes from toward it, or None.
        # Set by the driver for a wildcard bind (net/driver.py); None in sans-I/O tests.
        self.local_source: Callable[[Address], str | None] | None = None

    @property
    def nat_byte(self) -> int:
        return nat_byte(self.mapping, self.filtering)

    @property
    def name(self) -> str:
        return MAPPING_NAMES[self.mapping]

    @property
    def filtering_name(self) -> str:
        return FILTERING_NAMES[self.filtering]

    # -------------------------------------------------------------- rounds
    def _reflectors(self) -> list["PeerEntry"]:
        """Up to three reflectors (two are enough; a third outvotes one remapped port,
        nat.classify), best first: Static peers; then bootstrap peers; then Easy ones;
        then (nobody has classified yet) unknown ones; never Hard ones. Why this order: a
        peer that pinged our public address before we ever sent to it (an INTRO race) can
        have made a Linux NAT map us toward it from ANOTHER port (the lab's "knock",
        docs/NATLAB.md), so its sample would make an Easy mapping look Hard. The knocked
        packet dies in our NAT, unseen, so we cannot tell which peers did it; a Static peer
        waits for us to dial (nat.STRATEGY) and a bootstrap peer heard from us before anyone
        knew our address, so neither can have knocked."""
        boot = self.p.bootstrap.addresses
        ranked: list[tuple[int, float, "PeerEntry"]] = []
        for p in self.p.table.peers():
            if p.pool is not None or p.mapping == NAT_HARD:
                continue
            rank = 0 if p.mapping == NAT_STATIC else 1 if p.address in boot else \
                2 if p.mapping == NAT_EASY else 3
            ranked.append((rank, self.p.rng.random(), p))
        ranked.sort(key=lambda t: (t[0], t[1]))
        return [p for _, _, p in ranked[:3]]

    def start(self, now: float) -> None:
        chosen = self._reflectors()
        if len(chosen) < 2:
            self._fail(now, "reflect.too_few")
            if not self.ready and self.public is not None:
                self._announce(now)  # reflection impossible: Ready on the first proven PONG
            return
        self.changed = False
        self.round_id += 1
        self.round_started = now
        self.round_samples = []
        self.round_size = len(chosen)
        test_port = self.p.bound[1] if self.p.bound is not None else 0
        for r in chosen:
            # Keyed to a reflector that holds us (handshake.py, "Keyed heartbeats"): its
            # PONG's observed address is then proven by the pair's tag instead of a
            # signature, which says as much (only the pair can make it), and the round costs
            # no Ed25519 on either side but the filtering probe's (~190 us a reflector).
            self.p.ping(r.address, now, PING_REFLECT, test_port=test_port,
                        reflect_round=self.round_id, keyed=True)
        self.p.count("reflect.rounds")

    def _third(self, asked: dict[bytes, int], now: float) -> bool:
        """Ping one more reflector in this round (at most three in all) if one is connected
        now: two different ports may be one remapped port, not a Hard NAT. A Linux NAT
        remaps toward a peer that knocked first, and then gives NEW destinations the mapping
        of whichever existing flow it finds first (docs/NATLAB.md), so an Easy peer can see
        two ports; the third reflector's vote settles it (nat.classify)."""
        if self.round_size >= 3:
            return False
        extra = [r for r in self._reflectors() if r.peer_id not in asked]
        if not extra:
            return False
        self.round_size += 1
        test_port = self.p.bound[1] if self.p.bound is not None else 0
        self.p.ping(extra[0].address, now, PING_REFLECT, test_port=test_port,
                    reflect_round=self.round_id, keyed=True)  # (keyed: start)
        self.p.count("reflect.third")
        return True

    def _fail(self, now: float, reason: str) -> None:
        self.p.count(reason)
        self.round_started = None
        delay = min(self.p.config.reflect_backoff * (2 ** self.failures),
                    self.p.config.reflect_backoff_max)
        self.failures = min(self.failures + 1, 30)
        self.next_round = now + delay

    def on_connected(self, now: float) -> None:
        """A new peer: if we have no classification yet and none is being measured, measure
        now rather than at the next maintenance pass (connections come in bursts right after
        the first introductions; the NAT type should follow within a round trip)."""
        if (self.mapping == NAT_UNKNOWN and self.round_started is None
                and len(self._reflectors()) >= 2):
            self.failures = 0
            self.start(now)

    def tick(self, now: float) -> None:
        if self.round_started is not None:
            if now - self.round_started >= self.p.config.reflect_timeout:
                if len({s.reflector for s in self.round_samples}) >= 2:
                    self.round_started = None  # a third never answered: two decide
                    self._decide(self.round_samples, now)
                else:
                    self._fail(now, "reflect.timeout")
            return
        if now >= self.next_round and len(self.p.table):
            keep_alive = self.p.config.keep_alive
            if (self.mapping != NAT_UNKNOWN and not self.failures and not self.changed
                    and now - max(self.last_told, self.last_heard) < keep_alive):
                # SPEC 5: re-run "when the network changes or when nothing has been heard for
                # KEEP_ALIVE". Every proven PONG says where it saw us, and one that differs
                # starts a round at once (on_pong below), so while PONGs keep coming (our
                # heartbeats' answers) the round would tell nothing new; so while proven PINGs
                # and tagged SYNC frames come (heard(): a pair busy both ways skips its
                # heartbeat, and the larger id of a pair gets PINGs, not PONGs; had our
                # address changed, they would stop coming, our peers still sending to the
                # old one). A round every KEEP_ALIVE regardless was ~8 frames and ~10
                # signatures per peer.
                # (After a failed round the backoff retries run: the last round must stand.)
                self.next_round = now + keep_alive
                return
            asked = (self._asked(now) if self.mapping != NAT_UNKNOWN and not self.failures
                     and not self.changed else None)
            if asked is not None:
                # Nothing heard for keep_alive, but our own heartbeats went out a moment ago
                # (this very pass, usually: a peer's connections made together are due
                # together, and heartbeats.run comes first) and their PONGs, each saying
                # where it saw us, are on their way: wait reflect_timeout for them, as a
                # round waits for its own. One that comes skips the round as above; none
                # (lost, or our network changed) and the round runs then. Without this,
                # 99 of 99 rounds in the simulator's window after its join storm (200
                # peers) started in the pass that sent the heartbeats: ~8 frames and ~10
                # Ed25519 operations each, for an answer already on its way. Once per
                # silence: heartbeats to peers due one after the other, none answered, must
                # not put the round off for as long as they keep going.
                self.next_round = asked + self.p.config.reflect_timeout
                self._deferred_for = max(self.last_told, self.last_heard)
                self.p.count("reflect.deferred")
                return
            self.start(now)

    def _asked(self, now: float) -> float | None:
        """When we last pinged a peer on our main socket, if that ping is unanswered (nothing
        heard since) and under reflect_timeout old; else None. (A PING we answered moves a
        peer's last_ping too, but it also counts as heard: handshake.on_ping.)"""
        heard = max(self.last_told, self.last_heard)
        if heard == self._deferred_for:
            return None  # (deferred once already since the last thing heard: tick)
        timeout = self.p.config.reflect_timeout
        asked = max((q.last_ping for q in self.p.table.peers() if q.pool is None),
                    default=-1e18)
        return asked if asked > heard and now - asked < timeout else None

    # -------------------------------------------------------------- inputs
    def heard(self, now: float) -> None:
        """A proven frame other than a PONG reached our main socket (tick's skip rule)."""
        self.last_heard = now

    def on_pong(self, peer: "PeerEntry", observed: Address, round_id: int, now: float) -> None:
        if peer.pool is None:
            self.last_told = now  # (a pool socket's mapping is not ours: tick's skip rule)
        if self.public is None:
            self.public = observed
            if self.ready:  # ready alone (public None): what Ready said has changed
                self.p.emit(NetworkChange(self.public, self.name))
        if round_id and round_id == self.round_id and self.round_started is not None:
            self.round_samples.append(Sample(peer.peer_id, observed))
            latest = {s.reflector: s.observed[1] for s in self.round_samples}
            ports = list(latest.values())
            agree = len(set(ports)) < len(ports)
            if len(ports) >= self.round_size and not agree and self._third(latest, now):
                return  # two different ports: a third reflector before calling it Hard
            # Decide as soon as two agree (Easy or Static), or when every reflector answered.
            if len(ports) >= self.round_size or (len(ports) >= 2 and agree):
                self.round_started = None
                self._decide(self.round_samples, now)
            return
        if (self.mapping == NAT_UNKNOWN and self.round_started is None and peer.pool is None
                and self._untranslated(peer.address, observed)):
            self._static_at_once(observed, now)
            return
        if not self.ready and self.round_started is None and len(self._reflectors()) < 2:
            self._announce(now)
        # Network change (SPEC 5): a peer that is not Hard-mapped toward us sees a new host,
        # or, when we are not Hard, a new port. Re-run reflection at once.
        if self.public is not None and self.mapping != NAT_UNKNOWN:
            changed = observed[0] != self.public[0] or (
                self.mapping != NAT_HARD and observed[1] != self.public[1])
            if changed and self.round_started is None and peer.pool is None:
                self.p.count("reflect.change")
                self.failures = 0
                self.next_round = now
                # (the skip rule of tick must not apply: this very PONG set last_told; a
                # change seen used to wait for KEEP_ALIVE of silence, never coming while
                # our peers' PONGs kept coming)
                self.changed = True
                self.evidence = Evidence()  # filtering evidence was about the old network

    def on_unsolicited(self, new_host: bool, now: float) -> None:
        ev = self.evidence
        upgraded = Evidence(ev.unsolicited_host or new_host, ev.unsolicited_port or not new_host)
        if upgraded != ev:
            self.evidence = upgraded
            if len(self.last_samples) >= 2:
                self._decide(self.last_samples, now)

    def _untranslated(self, toward: Address, observed: Address) -> bool:
        """``observed`` (what the peer at ``toward`` saw) is our own address and port: our
        bound one, or for a wildcard bind the route's source toward that peer."""
        bound = self.p.bound
        if bound is None:
            return False
        if bound[0] not in WILDCARDS:
            return observed == tuple(bound)
        return (self.local_source is not None and observed[1] == bound[1]
                and observed[0] == self.local_source(toward))

    def _static_at_once(self, observed: Address, now: float) -> None:
        """The first peer to see us saw our own address and port: nothing translates, the
        SPEC 5 Static test, which needs no second mirror (two are for telling Easy from Hard,
        and a NAT shows its own address, never ours). Knowing it before the first INTROs
        arrive lets us WAIT for NATed peers instead of knocking on them (nat.STRATEGY);
        the regular two-reflector round confirms it at the next maintenance pass."""
        told = self.nat_byte
        self.mapping, self.public = NAT_STATIC, observed
        self.filtering = filtering_from(self.evidence)
        self.p.count("reflect.static_at_once")
        if self.nat_byte != told:
            self._tell(now)
        if not self.ready:
            self._announce(now)
        else:
            self.p.emit(NetworkChange(self.public, self.name))

    def _local_hosts(self, samples: list[Sample]) -> list[str]:
        """Route source addresses toward the sampled reflectors (wildcard bind only)."""
        bound = self.p.bound
        if self.local_source is None or bound is None or bound[0] not in WILDCARDS:
            return []
        hosts = []
        for s in samples:
            peer = self.p.table.get(s.reflector)
            host = self.local_source(peer.address) if peer is not None else None
            if host is None:
                return []
            hosts.append(host)
        return hosts

    def _decide(self, samples: list[Sample], now: float) -> None:
        result = classify(samples, self.p.bound, self.evidence, self._local_hosts(samples))
        if result.outcome is not Outcome.CLASSIFIED:
            self._fail(now, "reflect." + result.outcome.value)
            return
        self.last_samples = list(samples)
        self.failures = 0
        self.next_round = now + self.p.config.keep_alive
        changed = (result.mapping, result.filtering, result.public) != (
            self.mapping, self.filtering, self.public)
        told = self.nat_byte
        self.mapping, self.filtering, self.public = result.mapping, result.filtering, result.public
        self.p.count("reflect.classified")
        if self.nat_byte != told:
            self._tell(now)
        if not self.ready:
            self._announce(now)
        elif changed:
            self.p.emit(NetworkChange(self.public, self.name))

    def announce_alone(self, now: float) -> None:
        """The first node of a network has nobody to reflect off: it is ready as it is
        (public address unknown, NAT "unknown") and classifies when peers arrive."""
        if not self.ready:
            self._announce(now)

    def _tell(self, now: float) -> None:
        """Our NAT byte changed: every connected peer hears it now (SPEC 5 gates are those of
        the PINGs and JOINs themselves: one of each per peer per change, and a NAT byte
        changes a few times per network at most: classification, filtering evidence)."""
        self.p.count("reflect.told")
        for peer in self.p.table.peers():  # (keyed to a peer that holds us: handshake.py)
            self.p.ping(peer.address, now, PING_HEARTBEAT, pool=peer.pool, keyed=True)
        self.p.membership.renew(now)

    def _announce(self, now: float) -> None:
        self.ready = True
        self.p.emit(Ready(self.public, self.name))
