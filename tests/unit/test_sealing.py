"""Sealed frames (per-packet AEAD) and author envelopes (batch signatures) (SPEC 2, 4)."""
from __future__ import annotations

import array
import hashlib
import os
import struct

import pytest
try:  # the reference binding loads the SYSTEM libsodium; the package never needs it
    import pysodium
except (ImportError, ValueError, OSError):
    pytest.skip("pysodium (a reference) cannot load a system libsodium here",
                allow_module_level=True)
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast import crypto

from srpfast.crypto import _seal
from srpfast.errors import ArgumentError, CryptoError

PACKET, HEADER = 1158, 134
IMMUTABLE = [4, 5, 7, *range(8, 16), *range(22, 134)]   # AD offsets (docs/SEALING.md)
MUTABLE = [6, *range(16, 22)]                            # hops, ttl, postage, reserved


def make_frame(msg: bytes = b"", *, type: int = 5, flags: int = 0, clock: int = 7, index: int = 0,
               hops: int = 0, ttl: int = 21600, postage: int = 8, cluster: bytes = b"C" * 16,
               to: bytes = b"T" * 32, prev: bytes = b"P" * 32, nxt: bytes = b"N" * 32) -> bytes:
    """An encoded frame built by hand from the SPEC 2 table (independent of srpfast.wire.frame)."""
    head = (b"SRP\x00" + bytes([type, 1, hops, flags]) + struct.pack(">IHHIBB", clock, index,
            len(msg), ttl, postage, 0) + cluster + to + prev + nxt)
    assert len(head) == HEADER
    return head + msg + bytes(1024 - len(msg))


def hand_ad(frame: bytes) -> bytes:
    return frame[4:6] + frame[7:16] + frame[22:134]


def flip(data: bytes, i: int, bit: int = 0x01) -> bytes:
    return data[:i] + bytes([data[i] ^ bit]) + data[i + 1:]


KEY = crypto.publish_key(crypto.create_shared_key(b"members"))


# ---- per-packet AEAD ----

def test_seal_matches_libsodium_aead_independently() -> None:
    plain = b"hello, subcluster" * 10
    frame = bytearray(make_frame(plain))
    nonce = bytes(range(24))
    assert _seal.seal_frame_into(KEY, frame, nonce) == 0
    sealed = bytes(frame)
    assert sealed[7] & 0x02 and struct.unpack_from(">H", sealed, 14)[0] == len(plain) + 40
    assert _seal.ad_of(sealed) == hand_ad(sealed) and len(hand_ad(sealed)) == 123
    ct = pysodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, hand_ad(sealed), nonce, KEY)
    assert sealed[HEADER:HEADER + 24] == nonce
    assert sealed[HEADER + 24:HEADER + 24 + len(ct)] == ct
    assert sealed[HEADER + 40 + len(plain):] == bytes(1024 - 40 - len(plain))  # padding zero
    assert sealed[22:134] == make_frame(plain)[22:134]


def test_open_agrees_with_libsodium_at_every_frame_length() -> None:
    """Opening (csrc/seal.c srp_xchacha_open: one rounded-up keystream call, then Poly1305)
    against frames sealed by libsodium's own AEAD, at every plaintext length a frame can
    carry, with the tag checked at both ends of the keystream rounding."""
    for n in range(0, 985):
        plain = os.urandom(n)
        frame = bytearray(make_frame(plain))
        assert _seal.seal_frame_into(KEY, frame, os.urandom(24)) == 0
        sealed = bytes(frame)
        ct = sealed[HEADER + 24:HEADER + 40 + n]
        assert pysodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct, hand_ad(sealed), sealed[HEADER:HEADER + 24], KEY) == plain
        assert crypto.open_frame(KEY, sealed) == plain
        for i in (HEADER + 40 + n - 1, HEADER + 24 + n - 1 if n else HEADER):
            with pytest.raises(CryptoError):
                crypto.open_frame(KEY, flip(sealed, i))


@given(st.binary(max_size=984))
@settings(max_examples=60, deadline=None)
def test_round_trip_any_plaintext(plain: bytes) -> None:
    sealed = crypto.seal_frame(KEY, make_frame(plain))
    assert len(sealed) == PACKET
    assert crypto.open_frame(KEY, sealed) == plain


def test_random_nonces_differ() -> None:
    frame = make_frame(b"same")
    nonces = {crypto.seal_frame(KEY, frame)[HEADER:HEADER + 24] for _ in range(200)}
    assert len(nonces) == 200


def test_too_long_plaintext_is_caller_error() -> None:
    frame = bytearray(make_frame(b"x" * 984))
    struct.pack_into(">H", frame, 14, 985)
    with pytest.raises(ArgumentError, match="split"):
        crypto.seal_frame(KEY, bytes(frame))


def test_mutable_fields_do_not_break_the_seal() -> None:
    sealed = crypto.seal_frame(KEY, make_frame(b"relay me"))
    for off in MUTABLE:
        assert crypto.open_frame(KEY, flip(sealed, off, 0xFF)) == b"relay me"


@pytest.mark.parametrize("off", IMMUTABLE)
def test_every_immutable_header_byte_is_bound(off: int) -> None:
    sealed = crypto.seal_frame(KEY, make_frame(b"bound to its header"))
    for bit in (0x01, 0x80):
        with pytest.raises(CryptoError):
            crypto.open_frame(KEY, flip(sealed, off, bit))


def test_every_sealed_byte_nonce_ciphertext_tag_is_bound() -> None:
    plain = b"0123456789" * 5
    sealed = crypto.seal_frame(KEY, make_frame(plain))
    n = len(plain) + 40
    for i in range(HEADER, HEADER + n):   # nonce [0,24), ciphertext, tag [n-16, n)
        with pytest.raises(CryptoError):
            crypto.open_frame(KEY, flip(sealed, i))


def test_truncated_or_wrong_length_and_wrong_key() -> None:
    sealed = crypto.seal_frame(KEY, make_frame(b"abc"))
    for length in (0, 39, 40, 42, 44, 1024, 1025, 0xFFFF):
        bad = bytearray(sealed)
        struct.pack_into(">H", bad, 14, length)
        with pytest.raises(CryptoError):
            crypto.open_frame(KEY, bytes(bad))
    with pytest.raises(CryptoError):
        crypto.open_frame(os.urandom(32), sealed)
    with pytest.raises(CryptoError, match="not_sealed"):
        crypto.open_frame(KEY, make_frame(b"abc"))


def test_failed_open_leaves_frame_intact() -> None:
    tampered = bytearray(flip(crypto.seal_frame(KEY, make_frame(b"keep me")), HEADER + 30))
    before = bytes(tampered)
    assert _seal.open_frame_into(KEY, tampered) == 4
    assert bytes(tampered) == before


def test_non_member_cannot_produce_an_accepted_packet() -> None:
    outsider = os.urandom(32)
    forged = crypto.seal_frame(outsider, make_frame(b"let me in"))
    with pytest.raises(CryptoError):
        crypto.open_frame(KEY, forged)
    # nor by reusing a genuine nonce/tag with a new plaintext or header
    genuine = crypto.seal_frame(KEY, make_frame(b"genuine"))
    spliced = genuine[:HEADER + 24] + forged[HEADER + 24:]
    with pytest.raises(CryptoError):
        crypto.open_frame(KEY, spliced)


def test_batch_seal_open_and_counters() -> None:
    n = 37
    plains = [os.urandom(i * 26) for i in range(n)]
    buf = bytearray(b"".join(make_frame(p, clock=i) for i, p in enumerate(plains)))
    assert crypto.seal_batch(KEY, buf, n) == bytes(n)
    for i, p in enumerate(plains):  # each frame opens with the single-frame API
        assert crypto.open_frame(KEY, bytes(buf[i * PACKET:(i + 1) * PACKET])) == p
    buf[5 * PACKET + 40] ^= 1        # header (cluster) of frame 5
    buf[9 * PACKET + HEADER + 3] ^= 1  # nonce of frame 9
    buf[11 * PACKET + 7] &= ~0x02      # SEALED flag cleared on frame 11
    counters = array.array("Q", [0] * len(crypto.STATUS_NAMES))
    status = crypto.open_batch(KEY, buf, n, counters)
    assert [i for i in range(n) if status[i]] == [5, 9, 11]
    assert status[5] == status[9] == crypto.STATUS_NAMES.index("forged")
    assert status[11] == crypto.STATUS_NAMES.index("not_sealed")
    assert counters[0] == n - 3 and sum(counters) == n
    for i, p in enumerate(plains):
        if i not in (5, 9, 11):
            f = buf[i * PACKET:(i + 1) * PACKET]
            assert struct.unpack_from(">H", f, 14)[0] == len(p)
            assert bytes(f[HEADER:HEADER + len(p)]) == p and not any(f[HEADER + len(p):])


def test_batch_nonces_are_distinct_and_too_long_reported() -> None:
    n = 300  # crosses the 256-frame nonce chunk
    buf = bytearray(make_frame(b"x") * n)
    struct.pack_into(">H", buf, 7 * PACKET + 14, 985)
    status = crypto.seal_batch(KEY, buf, n)
    assert [i for i in range(n) if status[i]] == [7]
    nonces = {bytes(buf[i * PACKET + HEADER:i * PACKET + HEADER + 24]) for i in range(n) if i != 7}
    assert len(nonces) == n - 1


def test_batch_buffer_too_small() -> None:
    with pytest.raises(ValueError):
        crypto.seal_batch(KEY, bytearray(PACKET), 2)


def test_stream_frames_between_two_peers() -> None:
    a, b = crypto.create_identity(), crypto.create_identity()
    a_tx, _ = crypto.stream_keys(a, b.peer_id)
    _, b_rx = crypto.stream_keys(b, a.peer_id)
    frame = make_frame(b"direct", type=6, to=b.peer_id)
    assert crypto.open_frame(b_rx, crypto.seal_frame(a_tx, frame)) == b"direct"
    c = crypto.create_identity()
    with pytest.raises(CryptoError):  # a third peer's keys do not open it
        crypto.open_frame(crypto.stream_keys(c, a.peer_id)[1], crypto.seal_frame(a_tx, frame))


# ---- author envelopes ----

CTX = crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 7)


def leaf(ctx: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + ctx + payload).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 100, 256])
def test_envelopes_verify_independently(n: int) -> None:
    author = crypto.create_identity()
    payloads = [os.urandom(i % 50) for i in range(n)]
    ctxs = [crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, i) for i in range(n)]
    envs = crypto.make_envelopes(author, payloads, ctxs)
    depth = (n - 1).bit_length()
    sig = envs[0][37:101]
    for i, (env, p, c) in enumerate(zip(envs, payloads, ctxs)):
        assert env[0] == 2 and struct.unpack_from(">HH", env, 1) == (n, i)
        assert env[5:37] == author.public_key and env[37:101] == sig
        assert len(env) == crypto.envelope_overhead(n) + len(p) and env[101 + 32 * depth:] == p
        h = leaf(c, p)   # recompute the root with hashlib, check the signature with pysodium
        for level in range(depth):
            sib = env[101 + 32 * level:133 + 32 * level]
            h = node(sib, h) if (i >> level) & 1 else node(h, sib)
        pysodium.crypto_sign_verify_detached(
            sig, b"srp-batch-v2" + author.public_key + struct.pack(">H", n) + h, author.public_key)
        assert crypto.open_envelope(env, c) == (author.public_key, p)


def test_version_1_envelopes_are_malformed_and_counted() -> None:
    """Version 1 hashed its tree with BLAKE2b-256 and signed "srp-batch-v1": a genuine one is
    refused as malformed, and its signature does not carry over to version 2."""
    author = crypto.create_identity()
    root = hashlib.blake2b(b"\x00" + CTX + b"old", digest_size=32).digest()
    sig = pysodium.crypto_sign_detached(
        b"srp-batch-v1" + author.public_key + b"\x00\x01" + root, author.secret_key)
    old = b"\x01\x00\x01\x00\x00" + author.public_key + sig + b"old"
    v = crypto.EnvelopeVerifier()
    with pytest.raises(CryptoError, match="malformed"):
        v.open(old, CTX)
    with pytest.raises(CryptoError, match="does not verify"):
        v.open(b"\x02" + old[1:], CTX)
    assert v.counters == {"ok": 0, "cached": 0, "malformed": 1, "forged": 1}


def test_batch_of_one_is_a_signature_over_the_whole_payload() -> None:
    author = crypto.create_identity()
    payload = os.urandom(700)
    env = crypto.make_envelope(author, payload, CTX)
    assert len(env) == 101 + 700
    root = leaf(CTX, payload)
    pysodium.crypto_sign_verify_detached(
        env[37:101], b"srp-batch-v2" + author.public_key + b"\x00\x01" + root, author.public_key)
    for i in range(101, len(env), 37):  # every payload byte is covered
        with pytest.raises(CryptoError):
            crypto.open_envelope(flip(env, i), CTX)


def test_more_than_256_payloads_use_several_signatures() -> None:
    author = crypto.create_identity()
    envs = crypto.make_envelopes(author, [b"p"] * 300, [CTX] * 300)
    assert len({e[37:101] for e in envs}) == 2
    assert all(crypto.open_envelope(e, CTX) == (author.public_key, b"p") for e in envs)


def test_envelope_tampering_is_rejected() -> None:
    author = crypto.create_identity()
    payloads = [b"msg %d" % i for i in range(6)]
    envs = crypto.make_envelopes(author, payloads, [CTX] * 6)
    env = envs[3]
    for i in range(len(env)):       # any byte: header, author, signature, path, payload
        with pytest.raises(CryptoError):
            crypto.open_envelope(flip(env, i), CTX)
    for i in range(len(CTX)):       # another cluster, to, previousId or clock
        with pytest.raises(CryptoError):
            crypto.open_envelope(env, flip(CTX, i))
    depth = 3
    path4 = envs[4][101:101 + 32 * depth]
    swapped = env[:101] + path4 + env[101 + 32 * depth:]     # another leaf's Merkle path
    with pytest.raises(CryptoError):
        crypto.open_envelope(swapped, CTX)
    reindexed = env[:3] + struct.pack(">H", 4) + env[5:]      # claims another index
    with pytest.raises(CryptoError):
        crypto.open_envelope(reindexed, CTX)
    for count in (0, 7, 257, 3):                              # another batch size
        with pytest.raises(CryptoError):
            crypto.open_envelope(env[:1] + struct.pack(">H", count) + env[3:], CTX)
    for cut in (0, 50, 100, 101 + 32 * depth - 1):            # truncated
        with pytest.raises(CryptoError):
            crypto.open_envelope(env[:cut], CTX)


def test_member_without_author_key_cannot_impersonate() -> None:
    victim, mallory = crypto.create_identity(), crypto.create_identity()
    genuine = crypto.make_envelopes(victim, [b"pay alice", b"hi"], [CTX, CTX])
    # 1. mallory signs her own batch and puts the victim's key in the author field
    own = crypto.make_envelope(mallory, b"pay mallory", CTX)
    with pytest.raises(CryptoError):
        crypto.open_envelope(own[:5] + victim.public_key + own[37:], CTX)
    # 2. she reuses the victim's signature and path with her payload
    with pytest.raises(CryptoError):
        crypto.open_envelope(genuine[0][:133] + b"pay mallory", CTX)
    # 3. she replaces a leaf by an inner node of the victim's tree (the leaf/node prefixes
    #    differ, so the inner node is no leaf) with a shorter path and a batch-of-1 header
    sibling = genuine[0][101:133]
    inner = node(leaf(CTX, b"pay alice"), sibling)
    fake = b"\x02\x00\x01\x00\x00" + victim.public_key + genuine[0][37:101] + inner[:0]
    with pytest.raises(CryptoError):
        crypto.open_envelope(fake + inner, CTX)
    # 4. and the whole pipeline: she holds the shared key, so her frame opens, but the
    #    envelope inside does not verify as the victim
    forged_frame = crypto.seal_frame(KEY, make_frame(own[:5] + victim.public_key + own[37:]))
    plain = crypto.open_frame(KEY, forged_frame)
    with pytest.raises(CryptoError):
        crypto.open_envelope(plain, crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 7))


def test_sealed_publish_pipeline() -> None:
    author = crypto.create_identity()
    payload = b"the message" * 20
    ctx = crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 7)
    sealed = crypto.seal_frame(KEY, make_frame(crypto.make_envelope(author, payload, ctx)))
    assert payload not in sealed and author.public_key not in sealed  # author travels inside
    assert crypto.open_envelope(crypto.open_frame(KEY, sealed), ctx) == (author.public_key, payload)


def test_verifier_caches_each_batch_once_and_is_bounded() -> None:
    author = crypto.create_identity()
    v = crypto.EnvelopeVerifier(capacity=2)
    for b in range(4):
        envs = crypto.make_envelopes(author, [b"m%d-%d" % (b, i) for i in range(10)], [CTX] * 10)
        for e in envs:
            assert v.open(e, CTX)[0] == author.public_key
    assert v.counters["ok"] == 40 and v.counters["cached"] == 36
    assert len(v) == len(v._verified) == 2  # (len: the soak's census of tables)
    # a cached root does not excuse a changed payload
    with pytest.raises(CryptoError):
        v.open(envs[0][:-1] + b"X", CTX)
    assert v.counters["forged"] == 1


def test_header_context_and_overhead_validation() -> None:
    assert crypto.header_context(b"C" * 32, b"T" * 32, b"P" * 32, 1)[:16] == b"C" * 16
    assert len(CTX) == crypto.CONTEXT_BYTES == 84
    with pytest.raises(ArgumentError):
        crypto.header_context(b"C" * 15, b"T" * 32, b"P" * 32, 1)
    with pytest.raises(ArgumentError):
        crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 2**32)
    assert crypto.envelope_overhead(1) == 101 and crypto.envelope_overhead(256) == 101 + 256
    with pytest.raises(ArgumentError):
        crypto.envelope_overhead(257)
    with pytest.raises(ArgumentError):
        crypto.make_envelopes(crypto.create_identity(), [b"a"], [])


def test_merkle_root_helper_matches_hashlib() -> None:
    leaves = [os.urandom(32) for _ in range(5)]
    root, paths = _seal.merkle_root(leaves)
    z = bytes(32)
    l01, l23, l45 = node(leaves[0], leaves[1]), node(leaves[2], leaves[3]), node(leaves[4], z)
    assert root == node(node(l01, l23), node(l45, node(z, z)))
    assert paths[4] == z + node(z, z) + node(l01, l23)
