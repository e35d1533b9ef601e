"""Ids, keys, sealing and proofs of id (SPEC section 4): one import point.

The code lives in small modules named for what they hold: identity.py (key pairs, ids,
derivations, key files), sealing.py (per-packet AEAD, author envelopes with batch signatures,
stream session keys), proofs.py (signed control bodies and the replay window). Byte layouts and
the security argument: docs/SEALING.md.
"""
from __future__ import annotations

# _seal first: its import runs sodium_init() (without it libsodium stays on slow portable
# code). Every libsodium call goes through our own extensions, linked against the libsodium
# the wheel bundles: no system libsodium needed at run time (issue 16).
from srpfast.crypto import _seal  # noqa: F401  isort: skip
from srpfast.crypto.identity import (Identity, create_cluster_id, create_identity, create_keypair,
                                     create_shared_key, load_identity, peer_id, publish_key,
                                     save_identity, subcluster_id, subcluster_keypair)
from srpfast.crypto.proofs import ProofChecker, sign_proof, verify_proof
from srpfast.crypto.sealing import (CONTEXT_BYTES, MAX_BATCH, MAX_PLAINTEXT, SEAL_OVERHEAD, STATUS_NAMES,
                                    EnvelopeVerifier, envelope_overhead, header_context, make_envelope,
                                    make_envelopes, open_batch, open_envelope, open_frame, seal_batch,
                                    seal_frame, stream_keys)

__all__ = [
    "CONTEXT_BYTES", "MAX_BATCH", "MAX_PLAINTEXT", "SEAL_OVERHEAD", "STATUS_NAMES",
    "EnvelopeVerifier", "Identity", "ProofChecker", "create_cluster_id", "create_identity",
    "create_keypair", "create_shared_key", "envelope_overhead", "header_context", "load_identity",
    "make_envelope", "make_envelopes", "open_batch", "open_envelope", "open_frame", "peer_id",
    "publish_key", "save_identity", "seal_batch", "seal_frame", "sign_proof", "stream_keys",
    "subcluster_id", "subcluster_keypair", "verify_proof",
]
