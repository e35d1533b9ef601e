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
