"""QUERY and ANSWER (SPEC 6 "Query", 9.8; seed STATE_6): the half of replication that asks for
what a member lacks and answers others from the cache.

A QUERY is answered from the cache with one ANSWER frame (the PUBLISH frame with type byte
9), else forwarded (hops < query_hops) and an answer route is remembered in a bounded,
expiring table keyed by the wanted id; an ANSWER follows those routes back and is never
flooded (SPEC 9.8). Unsolicited ANSWERs are accepted only from connected peers (SYNC and
STATE_6 pushes: ``on_connected``).

A mixin of ``Replication`` (control/replication.py), which holds the tables these methods
use (``routes``, ``queries_seen``, ``wanted``) and the delivery they feed: what they need of
it is declared at the top of the class. Split out of replication.py (641 lines) in session 18.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from srpfast.control.peers import choose_weighted
from srpfast.errors import MalformedPacket
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import QUERY_EXACT, QUERY_SUCCESSOR, Query
from srpfast.wire.frame import decode, encode

if TYPE_CHECKING:
    from srpfast.control.bounded import ExpiringDict, LruSet
    from srpfast.control.engine import Peer
    from srpfast.control.membership import Subscription
    from srpfast.control.peers import PeerEntry, PoolRoute
    from srpfast.wire.frame import Frame


class QueryAnswer:
    """QUERY/ANSWER and the STATE_6 push of a Replication (module doc)."""

    # What this half uses of its Replication: the tables (Replication.__init__) ...
    p: "Peer"
    routes: "ExpiringDict[bytes, list[Address]]"  # wanted id (b"S" + id: its successor) -> askers
    queries_seen: "LruSet[int]"
    wanted: "ExpiringDict[bytes, list[float]]"  # id -> [last asked, times asked]
    held_ids: set[bytes]

    # ... and its delivery (replication.py)
    def _subscription(self, f: "Frame") -> "Subscription | None":
        raise NotImplementedError

    def _classify(self, pid: bytes, datagram: bytes) -> bool | None:
        raise NotImplementedError

    def _deliver_frame(self, sub: "Subscription", f: "Frame", now: float, *,
                       variant: bool = False, source: object = None) -> bool:
        raise NotImplementedError

    def want(self, packet_id_: bytes, now: float, via: "PeerEntry | None" = None,
             delay: float = 0.0) -> None:
        """Ask for a packet we know the id of (a missing fragment or a predecessor); ``via``:
        a peer known to hold it (it announced it: announce.py), asked alone first; ``delay``:
        ask only if it has not come by then (a predecessor is usually just reordered)."""
        if packet_id_ in self.wanted or packet_id_ in self.held_ids:
            return  # (held: we have it; it waits for its own predecessor, asked for already)
        frame = self.p.cache.get(packet_id_)
        if frame is not None and self._local(frame, now):
            return  # we held it (cached as a relay) and it opened: fed to delivery
        if delay > 0:
            self.p.announce.expect(packet_id_, now + delay)
            return
        self.wanted.put(packet_id_, [now, 1], now)
        self._send_query(packet_id_, now, via)

    def ask(self, packet_id_: bytes, now: float, peer: "PeerEntry") -> None:
        """One more QUERY for a packet already wanted, to a peer known to hold it."""
        self._send_query(packet_id_, now, peer)

    def _send_query(self, wanted: bytes, now: float, via: "PeerEntry | None" = None) -> None:
        p = self.p
        body = Query(p.rng.getrandbits(64), wanted, QUERY_EXACT)
        datagram = encode(type=C.QUERY, message=body.encode(), clock=p.clock)
        targets = [via] if via is not None else choose_weighted(
            p.table.peers(), p.config.query_fanout, now, p.rng)
        for peer in targets:
            p.send_to(peer, datagram)
            p.count("tx.query")

    def _local(self, frame: bytes, now: float) -> bool:
        f = decode(frame)
        sub = self._subscription(f)
        return sub is None or self._deliver_frame(sub, f, now)

    def on_query(self, f: Frame, body: Query, address: Address, now: float) -> None:
        p = self.p
        if not self.queries_seen.add(body.query_id):
            p.count("query.duplicate")
            return
        p.count("rx.query")
        found = None
        if body.mode == QUERY_EXACT:
            found = p.cache.get(body.wanted)
        elif body.mode == QUERY_SUCCESSOR:
            for pid in p.cache.by_previous(body.wanted, limit=64):
                frame = p.cache.get(pid)
                if frame is not None and frame[12:14] == b"\x00\x00":  # the next message's head
                    found = frame
                    break
        if found is not None:
            answer = bytearray(found)
            answer[4] = C.ANSWER
            p.send(bytes(answer), address, self._pool_of(address))
            p.count("query.answered")
            return
        if f.hops + 1 > p.config.query_hops:
            p.count("query.hop_limit")
            return
        sender = p.table.at(address)
        if sender is None:
            # Only a proven peer gets a route remembered and its query carried on (SPEC 9.4:
            # a stranger could otherwise fill the route table and aim ANSWERs at anyone). It
            # was still answered from the cache above: one frame for one frame.
            p.count("query.unproven")
            return
        key = body.wanted if body.mode == QUERY_EXACT else b"S" + body.wanted
        back = self.routes.get(key) or []
        if address not in back and len(back) < 4:
            back.append(address)
        self.routes.put(key, back, now)
        out = bytearray(f.raw)
        out[6] = f.hops + 1
        for peer in choose_weighted(p.table.peers(), p.config.query_fanout, now, p.rng,
                                    exclude=(sender.peer_id,)):
            p.send_to(peer, bytes(out))
            p.count("query.forwarded")

    def _pool_of(self, address: Address) -> "PoolRoute | None":
        peer = self.p.table.at(address)
        return peer.pool if peer is not None else None

    def _answer_routes(self, f: Frame, frame: bytes) -> bool:
        """Send an ANSWER back along every route waiting for this packet (SPEC 9.8)."""
        if not len(self.routes):
            return False  # the common case: nobody asked
        routed = False
        for key in (f.packet_id, b"S" + f.previous_id if f.index == 0 else None):
            if key is None:
                continue
            back = self.routes.pop(key)
            if back:
                answer = bytearray(frame)
                answer[4] = C.ANSWER
                answer[6] = min(f.hops + 1, 255)
                for address in back:
                    self.p.send(bytes(answer), address, self._pool_of(address))
                    self.p.count("answer.routed")
                routed = True
        return routed

    def on_answer(self, f: Frame, datagram: bytes, address: Address, now: float) -> None:
        p = self.p
        restored = bytearray(datagram)
        restored[4] = C.PUBLISH
        try:
            g = decode(bytes(restored))  # packetId recomputed over the restored frame
        except MalformedPacket as exc:
            p.count(f"drop.malformed.{exc.reason}")
            return
        pid = g.packet_id
        asked = pid in self.wanted
        routed = self._answer_routes(g, bytes(restored))
        if not (asked or routed or address in p.table.by_address):
            p.count("drop.answer_unsolicited")
            return
        p.count("rx.answer")
        variant = self._classify(pid, g.raw)
        if variant is None:
            if asked and pid in p.cache:  # (a repeat of a copy that failed to open and was
                self.wanted.pop(pid)       # evicted must not cancel the search)
            return
        sub = self._subscription(g)
        p.clock = (max(p.clock, g.clock) + 1) & 0xFFFFFFFF
        if not variant:
            p.cache.insert(g.raw, source=address, now=now, member=sub is not None)
        if sub is not None:
            self._deliver_frame(sub, g, now, variant=variant, source=address)

    # ------------------------------------------------------------ STATE_6 push
    def on_connected(self, peer: "PeerEntry", now: float) -> None:
        """Push a few of our lowest-hop packets to a new peer (STATE_6), as ANSWER frames."""
        for pid in self.p.cache.lowest_hops(self.p.config.push_count):
            frame = self.p.cache.get(pid)
            if frame is not None:
                answer = bytearray(frame)
                answer[4] = C.ANSWER
                self.p.send_to(peer, bytes(answer))
                self.p.count("push.frames")

