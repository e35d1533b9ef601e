"""Synthetic nonces for sealed frames: nonce = BLAKE2b-192(key = K_n, frame), where
K_n = BLAKE2b-256(key = AEAD key, "srp-nonce-v1").

Why not random: a run of the engine must be reproducible from its seed (the simulator, the
determinism test), and random.Random must never feed a nonce (two processes with the same
seed and key would reuse nonces). A nonce derived from the whole plaintext frame (header
included, so clock and previousId differ per message) under a secret key is unique for
distinct frames and repeats only for byte-identical frames, which then produce identical
ciphertexts and reveal only that they are identical (the SIV construction's guarantee).
"""
from __future__ import annotations

import hashlib

from srpfast.crypto import _seal
from srpfast.errors import ArgumentError
from srpfast.control.bounded import LruDict

NONCE_BYTES = 24
_nonce_keys: LruDict[bytes, bytes] = LruDict(4096)


def nonce_key(key: bytes) -> bytes:
    k = _nonce_keys.get(key)
    if k is None:
        k = hashlib.blake2b(b"srp-nonce-v1", key=key, digest_size=32).digest()
        _nonce_keys[key] = k
    return k


def seal_synthetic(key: bytes, frame: bytes) -> bytes:
    """Seal one encoded frame (plaintext in its message area) with a synthetic nonce."""
    nonce = hashlib.blake2b(frame, key=nonce_key(key), digest_size=NONCE_BYTES).digest()
    buf = bytearray(frame)
    if _seal.seal_frame_into(key, buf, nonce) != 0:
        raise ArgumentError(f"plaintext longer than {_seal.MAX_PLAIN} bytes cannot be sealed "
                            "in one frame")
    return bytes(buf)
