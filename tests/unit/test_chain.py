"""csrc/chain.c (_seal.seal_chains) builds exactly what fragments.split with the synthetic
nonce seal builds: same frames, same packetIds, for every length around the chunk edges."""
from __future__ import annotations

import os

import pytest

from srpfast.crypto import _seal
from srpfast.wire import constants as C
from srpfast.control.nonces import nonce_key, seal_synthetic
from srpfast.wire.fragments import SEALED_CHUNK, split
from srpfast.wire.frame import packet_id


def test_chains_are_byte_identical_to_the_python_split_and_seal() -> None:
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    sizes = [0, 1, SEALED_CHUNK - 1, SEALED_CHUNK, SEALED_CHUNK + 1, 2 * SEALED_CHUNK, 5000]
    messages = [os.urandom(n) for n in sizes]
    clocks = list(range(100, 100 + len(sizes)))
    frames, ids, counts = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev,
                                            clocks, 3600, 5, messages, 1024)
    at = 0
    for message, clock, n in zip(messages, clocks, counts):
        ref = split(message, prev, cluster=cluster, to=to, clock=clock, ttl=3600, postage=5,
                    seal=lambda fr: seal_synthetic(key, fr))
        assert len(ref) == n
        assert [frames[(at + i) * 1158:(at + i + 1) * 1158] for i in range(n)] == ref
        assert [ids[(at + i) * 32:(at + i + 1) * 32] for i in range(n)] == \
            [packet_id(f) for f in ref]
        at += n


def test_a_message_beyond_the_fragment_bound_is_refused_whole() -> None:
    key = os.urandom(32)
    with pytest.raises(ValueError, match="needs 3 fragments; the bound is 2"):
        _seal.seal_chains(key, nonce_key(key), C.PUBLISH, bytes(16), bytes(32), bytes(32),
                          [1, 2], 60, 1, [b"ok", b"x" * (2 * SEALED_CHUNK + 1)], 2)


@pytest.mark.parametrize("portable", [False, True])
def test_two_lane_build_matches_for_odd_counts_and_mixed_lengths(portable: bool) -> None:
    """Chains are built two at a time (a lane takes the next message when its own is done):
    an odd number of messages, and fragment counts that differ, so the lanes drift apart and
    the last chain runs alone. Each result equals the Python reference and the chain built
    alone, with SHA-NI and with the portable SHA-256."""
    from srpfast.crypto import _sha256
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    sizes = [3 * SEALED_CHUNK + 7, 1, 0, 5 * SEALED_CHUNK, SEALED_CHUNK + 1, 400, 9000]
    messages = [os.urandom(n) for n in sizes]
    clocks = [7 * i + 1 for i in range(len(sizes))]
    _sha256.force_portable(portable)
    try:
        frames, ids, counts = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to,
                                                prev, clocks, 60, 2, messages, 64)
        alone = [_seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev, [c], 60,
                                   2, [m], 64) for m, c in zip(messages, clocks)]
    finally:
        _sha256.force_portable(False)
    assert counts == [4, 1, 1, 5, 2, 1, 10]
    at = 0
    for message, clock, n, one in zip(messages, clocks, counts, alone):
        ref = split(message, prev, cluster=cluster, to=to, clock=clock, ttl=60, postage=2,
                    seal=lambda fr: seal_synthetic(key, fr))
        got = [frames[(at + i) * 1158:(at + i + 1) * 1158] for i in range(n)]
        assert got == ref
        assert b"".join(got) == one[0] and ids[at * 32:(at + n) * 32] == one[1]
        assert [ids[(at + i) * 32:(at + i + 1) * 32] for i in range(n)] == \
            [packet_id(f) for f in ref]
        at += n
    assert at * 1158 == len(frames)
