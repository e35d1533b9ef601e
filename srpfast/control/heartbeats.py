"""Keep-alives (SPEC 5, "a heartbeat ping every KEEP_ALIVE"; PROTOCOL.md "Keep-alive").

Policy. Of a connected pair, the side with the smaller id pings every keep_alive; the other
only if it heard no PING for HEARTBEAT_BACKUP x keep_alive (handshake.on_ping counts an
answered PING as its own heartbeat), well inside peer_expiry. With one side pinging, three
lost exchanges in a row drop a live peer (both sides pinging took about six), so an
unanswered heartbeat goes again HEARTBEAT_RETRY later, twice (HEARTBEAT_RETRIES), 5 and 10 s
after it: reflection rounds no longer run while PONGs come (reflection.tick), and their PINGs
had been extra keep-alives; at 30% loss (16 peers, 1 h) disconnections went 158 -> 203 with
one retry, 69 with two. The heartbeat and its retries are keyed (handshake.py, "Keyed
heartbeats"): a peer that no longer holds us (restarted) still checks the tag and challenges
it, as it would a signed PING. (Signed retries were the largest Ed25519 site after the
simulator's join storm: ~530 signatures in 60 virtual s at 200 peers, nearly all to peers
that had left.)

Only an idle pair needs one. A heartbeat keeps both NATs' state for the path and shows each
side the other is alive; traffic already does both when it goes both ways and is proven:
a tagged SYNC (lazy push's HAVE, control/announce.py) only the pair can make (sync.on_sync
counts it as seen). So a pair's heartbeat is due keep_alive after the later of our last
PING (or answered PING) and the moment it last went both ways: min(last frame we sent it,
last proven frame from it), as QUIC sends PINGs only on an idle connection. Among fellow
members of a busy subcluster that is many pairs (the simulator's scale run went from 1.9 to
1.6 PING + PONG a peer a second); an idle pair, or one whose traffic goes one way, keeps the
heartbeat every keep_alive. (Spreading a new pair's first heartbeat over its first period,
to break up the bursts of a peer's connections made together, cut reflection rounds 4x in
the scale run but raised seed-chart latency, mean 87 -> 105 ms, p95 216 -> 286 ms, over
6 seeds: not kept.)

Distance (peers.py, "Distance"). A heartbeat's PONG is a distance sample, and its PING
reports the pinger's latest one to the other side (``rtt_us``), so an idle pair keeps both
sides' distance current at no cost, and the min filter (peers.py) drops a join burst's
too-long handshake sample at the first heartbeat's. One case gets a heartbeat for the
sample alone:
- Busy: a pair whose traffic goes both ways sends no heartbeat, and so took no sample; it is
  pinged when its last sample is DISTANCE_REMEASURE heartbeat periods old (the smaller id
  first; its PING's report renews the other side's sample, so the larger id seldom does):
  one PING and one PONG a busy pair per 5 keep_alives (2.5 min), a path that changed shows.
  (Without it a busy pair kept its handshake's samples for ever.)
(A re-measure 1 s after a pair's first sample, by the smaller id, was tried: +0.06 PING
and PONG a peer a second in the 300-peer scale run, and in the in-memory test of a genuine
Easy-Hard introduction (tests/adversarial/test_intro_amplification.py) the pair was not
connected 15 s after it (not traced); not kept.)

Schedule. Each peer's next heartbeat time sits in a heap, so a maintenance pass touches only
the peers that are due: the pass walked the whole table every second (~37 connections a
simulated peer) to find the one or two due, and that walk was most of the pass's own time
(docs/SIMULATION_SCALE_LOG.md).
An entry is a lower bound: what moves a heartbeat later (a PING of ours or one we answered)
leaves it in place, and the pass that pops it early finds nothing to send and files the real
time; what moves one earlier (handshake.on_pong: a challenge recheck, a reconnection that
waits for sync_interval; the loop coming back from away) calls ``sooner``.
"""
from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from srpfast.wire.bodies import PING_HEARTBEAT

if TYPE_CHECKING:
    from srpfast.control.engine import Peer
    from srpfast.control.peers import PeerEntry

HEARTBEAT_BACKUP = 1.5  # the larger id's keep-alive, in keep_alives (Heartbeats.every)
HEARTBEAT_RETRY = 1 / 6  # an unanswered heartbeat goes again this much later, in keep_alives
HEARTBEAT_RETRIES = 2    # ... at most this many times
DISTANCE_REMEASURE = 5.0  # a pair with no sample for this many heartbeat periods is pinged


class Heartbeats:
    """The keep-alive schedule of one engine (module doc)."""

    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        self._due: list[tuple[float, bytes]] = []  # (time, peer id); stale entries skipped
        self._when: dict[bytes, float] = {}        # peer id -> the time its live entry holds

    def every(self, peer: "PeerEntry") -> float:
        """How long after our last PING to ``peer`` (or answered PING from it) we ping it
        again: the smaller id every keep_alive, the other HEARTBEAT_BACKUP x keep_alive."""
        ka = self.p.config.keep_alive
        return ka if self.p.peer_id < peer.peer_id else HEARTBEAT_BACKUP * ka

    @staticmethod
    def _quiet_since(peer: "PeerEntry") -> float:
        """Since when the pair has had neither a heartbeat nor traffic both ways. Traffic
        does not count for a peer we hold ``lost`` (an unanswered heartbeat, our loop was
        away): its PONG is what reconnects it and re-syncs caches (handshake.on_pong)."""
        both = min(peer.last_sent, peer.last_seen)
        return both if both > peer.last_ping and not peer.lost else peer.last_ping

    def _retry_at(self, peer: "PeerEntry") -> float | None:
        """When the next retry of ``peer``'s unanswered heartbeat goes (None: none due)."""
        if not (peer.retry and peer.last_seen < peer.last_ping):
            return None
        retry = HEARTBEAT_RETRY * self.p.config.keep_alive
        return peer.last_ping + retry * (HEARTBEAT_RETRIES + 1 - peer.retry)

    def _measure_at(self, peer: "PeerEntry", every: float) -> float:
        """When ``peer`` is due a heartbeat for a distance sample alone (module doc,
        "Distance"), a busy pair's; never sooner than a heartbeat period after our last PING
        (a peer that does not answer is not pinged more often for it)."""
        if not peer.rtts:  # (the handshake's sample comes with the PONG that admits it)
            return float("inf")
        return max(peer.measured + DISTANCE_REMEASURE * every, peer.last_ping + every)

    def _next(self, peer: "PeerEntry") -> float:
        """When ``peer`` is next due: its heartbeat, a distance re-measure, or the retry of
        an unanswered heartbeat."""
        every = self.every(peer)
        return min(self._due_at(self._quiet_since(peer), every, self._retry_at(peer)),
                   self._measure_at(peer, every))

    @staticmethod
    def _due_at(quiet: float, every: float, retry_at: float | None) -> float:
        return quiet + every if retry_at is None else min(quiet + every, retry_at)

    def sooner(self, peer: "PeerEntry") -> None:
        """``peer`` may be due earlier than its entry says (a new peer, or its last_ping was
        moved back): file its time now."""
        if peer.refused:
            return
        t = self._next(peer)
        if t < self._when.get(peer.peer_id, float("inf")):
            self._when[peer.peer_id] = t
            heapq.heappush(self._due, (t, peer.peer_id))

    def away(self, now: float) -> None:
        """Our loop was away (the host slept, the loop stalled): every peer is pinged on this
        pass. Its answer re-syncs caches with it (handshake.on_pong, SPEC 6: SYNC on
        reconnection), as after an unanswered heartbeat; otherwise that answer came with our
        next heartbeat, up to keep_alive later, and for a peer that pings us only with our
        next reflection round. A 15 s sleep delayed what was published early in it by up
        to 35 s, not 14."""
        backup = HEARTBEAT_BACKUP * self.p.config.keep_alive
        for peer in self.p.table.peers():
            peer.lost = True
            peer.last_ping = min(peer.last_ping, now - backup)
            self.sooner(peer)

    def run(self, now: float) -> None:
        """Ping every peer that is due (module doc)."""
        p, due, when = self.p, self._due, self._when
        table = p.table.by_id
        later: list[tuple[float, bytes]] = []  # (filed after the pass: one action a pass)
        while due and due[0][0] <= now:
            t, pid = heapq.heappop(due)
            peer = table.get(pid)
            if peer is None or when.get(pid) != t or peer.refused:
                if (peer is None or peer.refused) and when.get(pid) == t:
                    # (expired, evicted, or it refuses us (handshake.on_pong): its schedule
                    # goes; a refused peer that holds us after all is filed again by sooner)
                    del when[pid]
                continue
            quiet, every = self._quiet_since(peer), self.every(peer)
            retry_at = self._retry_at(peer)
            measure_at = self._measure_at(peer, every)
            if now - quiet >= every or now >= measure_at:
                if now - quiet < every:
                    p.count("ping.distance")  # (sent for the sample alone: module doc)
                peer.retry = HEARTBEAT_RETRIES
                p.ping(peer.address, now, PING_HEARTBEAT, pool=peer.pool, keyed=True)
                nxt = self._next(peer)
            elif retry_at is not None and now >= retry_at:
                peer.retry -= 1
                peer.lost = True  # (the answer re-syncs caches: handshake.on_pong)
                heartbeat = peer.last_ping
                p.ping(peer.address, now, PING_HEARTBEAT, pool=peer.pool, keyed=True)
                peer.last_ping = heartbeat  # (the next heartbeat keeps its time)
                nxt = self._next(peer)
            else:  # popped early (a lower bound): nothing moved, _next from what we have
                nxt = min(self._due_at(quiet, every, retry_at), measure_at)
            when[pid] = nxt
            later.append((nxt, pid))
        for entry in later:
            heapq.heappush(due, entry)
