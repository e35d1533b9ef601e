from collections.abc import Sequence
from typing import Any

PACKET_BYTES: int
HEADER_BYTES: int
MESSAGE_BYTES: int
VERDICT_NAMES: tuple[str, ...]

class Frame:
    type: int
    version: int
    hops: int
    flags: int
    index: int
    length: int
    postage: int
    clock: int
    ttl: int
    cluster: bytes
    to: bytes
    previous_id: bytes
    next_id: bytes
    message: bytes
    packet_id: bytes
    raw: bytes
    @property
    def more(self) -> bool: ...
    @property
    def sealed(self) -> bool: ...

def validate(datagram: Any) -> str: ...
def decode(datagram: Any, packet_id: bytes | None = None) -> Frame: ...
def packet_id(datagram: Any) -> bytes: ...
def encode(*, type: int, message: Any = ..., previous_id: bytes = ..., next_id: bytes = ...,
           clock: int = ..., index: int = ..., hops: int = ..., flags: int = ..., ttl: int = ...,
           postage: int = ..., cluster: bytes = ..., to: bytes = ...) -> bytes: ...
def encode_many(out: Any, messages: Sequence[Any], *, type: int, previous_id: bytes = ...,
                next_id: bytes = ..., clock: int = ..., index: int = ..., hops: int = ...,
                flags: int = ..., ttl: int = ..., postage: int = ..., cluster: bytes = ...,
                to: bytes = ...) -> int: ...

class BatchChecker:
    max_batch: int
    def __init__(self, max_batch: int = 64) -> None: ...
    def check(self, buf: Any, count: int, lens: Any = None, stride: int = 1158) -> int: ...
    @property
    def verdicts(self) -> memoryview: ...
    @property
    def ids(self) -> memoryview: ...
    def counters(self) -> dict[str, int]: ...
