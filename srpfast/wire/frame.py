"""The public frame API (SPEC section 2): codec, batch check, fragmentation.

    encode(*, type, message=b"", previous_id=ZERO32, next_id=ZERO32, clock=0, index=0, hops=0,
           flags=0, ttl=21600, postage=8, cluster=ZERO16, to=ZERO32) -> bytes
    decode(datagram) -> Frame            # raises MalformedPacket(reason)
    packet_id(datagram) -> bytes         # 32 bytes
    validate(datagram) -> str            # "ok" or the drop reason
    BatchChecker(max_batch).check(buf, count, lens=None, stride=1158) -> valid count
    encode_many(out, messages, *, type, ...) -> count
    split(message, previous_id, ...) -> list[bytes];  Reassembler
"""
from srpfast.wire._frame import (VERDICT_NAMES, BatchChecker, Frame, decode, encode, encode_many,
                                 packet_id, validate)
from srpfast.wire.constants import HEADER_BYTES, MESSAGE_BYTES, PACKET_BYTES, ZERO16, ZERO32
from srpfast.wire.fragments import SEALED_CHUNK, Message, Reassembler, split

__all__ = [
    "VERDICT_NAMES", "BatchChecker", "Frame", "decode", "encode", "encode_many", "packet_id",
    "validate", "HEADER_BYTES", "MESSAGE_BYTES", "PACKET_BYTES", "ZERO16", "ZERO32",
    "SEALED_CHUNK", "Message", "Reassembler", "split",
]
