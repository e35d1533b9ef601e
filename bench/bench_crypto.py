"""Sealing benchmarks (issue 4): per-packet AEAD and sealed publish with amortised signatures.

Group "sealing", all figures per 1 KB message area (one full sealed frame: 984 bytes of
plaintext + 40 bytes of nonce and tag):
  limit  the XChaCha20-Poly1305 seal of 984 B seal_batch runs per frame, in a C loop
         (bench/ceilings.c, bench-only; no framing, no nonces)
  peer   pysodium, one AEAD call + one ed25519 signature per message (the naive sealed publish)
  srpfast stream seal: seal_batch over 256 frames (AEAD only, STREAM)
Group "opening": limit = the open primitive in a C loop (bench/ceilings.c, bench-only);
  srpfast open_batch over 256 frames, and sealed receive (open + verify envelope)
  srpfast sealed publish: make_envelopes (Merkle batch of 256, one signature) + frame fill +
          seal_batch; payload 627 B so envelope (357 B) + payload fill one 984 B plaintext
  srpfast sealed receive: open_batch + EnvelopeVerifier.open per message (signature cached)
"""
from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pysodium  # noqa: E402

from bench import ceilings  # noqa: E402
from bench.harness import Row, best_rate, main, quick_params, refresh_limit  # noqa: E402
from srpfast import crypto  # noqa: E402
from srpfast.crypto import _seal
PACKET, HEADER = 1158, 134
BATCH = 256
PLAIN = crypto.MAX_PLAINTEXT                      # 984
PAYLOAD = PLAIN - crypto.envelope_overhead(BATCH)  # 627
ROUNDS = 4  # alternations of a ceiling and the figure that runs its primitive (below)


def _frame(msg: bytes, clock: int) -> bytes:
    head = (b"SRP\x00" + bytes([5, 1, 0, 0]) + struct.pack(">IHHIBB", clock, 0, len(msg), 21600,
            8, 0) + b"C" * 16 + b"T" * 32 + b"P" * 32 + bytes(32))
    return head + msg + bytes(1024 - len(msg))


def run(quick: bool) -> list[Row]:
    p = quick_params(quick)
    key = crypto.publish_key(crypto.create_shared_key(b"bench"))
    author = crypto.create_identity(b"\x01" * 32)
    rows: list[Row] = []
    target_stream = {"min_x_limit": 0.7}
    target_publish = {"min_rate": 200e3}  # incl. authenticity (a signature per batch)

    iters = 2000
    limit = best_rate(lambda: ceilings.seal_loop(key, iters, PLAIN), iters, **p)
    # Opening has its own group and ceiling: open_batch opens with one wide keystream call
    # per frame (csrc/seal.c srp_xchacha_open), faster than libsodium's AEAD call, so a
    # seal limit is no ceiling for it (it showed ABOVE LIMIT); bench/ceilings.c loops that
    # primitive without framing.
    open_group = "opening (1 KB message area)"
    open_iters = 2000

    def open_ceiling() -> float:
        return best_rate(lambda: ceilings.open_loop(key, open_iters, PLAIN), open_iters, **p)
    open_limit = Row(open_group, "C XChaCha20-Poly1305 open 984 B (C loop, bench/ceilings.c)",
                     open_ceiling(), "msg/s", role="limit",
                     note="the primitive open_batch runs per frame, no framing")
    rows.append(Row("sealing", "C XChaCha20-Poly1305 seal 984 B (C loop, bench/ceilings.c)",
                    limit, "msg/s", role="limit",
                    note="the primitive seal_batch runs per frame, no framing"))

    # peer: what one pysodium call per message costs for a sealed, signed publish
    payload = os.urandom(PAYLOAD)
    ad = bytes(123)

    def peer() -> None:
        for _ in range(64):
            sig = pysodium.crypto_sign_detached(payload, author.secret_key)
            pysodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
                author.public_key + sig + payload, ad, os.urandom(24), key)
    rows.append(Row("sealing", "pysodium AEAD + ed25519 per message", best_rate(peer, 64, **p),
                    "msg/s", role="peer"))

    # stream: AEAD only, in place, 256 frames per call (the copy resets the plaintext)
    template = bytearray(b"".join(_frame(os.urandom(PLAIN), i) for i in range(BATCH)))
    buf = bytearray(template)

    def seal_stream() -> None:
        buf[:] = template
        _seal.seal_batch(key, buf, BATCH)
    sealed_rate = 0.0
    for _ in range(ROUNDS):  # in alternation with its ceiling, as opening below
        sealed_rate = max(sealed_rate, best_rate(seal_stream, BATCH, **p))
        rows[0].rate = max(rows[0].rate, best_rate(
            lambda: ceilings.seal_loop(key, iters, PLAIN), iters, **p))
    rows.append(Row("sealing", "srpfast seal_batch 984 B (stream AEAD)", sealed_rate, "msg/s",
                    **target_stream, note="includes resetting the 256-frame buffer"))

    sealed = bytearray(template)
    _seal.seal_batch(key, sealed, BATCH)

    def open_stream() -> None:
        buf[:] = sealed
        _seal.open_batch(key, buf, BATCH)
    # The ceiling and open_batch do the same primitive (open_batch adds the framing), so on
    # a shared machine whose share of a core swings 3x from one moment to the next the two
    # are measured in alternation, best of each over the rounds: a lucky moment for one is
    # a lucky moment available to the other.
    opened = 0.0
    for _ in range(ROUNDS):
        opened = max(opened, best_rate(open_stream, BATCH, **p))
        open_limit.rate = max(open_limit.rate, open_ceiling())
    open_rows = [open_limit, Row(open_group, "srpfast open_batch 984 B (stream AEAD)",
                                 opened, "msg/s", **target_stream)]

    # sealed publish: sign a batch of 256 with one signature, fill frames, seal in C
    payloads = [os.urandom(PAYLOAD) for _ in range(BATCH)]
    ctx = crypto.header_context(b"C" * 16, b"T" * 32, b"P" * 32, 0)
    contexts = [ctx] * BATCH
    headers = bytearray(b"".join(_frame(b"", 0) for _ in range(BATCH)))
    pack = struct.Struct(">H").pack_into

    def publish() -> None:
        envs = _seal.make_envelopes(author.secret_key, payloads, contexts)
        buf[:] = headers
        off = HEADER
        for env in envs:
            n = len(env)
            buf[off:off + n] = env
            pack(buf, off - HEADER + 14, n)
            off += PACKET
        _seal.seal_batch(key, buf, BATCH)
    rows.append(Row("sealing", f"srpfast sealed publish {PAYLOAD} B + envelope (batch sign+seal)",
                    best_rate(publish, BATCH, **p), "msg/s", **target_publish,
                    note="Merkle batch of 256, one ed25519 signature"))

    publish()
    published = bytes(buf)
    verifier = crypto.EnvelopeVerifier()

    def receive() -> None:
        buf[:] = published
        status = _seal.open_batch(key, buf, BATCH)
        mv = memoryview(buf)
        off = 0
        for i in range(BATCH):
            if status[i] == 0:
                n = buf[off + 14] << 8 | buf[off + 15]
                verifier.open(mv[off + HEADER:off + HEADER + n], ctx)
            off += PACKET
    open_rows.append(Row(open_group, "srpfast sealed receive (open_batch + verify envelope)",
                         best_rate(receive, BATCH, **p), "msg/s", **target_publish,
                         note="batch signature verified once, then cached"))
    refresh_limit(rows[0], lambda: best_rate(
        lambda: ceilings.seal_loop(key, iters, PLAIN), iters, **p))
    refresh_limit(open_limit, open_ceiling)
    return rows + open_rows


if __name__ == "__main__":
    main(run)
