"""A pure-Python frame codec (struct + hashlib): the baseline srpfast's C codec must beat.

Written as a competent Python programmer would: one struct.unpack_from for the header, a
bytes comparison for the padding, hashlib for the packetId. It lives in bench/, never in
the package."""
from __future__ import annotations

import hashlib
import struct

HEADER = struct.Struct(">4sBBBBIHHIBB16s32s32s32s")
ZERO_PAD = bytes(1024)


def decode(d: bytes):
    if len(d) != 1158:
        raise ValueError("size")
    (magic, type_, version, hops, flags, clock, index, length, ttl, postage, _reserved,
     cluster, to, previous_id, next_id) = HEADER.unpack_from(d)
    if magic != b"SRP\x00":
        raise ValueError("magic")
    if not 1 <= type_ <= 9:
        raise ValueError("type")
    if version != 1:
        raise ValueError("version")
    if flags & ~3:
        raise ValueError("flags")
    if length > 1024:
        raise ValueError("length")
    if d[134 + length:] != ZERO_PAD[:1024 - length]:
        raise ValueError("padding")
    message = d[134:134 + length]
    packet_id = hashlib.sha256(previous_id + message + next_id).digest()
    return (type_, version, hops, flags, clock, index, length, ttl, postage, cluster, to,
            previous_id, next_id, message, packet_id)


def encode(type_: int, message: bytes, previous_id: bytes = bytes(32), next_id: bytes = bytes(32),
           clock: int = 0, index: int = 0, hops: int = 0, flags: int = 0, ttl: int = 21600,
           postage: int = 8, cluster: bytes = bytes(16), to: bytes = bytes(32)) -> bytes:
    return (HEADER.pack(b"SRP\x00", type_, 1, hops, flags, clock, index, len(message), ttl,
                        postage, 0, cluster, to, previous_id, next_id)
            + message + ZERO_PAD[:1024 - len(message)])
