"""Sealed direct STREAMs and their relay (SPEC 4 "A STREAM to one peer is sealed to that peer";
SPEC 5 Hard<->Hard relay).

A STREAM frame's ``to`` is the recipient's peerId and its ``previousId`` is the SENDER's peerId
(streams have no causal chain; the field names the author so the recipient picks the session
key and a relay needs no state). Every frame is sealed with the pairwise session key
(crypto.stream_keys), whose AEAD covers the header, so only the sender can produce a frame the
recipient opens: the sender id cannot be forged. Large data is split into a hash chain like a
PUBLISH; fragments of concurrent streams never clobber each other (SPEC 9.7, keyed by id).

Relay: a peer forwards a STREAM whose ``to`` is one of its connected peers, arriving from a
connected peer, within relay_budget_packets per (source, destination) per relay_window.

No path yet (issue 11): a member is often known (its proven JOIN arrived through a relay)
before any path to it exists. ``send`` then queues the message, bounded by
``stream_queue_bytes`` in all and ``stream_queue_age`` per message, and sends it when the peer
connects or a relay route to it appears (checked on every new connection and every
maintenance pass). Every queued message ends in one StreamResult event: sent, or dropped
with a reason ("expired", "overflow"), each also counted (``stream.expired``,
``stream.overflow``). Nothing accepted is lost silently.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from srpfast.wire import constants as C
from srpfast.control.bounded import ExpiringDict, LruDict
from srpfast.control.events import StreamData, StreamResult
from srpfast.control.nonces import seal_synthetic
from srpfast.crypto import open_frame, stream_keys
from srpfast.crypto.sealing import box_keypair
from srpfast.errors import CapacityError, CryptoError
from srpfast.wire.fragments import fragments_needed
from srpfast.wire.frame import Reassembler, split
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.wire.frame import Frame
    from srpfast.control.peers import PoolRoute, PeerEntry
    from srpfast.control.engine import Peer



class Streams:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.keys: LruDict[bytes, tuple[bytes, bytes]] = LruDict(cfg.stream_keys)
        self._mine: tuple[bytes, bytes] | None = None  # our X25519 keys (box_keypair), once
        self.reassembler = Reassembler(max_fragments=cfg.max_fragments,
                                       max_bytes=cfg.reassembly_bytes,
                                       timeout=cfg.reassembly_timeout,
                                       done_ids=cfg.completed_ids)
        self.budget: ExpiringDict[tuple[bytes, bytes], list[int]] = ExpiringDict(
            cfg.relay_routes, cfg.relay_window)
        # peer id -> messages waiting for a path: (queued at, ticket, data), oldest first
        self.queued: dict[bytes, deque[tuple[float, int, bytes]]] = {}
        self.queued_bytes = 0
        self._tickets = 0

    def pair_keys(self, peer_id: bytes) -> tuple[bytes, bytes]:
        """(tx, rx) session keys with ``peer_id`` (crypto_kx, cached): STREAM seals, SYNC tags."""
        return self._keys(peer_id)

    def pair_keys_uncached(self, peer_id: bytes) -> tuple[bytes, bytes]:
        """pair_keys without caching a new pair (for a claim not proven yet: handshake's
        keyed PING from a peer we do not hold). CryptoError for an invalid peerId."""
        k = self.keys.get(peer_id)
        if k is None:
            if self._mine is None:
                self._mine = box_keypair(self.p.identity)
            k = stream_keys(self.p.identity, peer_id, self._mine)
        return k

    def _keys(self, peer_id: bytes) -> tuple[bytes, bytes]:
        k = self.keys.get(peer_id)
        if k is None:
            k = self.keys[peer_id] = self.pair_keys_uncached(peer_id)
        return k

    def send(self, peer_id: bytes, data: bytes, now: float) -> tuple[int, bool]:
        """Send ``data`` to ``peer_id`` now, or queue it until a path exists. Returns (ticket,
        sent now); a queued message ends in one StreamResult(ticket, ...) event. Raises
        CapacityError (before anything is queued) for data beyond the fragment bound, or when
        the queue has no room for it."""
        cfg = self.p.config
        fragments_needed(len(data), cfg.max_fragments, what="a direct message")
        self._tickets += 1
        ticket = self._tickets
        via = self._path(peer_id)
        if via is not None and peer_id not in self.queued:  # (never overtake queued ones)
            self._send_now(peer_id, via, data)
            return ticket, True
        if self.queued_bytes + len(data) > cfg.stream_queue_bytes:
            self.p.count("stream.overflow")
            raise CapacityError(f"the direct-message queue is full ({self.queued_bytes} bytes "
                                f"wait for peers with no path yet; Config.stream_queue_bytes = "
                                f"{cfg.stream_queue_bytes}): wait until they connect, or send "
                                "less")
        self.queued.setdefault(peer_id, deque()).append((now, ticket, data))
        self.queued_bytes += len(data)
        self.p.count("stream.queued")
        if via is not None:
            self._drain(peer_id, now)
        return ticket, False

    def _path(self, peer_id: bytes) -> "PeerEntry | None":
        target = self.p.table.get(peer_id)
        return target if target is not None else self.p.traversal.route(peer_id)

    def _send_now(self, peer_id: bytes, via: "PeerEntry", data: bytes) -> None:
        p = self.p
        tx, _ = self._keys(peer_id)
        p.clock = (p.clock + 1) & 0xFFFFFFFF
        frames = split(data, p.peer_id, type=C.STREAM, to=peer_id, clock=p.clock,
                       seal=lambda fr: seal_synthetic(tx, fr), max_fragments=p.config.max_fragments)
        for fr in frames:
            p.send_to(via, fr)
        p.count("stream.frames", len(frames))
        if via.peer_id != peer_id:
            p.count("stream.relayed_out")

    def _drain(self, peer_id: bytes, now: float) -> None:
        """Send what waits for ``peer_id`` if a path exists now, in order."""
        via = self._path(peer_id)
        if via is None:
            return
        waiting = self.queued.pop(peer_id, None)
        for _, ticket, data in waiting or ():
            self.queued_bytes -= len(data)
            self._send_now(peer_id, via, data)
            self.p.count("stream.dequeued")
            self.p.emit(StreamResult(ticket, peer_id, None))

    def on_connected(self, peer_id: bytes, now: float) -> None:
        """A new connection may be the path a queued message waits for (to that peer, or a
        relay route through it)."""
        if self.queued:
            for waiting_for in list(self.queued):
                self._drain(waiting_for, now)

    def on_stream(self, f: Frame, address: Address, now: float, pool: "PoolRoute | None") -> None:
        p = self.p
        if f.to != p.peer_id:
            self._relay(f, address, now)
            return
        sender = f.previous_id
        if sender == p.peer_id:
            p.count("drop.stream")
            return
        try:
            _, rx = self._keys(sender)
        except (CryptoError, ValueError):
            p.count("drop.stream_key")
            return
        p.count("rx.stream")
        # Open before reassembly (as Replication does): the reassembler then holds only
        # frames their author sealed, headers included (the AEAD's additional data), so a
        # copy with an altered index or `to` never takes a real fragment's place (SPEC 9.7).
        try:
            plain = open_frame(rx, f.raw)
        except CryptoError:
            p.count("drop.stream_open")
            return
        for message in self.reassembler.offer(f, now):
            try:
                data = plain if len(message.frames) == 1 else b"".join(
                    plain if fr.packet_id == f.packet_id else open_frame(rx, fr.raw)
                    for fr in message.frames)
            except CryptoError:  # (cannot happen: every frame held was opened on arrival)
                p.count("drop.stream_open")
                continue
            p.emit(StreamData(sender, data))

    def _relay(self, f: Frame, address: Address, now: float) -> None:
        p = self.p
        src = p.table.at(address)
        dst = p.table.get(f.to)
        if src is None or dst is None or f.hops + 1 > p.config.max_hops:
            p.count("drop.relay")
            return
        key = (src.peer_id, dst.peer_id)
        used = self.budget.get(key)
        if used is None:
            used = [0]
            self.budget.put(key, used, now)
        if used[0] >= p.config.relay_budget_packets:
            p.count("drop.relay_budget")
            return
        used[0] += 1
        out = bytearray(f.raw)
        out[6] = f.hops + 1
        p.send_to(dst, bytes(out))
        p.count("relay.frames")

    def tick(self, now: float) -> None:
        self.budget.expire(now)
        self.reassembler.expire(now)
        if not self.queued:
            return
        age = self.p.config.stream_queue_age
        for peer_id in list(self.queued):
            self._drain(peer_id, now)
            waiting = self.queued.get(peer_id)
            while waiting and now - waiting[0][0] >= age:
                _, ticket, data = waiting.popleft()
                self.queued_bytes -= len(data)
                self.p.count("stream.expired")
                self.p.emit(StreamResult(ticket, peer_id, "expired"))
            if waiting is not None and not waiting:
                del self.queued[peer_id]
