"""csrc/chain.c (_seal.seal_chains) builds exactly what fragments.split with the synthetic
nonce seal builds: same frames, same packetIds, for every length around the chunk edges, with
and without commitments (the short nonce input of fragments after the head, SEALING.md)."""
from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from srpfast.crypto import _seal
from srpfast.wire import constants as C
from srpfast.control.nonces import TAIL_LABEL, nonce_key, seal_committed, seal_synthetic
from srpfast.wire.fragments import SEALED_CHUNK, split
from srpfast.wire.frame import packet_id


def _sealer(key: bytes, commits: bytes | None, k: int):
    if commits is None:
        return lambda fr: seal_synthetic(key, fr)
    commit = commits[k * _seal.COMMIT_BYTES:(k + 1) * _seal.COMMIT_BYTES]
    return lambda fr: seal_committed(key, fr, commit)


@pytest.mark.parametrize("committed", [False, True])
def test_chains_are_byte_identical_to_the_python_split_and_seal(committed: bool) -> None:
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    sizes = [0, 1, SEALED_CHUNK - 1, SEALED_CHUNK, SEALED_CHUNK + 1, 2 * SEALED_CHUNK, 5000]
    messages = [os.urandom(n) for n in sizes]
    clocks = list(range(100, 100 + len(sizes)))
    commits = os.urandom(_seal.COMMIT_BYTES * len(sizes)) if committed else None
    frames, ids, counts = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev,
                                            clocks, 3600, 5, messages, 1024, commits)
    at = 0
    for k, (message, clock, n) in enumerate(zip(messages, clocks, counts)):
        ref = split(message, prev, cluster=cluster, to=to, clock=clock, ttl=3600, postage=5,
                    seal=_sealer(key, commits, k))
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


@pytest.mark.parametrize("committed", [False, True])
@pytest.mark.parametrize("portable", [False, True])
def test_two_lane_build_matches_for_odd_counts_and_mixed_lengths(portable: bool,
                                                                committed: bool) -> None:
    """Chains are built two at a time (a lane takes the next message when its own is done):
    an odd number of messages, and fragment counts that differ, so the lanes drift apart and
    the last chain runs alone. Each result equals the Python reference and the chain built
    alone, with SHA-NI and with the portable SHA-256."""
    from srpfast.crypto import _sha256
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    sizes = [3 * SEALED_CHUNK + 7, 1, 0, 5 * SEALED_CHUNK, SEALED_CHUNK + 1, 400, 9000]
    messages = [os.urandom(n) for n in sizes]
    clocks = [7 * i + 1 for i in range(len(sizes))]
    cb = _seal.COMMIT_BYTES
    commits = os.urandom(cb * len(sizes)) if committed else None
    _sha256.force_portable(portable)
    try:
        frames, ids, counts = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to,
                                                prev, clocks, 60, 2, messages, 64, commits)
        alone = [_seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev, [c], 60,
                                   2, [m], 64,
                                   commits[k * cb:(k + 1) * cb] if commits else None)
                 for k, (m, c) in enumerate(zip(messages, clocks))]
    finally:
        _sha256.force_portable(False)
    assert counts == [4, 1, 1, 5, 2, 1, 10]
    at = 0
    for k, (message, clock, n, one) in enumerate(zip(messages, clocks, counts, alone)):
        ref = split(message, prev, cluster=cluster, to=to, clock=clock, ttl=60, postage=2,
                    seal=_sealer(key, commits, k))
        got = [frames[(at + i) * 1158:(at + i + 1) * 1158] for i in range(n)]
        assert got == ref
        assert b"".join(got) == one[0] and ids[at * 32:(at + n) * 32] == one[1]
        assert [ids[(at + i) * 32:(at + i + 1) * 32] for i in range(n)] == \
            [packet_id(f) for f in ref]
        at += n
    assert at * 1158 == len(frames)


def _nonce(frame: bytes) -> bytes:
    return frame[134:134 + 24]


def test_the_commitment_of_an_envelope_is_its_count_and_leaf() -> None:
    """make_envelopes writes count (uint16 BE) ‖ leaf per envelope: the leaf is SHA-256(0x00
    ‖ context ‖ payload) (SEALING.md section 3), so the commitment binds the payload."""
    from srpfast.crypto import make_envelopes
    from srpfast.crypto.identity import create_identity
    payloads = [os.urandom(n) for n in (0, 5, 3000, 7000, 1)] * 60  # 300: two signed batches
    contexts = [os.urandom(84) for _ in payloads]
    commits = bytearray(_seal.COMMIT_BYTES * len(payloads))
    make_envelopes(create_identity(), payloads, contexts, commits)
    for i, (p, c) in enumerate(zip(payloads, contexts)):
        count = 256 if i < 256 else 44
        assert commits[34 * i:34 * i + 34] == (count.to_bytes(2, "big")
                                               + hashlib.sha256(b"\0" + c + p).digest())


def test_tail_nonces_follow_header_and_commitment_and_heads_the_whole_frame() -> None:
    """A head fragment's nonce hashes the whole frame; a later fragment's hashes TAIL_LABEL ‖
    header after the magic ‖ commitment: another commitment (another payload or count) gives
    another nonce, the same inputs the same nonce (a reseal is the same frame)."""
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    message = os.urandom(3 * SEALED_CHUNK)
    c1, c2 = os.urandom(34), os.urandom(34)

    def build(commit: bytes) -> list[bytes]:
        frames, _, counts = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev,
                                              [9], 60, 1, [message], 8, commit)
        return [frames[i * 1158:(i + 1) * 1158] for i in range(counts[0])]

    a, b, again = build(c1), build(c2), build(c1)
    assert a == again
    assert all(_nonce(x) != _nonce(y) for x, y in zip(a, b))
    # The last fragment's plaintext header (nextId zero) is the unsealed split's: its nonce
    # is the short HMAC. (The others' nextIds name sealed frames; test_chains_... above
    # compares them with seal_committed.)
    plain = split(message, prev, cluster=cluster, to=to, clock=9, ttl=60, postage=1,
                  seal=lambda fr: fr)
    want = hmac.new(nonce_key(key), TAIL_LABEL + plain[2][4:134] + c1,
                    hashlib.sha256).digest()[:24]
    assert _nonce(a[2]) == want
    # A message of one fragment is all head: the whole-frame nonce, commitment or not.
    one, _, _ = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev, [9], 60, 1,
                                  [b"short"], 8, c1)
    head = split(b"short", prev, cluster=cluster, to=to, clock=9, ttl=60, postage=1,
                 seal=lambda fr: fr)[0]
    assert _nonce(one) == hmac.new(nonce_key(key), head, hashlib.sha256).digest()[:24]


@pytest.mark.parametrize("count", [1, 2, 7, 19, 257, 300])
def test_seal_published_is_make_envelopes_then_seal_chains(count: int) -> None:
    """The publisher's one call (envelope heads chained beside their payloads, never copied
    into an envelope) seals byte for byte what building the envelopes and then their chains
    seals: every payload size around the chunk edges (the fragment that spans an envelope
    head and its payload), more than one signed batch of 256, clocks that wrap."""
    from srpfast.crypto import create_identity, make_envelopes
    ident = create_identity(os.urandom(32))
    key, cluster, to, prev = os.urandom(32), os.urandom(16), os.urandom(32), os.urandom(32)
    edges = [0, 1, 500, SEALED_CHUNK - 300, SEALED_CHUNK, SEALED_CHUNK + 1, 5000, 14434]
    payloads = [os.urandom(edges[k % len(edges)]) for k in range(count)]
    first = 0xFFFFFFFF - count // 2  # the clocks wrap past 2^32 in the middle
    clocks = [(first + k) & 0xFFFFFFFF for k in range(count)]
    contexts = [cluster + to + prev + c.to_bytes(4, "big") for c in clocks]
    commits = bytearray(_seal.COMMIT_BYTES * count)
    envelopes = make_envelopes(ident, payloads, contexts, commits)
    want = _seal.seal_chains(key, nonce_key(key), C.PUBLISH, cluster, to, prev, clocks, 3600, 5,
                             envelopes, 64, commits)
    got = _seal.seal_published(ident.secret_key, key, nonce_key(key), C.PUBLISH, cluster, to,
                               prev, first, 3600, 5, payloads, 64)
    assert got == want


def test_seal_published_refuses_before_any_work() -> None:
    from srpfast.crypto import create_identity
    ident, key = create_identity(os.urandom(32)), os.urandom(32)
    args = (ident.secret_key, key, nonce_key(key), C.PUBLISH, bytes(16), bytes(32), bytes(32), 1,
            60, 1)
    with pytest.raises(ValueError, match="message 1 of .* needs 3 fragments; the bound is 2"):
        _seal.seal_published(*args, [b"ok", b"x" * (2 * SEALED_CHUNK)], 2)
    with pytest.raises(TypeError, match="payload 0 must be bytes"):
        _seal.seal_published(*args, [bytearray(b"no")], 2)
    assert _seal.seal_published(*args, [], 2) == (b"", b"", [])
