"""Frame codec throughput (issue 2): the C SHA-256 limit, srpfast's batch and single-call
paths, and a pure-Python struct+hashlib codec, in one run."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import pycodec  # noqa: E402
from bench.harness import Row, best_rate, main, quick_params, refresh_limit  # noqa: E402
from srpfast.wire import frame  # noqa: E402
from srpfast.crypto import _sha256
BATCH = 64


def run(quick: bool = False) -> list[Row]:
    p = quick_params(quick)
    msgs = [os.urandom(1024) for _ in range(BATCH)]  # full frames: the SHA-256 worst case
    datagrams = [frame.encode(type=5, message=m, clock=i) for i, m in enumerate(msgs)]
    buf = b"".join(datagrams)
    sha_input = os.urandom(1088 * BATCH)
    checker = frame.BatchChecker(BATCH)
    out = bytearray(1158 * BATCH)
    assert checker.check(buf, BATCH) == BATCH
    assert pycodec.decode(datagrams[0])[-1] == frame.packet_id(datagrams[0])

    group = "frame codec (1024-byte messages)"
    # The limit is the fastest C SHA-256 loop we have: two inputs interleaved (SHA-NI is
    # latency-bound per stream) or one at a time, whichever ran faster in this run (on a busy
    # machine either can win a best-of; a ceiling must be the best seen).
    def sha_loops() -> tuple[float, float]:
        return (best_rate(lambda: _sha256.hash_loop_x2(sha_input, 1088, BATCH), BATCH, **p),
                best_rate(lambda: _sha256.hash_loop(sha_input, 1088, BATCH), BATCH, **p))
    x2, x1 = sha_loops()
    rows = [Row(group, f"C SHA-256 loop, 1088-byte inputs, fastest of 2-interleaved and one "
                       f"at a time ({_sha256.impl()})", max(x1, x2), role="limit",
                note=f"2 interleaved {x2:,.0f}/s, one at a time {x1:,.0f}/s")]
    rows.append(Row(group, "srpfast batch decode+validate+id (64/call)",
                    best_rate(lambda: checker.check(buf, BATCH), BATCH, **p),
                    min_x_limit=0.8, min_x_peer=3))
    dec = frame.decode
    rows.append(Row(group, "srpfast single-call decode -> Frame",
                    best_rate(lambda: [dec(d) for d in datagrams], BATCH, **p)))
    pyd = pycodec.decode
    rows.append(Row(group, "pure Python struct+hashlib decode+validate+id",
                    best_rate(lambda: [pyd(d) for d in datagrams], BATCH, **p), role="peer"))
    refresh_limit(rows[0], lambda: max(sha_loops()))
    return rows + _encode_rows(msgs, out, p)


def _encode_rows(msgs: list[bytes], out: bytearray, p: dict) -> list[Row]:
    """Encoding computes no SHA-256, so the SHA-256 loop is no ceiling for it: its own group,
    whose limit is writing the same bytes once (one memcpy of the whole batch)."""
    group = "frame encode (1024-byte messages)"
    template = os.urandom(len(out))
    view = memoryview(out)

    def copy() -> None:
        view[:] = template  # memoryview slice assignment: one memcpy (bytearray's is slower)
    rows = [Row(group, f"memcpy of {BATCH} x 1158-byte frames (memoryview slice copy)",
                best_rate(copy, BATCH, **p), role="limit",
                note="the bytes an encoder must write, written once")]
    enc = frame.encode
    rows.append(Row(group, "srpfast encode -> bytes",
                    best_rate(lambda: [enc(type=5, message=m) for m in msgs], BATCH, **p)))
    rows.append(Row(group, "srpfast encode_many into a buffer",
                    best_rate(lambda: frame.encode_many(out, msgs, type=5), BATCH, **p)))
    pye = pycodec.encode
    rows.append(Row(group, "pure Python struct encode",
                    best_rate(lambda: [pye(5, m) for m in msgs], BATCH, **p), role="peer"))
    refresh_limit(rows[0], lambda: best_rate(copy, BATCH, **p))
    return rows


if __name__ == "__main__":
    main(run)
