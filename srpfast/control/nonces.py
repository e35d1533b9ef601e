"""Synthetic nonces for sealed frames: nonce = HMAC-SHA256(key = K_n, frame)[:24], where
K_n = BLAKE2b-256(key = AEAD key, "srp-nonce-v2"). (v1 was a keyed BLAKE2b-192 of the frame:
as costly as sealing the frame; SHA-256 runs on SHA-NI in csrc/chain.c, ~5x cheaper.)

Why not random: a run of the engine must be reproducible from its seed (the simulator, the
determinism test), and random.Random must never feed a nonce (two processes with the same
seed and key would reuse nonces). A nonce derived from the whole plaintext frame (header
included, so clock and previousId differ per message) under a secret key is unique for
distinct frames and repeats only for byte-identical frames, which then produce identical
ciphertexts and reveal only that they are identical (the SIV construction's guarantee). HMAC-SHA256 is a PRF under K_n like keyed BLAKE2b, so
the guarantee is unchanged. Receivers never recompute a nonce (it travels in the frame): a
change of construction needs no agreement between peers.

Published messages (``seal_committed``, csrc/chain.c): a fragment after the head hashes
"srp-tail-v1" ‖ its header after the magic ‖ a commitment (the author envelope's batch count
‖ Merkle leaf) instead of the whole frame: 4 SHA-256 compressions instead of 20. Header and
commitment determine that fragment's plaintext (docs/SEALING.md "Nonces" has the argument),
so distinct frames still get distinct nonce inputs and equal ones equal nonces.
"""
from __future__ import annotations

import hashlib
import hmac

from srpfast.crypto import _seal
from srpfast.errors import ArgumentError
from srpfast.control.bounded import LruDict

NONCE_BYTES = 24
TAIL_LABEL = b"srp-tail-v1"  # the short input's prefix (its length differs from a frame's)
OFF_INDEX, OFF_MESSAGE = 12, 134  # header offsets (PROTOCOL.md §2)
_nonce_keys: LruDict[bytes, bytes] = LruDict(4096)


def nonce_key(key: bytes) -> bytes:
    k = _nonce_keys.get(key)
    if k is None:
        k = hashlib.blake2b(b"srp-nonce-v2", key=key, digest_size=32).digest()
        _nonce_keys[key] = k
    return k


def seal_synthetic(key: bytes, frame: bytes) -> bytes:
    """Seal one encoded frame (plaintext in its message area) with a synthetic nonce."""
    nonce = hmac.new(nonce_key(key), frame, hashlib.sha256).digest()[:NONCE_BYTES]
    buf = bytearray(frame)
    if _seal.seal_frame_into(key, buf, nonce) != 0:
        raise ArgumentError(f"plaintext longer than {_seal.MAX_PLAIN} bytes cannot be sealed "
                            "in one frame")
    return bytes(buf)


def seal_committed(key: bytes, frame: bytes, commit: bytes) -> bytes:
    """Seal one fragment of a published message as csrc/chain.c does: the head fragment (index
    0) with the whole-frame nonce, a later one with HMAC(K_n, TAIL_LABEL ‖ frame[4:134] ‖
    commit), ``commit`` = the envelope's count (uint16 BE) ‖ leaf (make_envelopes)."""
    if frame[OFF_INDEX:OFF_INDEX + 2] == b"\0\0":
        return seal_synthetic(key, frame)
    nonce = hmac.new(nonce_key(key), TAIL_LABEL + frame[4:OFF_MESSAGE] + commit,
                     hashlib.sha256).digest()[:NONCE_BYTES]
    buf = bytearray(frame)
    if _seal.seal_frame_into(key, buf, nonce) != 0:
        raise ArgumentError(f"plaintext longer than {_seal.MAX_PLAIN} bytes cannot be sealed "
                            "in one frame")
    return bytes(buf)
