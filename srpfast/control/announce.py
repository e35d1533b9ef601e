"""Lazy push among fellow members: the delivery guarantee behind eager gossip (SPEC 6).

Eager push (replication.py) sends each new packet to FANOUT peers, and every relay does the
same: fast and cheap, but probabilistic. In a 12-peer mesh about 1 member in 100 misses a given
message. A missed message in the middle of a chain is found at once (its successor names it
as previousId: replication.want), but the LAST message of a burst has no successor, so before
this module it waited for the periodic SYNC (30 s; issue 11).

So, as Plumtree does with IHAVE, a member that delivers (or publishes) a message tells up to
``announce_peers`` of its connected fellow members, after at most ``announce_delay``, which
message ids it now holds: SYNC frames of kind HAVE, 30 ids each (docs/PROTOCOL.md). A
receiver that still lacks an id ``announce_wait`` later (the eager copy may be in flight)
asks the announcer with one QUERY, which it answers from its cache: one frame for one frame.
A member that connects or joins later is offered the subcluster's recent ids
(``announce_recent`` within ``announce_window``), which is how a publisher whose fan-out was
too small at publish time (alone, or the mesh still forming) reaches newcomers.

Whom to tell. Plumtree sends IHAVE to every lazy peer; telling every fellow made HAVE 70% of
a simulated member's datagrams (7 frames a peer a second at one message every 3 s, each
member named by its ~40 fellows per message). A fixed few random fellows (8) is not enough
either: under churn a Hard-NAT member has few connections, to well-connected neighbours, and
8 of their 40 rarely named it (the simulator's seed-chart scenario, docs/SIMULATION.md). So
each HAVE states the sender's own fellow count in that subcluster (its ``depth`` byte), and
a member tells each fellow with probability ``announce_copies`` / (that fellow's stated
count; 1 while unknown): every member hears of each message from about ``announce_copies``
fellows whatever its degree, all of them for a member with few. A small chance remains
(about e^-announce_copies) that a member which also missed the eager copy hears of a
message from nobody. So every ``announce_digest`` seconds each member also sends one
random fellow a digest of its newest ids (at most ``announce_digest_ids``, from the last
``digest_window`` seconds, 36 by default): every member is named in a digest about once a
second, and whatever both rounds missed is pulled within a second or two, not at a SYNC.
Why 36 s: SYNC runs only on a reconnection (SPEC 6) and every ``sync_every`` (600 s), and
a member cut off for less than a heartbeat period and its retry (the path failed between
two heartbeats of each of its pairs) is seen reconnecting by nobody. With 10 s, what was
published in the first seconds of a 15 s cut was out of every digest when the member came
back: in 18 of 30 seeds of a 4-member mesh it waited ~9.5 min for ``sync_every``.

Bounds (SPEC 9.4): ids waiting to be announced and ids waiting to be pulled are each capped at
``announce_pending``; overflow is counted (``announce.overflow``, ``announce.pull_overflow``),
and the periodic SYNC still repairs what overflowed. HAVE is accepted only from connected,
proven peers at their proven address (sync.on_sync), and a pull goes only to the announcer.
"""
from __future__ import annotations

import heapq
from collections import deque
from itertools import islice, repeat
from typing import TYPE_CHECKING, Iterable, Iterator

from srpfast.control.bounded import LruDict
from srpfast.control.holds import Holds
from srpfast.wire import constants as C
from srpfast.wire.bodies import SYNC_HAVE, SYNC_MAX_IDS, Sync

if TYPE_CHECKING:
    from srpfast.config import Config
    from srpfast.control.peers import PeerEntry
    from srpfast.control.engine import Peer

NO_PREFIX = bytes(8)


def digest_window(cfg: "Config") -> float:
    """Seconds of recent ids a digest covers: a heartbeat period and its retry (a cut that
    short may lose no heartbeat: no reconnection, no SYNC; engine.HEARTBEAT_RETRY, 1/6),
    plus one digest period to reach the member once it is back (the module doc)."""
    return cfg.keep_alive * 7 / 6 + cfg.announce_digest


class RecentIds:
    """The newest ``size`` ids published or delivered in a subcluster, each with its time:
    two deques of one length (ids, times) rather than one of (time, id) pairs, so that
    remembering a receive batch's ids allocates nothing per id (a pair each was a tuple to
    allocate, track for the garbage collector and free: ~0.1 us a delivered message)."""

    __slots__ = ("ids", "times")

    def __init__(self, size: int) -> None:
        self.ids: deque[bytes] = deque(maxlen=size)
        self.times: deque[float] = deque(maxlen=size)

    def extend(self, now: float, ids: list[bytes]) -> None:
        self.ids.extend(ids)  # (both drop their oldest alike: they stay aligned)
        self.times.extend(repeat(now, len(ids)))

    def items(self) -> Iterator[tuple[float, bytes]]:
        """(time, id), oldest first."""
        return zip(self.times, self.ids)

    def newest(self, n: int) -> list[tuple[float, bytes]]:
        """The newest ``n`` (time, id), oldest first: ``list(items())[-n:]`` (all of them
        for n <= 0, as that slice), read from the new end: a digest a second took the last
        90 of 256 by listing all 256 (~1% of a simulated peer's CPU)."""
        if n <= 0 or n >= len(self.ids):
            return list(self.items())[-n:]
        out = list(islice(zip(reversed(self.times), reversed(self.ids)), n))
        out.reverse()
        return out

    def __len__(self) -> int:
        return len(self.ids)


class Announcer:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.fresh_ids: dict[bytes, list[bytes]] = {}      # subcluster -> ids to announce
        self.fresh_count = 0
        self.flush_at: float | None = None
        self.recent: dict[bytes, RecentIds] = {}
        # id -> (due, peer id that holds it, or b"": ask peers by weight); _due orders them
        self.pulls: dict[bytes, tuple[float, bytes]] = {}
        self._due: list[tuple[float, bytes]] = []
        self.digest_at: float | None = None  # next digest (None while nothing is recent)
        self._last_fresh = -1e18
        self._recent_len = cfg.announce_recent
        self.acks: dict[tuple[bytes, bytes], bytes] = {}  # (subcluster, author) -> newest id
        # (message id, fellow's peer id) for every id a fellow announced to us: it holds that
        # message, so our own HAVE of it would tell it nothing (_flush leaves it out). The
        # newest announce_pending pairs, each for digest_window s (we announce an id right
        # after we deliver it, and in digests for that long); forgetting one only costs a
        # useless HAVE. Full, the table held ~0.55 MiB: too much for 10k simulated peers.
        # (control/holds.py: the same order and lifetimes as an OrderedDict of pairs, in
        # ~120 bytes a pair instead of ~230; ~370 pairs a peer at 300 simulated peers)
        self.holds = Holds()
        self.ack_at: float | None = None
        self.window = digest_window(cfg)
        # peer id -> the fellow count its last HAVE stated (the module doc, "Whom to tell")
        self.hints: LruDict[bytes, int] = LruDict(4 * cfg.max_peers)
        # subcluster -> (table version, second, its fellows): _fellows' cache
        self._fellow_cache: dict[bytes, tuple[int, int, list[PeerEntry]]] = {}
        # subcluster -> (what the last walk read, its fellows): _walk's cache
        self._walked: dict[bytes, tuple[tuple[object, ...], list[PeerEntry]]] = {}
        # Messages the C data plane delivered, recorded by fresh() on the next tick (the
        # loop turn after their handlers ran): delivered()
        self._landed: list[tuple[bytes, list[bytes], float, list[bytes]]] = []

    # ------------------------------------------------------------ our side
    def delivered(self, subcluster_id: bytes, ids: list[bytes], now: float,
                  authors: list[bytes]) -> None:
        """fresh() for messages just delivered (Replication.on_messages), recorded on the
        next tick: bookkeeping that follows the delivery instead of preceding the
        application's handlers (a lone value's one-way latency, docs/BENCHMARKS.md). The
        HAVE that acknowledges them leaves on that tick, the next loop turn, as before
        (ack_at); whatever reads this state (tick, offer, fresh) records them first."""
        self._landed.append((subcluster_id, ids, now, authors))
        if self.ack_at is None:
            self.ack_at = now

    def _settle(self) -> None:
        landed, self._landed = self._landed, []
        for subcluster_id, ids, at, authors in landed:
            self.fresh(subcluster_id, ids, at, authors)

    def fresh(self, subcluster_id: bytes, ids: Iterable[bytes], now: float,
              authors: Iterable[bytes] = ()) -> None:
        """Messages of ``subcluster_id`` we just published or delivered; ``authors``: who
        wrote the delivered ones. An author that is a connected fellow member hears of them
        on the next loop turn, not after announce_delay: that HAVE acknowledges them (its send window,
        control/flow.py)."""
        if self._landed:  # (delivered earlier: recorded first, in order)
            self._settle()
        cfg = self.p.config
        if not isinstance(ids, list):  # (a delivered batch's list is read, never kept: no copy)
            ids = list(ids)
        if not ids:
            return
        if authors:
            self._acknowledge(subcluster_id, ids, authors, now)
        recent = self.recent.get(subcluster_id)
        if recent is None:
            recent = self.recent[subcluster_id] = RecentIds(max(1, self._recent_len))
        recent.extend(now, ids)
        self._last_fresh = now
        if self.digest_at is None and cfg.announce_digest > 0:
            self.digest_at = now + cfg.announce_digest
        pending = self.fresh_ids.setdefault(subcluster_id, [])
        room = cfg.announce_pending - self.fresh_count
        if room < len(ids):
            self.p.count("announce.overflow", len(ids) - max(room, 0))
            ids = ids[:max(room, 0)]
        pending.extend(ids)
        self.fresh_count += len(ids)
        if self.flush_at is None and self.fresh_count:
            self.flush_at = now + cfg.announce_delay

    def _acknowledge(self, subcluster_id: bytes, ids: list[bytes],
                     authors: Iterable[bytes], now: float) -> None:
        """Remember, per author, the newest of its messages just delivered; tick() sends each
        connected fellow author one HAVE naming it on the next loop turn (after the
        application's handlers ran, and once for all receive batches of one wake-up). The
        window it releases is cumulative (control/flow.py): one id says every earlier
        message of that author left our socket buffer too."""
        acks = self.acks
        if not isinstance(authors, list):
            authors = list(authors)
        if len(authors) == len(ids) and authors.count(authors[0]) == len(authors):
            acks[(subcluster_id, authors[0])] = ids[-1]  # one author (C: no Python per id)
        else:  # dict(zip(...)) keeps each author's last id, in C
            for author, newest in dict(zip(authors, ids)).items():
                acks[(subcluster_id, author)] = newest
        if self.ack_at is None:
            self.ack_at = now

    def _send_acks(self, now: float) -> None:
        p = self.p
        acks, self.acks, self.ack_at = self.acks, {}, None
        counts: dict[bytes, int] = {}  # (each count walks the table: once per subcluster)
        for (sub_id, author), newest in acks.items():
            q = p.table.get(author)
            members = p.membership.members.get(sub_id)
            if q is None or not (sub_id in q.subclusters
                                 or (members is not None and author in members)):
                continue
            if sub_id not in counts:
                counts[sub_id] = self._count(sub_id, now)
            self._send([q], [newest], counts[sub_id])
            p.count("announce.acks")

    def fellows(self, subcluster_id: bytes) -> "list[PeerEntry]":
        """Connected peers that proved (by a signed JOIN) they are members of it."""
        return list(self._walk(subcluster_id))

    def _walk(self, subcluster_id: bytes) -> "list[PeerEntry]":
        """fellows(), in table order, as a list shared with the caller (who must not change
        it). The walk of the table (~50 entries, ~60 us a call at 200 simulated peers) runs
        again only when one of its inputs changed since the last: the table (its version:
        every add, remove, new address), the subcluster's member table (its ``changes``)
        or a peer's JOINed subclusters (Membership.joined_changes). Otherwise the walk would
        return the same peers in the same order."""
        m = self.p.membership
        members = m.members.get(subcluster_id)
        stamp = (self.p.table.version, m.joined_changes, members,
                 members.changes if members is not None else -1)
        hit = self._walked.get(subcluster_id)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        peers = self.p.table.peers()
        if members is None:
            every = [q for q in peers if subcluster_id in q.subclusters]
        else:
            held = members.mapping  # (a method call per peer, __contains__, was most of it)
            every = [q for q in peers if subcluster_id in q.subclusters or q.peer_id in held]
        self._walked[subcluster_id] = (stamp, every)
        return every

    def _fellows(self, subcluster_id: bytes, now: float) -> "list[PeerEntry]":
        """fellows(), computed at most once a second while the table is unchanged: each
        walk of the table was ~5% of a simulated member's CPU (a digest a second, a flush and
        acknowledgements per message). A JOIN that adds a fellow may wait up to 1 s to count
        here; the new fellow is offered our recent ids at once anyway (offer)."""
        key = (self.p.table.version, int(now))
        hit = self._fellow_cache.get(subcluster_id)
        if hit is not None and hit[:2] == key:
            return hit[2]
        every = self._walk(subcluster_id)
        self._fellow_cache[subcluster_id] = (key[0], key[1], every)
        return every

    def _count(self, subcluster_id: bytes, now: float) -> int:
        """Our fellow count in a subcluster, as a HAVE states it (0 = not said)."""
        return min(255, len(self._fellows(subcluster_id, now)))

    def offer(self, peer: "PeerEntry", subcluster_id: bytes, now: float) -> None:
        """A connected peer just became a fellow member: offer it our recent ids, and state
        our fellow count (an empty HAVE when nothing is recent), so that its lazy push
        scales by it from its first message on, not after it happened to hear from us."""
        if self._landed:
            self._settle()
        cfg = self.p.config
        recent = self.recent.get(subcluster_id)
        ids = ([i for t, i in recent.items() if now - t <= cfg.announce_window]
               if recent and cfg.announce_recent else [])
        if ids:
            self._send([peer], ids, self._count(subcluster_id, now))
            self.p.count("announce.offered", len(ids))
        elif cfg.announce_copies:
            self._send([peer], [], self._count(subcluster_id, now))

    def _send(self, peer_list: "list[PeerEntry]", ids: list[bytes], fellows: int) -> None:
        """HAVE frames naming ``ids`` to each of ``peer_list``, stating our ``fellows``."""
        p = self.p
        for k in range(0, max(1, len(ids)), SYNC_MAX_IDS):  # (no ids: one empty HAVE)
            chunk = tuple(ids[k:k + SYNC_MAX_IDS])
            raw = Sync(p.rng.getrandbits(64), SYNC_HAVE, fellows, NO_PREFIX, len(chunk),
                       ids=chunk).untagged()  # (encoded once, not once per recipient)
            for q in peer_list:  # (each tagged for its recipient: sync.SyncEngine.frame)
                p.send_to(q, p.sync.frame(q, raw))
            p.count("tx.have", len(peer_list))

    # ------------------------------------------------------------ their side
    def on_have(self, peer: "PeerEntry", ids: Iterable[bytes], now: float,
                fellows: int = 0) -> None:
        """A fellow member holds ``ids``: remember the ones we lack, pull them if they have
        not come by announce_wait. ``fellows``: the count its HAVE stated (0: not said)."""
        p = self.p
        rep = p.replication
        p.count("rx.have")
        if fellows:
            self.hints[peer.peer_id] = fellows
        ids = list(ids)
        self.holds.add(peer.peer_id, ids, now)
        self.holds.prune(p.config.announce_pending, now - self.window)
        p.flow.acked(ids, now)  # our own messages a fellow delivered (control/flow.py)
        # The eager copy may be in flight: wait announce_wait plus one trip from this peer.
        due = now + p.config.announce_wait + min(peer.distance, 1.0)
        for pid in ids:
            if pid in rep.delivered or pid in p.cache or pid == C.ZERO32:
                continue
            # SPEC 9.3: a HAVE is unauthenticated, so a spoofer using a connected peer's
            # source could make one 1158-byte HAVE of 30 unknown ids draw 30 pulls (QUERYs,
            # with retries: 60 frames) aimed at that peer. Every pull a HAVE starts is charged
            # to the announcer's SYNC budget (sync_budget per sync_interval, shared with SYNC
            # rounds); past it the rest of the HAVE is ignored (counted sync.budget).
            if pid not in self.pulls and not p.sync.spend(peer, now):
                p.count("announce.budget")
                return
            pending = self.pulls.get(pid)
            if pending is not None:
                if not pending[1]:  # expected without a known holder: now we know one
                    self.pulls[pid] = (pending[0], peer.peer_id)
                continue
            if pid in rep.wanted:
                # We already know we lack it (a gap in a chain, a missing fragment) and asked
                # peers picked by weight, who may not have it; this one does: ask it now.
                rep.ask(pid, now, peer)
                p.count("announce.pulled")
                continue
            self._add_pull(pid, due, peer.peer_id)

    def expect(self, pid: bytes, due: float, holder: bytes = b"") -> None:
        """We learnt that ``pid`` exists (a chain gap, a missing fragment, a SYNC listing):
        ask for it at ``due`` unless it arrived meanwhile (the frame is often just reordered),
        from ``holder`` (a peer id) or a fellow member that announces it by then, else from
        peers picked by weight."""
        if pid not in self.pulls:
            self._add_pull(pid, due, holder)

    def _add_pull(self, pid: bytes, due: float, holder: bytes) -> None:
        if len(self.pulls) >= self.p.config.announce_pending:
            self.p.count("announce.pull_overflow")
            return
        self.pulls[pid] = (due, holder)
        heapq.heappush(self._due, (due, pid))

    # ------------------------------------------------------------ timers
    def next_deadline(self) -> float | None:
        t = self.flush_at
        if self.ack_at is not None:
            t = self.ack_at if t is None else min(t, self.ack_at)
        if self._due:
            t = self._due[0][0] if t is None else min(t, self._due[0][0])
        if self.digest_at is not None:
            # The digest runs on the first tick at or after digest_at (tick), and asks for a
            # tick of its own only half a period later: it falls into the maintenance pass
            # (every maintenance_interval, 1 s as the digest) instead of a wake-up of its own
            # half a second away from it. Once run there, the next is due exactly at the next
            # pass (now + 1 s both): in step from then on. Separate, the digest was a quarter
            # of a simulated member's engine ticks (0.46 of 1.85 a second, ~15 us each
            # before any work); a period of 1-1.5 s instead of 1 s while they find step
            # changes what a digest is for (a miss repaired within a second or two) nothing.
            due = self.digest_at + 0.5 * self.p.config.announce_digest
            t = due if t is None else min(t, due)
        return t

    def tick(self, now: float) -> None:
        if self._landed:
            self._settle()
        if self.ack_at is not None and now >= self.ack_at:
            self._send_acks(now)
        if self.flush_at is not None and now >= self.flush_at:
            self._flush(now)
        if self.digest_at is not None and now >= self.digest_at:
            self._digest(now)
        p = self.p
        rep = p.replication
        while self._due and self._due[0][0] <= now:
            due, pid = heapq.heappop(self._due)
            entry = self.pulls.get(pid)
            if entry is None or entry[0] != due:
                continue  # (an entry replaced or removed since)
            del self.pulls[pid]
            if pid in rep.delivered or pid in p.cache:
                p.count("announce.arrived")  # the eager copy won: nothing to pull
                continue
            rep.want(pid, now, via=p.table.get(entry[1]) if entry[1] else None)
            p.count("announce.pulled")

    def _digest(self, now: float) -> None:
        """One random fellow per subcluster gets our newest recent ids (see the module doc)."""
        p, cfg = self.p, self.p.config
        quiet = now - self._last_fresh > self.window
        self.digest_at = None if quiet else now + cfg.announce_digest
        for sub_id, recent in self.recent.items():
            ids = [i for t, i in recent.newest(cfg.announce_digest_ids)
                   if now - t <= self.window]
            fellows = self._fellows(sub_id, now) if ids else []
            if fellows:
                q = p.rng.choice(fellows)
                need = self._news_for(q, ids)
                if need:
                    self._send([q], list(need), min(255, len(fellows)))
                    p.count("announce.digests")
                else:
                    p.count("announce.suppressed")

    def _news_for(self, q: "PeerEntry", ids: list[bytes]) -> tuple[bytes, ...]:
        """The ids ``q`` has not announced to us (``holds``): the only ones worth naming."""
        return self.holds.news_for(q.peer_id, ids)

    def _flush(self, now: float) -> None:
        p = self.p
        fresh, self.fresh_ids, self.fresh_count, self.flush_at = self.fresh_ids, {}, 0, None
        for sub_id, ids in fresh.items():
            # Only fellows that have not announced all of these ids to us themselves: the
            # members that delivered a message before us mostly have (announce_delay later),
            # so about one HAVE crosses each pair of fellows per message instead of two.
            # Whom to tell is drawn first (cheap), what each still needs only for those.
            every = self._fellows(sub_id, now)
            fellows = [q for q in every if self._tell(q)]
            p.count("announce.skipped", len(every) - len(fellows))
            if len(fellows) > p.config.announce_peers:
                fellows = p.rng.sample(fellows, p.config.announce_peers)
            groups: dict[tuple[bytes, ...], list["PeerEntry"]] = {}
            for q in fellows:
                need = self._news_for(q, ids)
                if need:
                    groups.setdefault(need, []).append(q)
                else:
                    p.count("announce.suppressed")
            for need, qs in groups.items():
                self._send(qs, list(need), min(255, len(every)))

    def _tell(self, q: "PeerEntry") -> bool:
        """Tell ``q`` of this flush's ids? With probability announce_copies / its fellow
        count (the module doc, "Whom to tell"); always while its count is unknown, and for
        every fellow when announce_copies is 0."""
        copies = self.p.config.announce_copies
        hint = self.hints.get(q.peer_id)
        if not copies or hint is None or hint <= copies:
            return True
        return self.p.rng.random() * hint < copies
