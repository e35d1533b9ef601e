"""Identities, derivations, key files, stream keys and proofs of id (SPEC 4, 9.2)."""
from __future__ import annotations

import hashlib
import os
import stat

import pytest
try:  # the reference binding loads the SYSTEM libsodium; the package never needs it
    import pysodium
except (ImportError, ValueError, OSError):
    pytest.skip("pysodium (a reference) cannot load a system libsodium here",
                allow_module_level=True)
from hypothesis import given, settings
from hypothesis import strategies as st

from srpfast import crypto
from srpfast.errors import ArgumentError, CryptoError, IdentityError

# RFC 8032 section 7.1, TEST 1: an ed25519 vector independent of libsodium.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


# ---- derivations: fixed seeds -> fixed hex, and the same value computed independently ----

def test_cluster_id_is_sha256_of_seed() -> None:
    assert crypto.create_cluster_id(b"srp-test").hex() == (
        "f2b1d1b7c7eeb7d262aa02d7dff2ad807d1623dbf4e1bf6dae9a67824576ea08")
    assert crypto.create_cluster_id(b"srp-test") == hashlib.sha256(b"srp-test").digest()
    assert crypto.create_cluster_id("srp-test") == hashlib.sha256(b"srp-test").digest()


def test_shared_key_is_blake2b_256_of_seed() -> None:
    key = crypto.create_shared_key(b"srp-test")
    assert key.hex() == "c822096423a29a7251f1983002c416c04da8e035021e539a59890d5daa31068c"
    assert key == hashlib.blake2b(b"srp-test", digest_size=32).digest()


def test_subcluster_keypair_and_id() -> None:
    key = crypto.create_shared_key(b"srp-test")
    pk, sk = crypto.subcluster_keypair(key)
    assert (pk, sk) == pysodium.crypto_sign_seed_keypair(key)
    assert crypto.subcluster_id(key) == pk
    assert pk.hex() == "cc6dd6206f474f0e873ab80c8374f6c5ce87b7ed19e752a2282e4ad4ed6eccc9"


def test_publish_key_is_keyed_blake2b_and_differs_from_shared_key() -> None:
    key = crypto.create_shared_key(b"srp-test")
    pub = crypto.publish_key(key)
    assert pub == hashlib.blake2b(b"srp-publish-v1", key=key, digest_size=32).digest()
    assert pub.hex() == "62201becbd88443b4d6e8aa01ae46b766d9df76bef597969fa58b762ff199b8d"
    assert pub != key


def test_random_derivations_differ() -> None:
    assert crypto.create_cluster_id() != crypto.create_cluster_id()
    assert crypto.create_shared_key() != crypto.create_shared_key()
    assert len(crypto.create_shared_key()) == 32


def test_keypair_matches_rfc8032_vector() -> None:
    pk, sk = crypto.create_keypair(RFC8032_SEED)
    assert pk == RFC8032_PUBLIC
    assert sk == RFC8032_SEED + RFC8032_PUBLIC
    ident = crypto.create_identity(RFC8032_SEED)
    assert ident.peer_id == RFC8032_PUBLIC == crypto.peer_id(pk)
    assert ident.secret_key.hex() not in repr(ident)


def test_identity_validation() -> None:
    with pytest.raises(ArgumentError):
        crypto.create_keypair(b"short")
    with pytest.raises(ArgumentError):
        crypto.peer_id(b"\x00" * 31)
    with pytest.raises(TypeError):
        crypto.peer_id("not bytes")  # type: ignore[arg-type]
    a, b = crypto.create_identity(), crypto.create_identity()
    with pytest.raises(IdentityError):
        crypto.Identity(a.public_key, b.secret_key)


# ---- key files ----

def test_key_file_round_trip_has_mode_0600(tmp_path) -> None:
    ident = crypto.create_identity()
    path = tmp_path / "peer.key"
    crypto.save_identity(ident, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = crypto.load_identity(path)
    assert loaded == ident and loaded.peer_id == ident.peer_id
    # overwrite atomically with another identity; no temp file is left behind
    other = crypto.create_identity()
    crypto.save_identity(other, path)
    assert crypto.load_identity(path).peer_id == other.peer_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peer.key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_key_file_readable_by_others_is_refused(tmp_path, mode: int) -> None:
    path = tmp_path / "peer.key"
    crypto.save_identity(crypto.create_identity(), path)
    os.chmod(path, mode)
    with pytest.raises(IdentityError, match=f"chmod 600 {path}"):
        crypto.load_identity(path)


def _write_0600(path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)


def test_corrupt_key_files_are_refused(tmp_path) -> None:
    path = tmp_path / "peer.key"
    crypto.save_identity(crypto.create_identity(), path)
    good = path.read_bytes()
    cases = {
        "truncated": good[:-1],
        "empty": b"",
        "longer": good + b"\x00",
        "magic": b"X" + good[1:],
    }
    for i in range(len(good)):  # any single flipped bit anywhere
        cases[f"bit{i}"] = good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1:]
    for name, data in cases.items():
        _write_0600(path, data)
        with pytest.raises(IdentityError):
            crypto.load_identity(path)
        assert name  # every case raised


def test_missing_key_file(tmp_path) -> None:
    with pytest.raises(IdentityError, match="save_identity"):
        crypto.load_identity(tmp_path / "nope.key")


# ---- stream session keys ----

def test_stream_keys_agree_and_differ_per_direction() -> None:
    a, b = crypto.create_identity(), crypto.create_identity()
    a_tx, a_rx = crypto.stream_keys(a, b.peer_id)
    b_tx, b_rx = crypto.stream_keys(b, a.peer_id)
    assert a_tx == b_rx and a_rx == b_tx and a_tx != a_rx
    c = crypto.create_identity()
    assert crypto.stream_keys(a, c.peer_id)[0] not in (a_tx, a_rx)


def test_stream_keys_are_crypto_kx_of_converted_keys() -> None:
    a, b = crypto.create_identity(), crypto.create_identity()
    lo, hi = sorted([a, b], key=lambda i: i.public_key)
    x = pysodium.crypto_sign_pk_to_box_pk
    rx, tx = pysodium.crypto_kx_client_session_keys(
        x(lo.public_key), pysodium.crypto_sign_sk_to_box_sk(lo.secret_key), x(hi.public_key))
    assert crypto.stream_keys(lo, hi.peer_id) == (tx, rx)


def test_stream_keys_misuse() -> None:
    a = crypto.create_identity()
    with pytest.raises(ArgumentError):
        crypto.stream_keys(a, a.peer_id)
    with pytest.raises(ArgumentError):
        crypto.stream_keys(a, b"\x01" * 5)


# ---- proof of id ----

def test_proof_round_trip_and_tamper() -> None:
    a, b = crypto.create_identity(), crypto.create_identity()
    body = b"PONG body: requester, responder, ts, nonce, address"
    sig = crypto.sign_proof(a, body)
    assert len(sig) == 64
    assert crypto.verify_proof(a.peer_id, body, sig)
    # the signature is over the domain-separated body, checked with pysodium directly
    pysodium.crypto_sign_verify_detached(sig, b"srp-proof-v1" + body, a.peer_id)
    assert not crypto.verify_proof(b.peer_id, body, sig)       # claimed by another id
    assert not crypto.verify_proof(a.peer_id, body + b"x", sig)
    for i in range(len(body)):
        assert not crypto.verify_proof(a.peer_id, body[:i] + bytes([body[i] ^ 1]) + body[i + 1:],
                                       sig)
    for i in range(64):
        assert not crypto.verify_proof(a.peer_id, body, sig[:i] + bytes([sig[i] ^ 1]) + sig[i + 1:])
    assert not crypto.verify_proof(a.peer_id, body, sig[:63])
    assert not crypto.verify_proof(a.peer_id[:31], body, sig)


def test_proof_is_not_a_batch_signature() -> None:
    # domain separation: a proof over bytes shaped like a batch root never verifies as one
    from srpfast.crypto import _seal
    a = crypto.create_identity()
    root = os.urandom(32)
    fake = crypto.sign_proof(a, b"srp-batch-v2" + a.public_key + b"\x00\x01" + root)
    assert not _seal.verify_root(a.public_key, 1, root, fake)


@given(st.binary(max_size=200))
@settings(max_examples=30, deadline=None)
def test_proof_any_body(body: bytes) -> None:
    a = crypto.create_identity(b"\x07" * 32)
    assert crypto.verify_proof(a.peer_id, body, crypto.sign_proof(a, body))


def test_proof_checker_window_and_replay() -> None:
    pc = crypto.ProofChecker(window_s=30, capacity=100)
    peer = b"\x01" * 32
    now = 1_000_000
    assert pc.check(peer, now, 1, now)
    assert not pc.check(peer, now, 1, now + 5)              # replay
    assert pc.check(peer, now, 2, now)                      # another nonce
    assert pc.check(b"\x02" * 32, now, 1, now)              # another peer, same nonce
    assert not pc.check(peer, now - 30_001, 3, now)         # stale
    assert not pc.check(peer, now + 30_001, 4, now)         # from the future
    assert pc.check(peer, now - 30_000, 5, now)             # edge of the window
    assert pc.counters == {"ok": 4, "stale": 1, "future": 1, "replay": 1, "floor": 0}
    # after the window, the entry is gone AND its timestamp is stale: still refused
    assert not pc.check(peer, now, 1, now + 61_000)
    assert len(pc) == 0


def test_proof_checker_is_bounded_and_never_accepts_an_evicted_replay() -> None:
    pc = crypto.ProofChecker(window_s=30, capacity=8)
    peer = b"\x01" * 32
    t0 = 5_000_000
    for i in range(50):
        assert pc.check(peer, t0 + i, i, t0 + i)
        assert len(pc) <= 8
    for i in range(50):  # every one of them, evicted or not, is refused on replay
        assert not pc.check(peer, t0 + i, i, t0 + 50)
    assert pc.check(peer, t0 + 51, 999, t0 + 51)           # a fresh proof still passes


def test_proof_checker_validation() -> None:
    with pytest.raises(ArgumentError):
        crypto.ProofChecker(window_s=0)
    with pytest.raises(ArgumentError):
        crypto.ProofChecker(capacity=0)


def test_crypto_error_is_value_error() -> None:
    assert issubclass(CryptoError, ValueError) and issubclass(IdentityError, ValueError)


def test_key_file_symlink_is_refused(tmp_path) -> None:
    real = tmp_path / "real.key"
    crypto.save_identity(crypto.create_identity(), real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(IdentityError):
        crypto.load_identity(link)


def test_verified_proofs_memo_never_admits_a_changed_body_key_or_signature() -> None:
    from srpfast.crypto.proofs import sign_proof, verify_proof
    a, b = crypto.create_identity(b"\x01" * 32), crypto.create_identity(b"\x02" * 32)
    body = b"signed body"
    sig = sign_proof(a, body)
    assert verify_proof(a.public_key, body, sig) and verify_proof(a.public_key, body, sig)
    assert not verify_proof(a.public_key, body + b"!", sig)        # after a cached success
    assert not verify_proof(b.public_key, body, sig)
    assert not verify_proof(a.public_key, body, bytes(64))
