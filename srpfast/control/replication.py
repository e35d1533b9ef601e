"""Publish, forward, deliver, expire, query and answer (SPEC 6; seed STATE_4, STATE_6).

Publish: seal + sign (author envelope inside the ciphertext), split into a hash chain, cache
our own frames, send each to FANOUT peers chosen by weight.
Receive: drop what was seen (packetId, recomputed by decode: SPEC 9.1), cache, forward to
FANOUT peers other than the sender with hops+1 (never past max_hops), and, when we hold the
subcluster's key, reassemble, open, verify the author and deliver. Nothing that fails to open
or verify is delivered (counted: "drop.open", "drop.forged").
Ordered delivery: a message whose previousId we have not delivered is held up to order_wait
seconds while we QUERY for the predecessor; then it is delivered anyway (the event carries
previous_id so an application can still order).
Query/answer (control/queries.py, a mixin of Replication): a QUERY is answered from the
cache, else forwarded with an answer route remembered; ANSWERs follow the routes back (SPEC
9.8).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from srpfast.crypto import _seal
from srpfast.wire import constants as C
from srpfast.control.bounded import ExpiringDict, LruDict, LruSet
from srpfast.control.delivered import delivered_ids
from srpfast.control.events import Delivered, delivered_batch
from srpfast.control.queries import QueryAnswer
from srpfast.control.nonces import nonce_key
from srpfast.crypto import EnvelopeVerifier, open_frame
from srpfast.errors import CapacityError, CryptoError
from srpfast.wire.fragments import SEALED_CHUNK, Message
from srpfast.wire.frame import Reassembler, decode
from srpfast.wire.address import Address

if TYPE_CHECKING:
    from srpfast.wire.frame import Frame
    from srpfast.control.membership import Subscription
    from srpfast.control.engine import Peer

ZERO32 = C.ZERO32
SELF_SOURCE = "self"


def _copy_key(pid: bytes, datagram: bytes) -> bytes:
    """One copy of a packet: its packetId plus the header fields a relay could alter without
    other relays noticing (type, version, flags, clock, index, length, cluster, to). Copies
    with one packetId and different keys are variants: at most one of them opens (SPEC 9.1)."""
    return pid + datagram[4:6] + datagram[7:16] + datagram[22:70]


@dataclass
class _Held:
    sub_id: bytes
    event: Delivered
    deadline: float


class Replication(QueryAnswer):
    def __init__(self, peer: "Peer") -> None:
        self.p = peer
        cfg = peer.config
        self.seen: LruSet[bytes] = LruSet(cfg.seen_ids)  # copy keys (_copy_key), not ids
        self.forged: LruSet[bytes] = LruSet(1024)  # copy keys that failed to open here
        # Opened fragments the reassembler holds (a cache: a miss opens the frame again), as
        # many as its byte bound can hold whole (SPEC 9.4: it tracks that table, not input).
        self._plain: LruDict[bytes, bytes] = LruDict(
            max(cfg.max_fragments, cfg.reassembly_bytes // C.MESSAGE_BYTES))
        self.reassembler = Reassembler(max_fragments=cfg.max_fragments,
                                       max_bytes=cfg.reassembly_bytes,
                                       timeout=cfg.reassembly_timeout,
                                       done_ids=cfg.completed_ids)
        self.verifier = EnvelopeVerifier(cfg.verified_envelopes)
        self._insert_known = getattr(peer.cache, "_insert_ids_batch", None)
        self.delivered = delivered_ids(cfg.delivered_ids)  # (in C when built: delivered.py)
        self.held: dict[bytes, list[_Held]] = {}   # previous_id -> messages waiting for it
        self.held_ids: set[bytes] = set()  # the message ids in ``held`` (each held once)
        self.routes: ExpiringDict[bytes, list[Address]] = ExpiringDict(cfg.query_pending,
                                                                       cfg.query_timeout)
        self.queries_seen: LruSet[int] = LruSet(cfg.query_pending)
        self.wanted: ExpiringDict[bytes, list[float]] = ExpiringDict(
            cfg.query_pending, cfg.query_retry * 3 + cfg.query_timeout)

    # ------------------------------------------------------------ publish
    def publish_many(self, sub: "Subscription", messages: list[bytes], now: float
                     ) -> list[bytes]:
        """Seal, sign and send messages; their head packetIds, in order.

        One call signs its messages as Merkle batches (one Ed25519 signature per 256,
        docs/SEALING.md), so a receiver verifies one signature per batch instead of one per
        message. The messages of one call share their causal predecessor (the last message
        published before the call): a message's previousId is inside what the batch signs,
        so it cannot name a sibling of the same batch. Each gets its own clock, in order."""
        p, cfg = self.p, self.p.config
        if not messages:
            return []
        previous = sub.last_head
        key = sub.key
        first = (p.clock + 1) & 0xFFFFFFFF
        # One C call (_seal.seal_published, csrc/chain.c): the author envelopes (header
        # context tag ‖ subcluster ‖ previous ‖ clock, one signature per 256) and every chain
        # split, sealed and hashed; each envelope's count ‖ leaf binds its fragments after the
        # head (their nonces hash the header and that, docs/SEALING.md "Nonces"). Raises
        # before any change.
        try:
            buf, ids, counts = _seal.seal_published(
                p.identity.secret_key, key, nonce_key(key), C.PUBLISH, sub.tag,
                sub.subcluster_id, previous, first, cfg.cache_ttl, cfg.postage, messages,
                cfg.max_fragments)
        except ValueError as exc:
            raise CapacityError(f"{exc} ({cfg.max_fragments * SEALED_CHUNK} bytes of sealed "
                                "envelope): send less, or in chunks") from None
        total = len(ids) // 32
        p.flow.check_room(total)  # (CapacityError here: nothing changed yet)
        p.clock = (first + len(messages) - 1) & 0xFFFFFFFF
        heads = []
        at = 0
        for n in counts:
            heads.append(ids[32 * at:32 * at + 32])
            at += n
        sub.last_head = heads[-1]
        # Sent as the send window allows (control/flow.py): acknowledged by the HAVEs of
        # connected fellow members, if any; one run per peer (UDP GSO in the driver). Lazy
        # push announces the ids as they leave (flow.py), not while they wait. The frames
        # leave inside (Peer.send_now, set by the UDP driver), before the bookkeeping below.
        try:
            p.flow.send(sub.subcluster_id, buf, counts, heads,
                        p.forwarder(now).pick(self.copies(-1), p.rng),
                        bool(p.announce.fellows(sub.subcluster_id)), now)
        finally:  # (done whatever the driver raised: what left must be cached and known)
            # Our own frames are not added to ``seen``: the cache holds them (a copy that
            # comes back is recognised there, _classify), and 256 messages of 1 KB would
            # otherwise push 512 keys of other peers' frames out of that bounded set per
            # call. (Nothing comes back before this: the driver reads its socket later.)
            if self._insert_known is not None:
                self._insert_known(buf, ids, total, SELF_SOURCE, now, member=True)
            else:
                for i in range(total):
                    p.cache.insert(buf[i * C.PACKET_BYTES:(i + 1) * C.PACKET_BYTES],
                                   source=SELF_SOURCE, now=now, member=True)
            self.delivered.update(heads)
            p.count("publish.messages", len(heads))
            p.count("publish.frames", total)
        return heads

    def copies(self, hops: int) -> int:
        """Next hops for a frame received with ``hops`` (-1: our own publish), by
        Config.replication (a simulation knob; the C data plane applies the same rule,
        csrc/dataplane.c forward): weighted FANOUT (SPEC 6), flood every peer, or binary
        spray-and-wait (2 while hops + 1 < the spray depth, then 0: the copy waits)."""
        cfg = self.p.config
        if cfg.replication == "weighted":
            return cfg.fanout
        if cfg.replication == "flood":
            return cfg.max_peers
        return 2 if hops + 1 < cfg.spray_depth else 0

    # ------------------------------------------------------------ receive PUBLISH
    def on_publish(self, f: Frame, datagram: bytes, address: Address, now: float) -> None:
        p = self.p
        pid = f.packet_id
        variant = self._classify(pid, datagram)
        if variant is None:
            p.count("publish.duplicate")
            return
        p.count("rx.publish")
        p.clock = (max(p.clock, f.clock) + 1) & 0xFFFFFFFF
        sub = self._subscription(f)
        if variant:
            pass  # not cached: the cache keeps the copy it has until a member adopts this one
        elif sub is None and self._insert_known is not None:
            self._insert_known(datagram, pid, 1, address, now)  # id known: no second SHA-256
        else:
            p.cache.insert(datagram, source=address, now=now, member=sub is not None)
        if f.hops + 1 <= p.config.max_hops:
            # A variant is forwarded too, as the C data plane does (SPEC 9.1): a relay cannot
            # tell which copy is genuine, and a forged one that came first must not stop it.
            out = bytearray(datagram)
            out[6] = f.hops + 1
            fwd = bytes(out)
            sender = p.table.at(address)
            targets = p.forwarder(now).pick(self.copies(f.hops), p.rng,
                                            sender.peer_id if sender is not None else None)
            for peer in targets:
                p.send_to(peer, fwd)
            p.count("publish.forwarded", len(targets))
        else:
            p.count("publish.hop_limit")
        if not variant:
            self._answer_routes(f, datagram)
        if sub is not None:
            self._deliver_frame(sub, f, now, variant=variant, source=address)

    def on_cached(self, f: Frame, datagram: bytes, address: Address, now: float,
                  variant: bool = False) -> None:
        """The rest of on_publish for a frame the C data plane forwarded and, unless it is a
        variant (UP_VARIANT), cached."""
        p = self.p
        if f.type != C.PUBLISH:
            p.count("publish.duplicate")
            return
        key = _copy_key(f.packet_id, datagram)
        if not self.seen.add(key):
            # A forged copy we evicted once came back: C took it for new (its cache forgot
            # it), cached and forwarded it. Evicting it again would make every copy new to C
            # once more, and members would relay it on and on (a storm the adversarial
            # fragment test found). Kept cached now, C drops its further copies; a genuine
            # copy still wins: it arrives as a variant, opens, and replaces it (SPEC 9.1).
            p.count("publish.duplicate")
            if key in self.forged and not variant:
                p.count("publish.forged_kept")
            return
        if variant:
            p.count("publish.variant")
        p.count("rx.publish")
        p.clock = (max(p.clock, f.clock) + 1) & 0xFFFFFFFF
        if not variant:
            self._answer_routes(f, datagram)
        sub = self._subscription(f)
        if sub is not None:
            self._deliver_frame(sub, f, now, variant=variant, source=address)

    def on_messages(self, columns: tuple[Any, ...], keyed: list[bytes], now: float) -> None:
        """Whole messages the C data plane cached, forwarded, opened and verified in one
        receive batch (DataPlane.messages(): subs, ids, payloads, authors, previous ids,
        clocks, hops; subs indexes ``keyed``, one int when all share it). What is left is
        per-message bookkeeping: skip what was delivered before (a message whose cached copy
        expired and came again), hold what waits for its predecessor (SPEC 6 ordering, as
        _deliver_frame), answer queries waiting for these ids, then one DeliveredBatch
        event per subcluster."""
        subs, ids, payloads, authors, prevs, clocks, hops = columns
        p = self.p
        n = len(ids)
        p.count("rx.publish", n)
        p.clock = (max(p.clock, max(clocks)) + n) & 0xFFFFFFFF  # one Lamport tick each
        routes = self.routes
        if len(routes):  # routes of queries for these ids, or for a successor of their
            # predecessors (SPEC 9.8): found in C, then answered one by one (_answer_routes)
            asked = set(routes.present(ids))
            for prev in set(prevs):
                if b"S" + prev in routes:
                    asked.update(i for i, q in zip(ids, prevs) if q == prev)
            if asked:
                for pid in ids:  # (in arrival order, as before)
                    frame = p.cache.get(pid) if pid in asked else None
                    if frame is not None:
                        self._answer_routes(decode(frame, pid), frame)
        if len(self.wanted):
            for pid in self.wanted.present(ids):
                self.wanted.pop(pid)
        seen = self.delivered
        # The common case, a batch of new messages whose predecessors were all delivered
        # before it or earlier in it (one emit_many batch shares one previousId; the next
        # names its last message): judged and remembered in one C call (delivered.py
        # add_ready), no Python per message. Otherwise message by message below.
        if seen.add_ready(ids, prevs, self._holding()):
            self._deliver_columns(columns, keyed, now, range(len(ids)))
            return
        kept: list[int] = []
        batch_ids: set[bytes] | None = None
        ready = ZERO32  # the last previousId found delivered (neighbours share the object)
        for k in range(n):
            mid = ids[k]
            if mid in seen:
                p.count("deliver.duplicate")
                continue
            prev = prevs[k]
            if prev is not ready:
                if self._must_wait(prev):
                    if batch_ids is None:
                        batch_ids = set(ids)
                    # (a predecessor later in this batch releases it below: no QUERY for it)
                    self._hold(Delivered(keyed[subs if type(subs) is int else subs[k]], mid,
                                         payloads[k], authors[k], clocks[k], prev, hops[k]),
                               now, ask=prev not in batch_ids)
                    continue
                ready = prev
            seen.add(mid)
            kept.append(k)
        if kept:
            self._deliver_columns(columns, keyed, now, kept)

    def _deliver_columns(self, columns: tuple[Any, ...], keyed: list[bytes], now: float,
                         kept: Sequence[int]) -> None:
        """One DeliveredBatch event per subcluster for the messages ``kept`` (indexes into
        the columns), announced (lazy push, acknowledgement), then what waited for them."""
        subs, ids, payloads, authors, prevs, clocks, hops = columns
        p = self.p
        p.count("deliver.messages", len(kept))
        if type(subs) is int:
            groups = [(subs, kept)]
        else:
            groups = [(s, [k for k in kept if subs[k] == s])
                      for s in sorted({subs[k] for k in kept})]
        for sub, group in groups:
            if len(group) == len(ids):  # all of them: the columns as they are
                p.announce.delivered(keyed[sub], ids, now, authors)  # (recorded next tick)
                p.emit(delivered_batch(keyed[sub], ids, payloads, authors, clocks, prevs, hops))
                continue
            p.announce.delivered(keyed[sub], [ids[k] for k in group], now,
                                 [authors[k] for k in group])
            p.emit(delivered_batch(keyed[sub], [ids[k] for k in group],
                                   [payloads[k] for k in group], [authors[k] for k in group],
                                   [clocks[k] for k in group], [prevs[k] for k in group],
                                   [hops[k] for k in group]))
        if self.held:  # messages that waited for one of these
            for k in kept:
                for event in self._release(ids[k]):
                    self._emit(event, now)

    def _classify(self, pid: bytes, datagram: bytes) -> bool | None:
        """None for a copy seen before or the very copy we hold; else whether it is a variant:
        the cache holds another copy of this packetId whose immutable header differs (SPEC
        9.1). The copy we hold is not marked seen here: the C data plane may have cached it in
        this same batch, and its UP_DELIVER item (on_cached) still has to deliver it."""
        key = _copy_key(pid, datagram)
        if key in self.seen:
            return None
        cached = self.p.cache.get(pid)
        if cached is not None and _copy_key(pid, cached) == key:
            return None
        self.seen.add(key)
        if cached is None:
            return False
        self.p.count("publish.variant")
        return True

    def _evict_copy(self, pid: bytes, key: bytes) -> None:
        """Drop the cached copy of ``pid`` if it is the copy named by ``key``."""
        cached = self.p.cache.get(pid)
        if cached is not None and _copy_key(pid, cached) == key:
            self.p.cache.remove(pid)
            self.p.count("publish.forged_evicted")

    def _subscription(self, f: Frame) -> "Subscription | None":
        sub = self.p.membership.subs.get(f.to)
        if sub is None or sub.tag != f.cluster:
            return None
        return sub

    def _deliver_frame(self, sub: "Subscription", f: Frame, now: float, *, variant: bool = False,
                       source: object = SELF_SOURCE) -> bool:
        """Open one frame as it arrives, then reassemble; False when it does not open.

        Opening before reassembly means the reassembler only ever holds authenticated
        frames, and a copy whose header a relay altered (it fails the AEAD, whose additional
        data is that header) is found at once: we evict it from our cache if it is the copy
        we hold, and a genuine copy arriving later is accepted (SPEC 9.1). A genuine variant
        (it opens, though the cache holds another copy) replaces the cached one."""
        p = self.p
        pid = f.packet_id
        try:
            plain = open_frame(sub.key, f.raw)
        except CryptoError:
            p.count("drop.open")
            key = _copy_key(pid, f.raw)
            self.forged.add(key)
            self._evict_copy(pid, key)
            return False
        if variant and p.cache.replace(f.raw, pid, source=source, now=now, member=True):
            p.count("publish.variant_adopted")
        self.wanted.pop(pid)
        arrived = not self.reassembler.holds(pid)  # (not a re-arrival of a buffered fragment)
        done = self.reassembler.offer(f, now)
        if not done and arrived and self.reassembler.holds(pid):
            self._plain[pid] = plain
        for message in done:  # (several: a forged head may share the real one's chain)
            self._deliver_message(sub, message, pid, plain, now)
        return True

    def _deliver_message(self, sub: "Subscription", message: Message, pid: bytes,
                         mine: bytes, now: float) -> None:
        """A reassembled message (``mine``: the plaintext of its frame ``pid`` that just
        arrived): verify its author envelope, then deliver it in causal order."""
        p = self.p
        try:
            plain = b"".join(mine if fr.packet_id == pid else self._opened(sub, fr)
                             for fr in message.frames)
        except CryptoError:
            p.count("drop.open")
            return
        head = message.frames[0]
        # header_context() from fields a decoded frame already guarantees (16 + 32 + 32 bytes,
        # uint32 clock): the same 84 bytes without its argument checks (per message).
        ctx = head.cluster + head.to + head.previous_id + head.clock.to_bytes(4, "big")
        try:
            author, payload = self.verifier.open(plain, ctx)
        except CryptoError:
            p.count("drop.forged")
            return
        event = Delivered(sub.subcluster_id, message.id, payload, author, head.clock,
                          message.previous_id, head.hops)
        if self._must_wait(message.previous_id):
            self._hold(event, now)
            return
        self._emit(event, now)

    # ------------------------------------------------------------ ordered delivery (SPEC 6)
    def _holding(self) -> bool:
        """Messages wait for their predecessor at all: ordering on, and room to hold."""
        cfg = self.p.config
        return cfg.order_wait > 0 and len(self.held_ids) < cfg.order_held

    def _must_wait(self, prev: bytes) -> bool:
        """Hold a message whose predecessor is not delivered yet (while there is room)."""
        return prev != ZERO32 and prev not in self.delivered and self._holding()

    def _hold(self, event: Delivered, now: float, ask: bool = True) -> None:
        """Keep ``event`` until its predecessor is delivered or order_wait passes; ``ask``:
        QUERY for the predecessor."""
        if event.message_id in self.held_ids:  # (met again, e.g. opened from the cache)
            return
        self.held.setdefault(event.previous_id, []).append(
            _Held(event.subcluster_id, event, now + self.p.config.order_wait))
        self.held_ids.add(event.message_id)
        if ask:
            self.want(event.previous_id, now, delay=self.p.config.announce_wait)
        self.p.count("deliver.held")

    def _release(self, message_id: bytes) -> list[Delivered]:
        """The held messages that waited for ``message_id``, now free to go."""
        waiting = self.held.pop(message_id, None)
        if not waiting:
            return []
        self.held_ids.difference_update(h.event.message_id for h in waiting)
        return [h.event for h in waiting]

    def _opened(self, sub: "Subscription", fr: Frame) -> bytes:
        plain = self._plain.pop(fr.packet_id)
        return plain if plain is not None else open_frame(sub.key, fr.raw)

    def _emit(self, event: Delivered, now: float) -> None:
        # Deliver, then whatever waited for it, in causal order. Iterative: a long held chain
        # must not hit the recursion limit.
        todo = [event]
        while todo:
            ev = todo.pop()
            if ev.message_id in self.delivered:
                continue
            self.delivered.add(ev.message_id)
            self.p.emit(ev)
            self.p.count("deliver.messages")
            self.p.announce.fresh(ev.subcluster_id, (ev.message_id,), now, (ev.author,))
            todo.extend(reversed(self._release(ev.message_id)))

    # ------------------------------------------------------------ expiry, timers
    def tick(self, now: float) -> None:
        p, cfg = self.p, self.p.config
        # Expiry (SPEC 6): frames with postage left go to FANOUT random peers one last time.
        expired = p.cache.expire(now)
        if expired:
            peers = p.table.peers()
            for frame in expired:
                for peer in p.rng.sample(peers, min(len(peers), cfg.fanout)):
                    p.send_to(peer, frame)
                    p.count("expiry.rebroadcast")
        self.routes.expire(now)
        self.reassembler.expire(now)
        # Opened fragments of what the reassembler let go (expired, evicted) go with it: the
        # cache tracks its table (SPEC 9.4). Left to the LRU, they filled it over a peer's
        # life (the soak, docs/SECURITY.md section 11).
        if len(self._plain):
            holds = self.reassembler.holds
            for pid in [k for k in self._plain.keys() if not holds(k)]:
                self._plain.pop(pid)
        for pid in self.reassembler.missing()[:cfg.query_max_per_tick]:
            self.want(pid, now)
        sent = 0
        for pid, state in self.wanted.items():
            if sent >= cfg.query_max_per_tick:
                break
            if now - state[0] >= cfg.query_retry and state[1] < 3:
                state[0], state[1] = now, state[1] + 1
                self._send_query(pid, now)
                sent += 1
        self.wanted.expire(now)
        self._expire_held(now)

    def _expire_held(self, now: float) -> None:
        """Deliver held messages whose predecessor never came (order_wait passed). Roots
        first: a due message whose predecessor is itself held goes out right after it (via
        _emit -> _release), in causal order. _emit pops what it releases, so an entry listed
        as due may be gone by its turn (issue 11: popping it again raised KeyError and cut the
        maintenance pass short)."""
        due = [k for k, v in self.held.items() if any(h.deadline <= now for h in v)]
        if not due:
            return
        held_ids = self.held_ids
        due.sort(key=lambda prev: prev in held_ids)  # stable: roots keep arrival order
        for prev in due:
            waiting = self.held.pop(prev, None)
            if waiting is None:
                continue
            for h in waiting:
                if h.deadline <= now:
                    held_ids.discard(h.event.message_id)
                    self._emit(h.event, now)
                else:
                    self.held.setdefault(prev, []).append(h)
