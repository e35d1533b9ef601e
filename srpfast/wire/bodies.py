"""Binary control-message bodies (SPEC section 3), every byte documented in docs/PROTOCOL.md.

Each body is a frozen dataclass with fixed fields at fixed offsets (big-endian), versioned by
the frame header's version. ``decode_body(type, message)`` checks bounds and ranges and raises
``MalformedPacket("body", ...)``; the engine turns that into a counted drop. Bodies that claim
an identity (PING, PONG, INTRO, JOIN) end with a 64-byte Ed25519 signature over
``SIGNING_CONTEXT ‖ type ‖ cluster tag ‖ body-before-signature`` (see ``signed_bytes``) by the key
the body names; the engine verifies it before any table changes (SPEC 4, 9.2).

Every body is far below 1024 bytes, and every reply is one frame for one frame: a reply is never
larger than the request that caused it (SPEC 3, no amplification).
"""
from __future__ import annotations

import dataclasses
import functools
import ipaddress
import operator
import struct
from dataclasses import dataclass
from typing import ClassVar, Union

from srpfast.wire.constants import INTRO, JOIN, PING, PONG, QUERY, SYNC, ZERO32
from srpfast.errors import ArgumentError, MalformedPacket
from srpfast.wire.address import Address

SIGNATURE_BYTES = 64
SIGNING_CONTEXT = b"srp-body-v1"
ADDRESS_BYTES = 19  # family (4|6|0), 16 address bytes (IPv4 in the first 4), port
PROOF_BYTES = 197   # an INTRO's proof: the introduced peer's signed JOIN body (Join.size())
NO_PROOF = bytes(PROOF_BYTES)

# NAT byte: low nibble = mapping, high nibble = filtering (SPEC 5; RFC 4787 terms).
NAT_UNKNOWN, NAT_STATIC, NAT_EASY, NAT_HARD = 0, 1, 2, 3
FILTER_UNKNOWN, FILTER_OPEN, FILTER_ADDRESS, FILTER_PORT = 0, 1, 2, 3



def pack_address(address: Address | None) -> bytes:
    if address is None:
        return bytes(ADDRESS_BYTES)
    host, port = address
    if not 0 <= port <= 0xFFFF:
        raise ArgumentError(f"port {port} is outside 0..65535")
    return _packed_host(host) + port.to_bytes(2, "big")


@functools.lru_cache(maxsize=4096)
def _packed_host(host: str) -> bytes:
    """Family byte and 16 address bytes of a host string (parsing it was a few % of a
    simulated peer's CPU: every PING/PONG body carries an address; a bad host raises, and
    lru_cache keeps no result for it)."""
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return b"\x04" + ip.packed + bytes(12)
    return b"\x06" + ip.packed


def unpack_address(raw: bytes) -> Address | None:
    family, port = raw[0], int.from_bytes(raw[17:19], "big")
    if family == 0:
        if any(raw):
            raise MalformedPacket("body", "address family 0 with non-zero bytes")
        return None
    if family == 4:
        if any(raw[5:17]):
            raise MalformedPacket("body", "IPv4 address with non-zero tail")
        return (str(ipaddress.IPv4Address(raw[1:5])), port)
    if family == 6:
        ip = ipaddress.IPv6Address(raw[1:17])
        mapped = ip.ipv4_mapped
        return (str(mapped) if mapped else str(ip), port)
    raise MalformedPacket("body", f"address family {family} is not 0, 4 or 6")


# Field kinds: struct code for integers, "32s"/"8s" for ids, "A" for a 19-byte address.
_KIND = {"B": 1, "H": 2, "I": 4, "Q": 8, "16s": 16, "32s": 32, "8s": 8, "A": ADDRESS_BYTES,
         "S": SIGNATURE_BYTES, "P": PROOF_BYTES}
_RAW = ("32s", "16s", "8s", "S", "P")  # kinds kept as raw bytes


class _Codec:
    """One body class's layout as a single precompiled struct (every PING and PONG is
    encoded and decoded: a loop over fields, one struct call each, was ~5 us to encode and
    ~12 us to decode one). Addresses travel as their raw 19 bytes (``A`` -> ``19s``)."""
    __slots__ = ("struct", "size", "names", "get", "addresses", "raw", "fields_only")

    def __init__(self, cls: "type[Body]") -> None:
        layout = cls.LAYOUT
        self.struct = struct.Struct(">" + "".join(
            "%ds" % _KIND[k] if k == "A" or k in _RAW else k for _, k in layout))
        self.size = self.struct.size
        self.names = tuple(name for name, _ in layout)
        self.get = operator.attrgetter(*self.names) if len(layout) > 1 else None
        self.addresses = tuple(i for i, (_, k) in enumerate(layout) if k == "A")
        self.raw = tuple((i, _KIND[k]) for i, (_, k) in enumerate(layout) if k in _RAW)
        # Decoding fills the instance's fields directly only when the layout names all of
        # them (Sync carries more and decodes itself).
        self.fields_only = {f.name for f in dataclasses.fields(cls)} == set(self.names)


_CODECS: dict[type, _Codec] = {}


def _codec(cls: type) -> _Codec:
    c = _CODECS.get(cls)
    if c is None:
        c = _CODECS[cls] = _Codec(cls)
    return c


@functools.lru_cache(maxsize=4096)
def _unpacked_address(raw: bytes) -> Address | None:
    """unpack_address of a body's 19 bytes, cached (a PONG carries one; ipaddress is slow).
    A malformed one raises, and lru_cache keeps no result for it."""
    return unpack_address(raw)


@dataclass(frozen=True)
class Body:
    TYPE: ClassVar[int] = 0
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = ()
    SIGNED: ClassVar[bool] = False

    def encode(self) -> bytes:
        c = _codec(type(self))
        if c.get is None:
            return self._encode_fields()
        values = list(c.get(self))
        for i, n in c.raw:
            v = values[i]
            if type(v) is not bytes or len(v) != n:
                return self._encode_fields()  # (its error, or a bytearray's bytes)
        try:
            for i in c.addresses:
                values[i] = pack_address(values[i])
            return c.struct.pack(*values)
        except Exception:
            return self._encode_fields()  # the first bad field's own error, in layout order

    def _encode_fields(self) -> bytes:
        """Field by field: the reference encoding, and each bad field's error."""
        out = bytearray()
        for name, kind in self.LAYOUT:
            value = getattr(self, name)
            if kind == "A":
                out += pack_address(value)
            elif kind in _RAW:
                if not isinstance(value, (bytes, bytearray)) or len(value) != _KIND[kind]:
                    raise ArgumentError(f"{type(self).__name__}.{name} must be {_KIND[kind]} bytes")
                out += value
            else:
                try:
                    out += struct.pack(">" + kind, value)
                except struct.error as exc:
                    raise ArgumentError(f"{type(self).__name__}.{name}={value!r}: {exc}") from None
        return bytes(out)

    @classmethod
    def size(cls) -> int:
        return _codec(cls).size

    @classmethod
    def decode(cls, message: bytes) -> "Body":
        c = _codec(cls)
        if len(message) != c.size:
            raise MalformedPacket("body", f"{cls.__name__} is {c.size} bytes, got {len(message)}")
        values = list(c.struct.unpack(message))  # ("Ns" fields come out as bytes)
        for i in c.addresses:
            values[i] = _unpacked_address(values[i])
        if c.fields_only:
            # What the dataclass __init__ would store (every field given), without its
            # per-field object.__setattr__ of a frozen class.
            body = cls.__new__(cls)
            body.__dict__.update(zip(c.names, values))
        else:
            body = cls(**dict(zip(c.names, values)))
        body.check()
        return body

    def check(self) -> None:
        """Range checks beyond the layout; raise MalformedPacket("body", ...)."""

    def unsigned(self) -> bytes:
        """The encoded body without its trailing signature (what the signature covers)."""
        return self.encode()[:-SIGNATURE_BYTES] if self.SIGNED else self.encode()


def signed_bytes(type_: int, cluster_tag: bytes, unsigned_body: bytes) -> bytes:
    """What a body signature covers: binds it to the packet type and cluster, so a signed
    PONG cannot be replayed as a JOIN or into another cluster."""
    return SIGNING_CONTEXT + bytes([type_]) + cluster_tag + unsigned_body


def _check_nat(nat: int) -> None:
    if (nat & 0x0F) > NAT_HARD or (nat >> 4) > FILTER_PORT:
        raise MalformedPacket("body", f"NAT byte {nat:#04x} out of range")


# PING flags
PING_REFLECT = 0x01    # reply with the observed address (STATE_0 reflection)
PING_CONNECT = 0x02    # part of a hole punch / first contact after INTRO
PING_HEARTBEAT = 0x04  # keep-alive (STATE_0 loop)
PING_ALT_PORT = 0x08   # answer from your alternate socket (filtering test, port-restricted)
PING_PROBE = 0x10      # BDP probe from a pool socket (hard side, SPEC 5)
PING_KEYED = 0x20      # proven by the pair's session key, not a signature (handshake.py)
PING_FLAGS = 0x3F
# A PING's ``rtt_us``: the pinger's latest own ping->pong sample toward the peer it pings, in
# microseconds (0: none), so the side that does not ping gets the path's delay too
# (control/peers.py, "Distance"). A round trip over 60 s is no path (our pending pings expire
# after keep_alive, 30 s): a larger value is a malformed body, a counted drop.
PING_RTT_MAX_US = 60_000_000


@dataclass(frozen=True)
class Ping(Body):
    TYPE: ClassVar[int] = PING
    SIGNED: ClassVar[bool] = True
    LAYOUT: ClassVar = (("peer_id", "32s"), ("request_id", "Q"), ("timestamp_ms", "Q"),
                        ("nat", "B"), ("flags", "B"), ("test_port", "H"), ("uptime", "I"),
                        ("cache_count", "I"), ("cache_summary", "8s"), ("rtt_us", "I"),
                        ("signature", "S"))
    peer_id: bytes
    request_id: int
    timestamp_ms: int
    nat: int = 0
    flags: int = 0
    test_port: int = 0
    uptime: int = 0
    cache_count: int = 0
    cache_summary: bytes = bytes(8)
    rtt_us: int = 0
    signature: bytes = bytes(64)

    def check(self) -> None:
        _check_nat(self.nat)
        if self.flags & ~PING_FLAGS:
            raise MalformedPacket("body", "PING sets unknown flags")
        if self.rtt_us > PING_RTT_MAX_US:
            raise MalformedPacket("body", "PING rtt_us over 60 s")


# PONG flags
PONG_REFLECT = 0x01
PONG_CONNECT = 0x02
PONG_FROM_ALT = 0x04  # sent from the responder's alternate socket
PONG_KEYED = 0x08     # proven by the pair's session key (answers a keyed PING)
PONG_FLAGS = 0x0F
# A PONG's ``hold_us``: how long what it answers waited at the responder, in microseconds:
# in its socket's queue (the kernel's receive stamp) and its loop turn until the PONG was
# built (0 in the simulator and the memory driver, where nothing waits), which the pinger
# takes off its round trip as QUIC takes off ack_delay (control/handshake.py, "Round
# trips"). The same 60 s bound as PING rtt_us.
PONG_HOLD_MAX_US = PING_RTT_MAX_US


@dataclass(frozen=True)
class Pong(Body):
    TYPE: ClassVar[int] = PONG
    SIGNED: ClassVar[bool] = True
    LAYOUT: ClassVar = (("peer_id", "32s"), ("request_id", "Q"), ("timestamp_ms", "Q"),
                        ("requester", "32s"), ("observed", "A"), ("nat", "B"), ("flags", "B"),
                        ("uptime", "I"), ("cache_count", "I"), ("cache_summary", "8s"),
                        ("challenge", "Q"), ("hold_us", "I"), ("signature", "S"))
    peer_id: bytes
    request_id: int
    timestamp_ms: int
    requester: bytes
    observed: Address | None
    nat: int = 0
    flags: int = 0
    uptime: int = 0
    cache_count: int = 0
    cache_summary: bytes = bytes(8)
    challenge: int = 0  # nonzero: "answer with a PONG whose request_id is this" (round trip)
    hold_us: int = 0    # how long what it answers waited here (PONG_HOLD_MAX_US)
    signature: bytes = bytes(64)

    def check(self) -> None:
        _check_nat(self.nat)
        if self.flags & ~PONG_FLAGS:
            raise MalformedPacket("body", "PONG sets unknown flags")
        if self.hold_us > PONG_HOLD_MAX_US:
            raise MalformedPacket("body", "PONG hold_us over 60 s")


@dataclass(frozen=True)
class Intro(Body):
    TYPE: ClassVar[int] = INTRO
    SIGNED: ClassVar[bool] = True
    LAYOUT: ClassVar = (("introducer", "32s"), ("peer_id", "32s"), ("address", "A"),
                        ("nat", "B"), ("timestamp_ms", "Q"), ("cluster_id", "32s"),
                        ("subcluster_id", "32s"), ("intro_id", "Q"), ("proof", "P"),
                        ("signature", "S"))
    introducer: bytes
    peer_id: bytes          # the peer being introduced
    address: Address | None  # its public address as the introducer sees it
    nat: int
    timestamp_ms: int
    cluster_id: bytes
    subcluster_id: bytes
    intro_id: int           # the same in both INTROs of a pair
    # The introduced peer's own signed, fresh request, as the introducer received it: its
    # JOIN (it asked for introductions) or its JOIN_ASK answering this intro_id. Required
    # before a BDP spray or pool toward it (SPEC 5, 9.3); NO_PROOF: plain pings only.
    proof: bytes = NO_PROOF
    signature: bytes = bytes(64)

    def check(self) -> None:
        _check_nat(self.nat)
        if self.address is None:
            raise MalformedPacket("body", "INTRO without an address")


JOIN_LEAVE = 0x01  # this JOIN announces leaving the subcluster
# This JOIN is a consent, not a membership change: "introduce me for intro `join_id`", sent
# only to the introducer of that INTRO, never relayed; it becomes the proof of the INTRO the
# introducer then sends to the other side (SPEC 5: "a peer whose key proved it asked").
JOIN_ASK = 0x02
# With ASK: its sender will not take part in a BDP for this introduction (its own SPEC 9.3
# gates refused the spray or pool), so the other side opens no pool / sprays nothing toward
# it; the relay route serves the pair (PROTOCOL.md §3, INTRO; control/traversal.py).
JOIN_NO_BDP = 0x04


@dataclass(frozen=True)
class Join(Body):
    TYPE: ClassVar[int] = JOIN
    SIGNED: ClassVar[bool] = True
    LAYOUT: ClassVar = (("peer_id", "32s"), ("cluster_id", "32s"), ("subcluster_id", "32s"),
                        ("address", "A"), ("nat", "B"), ("timestamp_ms", "Q"),
                        ("join_id", "Q"), ("flags", "B"), ("signature", "S"))
    peer_id: bytes
    cluster_id: bytes
    subcluster_id: bytes     # zero: the whole cluster
    address: Address | None  # the joiner's reflected public address, when known
    nat: int
    timestamp_ms: int
    join_id: int             # dedup key of relayed JOINs (with peer_id)
    flags: int = 0
    signature: bytes = bytes(64)

    def check(self) -> None:
        _check_nat(self.nat)
        if self.flags & ~(JOIN_LEAVE | JOIN_ASK | JOIN_NO_BDP):
            raise MalformedPacket("body", "JOIN sets unknown flags")
        if self.flags & (JOIN_LEAVE | JOIN_ASK) == JOIN_LEAVE | JOIN_ASK:
            raise MalformedPacket("body", "a JOIN cannot both leave and ask")
        if self.flags & JOIN_NO_BDP and not self.flags & JOIN_ASK:
            raise MalformedPacket("body", "NO_BDP belongs to an ASK")


assert Join.size() == PROOF_BYTES

QUERY_EXACT = 0      # the packet whose id is `wanted`
QUERY_SUCCESSOR = 1  # a packet whose previousId is `wanted` (the next message, STATE_6 "tail")


@dataclass(frozen=True)
class Query(Body):
    TYPE: ClassVar[int] = QUERY
    LAYOUT: ClassVar = (("query_id", "Q"), ("wanted", "32s"), ("mode", "B"))
    query_id: int
    wanted: bytes
    mode: int = QUERY_EXACT

    def check(self) -> None:
        if self.mode not in (QUERY_EXACT, QUERY_SUCCESSOR):
            raise MalformedPacket("body", f"QUERY mode {self.mode} unknown")
        if self.wanted == ZERO32:
            raise MalformedPacket("body", "QUERY for the zero id")


# SYNC kinds (summary tree of CACHE.md: 16-way by hex nibble)
SYNC_SUMMARY = 1  # here are my 16 child buckets under `prefix`: (count, hash) each
SYNC_IDS = 2      # here are the ids I hold under `prefix` (a small bucket)
SYNC_WANT = 3     # send me these ids (as ANSWER frames)
SYNC_HAVE = 4     # I just delivered these messages of a subcluster we share (lazy push)
SYNC_MAX_IDS = 30
SYNC_TAG_BYTES = 16
SYNC_FANOUT = 16
SYNC_MAX_DEPTH = 16


@dataclass(frozen=True)
class Sync(Body):
    """Variable part after the fixed 20 bytes: SUMMARY -> 16 x (count u32, hash 8 bytes);
    IDS/WANT/HAVE -> `count` ids of 32 bytes (count <= 30); then a 16-byte ``tag``: BLAKE2b-128
    of everything before it, keyed by the sender's pairwise session key (control/sync.py), so
    only the connected peer itself can send a SYNC that is acted on (PROTOCOL.md, SYNC)."""
    TYPE: ClassVar[int] = SYNC
    LAYOUT: ClassVar = (("sync_id", "Q"), ("kind", "B"), ("depth", "B"), ("prefix", "8s"),
                        ("count", "H"))
    sync_id: int
    kind: int
    # nibbles of `prefix` in use (0 = root); in a HAVE, whose prefix is zero: the sender's
    # connected fellow members in that subcluster, capped at 255 (0 = not said), the hint the
    # receiver's own lazy push scales by (control/announce.py, Config.announce_copies)
    depth: int
    prefix: bytes       # nibbles packed high-first, zero beyond depth
    count: int
    buckets: tuple[tuple[int, bytes], ...] = ()
    ids: tuple[bytes, ...] = ()
    tag: bytes = bytes(SYNC_TAG_BYTES)

    def untagged(self) -> bytes:
        """The bytes the tag covers (everything before it)."""
        head = super().encode()
        if self.kind == SYNC_SUMMARY:
            if len(self.buckets) != SYNC_FANOUT:
                raise ArgumentError("a SYNC summary has exactly 16 buckets")
            return head + b"".join(struct.pack(">I", c) + h for c, h in self.buckets)
        return head + b"".join(self.ids)

    def encode(self) -> bytes:
        if len(self.tag) != SYNC_TAG_BYTES:
            raise ArgumentError(f"a SYNC tag is {SYNC_TAG_BYTES} bytes")
        return self.untagged() + self.tag

    @classmethod
    def decode(cls, message: bytes) -> "Sync":
        c = _codec(cls)
        fixed = c.size
        if len(message) < fixed:
            raise MalformedPacket("body", "SYNC shorter than its fixed part")
        if len(message) < fixed + SYNC_TAG_BYTES:
            raise MalformedPacket("body", "SYNC without its tag")
        # (the layout's precompiled struct, read in place: no format lookup, no slice)
        sync_id, kind, depth, prefix, count = c.struct.unpack_from(message)
        rest, tag = message[fixed:-SYNC_TAG_BYTES], bytes(message[-SYNC_TAG_BYTES:])
        if depth > SYNC_MAX_DEPTH and kind != SYNC_HAVE:  # (a HAVE's depth: its fellow count)
            raise MalformedPacket("body", "SYNC depth beyond 16 nibbles")
        if kind == SYNC_SUMMARY:
            if count != SYNC_FANOUT or len(rest) != 12 * SYNC_FANOUT:
                raise MalformedPacket("body", "SYNC summary must carry 16 buckets")
            buckets = tuple((struct.unpack(">I", rest[i:i + 4])[0], bytes(rest[i + 4:i + 12]))
                            for i in range(0, len(rest), 12))
            return cls(sync_id, kind, depth, bytes(prefix), count, buckets=buckets, tag=tag)
        if kind in (SYNC_IDS, SYNC_WANT, SYNC_HAVE):
            if count > SYNC_MAX_IDS or len(rest) != 32 * count:
                raise MalformedPacket("body", "SYNC id list length does not match its count")
            rest = bytes(rest)  # (then each id slice is bytes already)
            # A HAVE is the commonest control frame (lazy push, announce.py): the fields
            # stored as the dataclass __init__ would, without its per-field
            # object.__setattr__ of a frozen class (as Body.decode).
            body = cls.__new__(cls)
            body.__dict__.update(sync_id=sync_id, kind=kind, depth=depth, prefix=bytes(prefix),
                                 count=count, buckets=(), tag=tag,
                                 ids=tuple([rest[i:i + 32] for i in range(0, len(rest), 32)]))
            return body
        raise MalformedPacket("body", f"SYNC kind {kind} unknown")


ControlBody = Union[Ping, Pong, Intro, Join, Query, Sync]
BODY_TYPES: dict[int, type[Body]] = {b.TYPE: b for b in (Ping, Pong, Intro, Join, Query, Sync)}


def decode_body(type_: int, message: bytes) -> Body:
    """Decode the body of a control frame of ``type_``; MalformedPacket("body") otherwise.

    ANSWER has no body of its own: an ANSWER frame is the found PUBLISH frame with its type
    byte set to ANSWER (see docs/PROTOCOL.md), so it is never decoded here."""
    cls = BODY_TYPES.get(type_)
    if cls is None:
        raise MalformedPacket("body", f"type {type_} has no control body")
    try:
        return cls.decode(message)
    except MalformedPacket:
        raise
    except (ValueError, struct.error, TypeError) as exc:  # ipaddress/struct edge cases
        raise MalformedPacket("body", str(exc)) from None


def layout_table(cls: type[Body]) -> list[tuple[int, int, str]]:
    """(offset, size, field) rows, for docs/PROTOCOL.md and its consistency test."""
    rows, at = [], 0
    for name, kind in cls.LAYOUT:
        rows.append((at, _KIND[kind], name))
        at += _KIND[kind]
    return rows

