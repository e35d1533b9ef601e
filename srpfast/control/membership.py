"""Subscriptions, JOIN and membership (SPEC 6 "Join"; seed STATE_5; SPEC 9.9).

- ``join`` records a subscription (the publish key is derived from the shared key, or from the
  clusterId for the whole cluster) and sends a signed JOIN to every connected peer; a peer that
  connects later gets our JOINs while we have fewer than want_peers peers, and JOINs are
  re-announced every join_interval (this refreshes membership elsewhere).
- A proven JOIN (signature by the joiner, fresh timestamp, (peer_id, join_id) not seen) is
  relayed on to join_relay_fanout peers while hops < join_hops, and its receiver introduces
  the joiner to up to intro_peers connected peers of that subcluster (then of that cluster).
  Only a JOIN received straight from the joiner introduces: an INTRO is accepted only from a
  connected introducer (SPEC 5), introducing at an address a third party named would let it
  aim pings at anyone, and relays repeating the same introductions would only add traffic.
- A peer our full table refused after it proved its address is introduced all the same on
  its JOIN (``refer``: PROTOCOL.md §6, "A full table still lets the newcomer in").
- Join/Leave events fire only for peers whose proven JOIN named a subcluster we joined, and
  Leave really removes them: on a leave JOIN, when they expire from the peer table, or, for
  members we know only through relayed JOINs, member_ttl after their last JOIN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from srpfast.wire import constants as C
from srpfast.wire.bodies import JOIN_ASK, JOIN_LEAVE, NAT_STATIC, NAT_UNKNOWN, Join
from srpfast.control.bounded import ExpiringDict, WindowSet
from srpfast.control.jitter import early
from srpfast.control.peers import PeerEntry
from srpfast.control.events import Join as JoinEvent
from srpfast.control.events import Leave as LeaveEvent
from srpfast.crypto import publish_key, subcluster_id as derive_subcluster_id
from srpfast.errors import ArgumentError
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.wire.frame import Frame
    from srpfast.control.engine import Peer

ZERO32 = C.ZERO32

# Static peers an unclassified joiner is introduced to first (of intro_peers): with the
# introducer, three reflectors (reflection.py), so one remapped port cannot make it Hard.
REFLECTORS_FOR_JOINER = 2


@dataclass
class Subscription:
    cluster_id: bytes
    subcluster_id: bytes
    key: bytes              # the PUBLISH AEAD key (crypto.publish_key)
    last_head: bytes = ZERO32  # previousId of our next message to it (SPEC 2)

    @property
    def tag(self) -> bytes:
        return self.cluster_id[:16]


class Membership:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.subs: dict[bytes, Subscription] = {}
        self.members: dict[bytes, ExpiringDict[bytes, bool]] = {}
        # (peer_id, join_id) of the JOINs proven lately, to drop relayed repeats before their
        # signature is checked (PROTOCOL.md §6: a bounded, expiring set), as one 40-byte key.
        # A key is kept while its JOIN's timestamp is inside the replay window (ts +
        # proof_window, as ProofChecker keeps the proof): a copy arriving after that is
        # refused as stale anyway (SPEC 9.2), and until then the proof window also refuses
        # it as a replay, so forgetting it changes no outcome. Kept up to join_seen instead
        # (no expiry), the set held every JOIN of every re-announce round: +65 keys a peer
        # per 150 virtual s at 150 peers, ~1.1 MiB a peer once full (SPEC 9.4: a dedup set
        # is bounded AND expires; docs/SIMULATION_SCALE_LOG.md, "Memory").
        self.seen: WindowSet[bytes] = WindowSet(cfg.join_seen)
        # Proven JOINs for subclusters we are not in (yet): joining one later announces its
        # known members at once instead of waiting for their next re-announcement.
        self.others: ExpiringDict[tuple[bytes, bytes], bytes] = ExpiringDict(
            cfg.max_members * 4, cfg.member_ttl)
        self.next_announce = 0.0
        self.next_seek = 0.0
        # Bumped whenever a connected peer's ``subclusters`` (the JOINs it sent us) changes;
        # only on_join changes them. With the table's version and each member table's
        # ``changes``, it tells Announcer.fellows when a walk of the table is due.
        self.joined_changes = 0
        # The last JOIN each connected peer sent us itself, per subcluster: an introduction
        # hands each side the other's (below), so both hold a proven JOIN of the other
        # (SPEC 9.9: Join events need one) at once instead of when a randomly relayed copy or
        # a re-announcement happens to reach them (issue 12: 10 s in the NAT lab).
        self.own_joins: ExpiringDict[tuple[bytes, bytes], tuple[float, bytes]] = ExpiringDict(
            cfg.max_peers * 4, cfg.proof_window / 2)
        # Peers that proved their address to us (redeemed our challenge) but found our table
        # full: their JOIN still gets introductions (refer, below). Entries are not table
        # entries: never pinged, relayed to or counted as connected.
        self.referred: ExpiringDict[bytes, PeerEntry] = ExpiringDict(
            cfg.pending_pings, cfg.keep_alive)

    # ------------------------------------------------------------ local API
    def join(self, cluster_id: bytes, shared_key: bytes | None, now: float) -> bytes:
        if not isinstance(cluster_id, (bytes, bytearray)) or len(cluster_id) != 32:
            raise ArgumentError("cluster_id must be 32 bytes: use crypto.create_cluster_id()")
        cluster_id = bytes(cluster_id)
        if shared_key is None:
            sub_id, key = ZERO32, publish_key(cluster_id)
        else:
            if not isinstance(shared_key, (bytes, bytearray)) or len(shared_key) != 32:
                raise ArgumentError("shared_key must be 32 bytes: use "
                                    "crypto.create_shared_key()")
            sub_id, key = derive_subcluster_id(bytes(shared_key)), publish_key(bytes(shared_key))
        old = self.subs.get(sub_id)
        if old is not None and old.cluster_id != cluster_id:
            raise ArgumentError("already joined this subcluster id in another cluster: leave "
                                "it first")
        if old is None:
            self.subs[sub_id] = Subscription(cluster_id, sub_id, key)
            members = self.members[sub_id] = ExpiringDict(self.p.config.max_members,
                                                          self.p.config.member_ttl)
            for (sid, peer_id), cid in self.others.items():
                if sid == sub_id and cid == cluster_id:
                    self.others.pop((sid, peer_id))
                    members.put(peer_id, True, now)
                    self.p.emit(JoinEvent(sub_id, peer_id))
        self._broadcast(self.p.table.peers(), self.subs[sub_id], now)
        self.next_announce = self._after(self.p.config.join_interval, now)
        self.next_seek = self._after(self.p.config.seek_interval, now)
        self.p.push_dataplane(now)
        return sub_id

    def leave(self, subcluster_id: bytes, now: float) -> None:
        sub = self.subs.pop(bytes(subcluster_id), None)
        if sub is None:
            raise ArgumentError("not joined to that subcluster")
        self.members.pop(sub.subcluster_id, None)
        self._broadcast(self.p.table.peers(), sub, now, leave=True)
        self.p.push_dataplane(now)

    def _join_frame(self, sub: Subscription, now: float, leave: bool, hops: int = 0) -> bytes:
        body = Join(peer_id=self.p.peer_id, cluster_id=sub.cluster_id,
                    subcluster_id=sub.subcluster_id, address=self.p.reflection.public,
                    nat=self.p.nat_byte, timestamp_ms=self.p.wall_ms(now),
                    join_id=self.p.rng.getrandbits(64), flags=JOIN_LEAVE if leave else 0)
        frame = self.p.signed_frame(C.JOIN, body, sub.tag)
        if hops:
            out = bytearray(frame)
            out[6] = hops
            frame = bytes(out)
        return frame

    def _broadcast(self, peers: "list[PeerEntry]", sub: Subscription, now: float,
                   leave: bool = False, hops: int = 0) -> None:
        """One signed JOIN (one join_id) to many peers: relays dedup it by (peer_id, join_id),
        so it spreads at most once per peer however many of our neighbours relay it."""
        if not peers:
            return
        frame = self._join_frame(sub, now, leave, hops)
        for peer in peers:
            self.p.send_to(peer, frame)
        self.p.count("tx.join", len(peers))

    def _send_join(self, peer: "PeerEntry", sub: Subscription, now: float,
                   leave: bool = False) -> None:
        self._broadcast([peer], sub, now, leave)

    def set_joined(self, peer: "PeerEntry", subcluster_id: bytes, joined: bool) -> bool:
        """Record that connected ``peer`` joined (or left) a subcluster by a JOIN it sent us
        itself; True when that changed its ``subclusters``. The one place they change
        (``joined_changes``: Announcer.fellows)."""
        subs = peer.subclusters
        if joined == (subcluster_id in subs):
            return False
        if joined:
            subs.add(subcluster_id)
        else:
            subs.discard(subcluster_id)
        self.joined_changes += 1
        return True

    # ------------------------------------------------------------ receiving JOIN
    def on_join(self, f: Frame, body: Join, address: Address, now: float) -> None:
        p = self.p
        key = body.peer_id + body.join_id.to_bytes(8, "big")
        if key in self.seen:
            p.count("join.duplicate")
            return
        if body.peer_id == p.peer_id:
            p.count("join.self")
            return
        if not p.verify_body(C.JOIN, f.cluster, body, body.peer_id, body.join_id,
                             body.timestamp_ms, now, body.cluster_id):
            return
        self.seen.add(key, p.proofs.expiry(body.timestamp_ms), p.wall_ms(now))
        if body.flags & JOIN_ASK:
            # Consent to an introduction we made (traversal.on_ask), not a membership change:
            # never recorded, relayed or introduced.
            p.traversal.on_ask(f, body, address, now)
            return
        p.count("rx.join")
        sender = p.table.at(address)
        joiner = p.table.get(body.peer_id)
        leave = bool(body.flags & JOIN_LEAVE)
        if joiner is None and sender is None and f.hops == 0 and not leave:
            referred = self.referred.get(body.peer_id)
            if referred is not None and referred.address == address:
                self._refer(referred, address, body, f, now)
                return
        if joiner is not None and sender is joiner and not leave:
            self.own_joins.put((body.peer_id, body.subcluster_id), (now, f.raw), now)
        if joiner is not None and sender is joiner and body.nat:
            # Straight from the joiner and signed by it: its own, freshest claim of its NAT.
            # Introductions below carry it (SPEC 5 picks the strategy from it), instead of
            # whatever its last PING said (issue 12: "unknown" for up to a keep-alive).
            joiner.nat = body.nat
        if joiner is not None:
            sid = body.subcluster_id
            if self.set_joined(joiner, sid, not leave) and not leave and sid in self.subs:
                p.announce.offer(joiner, sid, now)  # a connected fellow: offer what it may lack
        new_member = self._membership(body, leave, now)
        if new_member and f.hops == 0 and sender is not None and sender is joiner:
            # A member we did not know joined straight to us: tell it about us in return
            # (direct only: hops = join_hops, so it is neither relayed nor introduced).
            sub = self.subs[body.subcluster_id]
            self._broadcast([joiner], sub, now, hops=p.config.join_hops)
            p.count("join.reply")
        if not leave and joiner is not None and sender is joiner and f.hops == 0:
            # Introduce on the joiner's own JOIN only: relayed copies would repeat the same
            # introductions at every relay (one INTRO pair per relay per JOIN, mostly known).
            self._introduce(joiner, address, body, bytes(f.message), now)
        if f.hops < p.config.join_hops and sender is not None:
            relayed = bytearray(f.raw)
            relayed[6] = f.hops + 1
            out = bytes(relayed)
            # join_relay_fanout peers drawn uniformly from the table less the sender and the
            # joiner: a random draw of two more, less those two, is such a draw, without a
            # Python filter over the whole table per relayed JOIN (~80 entries at 300
            # simulated peers: 2% of the simulator's steady CPU; the C list copy stays).
            fanout = p.config.join_relay_fanout
            table = p.table.peers()
            skip = (sender.peer_id, body.peer_id)
            drawn = p.rng.sample(table, min(len(table), fanout + 2))
            for q in [q for q in drawn if q.peer_id not in skip][:fanout]:
                p.send_to(q, out)
                p.count("join.relayed")

    # ------------------------------------------------------------ full tables: referral
    def refer(self, peer_id: bytes, address: Address, nat: int, now: float) -> None:
        """``peer_id`` just proved it is at ``address`` (it redeemed our challenge:
        handshake.on_pong) and our table has no room for it. A full peer is typically a
        bootstrap node everyone starts from; refusing newcomers silently left each of them
        holding only bootstrap peers that do not hold it: connected in its own eyes, reached
        by nobody. At 600 simulated peers with 2 bootstrap peers (256 slots each) a third of
        the subscribers got no message at all, 3,000 with 8 half of them (docs/SIMULATION.md,
        "Scale"). So we do not keep it, but we do what SPEC 6 asks of a JOIN's receiver:
        its JOIN, for the next keep_alive, is answered with introductions to our peers
        (``_refer``), as if it were in our table, and it builds its table from them."""
        entry = self.referred.get(peer_id)
        if entry is None or entry.address != address:
            entry = PeerEntry(peer_id, address, nat, first_seen=now, last_seen=now)
        entry.nat = nat or entry.nat
        self.referred.put(peer_id, entry, now)
        self.p.count("join.referrable")

    def referred_peer(self, peer_id: bytes) -> "PeerEntry | None":
        """A peer we introduce without holding it (``refer``), or None."""
        return self.referred.get(peer_id)

    def _refer(self, joiner: "PeerEntry", address: Address, body: Join, f: "Frame",
               now: float) -> None:
        """A JOIN straight from a peer we refer (``refer``): introductions, nothing else.
        It is not a member we hear (no Join event: SPEC 9.9 asks for a connected member's
        proof, and it is not connected) and its JOIN goes nowhere else (no relay, which is
        for connected senders). The introduction's INTRO to it leaves when the introduced
        peer consents (traversal.on_ask finds it here); the JOIN each side gets of the other
        (_hand_over) is its own signed JOIN, kept as for a connected joiner."""
        if body.nat:
            joiner.nat = body.nat
        self.own_joins.put((body.peer_id, body.subcluster_id), (now, f.raw), now)
        self._introduce(joiner, address, body, bytes(f.message), now)
        self.p.count("join.referred")

    def _membership(self, body: Join, leave: bool, now: float) -> bool:
        """Record a proven JOIN; True when it made a new member of one of our subclusters."""
        sub = self.subs.get(body.subcluster_id)
        if sub is None or sub.cluster_id != body.cluster_id:
            key = (body.subcluster_id, body.peer_id)
            if leave:
                self.others.pop(key)
            else:
                self.others.put(key, body.cluster_id, now)
            return False
        members = self.members[sub.subcluster_id]
        if leave:
            if members.pop(body.peer_id) is not None:
                self.p.emit(LeaveEvent(sub.subcluster_id, body.peer_id))
            return False
        new = body.peer_id not in members
        if new:
            self.p.emit(JoinEvent(sub.subcluster_id, body.peer_id))
        members.put(body.peer_id, True, now)
        return new

    def _introduce(self, joiner: "PeerEntry", joiner_address: Address, body: Join,
                   raw: bytes, now: float) -> None:
        """``raw``: the joiner's signed JOIN body, its proof that it asked (traversal.py)."""
        cfg = self.p.config
        if cfg.intro_peers <= 0:
            return
        candidates = [q for q in self.p.table.peers()  # confirmed: q accepts our INTRO
                      if q.peer_id != joiner.peer_id and q.pool is None and q.confirmed]
        rng = self.p.rng
        chosen: list["PeerEntry"] = []
        if joiner.mapping == NAT_UNKNOWN:
            # An unclassified joiner needs reflectors (reflection.py: two peers, Static ones
            # first) before anything else: until it knows its NAT every introduction is the
            # PING strategy, which a Hard joiner cannot complete with a NATed peer, and its
            # BDP waits. Left to chance (intro_peers of n members), the last peer of the
            # NAT lab's rounds met no Static peer in ~1 of 30 rounds and stayed "unknown"
            # until its seek 10 s later (docs/NATLAB.md "The Easy<->Hard tail").
            # The most recently heard: a peer that is gone never consents (JOIN_ASK), so the
            # introduction is lost, and a table keeps the dead until peer_expiry (the lab's
            # rounds leave a stopped Static peer in the bootstrap's table every ~6 s).
            public = sorted((q for q in candidates if q.mapping == NAT_STATIC),
                            key=lambda q: -q.last_seen)
            chosen = public[:min(REFLECTORS_FOR_JOINER, cfg.intro_peers)]
        # (by peer id and by the same test: `q in list` compares PeerEntry dataclasses field
        # by field, O(table^2) per JOIN, the simulator's top cost at 300 peers)
        taken = {q.peer_id for q in chosen}
        same = [q for q in candidates if body.subcluster_id in q.subclusters
                and q.peer_id not in taken]
        rest = [q for q in candidates if body.subcluster_id not in q.subclusters
                and q.peer_id not in taken]
        chosen += rng.sample(same, min(len(same), cfg.intro_peers - len(chosen)))
        if len(chosen) < cfg.intro_peers:
            chosen += rng.sample(rest, min(len(rest), cfg.intro_peers - len(chosen)))
        for q in chosen:
            self.p.traversal.introduce(joiner, joiner_address, q, body.cluster_id,
                                       body.subcluster_id, now, raw)
            self._hand_over(joiner, q, body.subcluster_id, now)
            self._hand_over(q, joiner, body.subcluster_id, now)

    def _hand_over(self, author: "PeerEntry", to: "PeerEntry", subcluster_id: bytes,
                   now: float) -> None:
        """Send ``to`` the JOIN ``author`` sent us for this subcluster (its own signature,
        still fresh: kept at most proof_window / 2), at hops = join_hops: recorded, never
        relayed or introduced on. One frame per introduction (no amplification)."""
        kept = self.own_joins.get((author.peer_id, subcluster_id))
        if kept is None or now - kept[0] > self.own_joins.lifetime:
            return
        out = bytearray(kept[1])
        out[6] = self.p.config.join_hops
        self.p.send_to(to, bytes(out))
        self.p.count("join.handed")

    # ------------------------------------------------------------ connection hooks
    def on_connected(self, peer: "PeerEntry", now: float) -> None:
        """A newly confirmed peer gets our JOINs: asking for introductions (hops 0) while we
        have at most want_peers peers, unless the peers we dialled ourselves and still wait
        for would make want_peers on their own; else direct only (no relay, no
        introductions), so it still learns our memberships.

        On their way (Handshake.connecting): a peer that comes back pings the peers it saved
        (a ``peers_file`` holds its whole table) and the bootstrap peers at once, and most
        answer within a round trip. Counting only the table, each of its first 16
        connections asked for 3 introductions (~48, each a NAT traversal, a BDP spray of
        ~250 probes when one side is Hard) for a table its saved peers were filling anyway.
        A newcomer (a few bootstrap peers) still asks on every connection; a peer whose
        saved peers are gone asks once their pings are reflect_timeout old, and its seek
        (seek_interval) asks later too. Counting what is on its way against the room left
        (table + coming <= want_peers) was tried: under the seed-chart's heavy churn the
        saved peers dialled are often gone, and fewer introductions slowed the mesh
        (latency p95 over seeds 7-12 208 -> 264 ms; docs/SIMULATION_SCALE_LOG.md)."""
        hops = 0 if self._wants_introductions(now) else self.p.config.join_hops
        for sub in self.subs.values():
            self._broadcast([peer], sub, now, hops=hops)

    def renew(self, now: float) -> None:
        """Our NAT byte changed (Reflection._tell): our JOINs again, straight to every
        confirmed peer at hops 0. Introductions made while we were "unknown" used the PING
        strategy; these carry the fresh NAT, so each receiver updates our entry and
        introduces us again with it (SPEC 5 strategy, STATE_5). Only while we have few peers
        (_wants_introductions), as on_connected: a well-connected peer does not need more."""
        if not self.subs or not self._wants_introductions(now):
            return
        peers = [q for q in self.p.table.peers() if q.confirmed]
        for sub in self.subs.values():
            self._broadcast(peers, sub, now)
        self.p.count("join.renew")

    def _wants_introductions(self, now: float) -> bool:
        """At most want_peers peers, and fewer than that on their way (on_connected)."""
        want = self.p.config.want_peers
        return len(self.p.table) <= want and self.p.handshake.connecting(now) < want

    def on_disconnected(self, peer: "PeerEntry", now: float) -> None:
        for sub_id in list(peer.subclusters):
            self.others.pop((sub_id, peer.peer_id))
        for sub_id, members in self.members.items():
            if members.pop(peer.peer_id) is not None:
                self.p.emit(LeaveEvent(sub_id, peer.peer_id))

    def tick(self, now: float) -> None:
        self.others.expire(now)
        self.own_joins.expire(now)
        for sub_id, members in self.members.items():
            for peer_id, _ in members.expire(now):
                if peer_id in self.p.table:  # still connected: it stays a member
                    members.put(peer_id, True, now)
                else:
                    self.p.emit(LeaveEvent(sub_id, peer_id))
        cfg = self.p.config
        if (self.subs and 0 < len(self.p.table) < cfg.want_peers and now >= self.next_seek):
            # Too few peers: ask a few for introductions (the seed's STATE_5 on demand), so a
            # peer whose first introductions were lost is not left alone until join_interval.
            self.next_seek = self._after(cfg.seek_interval, now)
            peers = self.p.table.peers()
            chosen = self.p.rng.sample(peers, min(len(peers), cfg.intro_peers or 1))
            for sub in self.subs.values():
                self._broadcast(chosen, sub, now)
            self.p.count("join.seek")
        if self.subs and now >= self.next_announce:
            # Re-announce to refresh membership elsewhere. It leaves with hops = 1: it is not a
            # first contact, so receivers relay it and record the member but do not introduce
            # (introductions answer a JOIN straight from the joiner, hops 0: join, first
            # connection, seek). Otherwise every announce would start an INTRO storm.
            self.next_announce = self._after(cfg.join_interval, now)
            for sub in self.subs.values():
                self._broadcast(self.p.table.peers(), sub, now, hops=1)

    def _after(self, interval: float, now: float) -> float:
        """When a periodic JOIN (re-announce, seek) is next due: jitter.early."""
        return now + early(interval, self.p.rng)

    def is_member(self, subcluster_id: bytes, peer_id: bytes) -> bool:
        members = self.members.get(subcluster_id)
        return members is not None and peer_id in members
