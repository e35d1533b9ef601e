"""SYNC: cache reconciliation between two connected peers (SPEC 6 "Sync").

Every PING/PONG carries the root (count, hash) of the sender's cache summary tree (a 16-way
prefix tree of packetIds, XOR hash per bucket: cache.py). When a peer's root differs from
ours, we send SYNC SUMMARY for the root: on (re)connection (SPEC 6), then at most once per
sync_every (and never more than once per sync_interval) per peer. A receiver
compares child buckets and answers only for those that differ: SUMMARY one level down for big
buckets (prefix depth <= 2), else IDS (the ids it holds under that prefix, at most 30). On IDS
a peer asks for what it lacks (WANT: of one lister at a time, WANT_HOLD) and pushes what the
other lacks (ANSWER frames). So only differences cross the wire.

Amplification (SPEC 9.3): SYNC is accepted only from connected, proven peers at their proven
address, and every peer spends at most sync_budget frames per sync_interval on one peer.
"""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from srpfast.crypto import _sodium
from srpfast.wire import constants as C
from srpfast.wire.bodies import (SYNC_FANOUT, SYNC_HAVE, SYNC_IDS, SYNC_MAX_IDS, SYNC_SUMMARY,
                                 SYNC_TAG_BYTES, SYNC_WANT, Sync)
from srpfast.control.bounded import ExpiringDict
from srpfast.wire.frame import encode
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.wire.frame import Frame
    from srpfast.control.peers import PeerEntry
    from srpfast.control.engine import Peer

SUMMARY_DEPTH = 2   # cache.summary() takes prefixes of 0..2 hex digits
TREE_DEPTH = 3
# An id WANTed from one peer is not WANTed from another for this long (SyncEngine.asked); if
# it has not come by then it is pulled (announce.expect: QUERY) from the other peer that
# listed it. A WANT's ANSWER takes a round trip (tens of ms) unless the answerer's sync
# budget ran out, and then a second WANT to it would not be answered either.
WANT_HOLD = 1.0


def pack_prefix(prefix: str) -> tuple[int, bytes]:
    """Hex-digit prefix -> (depth, 8 bytes of nibbles packed high-first, zero beyond)."""
    padded = prefix + "0" * (16 - len(prefix))
    return len(prefix), bytes.fromhex(padded)


def unpack_prefix(depth: int, packed: bytes) -> str:
    return packed.hex()[:depth]


class SyncEngine:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.spent: ExpiringDict[bytes, list[int]] = ExpiringDict(cfg.max_peers * 2,
                                                                  cfg.sync_interval)
        # id -> when we WANTed it (_on_ids): one WANT per id per WANT_HOLD, whichever peers
        # list it. A peer back from a restart syncs with every peer it reconnects to at once
        # and each lists the same ids: WANTing each from all of them drew a copy from each
        # (at 300 simulated peers 0.38 ANSWERs a peer a second, most of them duplicates).
        self.asked: ExpiringDict[bytes, float] = ExpiringDict(cfg.announce_pending, WANT_HOLD)

    def spend(self, peer: "PeerEntry", now: float, n: int = 1) -> bool:
        """Charge ``n`` frames to ``peer``'s SYNC budget (also the lazy-push pulls its HAVEs
        start, announce.py); False (counted) when it is spent."""
        return self._spend(peer, now, n)

    def _spend(self, peer: "PeerEntry", now: float, n: int = 1) -> bool:
        entry = self.spent.get(peer.peer_id)
        if entry is None:
            entry = [0]
            self.spent.put(peer.peer_id, entry, now)
        if entry[0] + n > self.p.config.sync_budget:
            self.p.count("sync.budget")
            return False
        entry[0] += n
        return True

    def _send(self, peer: "PeerEntry", body: Sync, now: float) -> bool:
        if not self._spend(peer, now):
            return False
        self.p.send_to(peer, self.frame(peer, body))
        self.p.count("tx.sync")
        return True

    def frame(self, peer: "PeerEntry", body: Sync | bytes) -> bytes:
        """A SYNC frame for ``peer``, tagged with our pairwise key (see on_sync). ``body``:
        a Sync, or its untagged() bytes (one body to many peers is encoded once)."""
        raw = body if isinstance(body, bytes) else body.untagged()
        tx, _ = self.p.streams.pair_keys(peer.peer_id)
        return encode(type=C.SYNC, message=raw + _sodium.generichash(raw, tx, SYNC_TAG_BYTES),
                      clock=self.p.clock)

    def _summary_body(self, sync_id: int, prefix: str) -> Sync:
        depth, packed = pack_prefix(prefix)
        buckets = tuple((c, int(h).to_bytes(8, "big")) for _, c, h in self.p.cache.summary(prefix))
        return Sync(sync_id, SYNC_SUMMARY, depth, packed, SYNC_FANOUT, buckets=buckets)

    def _ids_body(self, sync_id: int, prefix: str, kind: int, ids: list[bytes]) -> Sync:
        depth, packed = pack_prefix(prefix)
        ids = ids[:SYNC_MAX_IDS]
        return Sync(sync_id, kind, depth, packed, len(ids), ids=tuple(ids))

    def maybe_start(self, peer: "PeerEntry", now: float, connected: bool = False) -> bool:
        """Start a round when the peer's root summary differs from ours: on ``connected``
        (this PONG completed the connection), else once sync_every has passed. False when
        the summaries were not compared (too soon after the last comparison: a reconnection
        must then wait for a later PONG, handshake.on_pong keeps ``peer.lost``)."""
        cfg = self.p.config
        since = now - peer.last_sync
        if since < cfg.sync_interval or not (connected or since >= cfg.sync_every):
            return False
        peer.last_sync = now  # (compared now, whether or not they differ)
        count, summary = self.p.summary_bytes()
        if (peer.cache_count, peer.cache_summary) == (count, summary):
            return True
        # (An empty cache of ours still starts one: its all-empty buckets tell the other
        # side to push everything, which is what a newcomer needs.)
        self.p.count("sync.rounds")
        self._send(peer, self._summary_body(self.p.rng.getrandbits(64), ""), now)
        return True

    def on_sync(self, f: Frame, body: Sync, address: Address, now: float) -> None:
        p = self.p
        peer = p.table.at(address)
        if peer is None:
            p.count("drop.sync_unknown")
            return
        # SYNC draws more than it carries (a summary's 16 children, 30 ANSWERs for a WANT,
        # pulls for a HAVE), so only the connected peer itself may start that: its tag is
        # keyed by our pairwise session key (crypto_kx of both identities), which a spoofer
        # of its address does not have (PROTOCOL.md §9.3).
        _, rx = p.streams.pair_keys(peer.peer_id)
        raw = f.message[:-SYNC_TAG_BYTES]
        if not hmac.compare_digest(_sodium.generichash(raw, rx, SYNC_TAG_BYTES), body.tag):
            p.count("drop.sync_tag")
            return
        p.count("rx.sync")
        # Only the pair can make the tag: as proven as a keyed PONG that the peer is alive
        # and reaches us at this address (its heartbeat may wait while this traffic flows
        # both ways: heartbeats.py; reflection re-runs only when nothing is heard).
        peer.last_seen = now
        # It holds us: a peer tags SYNC (and HAVE) only for an entry of its own table, at
        # the address it sends to. So our heartbeats to it can be keyed from the first, as
        # after an unchallenged PONG (handshake.py, "Keyed heartbeats"): the side that
        # redeemed a challenge otherwise signed its first heartbeat, and the answer was
        # signed too (~190 us of Ed25519 a new pair). A replayed SYNC is no proof of that,
        # and needs none: a keyed PING to a peer that lost us is challenged as a signed
        # one is (PROTOCOL.md §3; SECURITY.md 9.2).
        p.handshake.holds_us(peer)
        if peer.pool is None:  # (a pool socket's path is not our main mapping's)
            p.reflection.heard(now)
        if body.kind == SYNC_HAVE:  # lazy push from a fellow member (announce.py)
            p.announce.on_have(peer, body.ids, now, fellows=body.depth)
            return
        prefix = unpack_prefix(body.depth, body.prefix)
        if body.kind == SYNC_SUMMARY:
            self._on_summary(peer, body, prefix, now)
        elif body.kind == SYNC_IDS:
            self._on_ids(peer, body, prefix, now)
        elif body.kind == SYNC_WANT:
            for pid in body.ids:
                frame = p.cache.get(pid)
                if frame is None:
                    continue
                if not self._spend(peer, now):
                    return
                self._push(peer, frame)

    def _on_summary(self, peer: "PeerEntry", body: Sync, prefix: str, now: float) -> None:
        if body.depth > SUMMARY_DEPTH:
            self.p.count("drop.sync_depth")
            return
        # A summary is work done for the peer (a depth-2 one walks the leaf lists of its 16
        # children in C: docs/CACHE.md), so it is charged to its SYNC budget (SPEC 9.3): not
        # computed past the budget, and an answer that sends nothing (all children equal)
        # costs one unit. Uncharged, equal summaries could be asked without end.
        entry = self.spent.get(peer.peer_id)
        if entry is not None and entry[0] >= self.p.config.sync_budget:
            self.p.count("sync.budget")
            return
        mine = self.p.cache.summary(prefix)
        sent = False
        for (child, mc, mh), (tc, th) in zip(mine, body.buckets):
            if mc == tc and int(mh).to_bytes(8, "big") == th:
                continue
            if len(child) >= TREE_DEPTH or max(mc, tc) <= SYNC_MAX_IDS:
                ids = self.p.cache.ids_with_prefix(child, limit=SYNC_MAX_IDS)
                ok = self._send(peer, self._ids_body(body.sync_id, child, SYNC_IDS, ids), now)
            else:
                ok = self._send(peer, self._summary_body(body.sync_id, child), now)
            if not ok:
                return
            sent = True
        if not sent:
            self._spend(peer, now)

    def _on_ids(self, peer: "PeerEntry", body: Sync, prefix: str, now: float) -> None:
        cache = self.p.cache
        theirs = set(body.ids)
        lacking = [pid for pid in body.ids if pid not in cache]
        if lacking:
            asked, ask = self.asked, []
            for pid in lacking:
                if asked.get(pid) is None:
                    asked.put(pid, now, now)
                    ask.append(pid)
                else:  # WANTed from another peer just now: pulled from this one if it does
                    # not come. A pull is a frame we may send this peer, so it is charged to
                    # its SYNC budget like the WANT it replaces (SPEC 9.3, as a HAVE's pulls:
                    # announce.on_have); past the budget the rest are ignored.
                    if pid not in self.p.announce.pulls and not self._spend(peer, now):
                        break
                    self.p.announce.expect(pid, now + WANT_HOLD, peer.peer_id)
                    self.p.count("sync.want_held")
            if ask:
                self._send(peer, self._ids_body(body.sync_id, prefix, SYNC_WANT, ask), now)
        mine = cache.ids_with_prefix(prefix, limit=4 * SYNC_MAX_IDS)
        complete = body.count < SYNC_MAX_IDS
        if complete:
            for pid in mine:
                if pid in theirs:
                    continue
                frame = cache.get(pid)
                if frame is None:
                    continue
                if not self._spend(peer, now):
                    return
                self._push(peer, frame)
        elif len(prefix) < 64:
            # Their list was cut at 30: split the bucket one nibble deeper and list again.
            for nib in "0123456789abcdef":
                child = prefix + nib
                ids = cache.ids_with_prefix(child, limit=SYNC_MAX_IDS)
                if not self._send(peer, self._ids_body(body.sync_id, child, SYNC_IDS, ids), now):
                    return

    def _push(self, peer: "PeerEntry", frame: bytes) -> None:
        answer = bytearray(frame)
        answer[4] = C.ANSWER
        self.p.send_to(peer, bytes(answer))
        self.p.count("sync.pushed")

    def tick(self, now: float) -> None:
        self.spent.expire(now)
