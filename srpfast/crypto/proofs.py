"""Proof of id for PING/PONG/JOIN bodies, and the replay window (SPEC 4, 9.2).

A body that claims a peerId ends with a 64-byte ed25519 signature by that peerId (which is
the public key) over ``b"srp-proof-v1" ‖ body-before-the-signature``. The domain prefix keeps a
proof signature from ever being valid as an envelope batch signature ("srp-batch-v2") or the
other way round. The signed body carries a timestamp (uint64 ms) and a nonce/ping id; a
ProofChecker refuses stale or future timestamps and replays within the window.
"""
from __future__ import annotations

import os
from collections import OrderedDict, deque
from hashlib import blake2b

from srpfast.crypto import _sodium
from srpfast.errors import ArgumentError
from srpfast.crypto.identity import Identity, _as_bytes

PROOF_DOMAIN = b"srp-proof-v1"
SIGNATURE_BYTES = 64


def sign_proof(identity: Identity, body: bytes) -> bytes:
    """64-byte signature proving ``identity`` wrote ``body`` (append it to the body)."""
    if not isinstance(identity, Identity):
        raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
    return _sodium.sign_detached(PROOF_DOMAIN + _as_bytes(body, None, "body"),
                                 identity.secret_key)


# Proofs this process verified lately (the exact key + signature + body, positives only):
# a relayed JOIN or an INTRO's JOIN proof reaches many engines with the same bytes, and
# engines sharing a process (a simulator, a MemoryHub) verified each copy again (46% of
# all verifications at 200 simulated peers). Bounded; a forgery can never enter it.
_VERIFIED: OrderedDict[bytes, None] = OrderedDict()
_VERIFIED_MAX = 4096


def verify_proof(peer_id: bytes, body: bytes, signature: bytes) -> bool:
    """True when ``signature`` is peer_id's proof over ``body``; False for anything else
    (wrong key, tampered body, malformed signature or id). Never raises on remote input."""
    if len(peer_id) != 32 or len(signature) != SIGNATURE_BYTES:
        return False
    key = bytes(peer_id) + bytes(signature) + bytes(body)
    if key in _VERIFIED:
        return True
    if not _sodium.verify_detached(bytes(signature), PROOF_DOMAIN + bytes(body),
                                   bytes(peer_id)):
        return False
    _VERIFIED[key] = None
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return True


class ProofChecker:
    """Replay window for signed bodies (call after verify_proof succeeds).

    ``check`` accepts a (peer_id, nonce) once, and only while its timestamp is within
    ``window_s`` of ``now_ms`` (either direction: clocks differ a little). Memory is bounded by
    ``capacity``: entries expire once their timestamp has left the window, and when the table
    is full the oldest entry is evicted and its timestamp raises a floor below which every
    proof is refused, so an evicted entry can never be replayed (an honest peer's fresh
    timestamp is above the floor; under a flood only old-but-in-window proofs are refused).
    """

    def __init__(self, window_s: float = 30, capacity: int = 4096) -> None:
        if window_s <= 0:
            raise ArgumentError("window_s must be > 0")
        if capacity < 1:
            raise ArgumentError("capacity must be >= 1")
        self.window_ms = int(window_s * 1000)
        self.capacity = capacity
        # key -> expiry ms (= timestamp + window + 1); the key is a 16-byte keyed BLAKE2b of
        # (peer_id, nonce), not their 41 bytes: a 56-byte object instead of 80, and a
        # collision (which would refuse one honest proof as a replay) needs ~2^64 entries
        # under a key nobody else knows. _order: the keys in insertion order, the only order
        # entries leave in (a key is never re-inserted or moved; see check for why that is
        # safe). One int, not a tuple, and a
        # dict with a deque, not an OrderedDict: an engine holds one entry per proof it
        # accepted in the last 2 windows (~500 a peer in a simulator's join storm), and the
        # tuple and the OrderedDict's links were ~120 of each entry's ~270 bytes.
        self._seen: dict[bytes, int] = {}
        self._order: deque[bytes] = deque()
        self._key = os.urandom(16)
        self._floor = -1  # proofs with timestamp <= floor are refused
        self.counters = {"ok": 0, "stale": 0, "future": 0, "replay": 0, "floor": 0}

    def __len__(self) -> int:
        return len(self._seen)

    def expiry(self, timestamp_ms: int) -> int:
        """The first ms at which a proof stamped ``timestamp_ms`` is stale (refused by check):
        how long its entry, and anything keyed by the same proof, need be kept."""
        return timestamp_ms + self.window_ms + 1

    def _expire(self, now_ms: int) -> None:
        seen, order = self._seen, self._order
        while order:
            if seen[order[0]] > now_ms:
                break
            del seen[order.popleft()]

    def check(self, peer_id: bytes, timestamp_ms: int, nonce: bytes | int, now_ms: int) -> bool:
        """True the first time a fresh (peer_id, nonce) is seen; False for a stale or future
        timestamp or a replay. Remembers accepted proofs until they leave the window."""
        self._expire(now_ms)
        if timestamp_ms < now_ms - self.window_ms:
            self.counters["stale"] += 1
            return False
        if timestamp_ms > now_ms + self.window_ms:
            self.counters["future"] += 1
            return False
        if isinstance(nonce, int):
            nonce = nonce.to_bytes(8, "big", signed=nonce < 0)
        key = blake2b(bytes(peer_id) + b"\x00" + bytes(nonce), digest_size=16,
                      key=self._key).digest()
        if key in self._seen:
            self.counters["replay"] += 1
            return False
        if timestamp_ms <= self._floor:
            self.counters["floor"] += 1
            return False
        # Keep it while its timestamp can still pass the window check (docs/PROTOCOL.md §2,
        # the replay window): while now <= ts + window; after that the check above refuses it
        # as stale. Entries leave in insertion order, each only once its own expiry has
        # passed, so one with a later expiry (a timestamp ahead of our clock) holds those
        # behind it longer, never shorter. (It was now + 2 windows, to keep expiries in
        # insertion order: twice as long as a proof stamped now needs, ~500 entries a peer
        # instead of ~250 in a simulator's join storm; docs/SIMULATION_SCALE_LOG.md, "Memory".)
        expiry = self.expiry(timestamp_ms)
        self._seen[key] = expiry
        self._order.append(key)
        if len(self._seen) > self.capacity:
            old = self._seen.pop(self._order.popleft())
            old_ts = old - self.window_ms - 1
            # Evicted before it expired: refuse every timestamp up to its own from now on.
            self._floor = max(self._floor, old_ts)
        self.counters["ok"] += 1
        return True
