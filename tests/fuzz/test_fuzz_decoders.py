"""The fuzz invariant as a bounded hypothesis run inside `make test`: every decoder either
parses or raises MalformedPacket; mutated valid frames never crash the batch checker."""
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast.wire import bodies

from srpfast.wire import frame
from srpfast.errors import MalformedPacket

VALID = frame.encode(type=5, message=b"m" * 200, previous_id=b"p" * 32, next_id=b"n" * 32)


@given(st.lists(st.tuples(st.integers(0, 1157), st.integers(1, 255)), max_size=6))
@settings(max_examples=400)
def test_mutated_frames_parse_or_malformed(flips):
    d = bytearray(VALID)
    for at, bit in flips:
        d[at] ^= bit
    checker = frame.BatchChecker(1)
    valid = checker.check(bytes(d), 1)
    try:
        f = frame.decode(bytes(d))
    except MalformedPacket as exc:
        assert valid == 0 and frame.VERDICT_NAMES[checker.verdicts[0]] == exc.reason
    else:
        assert valid == 1 and bytes(checker.ids[:32]) == f.packet_id


@given(st.integers(0, 255), st.binary(max_size=400))
@settings(max_examples=400)
def test_bodies_parse_or_malformed(type_, raw):
    try:
        bodies.decode_body(type_, raw)
    except MalformedPacket:
        pass
