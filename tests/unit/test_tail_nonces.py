"""No XChaCha20-Poly1305 nonce repeats with another plaintext or another AD (docs/SEALING.md
"Nonces": a repeat would leak the XOR of the plaintexts and the Poly1305 key).

Fragments after a published message's head take the short nonce input
HMAC(K_n, "srp-tail-v1" ‖ header after the magic ‖ count ‖ leaf), not the whole frame. The
argument that this input determines the plaintext is checked here on what the real publisher
(``Peer.publish_many``: make_envelopes, then csrc/chain.c seal_chains) puts on the wire, with
adversarial batches: several authors under one key naming the same previousId with the same
clocks, identical payloads across batches of different counts (so of different envelope head
lengths), batch counts 1..257 (past the 256 of one signature: two signed batches), payload
lengths one byte either side of every fragment edge for every head length, payloads that
share a suffix but not a prefix, and emit_many's packed events (``pack_values``).

Every sealed frame is opened and checked:
1. a tail fragment's plaintext is ``payload[984k - |head(count)| ...][:length]``, a function of
   its header, its count and its payload (SEALING.md "Nonces" step 1);
2. its nonce is the HMAC of ITS pre-seal header and the count ‖ leaf recomputed from that
   header's cluster, to, previousId, clock and the payload (step 2: no lane or index mix-up);
   a head fragment's nonce is the HMAC of its whole pre-seal frame;
3. over all frames under one key: equal nonce => equal plaintext, equal AD, equal ciphertext;
4. equal plaintext + AD => equal nonce for heads, and for tails whenever the payload and count
   are equal too (a reseal is the same frame). Tails of different payloads that end alike may
   carry equal plaintext + AD under different nonces: harmless (only a repeated nonce leaks),
   they are then merely different packets where a whole-frame nonce made one.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srpfast.config import Config
from srpfast.control.engine import Peer
from srpfast.control.nonces import TAIL_LABEL, nonce_key
from srpfast.crypto import _seal
from srpfast.crypto.identity import create_identity
from srpfast.crypto.sealing import MAX_BATCH, envelope_overhead
from srpfast.publishing import PACK_BYTES
from srpfast.wire import constants as C
from srpfast.wire.envelope import pack_values
from srpfast.wire.fragments import SEALED_CHUNK

OFF_FLAGS, OFF_INDEX, OFF_LENGTH, OFF_NEXT, OFF_MESSAGE = 7, 12, 14, 102, 134
NONCE = slice(OFF_MESSAGE, OFF_MESSAGE + 24)
AUTHORS = 3
CLUSTER_ID, SHARED = bytes(range(32)), bytes(range(100, 132))


@dataclass(frozen=True)
class Sealed:
    """One frame as the publisher sealed it, opened again."""
    frame: bytes       # sealed, as cached and sent
    plain: bytes       # the pre-seal frame (flags without SEALED, length = plaintext length)
    plaintext: bytes
    ad: bytes
    payload: bytes     # the message's payload (the envelope's body)
    count: int         # its signed batch's count

    @property
    def nonce(self) -> bytes:
        return self.frame[NONCE]

    @property
    def index(self) -> int:
        return int(struct.unpack_from(">H", self.plain, OFF_INDEX)[0])

    @property
    def body(self) -> bytes:  # ciphertext ‖ tag
        (n,) = struct.unpack_from(">H", self.frame, OFF_LENGTH)
        return self.frame[OFF_MESSAGE + 24:OFF_MESSAGE + n]


class World:
    """AUTHORS peers that joined one subcluster with one shared key (so one publish key)."""

    def __init__(self, shared: bytes | None = SHARED) -> None:
        """``shared`` None: the whole cluster (its key derived from the cluster id)."""
        cfg = Config(cache_bytes=32 * 1024 * 1024)
        self.peers = [Peer(create_identity(), cfg, now=0.0, rng=random.Random(i))
                      for i in range(AUTHORS)]
        self.sid = [p.join(CLUSTER_ID, shared, now=0.0) for p in self.peers][0]
        self.subs = [p.membership.subs[self.sid] for p in self.peers]
        self.key = self.subs[0].key
        assert all(s.key == self.key for s in self.subs)
        self.now = 1.0

    def publish(self, author: int, payloads: list[bytes], previous: bytes, clock: int
                ) -> list[Sealed]:
        """Peer.publish_many of ``payloads`` naming ``previous``, clocks from ``clock``; every
        frame of every chain, read back from the publisher's cache (what it sends)."""
        p, sub = self.peers[author], self.subs[author]
        sub.last_head, p.clock = previous, clock - 1
        self.now += 0.001
        heads = p.publish_many(self.sid, payloads, now=self.now)
        assert len(heads) == len(payloads)
        out = []
        for i, (head, payload) in enumerate(zip(heads, payloads)):
            # one signature per MAX_BATCH messages: the last signed batch holds the rest
            count = min(MAX_BATCH, len(payloads) - i // MAX_BATCH * MAX_BATCH)
            pid = head
            while pid != C.ZERO32:
                frame = p.cache.get(pid)
                assert frame is not None
                out.append(_opened(self.key, frame, payload, count))
                pid = frame[OFF_NEXT:OFF_NEXT + 32]
        return out


def _opened(key: bytes, frame: bytes, payload: bytes, count: int) -> Sealed:
    buf = bytearray(frame)
    assert _seal.open_frame_into(key, buf) == _seal.OK
    buf[OFF_FLAGS] &= ~C.FLAG_SEALED & 0xFF
    (n,) = struct.unpack_from(">H", buf, OFF_LENGTH)
    return Sealed(frame, bytes(buf), bytes(buf[OFF_MESSAGE:OFF_MESSAGE + n]), _seal.ad_of(frame),
                  payload, count)


def _leaf(plain: bytes, payload: bytes) -> bytes:
    """SHA-256(0x00 ‖ cluster ‖ to ‖ previousId ‖ clock ‖ payload), the context taken from
    the frame's own header (SEALING.md section 3)."""
    context = plain[22:38] + plain[38:70] + plain[70:102] + plain[8:12]
    return hashlib.sha256(b"\0" + context + payload).digest()


def check(key: bytes, frames: list[Sealed]) -> None:
    check_inputs(key, frames)
    check_no_reuse(frames)


def check_inputs(key: bytes, frames: list[Sealed]) -> None:
    """Steps 1 and 2 of the module docstring."""
    kn = nonce_key(key)
    for s in frames:
        if s.index == 0:
            want = hmac.new(kn, s.plain, hashlib.sha256).digest()[:24]
        else:
            head = envelope_overhead(s.count)
            assert head < SEALED_CHUNK  # the envelope's head never reaches a tail fragment
            start = SEALED_CHUNK * s.index - head
            assert s.plaintext == s.payload[start:start + len(s.plaintext)]          # 1.
            commit = s.count.to_bytes(2, "big") + _leaf(s.plain, s.payload)
            want = hmac.new(kn, TAIL_LABEL + s.plain[4:OFF_MESSAGE] + commit,
                            hashlib.sha256).digest()[:24]
        assert s.nonce == want                                                       # 2.


def check_no_reuse(frames: list[Sealed]) -> None:
    """Steps 3 and 4 of the module docstring, over frames sealed under one key."""
    by_nonce: dict[bytes, Sealed] = {}
    for s in frames:                                                                 # 3.
        seen = by_nonce.setdefault(s.nonce, s)
        assert (seen.plaintext, seen.ad, seen.body) == (s.plaintext, s.ad, s.body), \
            f"nonce {s.nonce.hex()} seals two plaintexts or ADs"
    nonces: dict[tuple[bytes, ...], set[bytes]] = defaultdict(set)
    for s in frames:                                                                 # 4.
        if s.index == 0:
            nonces[(s.plaintext, s.ad)].add(s.nonce)
        else:
            nonces[(s.plaintext, s.ad, s.payload, s.count.to_bytes(2, "big"))].add(s.nonce)
    assert all(len(v) == 1 for v in nonces.values())


def _head_edges() -> list[int]:
    """Payload lengths whose envelope ends one byte before, at and after fragment edges 1..3,
    for the head length of every batch depth (counts 1, 2, 3..4, ..., 129..256)."""
    sizes = {0, 1}
    for depth in range(9):
        head = envelope_overhead(1 << depth)
        for edge in (1, 2, 3):
            sizes.update(SEALED_CHUNK * edge + d - head for d in (-1, 0, 1))
    return sorted(sizes)


SIZES = _head_edges()
BASE = random.Random(7).randbytes(4 * SEALED_CHUNK)
OTHER = bytes([BASE[0] ^ 1]) + BASE[1:]  # same suffix, another first byte: another leaf
PREVIOUS = [C.ZERO32, bytes([9]) * 32]
COUNTS = [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65, 128, 129, 256, 257]


def _payload(rng: random.Random) -> bytes:
    """A prefix or a suffix of BASE or OTHER: many payloads share bytes, some whole tails."""
    n = rng.choice(SIZES)
    src = BASE if rng.random() < 0.7 else OTHER
    return src[:n] if rng.random() < 0.5 or n == 0 else src[-n:]


def _batch(rng: random.Random, count: int, packed: bool) -> list[bytes]:
    if not packed:
        return [_payload(rng) for _ in range(count)]
    # emit_many's bulk path: bytes values packed straight into payloads (pack_values)
    values = [BASE[:rng.choice((1, 100, 900, 983, 984, 1000, 3000))] for _ in range(count)]
    return pack_values("v", values, PACK_BYTES)[0]


@pytest.mark.parametrize("shared", [SHARED, None], ids=["subcluster", "whole-cluster"])
def test_every_count_and_edge_through_the_publisher(shared: bytes | None) -> None:
    """Seeded sweep: every count in COUNTS from every author, the same previousIds and clocks
    again and again, plus the same batch resealed (identical frames: step 4)."""
    world, rng, frames = World(shared), random.Random(1), []
    for count in COUNTS:
        for packed in (False, True):
            payloads = _batch(rng, count, packed)
            firsts = [world.publish(a, payloads, PREVIOUS[a % 2], 1000) for a in range(AUTHORS)]
            frames += [s for chains in firsts for s in chains]
            again = world.publish(0, payloads, PREVIOUS[0], 1000)
            assert [s.frame for s in again] == [s.frame for s in firsts[0]]
            # every author's tails of one batch are the same frames (the tail input has no
            # author: same header, count and payload give the same plaintext)
            other = [world.publish(a, payloads, PREVIOUS[1], 2000) for a in range(AUTHORS)]
            tails = [[s.frame for s in chains if s.index] for chains in other]
            assert tails[0] == tails[1] == tails[2]
            frames += again + [s for chains in other for s in chains]
    # the sweep did produce what the argument has to survive
    tails = [s for s in frames if s.index]
    assert len({s.count for s in tails}) >= 8
    same_text = defaultdict(set)
    for s in tails:
        same_text[(s.plaintext, s.ad)].add(s.nonce)
    assert any(len(v) > 1 for v in same_text.values())  # equal tails of different payloads
    check(world.key, frames)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, AUTHORS - 1), st.integers(0, 1),
                          st.integers(1000, 1002), st.sampled_from(COUNTS), st.booleans(),
                          st.integers(0, 2**32 - 1)), min_size=2, max_size=6))
def test_random_batches_never_repeat_a_nonce_with_another_plaintext(
        batches: list[tuple[int, int, int, int, bool, int]]) -> None:
    world, frames = World(), []
    for author, prev, clock, count, packed, seed in batches:
        payloads = _batch(random.Random(seed), count, packed)
        frames += world.publish(author, payloads, PREVIOUS[prev], clock)
    check(world.key, frames)


def test_the_check_catches_a_repeated_nonce() -> None:
    """check() is not vacuous: two frames sealed under one nonce with different plaintexts
    (what a wrong tail input would produce) fail it."""
    world = World()
    a = world.publish(0, [BASE[:3000]], PREVIOUS[0], 1000)
    b = world.publish(0, [bytes(3000)], PREVIOUS[0], 1000)
    ta, tb = a[1], b[1]
    assert ta.plaintext != tb.plaintext
    forged = bytearray(tb.plain)
    buf = bytearray(forged)
    assert _seal.seal_frame_into(world.key, buf, ta.nonce) == _seal.OK
    reused = _opened(world.key, bytes(buf), tb.payload, tb.count)
    with pytest.raises(AssertionError, match="seals two plaintexts"):
        check_no_reuse([ta, reused])


def test_os_random_inputs_one_more_pass() -> None:
    """Fresh OS-random payloads (no shared bytes) mixed with the adversarial ones."""
    world, frames = World(), []
    for count in (1, 2, 256, 257):
        payloads = [os.urandom(random.choice(SIZES)) for _ in range(count)]
        frames += world.publish(count % AUTHORS, payloads, PREVIOUS[0], 1000)
        frames += world.publish(0, payloads[:1] + [BASE[:1500]], PREVIOUS[0], 1000)
    check(world.key, frames)
