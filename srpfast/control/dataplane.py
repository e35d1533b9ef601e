"""Pushing the control plane's decisions down to the C data plane (ARCHITECTURE: "a PUBLISH
that only needs relaying never enters Python").

A driver that owns a ``srpfast.dataplane._dataplane.DataPlane`` built on this peer's cache calls
``peer.attach_dataplane(dp, resolve=sock.resolve, key=...)``. From then on the engine pushes,
whenever they change and at every maintenance tick (weights move with distance and uptime):

- the forwarding candidates: every peer reachable from the main socket (peers on a kept BDP
  pool socket are not: the data plane sends from the main socket only; they still receive
  what the control plane sends and catch up by SYNC), with its packed sockaddr, its source
  key (to exclude the sender), its weight and whether it is Hard;
- whether we are Hard (a Hard peer never picks Hard peers, SPEC 6);
- the cluster tags and subcluster ids we hold keys for (so the data plane hands those up).

Either the driver passes each srpfast.drivers._udp.RecvBatch itself to ``peer.receive_batch`` (the
engine runs ``dp.process`` on it, queues the relayed frames, grouped by next hop, for
``peer.prepared_to_send()`` -> the driver's GSO / ``sock.send_prepared`` and handles what is
handed up), or it runs ``dp.process`` itself,
sends ``out_frames`` to ``out_addrs``, and passes UP_CONTROL items to ``peer.receive``,
UP_DELIVER items (already validated, cached and forwarded) to ``peer.receive_delivered`` and
UP_VARIANT items (forwarded, not cached: SPEC 9.1) to ``peer.receive_delivered(...,
variant=True)``.

The subcluster keys go down too (``DataPlane.set_keys``): a whole message in one frame for
one of our subclusters is then opened and verified in C (csrc/deliver.c) and reaches the
engine as a column of ``DataPlane.messages()`` (``Replication.on_messages``: one
DeliveredBatch event per subcluster), not as an UP_DELIVER item. Fragments, variants and
frames that fail in C still come up one by one, to the code that evicts and counts them.
"""
from __future__ import annotations

from array import array
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable

from srpfast.config import REPLICATION_POLICIES
from srpfast.control.batch import queue_wait
from srpfast.control.carry import FragmentCarry
from srpfast.dataplane._dataplane import MAX_KEYED_SUBCLUSTERS, UP_CONTROL, UP_VARIANT
from srpfast.drivers._udp import address_key
from srpfast.errors import ArgumentError
from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.wire.bodies import NAT_HARD

if TYPE_CHECKING:
    from srpfast.control.engine import Peer
    from srpfast.control.peers import PeerEntry

# The sender key of a (host, port): one definition, in C (srp_udp_addr_key), shared with
# RecvBatch.keys so the data plane recognises a sender by the key it was handed.
udp_address_key = address_key


def rate_key(address: Address) -> object:
    """The rate limiter's key for a sender: its UDP key, so the per-frame path and the data
    plane's batch path drain the same bucket (SPEC 9.6)."""
    try:
        return udp_address_key(address)
    except (TypeError, ValueError):  # not a numeric address (a test harness's names)
        return address


class DataPlaneLink:
    def __init__(self, peer: "Peer", dataplane: Any, resolve: Callable[[Address], bytes],
                 key: Callable[[Address], int]) -> None:
        if getattr(dataplane, "cache", None) is not peer.cache:
            raise ArgumentError("the data plane must be built on this peer's cache: "
                                "DataPlane(peer.cache, fanout=..., max_hops=...)")
        self.p = peer
        self.dp = dataplane
        self.resolve = resolve
        self.key = key
        self._shape: tuple[object, ...] | None = None
        # Subcluster ids in the order of the data plane's key table (DataPlane.set_keys):
        # DataPlane.messages() names a message's subcluster by its index here.
        self.keyed: list[bytes] = []
        self._resolved: dict[Address, bytes] = {}
        # (table version, candidates, their packed sockaddrs, their keys): push()
        self._candidates: tuple[int, list[PeerEntry], bytes, array[int]] | None = None
        self._membership: tuple[object, ...] | None = None  # what set_membership/keys got
        self.carry = FragmentCarry(peer, dataplane)  # fragments across batches (carry.py)
        # process() takes the fragments it could not assemble out of the hand-up list, for
        # the carry (DataPlane.fragments): no Python per fragment
        dataplane.carry_fragments = True
        cfg = peer.config
        if cfg.replication != "weighted":  # a simulation knob (config.py): same rule as ours
            dataplane.set_policy(REPLICATION_POLICIES.index(cfg.replication), cfg.spray_depth)

    def set_resolve(self, resolve: Callable[[Address], bytes]) -> None:
        self.resolve = resolve
        self._resolved.clear()
        self._candidates = None

    def push(self, now: float, *, force: bool = False) -> None:
        """Push candidates, our NAT class and membership if anything changed (or force)."""
        p = self.p
        subs = tuple(sorted(p.membership.subs))
        shape = (p.table.version, p.reflection.mapping, subs)
        if shape == self._shape and not force:
            return
        self._shape = shape
        # Who the candidates are, their sockaddrs and keys change only with the table's
        # version (an add, a remove, a new address or pool route); their weights and Hard
        # flags (a NAT class learnt from a PING or JOIN) are read again at every push. A
        # forced push (every WEIGHTS_REFRESH s, engine.py) rebuilt all of it: ~3% of a
        # simulated peer's CPU, the same arrays.
        cand = self._candidates
        if cand is None or cand[0] != p.table.version:
            peers = [q for q in p.table.peers() if q.pool is None]
            packing = bytearray()
            for q in peers:
                packed = self._resolved.get(q.address)
                if packed is None:
                    packed = self.resolve(q.address)
                    if len(self._resolved) > 4 * p.config.max_peers:
                        self._resolved.clear()
                    self._resolved[q.address] = packed
                packing += packed
            cand = self._candidates = (p.table.version, peers, bytes(packing),
                                       array("Q", [self.key(q.address) for q in peers]))
        _, peers, addrs, keys = cand
        self.dp.set_peers(addrs, keys, array("d", [q.weight(now) for q in peers]),
                          bytes([1 if q.mapping == NAT_HARD else 0 for q in peers]))
        self.dp.set_self_hard(p.reflection.mapping == NAT_HARD)
        # Keys for C delivery (csrc/deliver.c): whole messages of these subclusters are
        # opened and verified in C; the rest still comes up as UP_DELIVER / UP_VARIANT.
        held = [p.membership.subs[s] for s in subs]
        membership = tuple((k.subcluster_id, k.tag, k.key) for k in held)
        if membership != self._membership:  # (set again only when it changed)
            self._membership = membership
            keyed = held[:MAX_KEYED_SUBCLUSTERS]
            tags = sorted({k.tag for k in held})
            self.dp.set_membership(tags, list(subs))
            self.dp.set_keys([k.subcluster_id for k in keyed], [k.tag for k in keyed],
                             [k.key for k in keyed])
            self.keyed = [k.subcluster_id for k in keyed]
        p.count("dataplane.pushes")

    def receive(self, batch: Any, now: float) -> bool:
        """Run a receive batch (a srpfast.drivers._udp.RecvBatch: data, lens, keys, slot, frame(i),
        address(i)) through the data plane. Returns False, having done nothing, when the batch
        does not fit (the caller then takes the per-datagram path).

        Rate limits (SPEC 9.6) are charged here, per sender, from the same buckets as the
        per-datagram path (one token per datagram): a sender over its limit has its excess
        datagrams dropped in C (``drop`` mask, counted ``drop.rate``) while everyone else in
        the batch stays on the C path. An attacker cannot push a batch off it on purpose."""
        p, dp = self.p, self.dp
        count = len(batch)
        if count == 0 or count > dp.max_batch or batch.slot < C.PACKET_BYTES:
            return False
        keys = batch.keys
        first = keys[0]
        rate = p.budgets
        drop = None
        # One sender per batch is the common case under load: one bucket, no Counter, and
        # no Python int per datagram (the keys' bytes compared in C).
        raw = keys.tobytes()
        one_sender = raw == raw[:8] * count
        if one_sender:
            granted = rate.take(first, now, count)
            if granted < count:  # its first `granted` datagrams pass, as one by one
                drop = bytearray(granted) + b"\x01" * (count - granted)
        else:
            senders = keys.tolist()
            over = {}
            for key, n in Counter(senders).items():
                granted = rate.take(key, now, n)
                if granted < n:
                    over[key] = granted
            if over:
                drop = bytearray(count)
                for i, key in enumerate(senders):
                    left = over.get(key)
                    if left is not None:
                        if left:
                            over[key] = left - 1
                        else:
                            drop[i] = 1
        p.count("rx", count)
        n_out = dp.process(batch.data, count, lens=batch.lens, keys=keys, now=now,
                           stride=batch.slot, drop=drop)
        if drop is not None:
            p.count("drop.rate", sum(drop))
        if dp.n_hops:
            p.count("drop.hops", dp.n_hops)  # the same rule and name as Peer._receive
        if n_out:
            # (views: the next batch overwrites them, engine.py relay_views)
            views = p.relay_views
            frames, addrs = dp.out_frames, dp.out_addrs
            p.queue_relayed(frames if views else bytes(frames), addrs if views else bytes(addrs),
                            dp.runs())
            p.count("tx", n_out)
        whole = dp.messages() if dp.n_msgs else None
        carry = self.carry
        if dp.n_frags:  # fragments whose message may complete in a later batch
            frames, ids, items = dp.fragments()
            carry.keep_many(frames, ids, [batch.address(items[0])] * len(items)
                            if one_sender else [batch.address(i) for i in items])
        waits = batch.waits if dp.n_up else None  # (kernel receive stamps, or None)
        for j in range(dp.n_up):
            i, kind = dp.up(j)
            datagram, address = batch.frame(i), batch.address(i)
            if kind == UP_CONTROL:
                p.receive_one(datagram, address, now, rated=True, waited=queue_wait(waits, i))
            else:  # (a variant, or a whole message C did not deliver: the per-frame path)
                p.receive_delivered(datagram, address, now, kind == UP_VARIANT, dp.packet_id(i))
        # Messages completed with fragments of earlier batches are older than this batch's:
        # delivered first (an author's next message may name one as its predecessor).
        carry.deliver(self.keyed, now, whole)  # (whole: after the carried, in one call)
        return True
