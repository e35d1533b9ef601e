"""Sealed frames, author envelopes and stream session keys (SPEC section 4).

Per packet (PUBLISH to a subcluster, STREAM to one peer): XChaCha20-Poly1305 with the
immutable header fields as additional data; the message area becomes nonce ‖ ct ‖ tag.
Per message (PUBLISH): the plaintext starts with an author envelope; one ed25519 signature
covers a Merkle root over a batch of up to 256 messages (docs/SEALING.md). Single calls raise
CryptoError; batch calls return one status byte per frame so an engine can drop and count.
"""
from __future__ import annotations

import functools
import struct
from typing import Sequence

from srpfast.crypto import _seal
from srpfast.crypto._envelope import EnvelopeVerifier as EnvelopeVerifier  # (re-exported)

from srpfast.crypto import _sodium
from srpfast.errors import ArgumentError, CryptoError
from srpfast.crypto.identity import Identity, _as_bytes

PACKET_BYTES = _seal.PACKET_BYTES
SEAL_OVERHEAD = _seal.OVERHEAD          # nonce(24) + tag(16)
MAX_PLAINTEXT = _seal.MAX_PLAIN         # 984 bytes of plaintext per sealed packet
CONTEXT_BYTES = _seal.CTX_BYTES         # header context bound into every envelope leaf
MAX_BATCH = _seal.MAX_LEAVES            # messages under one author signature
STATUS_NAMES: tuple[str, ...] = _seal.STATUS_NAMES
STATUS_OK = 0


def _status_error(status: int) -> CryptoError:
    return CryptoError(f"frame failed to open ({STATUS_NAMES[status]})")


def seal_frame(key: bytes, frame: bytes) -> bytes:
    """Seal one encoded 1158-byte frame whose message area holds ``length`` bytes of plaintext
    (at most 984). Returns the sealed frame: FLAG_SEALED set, length = plaintext + 40. Compute
    the packetId from the returned bytes."""
    buf = bytearray(frame)
    status = _seal.seal_frame_into(key, buf)
    if status != STATUS_OK:
        raise ArgumentError(f"plaintext longer than {MAX_PLAINTEXT} bytes cannot be sealed in "
                            f"one frame: split it first (fragments.SEALED_CHUNK)")
    return bytes(buf)


def open_frame(key: bytes, frame: bytes) -> bytes:
    """The plaintext of a sealed frame; CryptoError if it does not open (wrong key, any
    tampered immutable header field, nonce, ciphertext or tag)."""
    buf = bytearray(frame)
    status = _seal.open_frame_into(key, buf)
    if status != STATUS_OK:
        raise _status_error(status)
    (length,) = struct.unpack_from(">H", buf, 14)
    return bytes(buf[134:134 + length])


def seal_batch(key: bytes, buf: bytearray | memoryview, count: int) -> bytes:
    """Seal ``count`` frames laid out every 1158 bytes in ``buf`` in place (C loop, GIL
    released). Returns one status byte per frame: 0 ok, 1 plaintext too long (frame untouched)."""
    return _seal.seal_batch(key, buf, count)


def open_batch(key: bytes, buf: bytearray | memoryview, count: int,
               counters: object | None = None) -> bytes:
    """Open ``count`` sealed frames in place. Returns one status byte per frame (0 ok; else an
    index into STATUS_NAMES, and that frame is left unchanged). ``counters``: an optional
    uint64 array (array('Q', [0]*len(STATUS_NAMES))) that gets +1 per status."""
    return _seal.open_batch(key, buf, count, counters)


def header_context(cluster: bytes, to: bytes, previous_id: bytes, clock: int) -> bytes:
    """The 84 bytes of header an author signs with each message: cluster(16, the header's
    routing tag; a 32-byte clusterId is cut to its first 16) ‖ to(32) ‖ previousId(32) ‖
    clock(uint32 BE). Binds the message to its subcluster, causal position and clock."""
    c = _as_bytes(cluster, None, "cluster")
    if len(c) == 32:
        c = c[:16]
    if len(c) != 16:
        raise ArgumentError(f"cluster must be 16 (or 32) bytes, got {len(c)}")
    if not 0 <= clock <= 0xFFFFFFFF:
        raise ArgumentError("clock must fit in uint32")
    return (c + _as_bytes(to, 32, "to") + _as_bytes(previous_id, 32, "previous_id")
            + struct.pack(">I", clock))


def envelope_overhead(batch_size: int) -> int:
    """Bytes an envelope adds to a payload in a signed batch of ``batch_size`` messages."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ArgumentError(f"batch_size must be 1..{MAX_BATCH}")
    return _seal.ENV_FIXED_BYTES + 32 * (batch_size - 1).bit_length()


def make_envelopes(identity: Identity, payloads: Sequence[bytes],
                   contexts: Sequence[bytes], commits: bytearray | None = None) -> list[bytes]:
    """Envelopes (author ‖ batch signature ‖ Merkle path ‖ payload) for many messages: one
    ed25519 signature per 256 messages (docs/SEALING.md). contexts[i] = header_context(...)
    of message i. ``commits`` (``_seal.COMMIT_BYTES`` per message, or None) receives each
    envelope's batch count ‖ leaf: what seal_chains binds the nonces after the head to."""
    if not isinstance(identity, Identity):
        raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
    if len(payloads) != len(contexts):
        raise ArgumentError("payloads and contexts must have the same length")
    if commits is not None and len(commits) < len(payloads) * _seal.COMMIT_BYTES:
        raise ArgumentError(f"commits must hold {_seal.COMMIT_BYTES} bytes per payload")
    out: list[bytes] = []
    view = memoryview(commits) if commits is not None else None
    for i in range(0, len(payloads), MAX_BATCH):
        part = view[i * _seal.COMMIT_BYTES:] if view is not None else None
        out += _seal.make_envelopes(identity.secret_key, list(payloads[i:i + MAX_BATCH]),
                                    list(contexts[i:i + MAX_BATCH]), part)
    return out


def make_envelope(identity: Identity, payload: bytes, context: bytes) -> bytes:
    """The envelope of one message (a batch of one: the signature covers the whole payload and
    the header context directly through the leaf hash)."""
    return make_envelopes(identity, [payload], [context])[0]


def open_envelope(plaintext_message: bytes, header_context: bytes,
                  verifier: EnvelopeVerifier | None = None) -> tuple[bytes, bytes]:
    """(author public key, payload) of a reassembled, opened message; CryptoError when the
    envelope is malformed or its signature/Merkle path does not verify. Pass a long-lived
    ``verifier`` to verify each batch signature once."""
    if verifier is None:
        verifier = EnvelopeVerifier(1)
    return verifier.open(plaintext_message, header_context)


def box_keypair(identity: Identity) -> tuple[bytes, bytes]:
    """This identity's X25519 (public, secret) keys, converted from its ed25519 keys: what
    ``stream_keys`` needs of our side. The public conversion costs about as much as the key
    exchange itself, so an engine computes this once (control/streams.py)."""
    if not isinstance(identity, Identity):
        raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
    return (_sodium.sign_pk_to_box_pk(identity.public_key),
            _sodium.sign_sk_to_box_sk(identity.secret_key))


@functools.lru_cache(maxsize=4096)
def _box_public(peer_id: bytes) -> bytes:
    """A peerId's X25519 public key: public data, a pure function of it, and the dearer half
    of stream_keys (~100 us here: libsodium validates the point), so computed once per
    process for each peer, not once per pair (a simulator's engines meet the same peers;
    a restarted engine, its old ones). An invalid key raises ValueError each time
    (lru_cache keeps no result for it)."""
    return _sodium.sign_pk_to_box_pk(peer_id)


def stream_keys(identity: Identity, remote_peer_id: bytes,
                mine: tuple[bytes, bytes] | None = None) -> tuple[bytes, bytes]:
    """(tx_key, rx_key) for sealed STREAM frames between this identity and one peer: X25519
    keys converted from both ed25519 keys, then crypto_kx; the peer with the smaller public key
    plays the kx client. The remote's rx equals our tx and vice versa. ``mine``: this
    identity's ``box_keypair``, if the caller keeps it."""
    if not isinstance(identity, Identity):
        raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
    remote = _as_bytes(remote_peer_id, 32, "remote_peer_id")
    if remote == identity.public_key:
        raise ArgumentError("a stream needs two different peers")
    try:
        their_x = _box_public(remote)
    except ValueError:
        raise CryptoError("remote peerId is not a valid ed25519 public key") from None
    my_x, my_xs = mine if mine is not None else box_keypair(identity)
    try:
        rx, tx = _sodium.kx_session_keys(identity.public_key < remote, my_x, my_xs, their_x)
    except ValueError:
        raise CryptoError("key exchange with the remote peer failed (weak public key)") from None
    return tx, rx
