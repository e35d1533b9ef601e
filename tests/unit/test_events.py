"""The application event codec (api.py, docs/PROTOCOL.md "Application events"): the batch
decoder (srpfast/wire/_events.pyx) agrees with the single decoder on every input, valid or not."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.api import Meta, Metas, decode_event, decode_events, encode_event
from srpfast.control.events import DeliveredBatch
from srpfast.errors import MalformedPacket

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


@settings(max_examples=400, deadline=None)
@given(st.lists(events | garbage, max_size=20))
def test_batch_decoding_agrees_with_one_at_a_time(payloads: list[bytes]) -> None:
    groups, bad = decode_events(payloads)
    expected: dict[str, tuple[list[int], list]] = {}
    nbad = 0
    for k, payload in enumerate(payloads):
        got = single(payload)
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
