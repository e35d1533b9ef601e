"""The application event codec (api.py, docs/PROTOCOL.md "Application events"): the batch
decoder (srpfast/wire/_events.pyx) agrees with the single decoder on every input, valid or not,
packed payloads included; pack_events packs what fits and decodes back to the same events."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.subcluster import Meta, Metas
from srpfast.wire.envelope import decode_event, decode_events, encode_event
from srpfast.control.events import DeliveredBatch
from srpfast.errors import MalformedPacket
from srpfast.wire.envelope import encode_events, pack_events, pack_values

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)
names = st.sampled_from(["a", "tick", "é", "x" * 255])
events = st.tuples(names, json_values | st.binary(max_size=40)).map(
    lambda nv: encode_event(*nv))
garbage = st.binary(max_size=60) | st.sampled_from([
    b"", b"\x00", b"\x01a", b"\x01a\x02", b"\x01a\x01", b"\x01a\x01 7 ", b"\x01a\x01[1",
    b"\x01a\x01\xff", b"\x01\xff\x01" + b"1", b"\x01a\x01" + b"[" * 600 + b"]" * 600,
    b"\x01a\x011 2", b"\x01a\x01\"\\ud800\""])


def single(payload: bytes):
    try:
        return decode_event(payload)
    except MalformedPacket:
        return None


def packed(parts: list[bytes], cut: int = 0) -> bytes:
    body = b"\x00" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return body[:len(body) - cut]


def unpack(payload: bytes) -> tuple[list[bytes], int]:
    """The reference reading of a packed payload: (events, 1 if it ends malformed)."""
    out, at = [], 1
    if len(payload) == 1:
        return out, 1
    while at < len(payload):
        if len(payload) - at < 4:
            return out, 1
        m = int.from_bytes(payload[at:at + 4], "big")
        at += 4
        if m > len(payload) - at:
            return out, 1
        out.append(payload[at:at + m])
        at += m
    return out, 0


packs = st.tuples(st.lists(events | garbage, min_size=0, max_size=5),
                  st.integers(0, 3)).map(lambda pc: packed(*pc))


@settings(max_examples=400, deadline=None)
@given(st.lists(events | garbage | packs, max_size=20))
def test_batch_decoding_agrees_with_one_at_a_time(payloads: list[bytes]) -> None:
    groups, bad = decode_events(payloads)
    expected: dict[str, tuple[list[int], list]] = {}
    nbad = 0
    for k, payload in enumerate(payloads):
        inner, broken = unpack(payload) if payload[:1] == b"\x00" else ([payload], 0)
        nbad += broken
        for event in inner:
            got = single(event)
            if got is None:
                nbad += 1
                continue
            ks, vs = expected.setdefault(got[0], ([], []))
            ks.append(k)
            vs.append(got[1])
    assert bad == nbad
    assert {n: (ks, json.dumps(vs, default=repr)) for n, (ks, vs) in groups.items()} == \
        {n: (ks, json.dumps(vs, default=repr)) for n, (ks, vs) in expected.items()}


def test_metas_are_built_when_indexed() -> None:
    batch = DeliveredBatch(b"\x01" * 32, [b"\x02" * 32, b"\x03" * 32], [b"p", b"q"],
                           [b"\x04" * 32] * 2, [7, 8], [b"\x00" * 32] * 2, [0, 1])
    metas = Metas(batch, [1])
    assert len(metas) == 1
    assert metas[0] == Meta(b"\x04" * 32, b"\x03" * 32, 8, b"\x00" * 32, 1, b"\x01" * 32)
    assert metas[-1] == metas[0] and metas[:] == [metas[0]] and list(metas) == [metas[0]]


def test_message_handlers_see_arrival_order_across_names_and_batch_handlers_copies() -> None:
    from srpfast.api import Subcluster
    sub = Subcluster(None, b"\x01" * 32)  # type: ignore[arg-type]
    seen: list[tuple] = []
    sub.on("a", lambda v, m: seen.append(("a", v, m.clock)))
    sub.on("b", lambda v, m: seen.append(("b", v, m.clock)))
    got: list[list] = []
    sub.on_batch("a", lambda values, metas: values.clear())  # edits its own copy only
    sub.on_batch("a", lambda values, metas: got.append((values, [m.clock for m in metas])))
    payloads = [encode_event("a", 1), encode_event("b", 2), encode_event("a", 3)]
    batch = DeliveredBatch(b"\x01" * 32, [bytes([i]) * 32 for i in range(3)], payloads,
                           [b"\x04" * 32] * 3, [10, 11, 12], [b"\x00" * 32] * 3, [0, 0, 0])
    groups, bad = decode_events(payloads)
    sub._deliver_groups(groups, batch)
    assert bad == 0 and seen == [("a", 1, 10), ("b", 2, 11), ("a", 3, 12)]
    assert got == [([1, 3], [10, 12])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=40), st.integers(50, 9000))
def test_pack_events_fills_packs_up_to_the_limit_and_decodes_back_in_order(
        values: list[bytes], limit: int) -> None:
    evs = [encode_event("v", v) for v in values]
    payloads, owner = pack_events(evs, limit)
    assert len(owner) == len(evs) and owner == sorted(owner)
    assert set(owner) == set(range(len(payloads)))
    for i, payload in enumerate(payloads):
        mine = [e for e, o in zip(evs, owner) if o == i]
        if len(mine) == 1:
            assert payload == mine[0]  # alone: unchanged, no packing overhead
        else:
            assert len(payload) <= limit and payload[0] == 0
        # no room was wasted: the next payload's first event did not fit this one
        if i + 1 < len(payloads) and payload[0] == 0:
            first_next = evs[owner.index(i + 1)]
            assert len(payload) + 4 + len(first_next) > limit
    groups, bad = decode_events(payloads)
    assert bad == 0
    if evs:
        ks, vs = groups["v"]
        assert vs == values and ks == owner


def test_a_1kb_value_packs_fourteen_to_a_message_of_sixteen_frames() -> None:
    from srpfast.crypto.sealing import MAX_BATCH, envelope_overhead
    from srpfast.publishing import PACK_BYTES, PACK_FRAMES
    from srpfast.wire.fragments import SEALED_CHUNK
    assert PACK_FRAMES == 16
    payloads, owner = pack_events([encode_event("v", bytes(1024))] * 256, PACK_BYTES)
    assert max(owner.count(i) for i in set(owner)) == 14
    assert len(payloads) == 19  # 18 x 14 + 4
    assert all(len(p) + envelope_overhead(MAX_BATCH) <= PACK_FRAMES * SEALED_CHUNK
               for p in payloads)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=40), st.integers(50, 9000),
       st.sampled_from(["v", "a longer event name"]))
def test_pack_values_is_pack_events_of_the_encoded_events(
        values: list[bytes], limit: int, name: str) -> None:
    """emit_many's path packs bytes values without building head ‖ value first: the same
    payloads and owners, byte for byte, as encoding then packing."""
    assert pack_values(name, values, limit) == pack_events(encode_events(name, values), limit)
    assert pack_values(name, iter(values), limit) == pack_events(encode_events(name, values),
                                                                 limit)


def test_pack_values_encodes_first_when_a_value_is_not_bytes() -> None:
    for values in ([b"x", {"json": 1}, b"y"], [bytearray(b"ab"), b"c"], [memoryview(b"mv")],
                   [1, 2, 3]):
        assert pack_values("v", values, 500) == pack_events(encode_events("v", values), 500)


@pytest.mark.parametrize("text", [
    "0", "-0", "7", "-7", "100000", "123456789012345678", "-123456789012345678",
    "1234567890123456789", "-9223372036854775809", "1.0", "1e3", "-1.5", "true", "null",
    "01", "-01", "+1", "00", "-", "", " 1", "1 ", "1x", "[1]", '"1"'])
def test_json_integer_values_decode_as_json_loads_does(text: str) -> None:
    """JSON integers are parsed in C (wire/_events.pyx _json_int); every other text, and every
    text that is not JSON, goes to the json module exactly as before: same value, same type,
    same undecodable count."""
    payload = b"\x04tick\x01" + text.encode()
    groups, bad = decode_events([payload, payload])
    try:
        want = json.loads(text)
    except ValueError:
        assert bad == 2 and groups == {}
        return
    assert bad == 0
    got = groups["tick"][1]
    assert got == [want, want] and all(type(v) is type(want) for v in got)
