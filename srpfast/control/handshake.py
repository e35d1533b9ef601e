"""The PING/PONG handshake (SPEC 3, 9.2, 9.3): proofs, challenges, admission.

A signed PING proves only that its key signed it, not that the key's owner is at the source
address. So an unproven pinger gets exactly one PONG carrying a challenge, and enters the peer
table only when a PONG redeeming that challenge comes back from the same address: a round
trip (SPEC 9.2). Our own pings wait in ``pending``; the challenges we issued in
``challenges``; both bounded and expiring, apart, so a PING flood cannot evict our own
pending pings. ``admit`` is the one door into the peer table.

Keyed heartbeats. A heartbeat between two peers that both hold the other in their tables
needs no signature: the pair's session key (crypto_kx of both identities' X25519 keys,
derived from their Ed25519 keys: control/streams.py) already proves the key's owner ("signed
or otherwise proven by that key", SPEC 4). So the first heartbeat PING to a confirmed peer
and its PONG carry a 64-byte keyed BLAKE2b tag where the signature goes (flag KEYED),
replay-checked like a signature. A signature costs 23 us to make and 73 us to check here
(libsodium 1.0.18); the tag ~1 us: keep-alives were the largest CPU share of an idle peer.
A keyed PONG is taken only from the peer held at that very address. A keyed PING from a
peer we do not hold there (it moved, or we lost it: restarted, expired, evicted it) is
checked with a key computed for the claim (not cached until the tag holds; about a signature
check's cost) and then challenged like any unproven PING (SPEC 9.2): only the pair can make
the tag.

Round trips. Each PONG to one of our PINGs is a distance sample (peers.py, "Distance"), and
a sample must be the path's delay, not how long either process left the datagrams waiting:
a busy loop (a join burst; `srp demo`'s 12 peers on one loop read 3-260 ms between loopback
peers) made the last to join look ~20x farther. So, with the UDP driver: a PING and a PONG
leave at once (``send_now``: a sendmmsg of their own, not the loop turn's one at its end),
and are timed by the driver's clock when they leave (a challenge from its PONG's leaving);
the PONG's arrival is its read less the time it waited in our socket's queue (the kernel's
receive stamp: ``Peer.rx_waited``); and the PONG states in ``hold_us`` how long what it
answers waited at the peer, in the queue and the loop turn until the PONG was built (not its
own signing, which it cannot include), which the pinger takes off (QUIC's ack_delay). A
wait that is not shorter than what is left of the round trip is a bad stamp (a wall clock
stepped between the kernel's stamp and the read) and is not taken off, so an honest sample
is never shorter than the path. What remains is the path, the kernels and a signature or
two. In the simulator (no clock, no stamps: a peer answers in zero virtual time) the sample
is ``now - sent`` as before.
"""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from srpfast.control.bounded import ExpiringDict
from srpfast.control.events import Connection
from srpfast.control.peers import PeerEntry, PoolRoute
from srpfast.control.pending import Challenge, PendingPing
from srpfast.crypto import _sodium, verify_proof
from srpfast.errors import CryptoError
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import (PING_ALT_PORT, PING_CONNECT, PING_KEYED, PING_PROBE,
                                 PING_REFLECT, PING_RTT_MAX_US, PONG_CONNECT, PONG_KEYED,
                                 PONG_HOLD_MAX_US, PONG_REFLECT, SIGNATURE_BYTES, Body, Ping,
                                 Pong, signed_bytes)
from srpfast.wire.frame import Frame, encode

if TYPE_CHECKING:
    from srpfast.control.engine import Peer

# A peer that challenges this many of our answers in a row does not enter us: it is left to
# expire (on_pong). With challenge_recheck 1 s doubling, the 5th comes >= 15 s after the 1st:
# a lost answer (each redeeming PONG is one datagram) makes a run of 5 unlikely (0.3^4 < 1%
# at 30% loss), and a peer wrongly given up is only re-met by the bootstrap rejoin or an
# introduction later.
REFUSED_AFTER = 5


class Handshake:
    """PING/PONG for one engine: ``ping`` out, ``on_ping``/``on_pong`` in, ``admit``."""

    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.pending: ExpiringDict[int, PendingPing] = ExpiringDict(
            cfg.pending_pings, max(cfg.keep_alive, cfg.reflect_timeout))
        self.challenges: ExpiringDict[int, Challenge] = ExpiringDict(
            cfg.pending_pings, max(cfg.keep_alive, cfg.reflect_timeout))

    def expire(self, now: float) -> None:
        self.pending.expire(now)
        self.challenges.expire(now)

    def connecting(self, now: float) -> int:
        """Connections on their way: addresses we dialled ourselves (bootstrap and saved
        peers: Bootstrap pings them with CONNECT | REFLECT) in the last reflect_timeout,
        that we do not hold and that have not answered. Membership.on_connected counts them
        as peers to come. Introductions in progress are not counted: under heavy churn
        many fail, and counting them cut the introductions a peer asked for while its mesh
        formed (seed-chart, seeds 7-12: latency p95 208 -> 289 ms)."""
        since = now - self.p.config.reflect_timeout
        at = self.p.table.at
        dialled = PING_CONNECT | PING_REFLECT
        return len({q.address for q in self.pending.mapping.values()
                    if q.sent >= since and q.flags & dialled == dialled and q.pool is None
                    and at(q.address) is None})

    def verify_body(self, type_: int, cluster: bytes, body: Body, signer: bytes,
                    nonce: int, timestamp_ms: int, now: float,
                    cluster_id: bytes | None = None) -> bool:
        """Signature by ``signer`` and freshness (not a replay); counts the drop otherwise.
        With ``cluster_id`` (INTRO, JOIN), the frame's cluster tag must be its first 16
        bytes, checked first (cheap)."""
        if cluster_id is not None and cluster != cluster_id[:16]:
            self.p.count("drop.body")
            return False
        if not verify_proof(signer, signed_bytes(type_, cluster, body.unsigned()),
                            body.signature):  # type: ignore[attr-defined]
            self.p.count("drop.proof")
            return False
        return self._fresh(type_, signer, nonce, timestamp_ms, now)

    def _fresh(self, type_: int, signer: bytes, nonce: int, timestamp_ms: int,
               now: float) -> bool:
        """Not a replay (ProofChecker window); counts the drop otherwise."""
        if not self.p.proofs.check(signer, timestamp_ms, bytes([type_]) + nonce.to_bytes(8, "big"),
                                 self.p.wall_ms(now)):
            self.p.count("drop.replay")
            return False
        return True

    def _keyed_ok(self, type_: int, f: Frame, peer_id: bytes, address: Address,
                  pool: PoolRoute | None, nonce: int, timestamp_ms: int, now: float) -> bool:
        """A keyed PING/PONG (module doc): its tag made with the pair's key, not a replay;
        a PONG only from the peer we hold at this very address. Counts the drop otherwise."""
        known = self.p.table.get(peer_id)
        held = (known is not None and known.confirmed
                and (known.address, known.pool) == (address, pool))
        if held:
            _, rx = self.p.streams.pair_keys(peer_id)
        elif type_ != C.PING:
            self.p.count("drop.keyed_unknown")
            return False
        else:
            # A PING from a peer we do not hold there: it moved (a NAT remapping), or it
            # still holds us while we dropped it (we restarted, expired or evicted it). Only
            # it or we can make the tag, so a valid one proves its key as a signature would
            # (SPEC 9.2), and on_ping challenges it like any unproven PING: reconnected in
            # one exchange, not at its retry HEARTBEAT_RETRY (5 s) later (a restarted
            # peer: tests/integration/test_keepalive.py). The key is not cached before the tag holds
            # (a flood of made-up ids must not evict our peers' keys), and costs about what
            # the signature check it replaces did.
            try:
                _, rx = self.p.streams.pair_keys_uncached(peer_id)
            except CryptoError:
                self.p.count("drop.proof")
                return False
        message = bytes(f.message)
        tag = _sodium.generichash(signed_bytes(type_, f.cluster, message[:-SIGNATURE_BYTES]),
                                  rx, SIGNATURE_BYTES)
        if not hmac.compare_digest(tag, message[-SIGNATURE_BYTES:]):
            self.p.count("drop.proof")
            return False
        return self._fresh(type_, peer_id, nonce, timestamp_ms, now)

    def _frame(self, type_: int, body: Body, keyed_to: bytes | None) -> bytes:
        """Our signed frame of ``body``, or with ``keyed_to``: tagged with our session key
        toward that peer instead (module doc, "Keyed heartbeats")."""
        if keyed_to is None:
            return self.p.signed_frame(type_, body)
        unsigned = body.unsigned()
        tx, _ = self.p.streams.pair_keys(keyed_to)
        tag = _sodium.generichash(signed_bytes(type_, C.ZERO16, unsigned), tx, SIGNATURE_BYTES)
        return encode(type=type_, message=unsigned + tag, clock=self.p.clock)

    def ping(self, address: Address, now: float, flags: int = PING_CONNECT, *,
             pool: PoolRoute | None = None, test_port: int = 0, reflect_round: int = 0,
             request_id: int | None = None, keyed: bool = False) -> int:
        """Send a PING; ``keyed``: tagged with the pair key instead of signed, if the peer
        at ``address`` is connected and confirmed (module doc, "Keyed heartbeats")."""
        rid = self.p.rng.getrandbits(64) if request_id is None else request_id
        count, summary = self.p.summary_bytes()
        peer = self.p.table.at(address)
        keyed_to = (peer.peer_id if keyed and peer is not None and peer.keyed
                    and peer.pool == pool else None)
        if keyed_to is not None:
            flags |= PING_KEYED
        # Our latest own sample toward it, in one PING only: the side that does not ping
        # learns the distance too (peers.py, "Distance"). Repeated in a retry or a
        # reflection PING, one measurement would fill several places of its window, and an
        # old one would count as new. At least 1 us: 0 says "no sample".
        rtt_us = 0
        if peer is not None and not peer.rtt_reported:
            rtt_us = max(1, min(int(peer.rtt * 1e6), PING_RTT_MAX_US))
            peer.rtt_reported = True
        body = Ping(peer_id=self.p.peer_id, request_id=rid, timestamp_ms=self.p.wall_ms(now),
                    nat=self.p.nat_byte, flags=flags, test_port=test_port,
                    uptime=self.p.uptime(now), cache_count=count, cache_summary=summary,
                    rtt_us=rtt_us)
        datagram = self._frame(C.PING, body, keyed_to)
        if request_id is None:
            self.pending.put(rid, PendingPing(address, self._sent_at(now), flags, pool,
                                              reflect_round), now)
        self._send_timed(datagram, address, pool)
        if peer is not None and request_id is None:
            # (Not for a ping with an explicit request id: a filtering probe, whose PONG is
            # consumed as ``probe.answered`` and refreshes nobody's last_seen, or a pool
            # echo. Counted as our heartbeat, its answer would look missing to
            # engine._maintain: a spurious heartbeat retry, and a spurious reconnection
            # SYNC since keyed heartbeats mark the peer ``lost`` there.)
            peer.last_ping = now
        return rid

    def on_ping(self, f: Frame, body: Ping, address: Address, now: float,
                 pool: PoolRoute | None) -> None:
        if body.peer_id == self.p.peer_id:
            self.p.count("drop.self")
            return
        keyed = bool(body.flags & PING_KEYED)
        if keyed:
            if not self._keyed_ok(C.PING, f, body.peer_id, address, pool, body.request_id,
                                  body.timestamp_ms, now):
                return
        elif not self.verify_body(C.PING, f.cluster, body, body.peer_id, body.request_id,
                                  body.timestamp_ms, now):
            return
        self.p.count("rx.ping")
        if pool is None and address not in self.p.sent_to and not body.flags & PING_PROBE:
            # Filtering evidence (SPEC 5): this packet reached us unsolicited.
            self.p.reflection.on_unsolicited(address[0] not in self.p.sent_hosts, now)
        known = self.p.table.get(body.peer_id)
        challenge = 0
        if known is not None and (known.address, known.pool) == (address, pool):
            peer = self.admit(body.peer_id, address, body.nat, now, pool)
        else:
            # Unproven at this address: a signed PING only shows that the key signed it, not
            # that its owner is here (it may be replayed from elsewhere, or sent from a
            # spoofed source). Answer with exactly one PONG that carries a challenge; the
            # peer is entered (or moved) only when a PONG answering that challenge comes back
            # from this address: a round trip (SPEC 9.2). Until then it gets nothing else from
            # us: no heartbeats, no filtering probe (SPEC 9.3).
            peer = None
            challenge = self.challenge(body.peer_id, address, pool, now)
        if peer is not None and peer.confirmed:
            # Our PONG refreshes both NATs' state on this path and shows the peer we are
            # alive, as a heartbeat of our own would: one side of a connection pinging is
            # enough (heartbeats.py lets the smaller id do it), halving keep-alives.
            peer.last_ping = max(peer.last_ping, now)
            if pool is None:
                # Heard from the network at our address (reflection.tick: a peer whose
                # connections all have smaller ids gets PINGs, never a PONG, and re-ran a
                # reflection round every keep_alive: ~8 frames, ~10 signatures each).
                self.p.reflection.heard(now)
        if peer is not None:
            if keyed:
                # Held here, so its tag was made with the pair key it keeps for an entry it
                # holds us in (a peer keys a PING only to such: "Keyed heartbeats").
                self.holds_us(peer)
            peer.uptime = float(body.uptime)
            peer.cache_count, peer.cache_summary = body.cache_count, body.cache_summary
            if body.rtt_us and peer.confirmed:
                # Its own last ping->pong sample toward us: the path's delay for the side
                # that does not ping (peers.py, "Distance").
                peer.sample(body.rtt_us / 1e6, now, own=False)
        flags = (PONG_REFLECT if body.flags & (PING_REFLECT | PING_ALT_PORT) else 0) | (
            PONG_CONNECT if body.flags & (PING_CONNECT | PING_PROBE) else 0)
        left = self.pong(body.peer_id, body.request_id, address, pool, flags, challenge, now,
                         keyed)
        if challenge:
            # (the challenge's round trip is timed from the PONG that carries it leaving)
            issued = self.challenges.get(challenge)
            if issued is not None:
                issued.sent = left
        if body.test_port and body.flags & PING_REFLECT and pool is None and peer is not None:
            self.p.traversal.probe_for(body.peer_id, (address[0], body.test_port), body.nat, now)
        # SYNC starts from the PONG side only: the pinger initiates, so two peers whose
        # summaries differ do not both walk the tree at the same moment.

    def pong(self, requester: bytes, request_id: int, address: Address,
              pool: PoolRoute | None, flags: int, challenge: int, now: float,
              keyed: bool = False) -> float:
        """Answer the PING (or challenge) being handled; ``keyed``: it was keyed (and proven
        so), and so is the answer. Returns when the PONG left (module doc, "Round trips")."""
        if keyed:
            flags |= PONG_KEYED
        count, summary = self.p.summary_bytes()
        # How long what we answer waited here: in our socket's queue (rx_waited) and in this
        # loop turn until now; not the PONG's own signing, which it cannot include. (Never
        # negative: a caller's clock may go back.)
        hold = self.p.rx_waited + max(0.0, self._sent_at(now) - now)
        pong = Pong(peer_id=self.p.peer_id, request_id=request_id, timestamp_ms=self.p.wall_ms(now),
                    requester=requester, observed=address, nat=self.p.nat_byte, flags=flags,
                    uptime=self.p.uptime(now), cache_count=count, cache_summary=summary,
                    challenge=challenge, hold_us=min(int(hold * 1e6), PONG_HOLD_MAX_US))
        self._send_timed(self._frame(C.PONG, pong, requester if keyed else None), address, pool)
        return self._sent_at(now)

    def _sent_at(self, now: float) -> float:
        """When a PING or PONG queued now leaves (module doc, "Round trips")."""
        clock = self.p.driver_clock
        return now if clock is None else clock()

    def _send_timed(self, datagram: bytes, address: Address, pool: PoolRoute | None) -> None:
        """Send a PING or PONG at once where the driver can (module doc, "Round trips")."""
        self.p.send(datagram, address, pool)
        if pool is None and self.p.send_now is not None:
            self.p.send_now()

    def holds_us(self, peer: PeerEntry) -> None:
        """Evidence that ``peer`` holds us in its table (an unchallenged PONG, a keyed PING,
        a tagged SYNC: each made only for an entry it holds): our pings to it are keyed
        from now on, and if we had given it up as refusing us (on_pong), it is ours again."""
        peer.keyed = True
        peer.rechecks = 0
        if peer.refused:
            peer.refused = False
            self.p.heartbeats.sooner(peer)

    def challenge(self, peer_id: bytes, address: Address, pool: PoolRoute | None,
                   now: float) -> int:
        """A fresh nonzero id that only ``peer_id`` answering from ``address`` can redeem.
        Kept apart from our own pending pings so a flood of PINGs cannot evict those."""
        rid = self.p.rng.getrandbits(64) | 1
        self.challenges.put(rid, Challenge(peer_id, address, pool, now), now)
        self.p.count("tx.challenge")
        return rid

    def on_pong(self, f: Frame, body: Pong, address: Address, now: float,
                 pool: PoolRoute | None) -> None:
        if body.requester != self.p.peer_id:
            self.p.count("drop.requester")
            return
        rid = body.request_id
        pending = self.pending.get(rid)
        challenged = self.challenges.get(rid) if pending is None else None
        pool_match = None
        if challenged is not None:
            if (challenged.peer_id, challenged.address, challenged.pool) != (
                    body.peer_id, address, pool):
                self.p.count("drop.challenge")  # redeemed by another key or from elsewhere
                return
            sent = challenged.sent
        elif pending is not None:
            sent = pending.sent
        else:
            pool_match = self.p.traversal.pool_for_pong(rid, body.peer_id, pool)
            if pool_match is None:
                if rid in self.p.traversal.probes:  # the answer to a filtering probe: no table
                    self.p.count("probe.answered")  # change (the probe was the point)
                    return
                if pool is not None and self.p.traversal.kept.get(pool[0]) == body.peer_id:
                    # Two sockets of one pool had a spray hit and both pinged; the first PONG
                    # kept the pool (PROTOCOL.md §5), this one is the other socket's: expected,
                    # not bad input (the NAT lab traced every unexpected PONG to this).
                    self.p.count("pool.late_pong")
                    return
                self.p.count("drop.unexpected_pong")
                return
            sent = pool_match
        # Verify before consuming the entry: a forgery must not cancel the genuine answer.
        if body.flags & PONG_KEYED:  # only as the answer to a keyed PING of ours
            if pending is None or not pending.flags & PING_KEYED:
                self.p.count("drop.keyed_unknown")
                return
            if not self._keyed_ok(C.PONG, f, body.peer_id, address, pool, rid,
                                  body.timestamp_ms, now):
                return
        elif not self.verify_body(C.PONG, f.cluster, body, body.peer_id, rid,
                                  body.timestamp_ms, now):
            return
        if pending is not None:
            self.pending.pop(rid)
        elif challenged is not None:
            self.challenges.pop(rid)
            self.p.count("rx.challenge_answered")
        self.p.count("rx.pong")
        peer = self.admit(body.peer_id, address, body.nat, now, pool)
        if peer is None:
            if challenged is not None and pool is None:
                # It proved its address, and we have no room: introduce it instead
                # (membership.refer), or it may know nobody but full peers like us.
                self.p.membership.refer(body.peer_id, address, body.nat, now)
            return
        if body.challenge and challenged is None and peer.rechecks >= (
                1 if self.p.bootstrap.refused_before(address) else REFUSED_AFTER):
            # It has challenged REFUSED_AFTER of our answers in a row (over >= 15 s): it does
            # not enter us, almost surely a full table (peers.py: it evicts only peers silent
            # for a missed heartbeat). Redeeming and pinging again every heartbeat period is
            # a signed round (3 signatures, 3 checks) for nothing, for ever: with 8 full
            # public peers of 1,000 that was most of the simulator's signature work
            # (docs/SIMULATION_SCALE_LOG.md). So no answer, no heartbeats (heartbeats.py
            # skips it): its entry expires after peer_expiry, and the bootstrap rejoin leaves
            # its address alone for a growing while (bootstrap.refused_by). An address that
            # refused us before is given up on at its second challenge in a row (the first
            # is every handshake's).
            if not peer.refused:
                peer.refused = True
                self.p.count("peer.refused")
                self.p.bootstrap.refused_by(address, now)
        elif body.challenge and challenged is None:
            # The responder has not entered us yet: prove we are at this address (one PONG
            # for the one PING of ours it answered, so no amplification). Sent before the
            # JOINs below so that, in order, they find us entered.
            self.pong(body.peer_id, body.challenge, address, pool, PONG_CONNECT, 0, now)
            # If that answer is lost, it never enters us while we think we are connected
            # (JOINs ignored, no introductions) until the next heartbeat, keep_alive later.
            # So ping again in challenge_recheck s: its PONG carries a new challenge until it
            # has us. One ping per PONG it sends us: no amplification. Each challenge in a
            # row doubles the wait, up to our heartbeat period toward it (the larger id's is
            # longer, and the recheck must not wait for its backup heartbeat): a full table
            # refuses us every time, and a ping a second cost it 3 frames and 3 signatures
            # a second for ever.
            peer.keyed = False  # (it does not hold us: our pings are signed until it does)
            every = self.p.heartbeat_every(peer)
            wait = min(self.p.config.challenge_recheck * 2 ** min(peer.rechecks, 16), every)
            peer.rechecks += 1
            peer.last_ping = min(peer.last_ping, now - every + wait)
            self.p.heartbeats.sooner(peer)
        elif not body.challenge:
            # It has us: it answered our PING (or our pool's probe) without a challenge, or
            # it redeemed our challenge, which it does only once it has entered us (it admits
            # the PONG that carried the challenge first; a full table sends nothing). So our
            # heartbeats to it are keyed from the first. (Signed, the first heartbeat of every
            # new pair cost ~190 us of Ed25519 on the two sides: in the simulator's steady
            # part, under churn, two in three heartbeats were such.)
            self.holds_us(peer)
            self.p.bootstrap.held_by(address)
        # A first answer connects; so does the first after an unanswered heartbeat (the path
        # or the peer was down: what either missed meanwhile is found by the SYNC below).
        connected = not peer.confirmed or peer.lost
        if not peer.confirmed:
            # A round trip in each direction is done (our ping answered, or our challenge
            # redeemed): it holds us in its table, so JOINs and pushes make sense now.
            peer.confirmed = True
            self.p.membership.on_connected(peer, now)
            self.p.replication.on_connected(peer, now)
        # The round trip as the path took it: our wait for the PONG in our socket's queue
        # (rx_waited) and the PING's at the peer (hold_us) are loops being busy, not distance
        # (peers.py, "Distance"). Each comes off only if it is shorter than what is left of
        # the round trip: one that is not is no wait but a stamp gone wrong (a wall clock
        # stepped between the kernel's stamp and the read), so an honest sample is never made
        # shorter than the path; a lying hold reaches the 1 us floor (SECURITY.md 13).
        rtt = now - sent
        waited, hold = self.p.rx_waited, body.hold_us / 1e6
        if waited < rtt:
            rtt -= waited
        if hold < rtt:
            rtt -= hold
        peer.sample(rtt if rtt > 1e-6 else 1e-6, now)
        peer.uptime = float(body.uptime)
        peer.cache_count, peer.cache_summary = body.cache_count, body.cache_summary
        if pool is not None and pool_match is not None:
            self.p.traversal.keep_pool(pool, body.peer_id, now)
        if body.observed is not None:
            peer.observed = body.observed
            self.p.reflection.on_pong(peer, body.observed,
                                    pending.reflect_round if pending is not None else 0, now)
        if self.p.sync.maybe_start(peer, now, connected):
            peer.lost = False
        elif connected:
            # A reconnection under sync_interval after the last comparison (two in a row at
            # 30% loss: a heartbeat's retry is 5 s after it, the next heartbeat 30 s): not
            # compared now, so it stays one (lost) and we ping it when sync_interval has
            # passed; forgetting it left what either side missed to sync_every (600 s).
            every = self.p.heartbeat_every(peer)
            peer.last_ping = min(peer.last_ping,
                                 peer.last_sync + self.p.config.sync_interval - every)
            self.p.heartbeats.sooner(peer)

    def admit(self, peer_id: bytes, address: Address, nat: int, now: float,
              pool: PoolRoute | None) -> PeerEntry | None:
        """Enter or refresh a peer whose proof was just verified (SPEC 9.2)."""
        peer, created = self.p.table.upsert(peer_id, address, nat, now, pool)
        if peer is None:
            self.p.count("drop.table_full")
            return None
        if created:
            self.p.push_dataplane(now)
            self.p.count("connections")
            self.p.bootstrap.on_admitted()
            self.p.emit(Connection(peer_id, address))
            self.p.traversal.on_connected(peer, now)
            self.p.streams.on_connected(peer_id, now)
            self.p.reflection.on_connected(now)  # a 2nd reflector: classify now (issue 12)
            self.p.heartbeats.sooner(peer)
        return peer
