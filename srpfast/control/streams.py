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
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from srpfast import constants as C
from srpfast.control.bounded import ExpiringDict, LruDict
from srpfast.control.events import ErrorEvent, StreamData
from srpfast.control.nonces import seal_synthetic
from srpfast.crypto import open_frame, stream_keys
from srpfast.errors import CryptoError
from srpfast.frame import Reassembler, split

if TYPE_CHECKING:
    from srpfast.control.peers import PoolRoute
    from srpfast.engine import Peer

Address = tuple[str, int]


class Streams:
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.keys: LruDict[bytes, tuple[bytes, bytes]] = LruDict(cfg.stream_keys)
        self.reassembler = Reassembler(max_fragments=cfg.max_fragments,
                                       max_bytes=cfg.reassembly_bytes,
                                       timeout=cfg.reassembly_timeout)
        self.budget: ExpiringDict[tuple[bytes, bytes], list[int]] = ExpiringDict(
            cfg.relay_routes, cfg.relay_window)

    def _keys(self, peer_id: bytes) -> tuple[bytes, bytes]:
        k = self.keys.get(peer_id)
        if k is None:
            k = stream_keys(self.p.identity, peer_id)
            self.keys[peer_id] = k
        return k

    def send(self, peer_id: bytes, data: bytes, now: float) -> None:
        p = self.p
        target = p.table.get(peer_id)
        via = target if target is not None else p.traversal.route(peer_id)
        if via is None:
            p.count("stream.no_route")
            p.emit(ErrorEvent(f"stream: no route to peer {peer_id.hex()[:16]} (not connected "
                              "and no relay)"))
            return
        tx, _ = self._keys(peer_id)
        p.clock = (p.clock + 1) & 0xFFFFFFFF
        frames = split(data, p.peer_id, type=C.STREAM, to=peer_id, clock=p.clock,
                       seal=lambda fr: seal_synthetic(tx, fr), max_fragments=p.config.max_fragments)
        for fr in frames:
            p.send_to(via, fr)
        p.count("stream.frames", len(frames))
        if target is None:
            p.count("stream.relayed_out")

    def on_stream(self, f, address: Address, now: float, pool: "PoolRoute | None") -> None:
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
        message = self.reassembler.add(f, now)
        if message is None:
            return
        try:
            data = b"".join(open_frame(rx, fr.raw) for fr in message.frames)
        except CryptoError:
            p.count("drop.stream_open")
            return
        p.emit(StreamData(sender, data))

    def _relay(self, f, address: Address, now: float) -> None:
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
