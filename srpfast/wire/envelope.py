"""The application-event envelope inside a sealed PUBLISH or STREAM message:
``name length (1) ‖ name (UTF-8, 1..255 bytes) ‖ kind (1: 0 bytes, 1 JSON) ‖ value``
(docs/PROTOCOL.md, "Application events"). ``encode_event`` / ``decode_event`` one at a time;
``decode_events`` a delivered batch at once, its loop in C (srpfast/wire/_events.pyx).

Events published together (one emit_many call, the emit() calls of one loop turn) are
*packed*: ``0x00 ‖ (u32 length ‖ event)+`` in one PUBLISH message of at most ``limit`` bytes
(``pack_events``), so small values share frames instead of taking a 1158-byte frame each, and
a 1 KB value costs ~1.1 frames instead of 2. A name length is never 0, so the first byte tells
a packed message from a single event.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable

from srpfast.wire._events import decode_events as _decode_events
from srpfast.wire._events import pack_events as _pack_events
from srpfast.wire._events import pack_values as _pack_values
from srpfast.errors import ArgumentError, ArgumentTypeError, MalformedPacket

KIND_BYTES, KIND_JSON = 0, 1


def check_event_name(name: object) -> str:
    """``name`` if it is a usable event name (a str of 1..255 UTF-8 bytes), else
    ArgumentError saying so."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"event name {name!r}: must be a str (1..255 bytes of UTF-8), "
                                f"got {type(name).__name__}, such as 'hello'")
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        size = 0
    if not 1 <= size <= 255:
        raise ArgumentError(f"event name {name[:40]!r}: must be 1..255 bytes of UTF-8, got "
                            f"{size}; pick a short non-empty name such as 'hello'")
    return name


@lru_cache(maxsize=1024)
def _cached_heads(name: str) -> tuple[bytes, bytes]:
    raw_name = check_event_name(name).encode()
    head = bytes([len(raw_name)]) + raw_name
    return head + bytes([KIND_BYTES]), head + bytes([KIND_JSON])


def _heads(name: str) -> tuple[bytes, bytes]:
    """The event's bytes before its value, for a bytes value and for a JSON one: checked
    and encoded once per name (an emit() loop names the same few events over and over).
    Only a str is a cache key: anything else is refused by check_event_name (unhashable
    ones included) with its own message."""
    return _cached_heads(name) if type(name) is str else _cached_heads(check_event_name(name))


def encode_event(name: str, value: Any) -> bytes:
    head_bytes, head_json = _heads(name)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return head_bytes + value
    return head_json + _json_body(name, value)


def encode_events(name: str, values: Iterable[Any]) -> list[bytes]:
    """``[encode_event(name, v) for v in values]``, the name checked and encoded once."""
    head_bytes, head_json = _heads(name)
    return [head_bytes + v if isinstance(v, (bytes, bytearray, memoryview))
            else head_json + _json_body(name, v) for v in values]


def _json_body(name: str, value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"value of event {name!r} is neither bytes nor JSON-serialisable "
                            f"({exc}): pass bytes, or convert it to dicts, lists, str, numbers, "
                            f"bools and None") from None


def pack_events(events: list[bytes], limit: int) -> tuple[list[bytes], list[int]]:
    """Events (encoded, in order) -> (message payloads, the payload index of each event).
    Consecutive events share a packed payload (``0x00 ‖ (u32 length ‖ event)+``) while it
    stays within ``limit`` bytes; an event that fits no pack with others (or has none beside
    it) is its own payload, unchanged. The copying runs in C (srpfast/wire/_events.pyx)."""
    return _pack_events(events, limit)


def pack_values(name: str, values: Iterable[Any], limit: int) -> tuple[list[bytes], list[int]]:
    """``pack_events(encode_events(name, values), limit)``: for values that are all bytes
    (emit_many's bulk case) the events are packed straight from the values in C, without
    building each ``head ‖ value`` first."""
    vals = values if type(values) is list else list(values)
    head_bytes, _ = _heads(name)
    packed = _pack_values(head_bytes, vals, limit)
    if packed is not None:
        return packed
    return _pack_events(encode_events(name, vals), limit)


_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads ends in (_events.pyx)


def decode_event(payload: bytes) -> tuple[str, Any]:
    try:
        n = payload[0]
        name = payload[1:1 + n].decode()
        kind = payload[1 + n]
        body = payload[2 + n:]
        if n == 0:
            raise ValueError("empty name")
        if kind == KIND_BYTES:
            return name, bytes(body)
        if kind == KIND_JSON:  # UTF-8 text (RFC 8259 8.1), as decode_events reads it
            return name, json.loads(bytes(body).decode())
        raise ValueError(f"kind {kind}")
    except (IndexError, ValueError, RecursionError) as exc:
        raise MalformedPacket("event", str(exc)) from None


def decode_events(payloads: list[bytes]) -> tuple[dict[str, tuple[list[int], list[Any]]], int]:
    """Decode many event payloads at once: ({name: (positions, values)}, undecodable count).
    The same format and results as decode_event, grouped by name in arrival order; the loop
    runs in C (srpfast/wire/_events.pyx)."""
    raw_groups, bad = _decode_events(payloads, _scan_json, json.loads)
    out = {}
    for raw, group in raw_groups.items():
        try:
            out[raw.decode()] = group
        except UnicodeDecodeError:
            bad += len(group[0])
    return out, bad
