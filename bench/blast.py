"""A UDP sender in its own PROCESS, for the receive-side benches (bench_udp, bench_network).

The machine has 2 cores: a sender thread in the measuring process competes with the receiver
for the GIL-free core *and* the interpreter, so a receiver is loaded from another process.

    python bench/blast.py MODE HOST PORT SECONDS [FILE]

MODE:
  zeros    the C sendmmsg loop (srpfast._udp._ceiling_send) of 1158-byte zero datagrams
  publish  valid, distinct PUBLISH frames (frame.encode_many template, an 8-byte counter
           patched into each message per batch so no two datagrams are duplicates)
  frames   the 1158-byte frames of FILE, cycled, 64 per sendmmsg
  once     the frames of FILE once each (or until SECONDS), 64 per sendmmsg: a receiver sees
           only new frames, none it must drop as a repeat

Protocol: the child prints "ready" once built, waits for one line on stdin, blasts for SECONDS,
then prints one JSON line {"sent": n, "seconds": t}. ``Blaster`` wraps that for the parent.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 64
FRAME = 1158
MESSAGE_OFFSET = 134  # csrc/frame.h SRP_OFF_MESSAGE


class Blaster:
    """Parent side: start the sender process, ``go()`` when the receiver is ready, ``result()``
    when done. Always terminated on exit (context manager), never left running."""

    def __init__(self, mode: str, address: tuple, seconds: float, path: str = "") -> None:
        args = [sys.executable, os.path.abspath(__file__), mode, address[0], str(address[1]),
                str(seconds)] + ([path] if path else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            self.close()
            raise RuntimeError(f"sender process failed to start: {line!r}")

    def go(self) -> None:
        self.proc.stdin.write("go\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def result(self, timeout: float = 30.0) -> dict:
        out, _ = self.proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> "Blaster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _blast_publish(sock, address: tuple, seconds: float) -> int:
    from srpfast.constants import PUBLISH
    from srpfast.frame import encode_many
    buf = bytearray(BATCH * FRAME)
    base = os.urandom(1024)  # a fresh prefix per run: no id repeats a previous run's
    messages = [bytes(8) + base[8:] for _ in range(BATCH)]
    assert encode_many(buf, messages, type=PUBLISH, cluster=b"\x07" * 16, to=b"\x09" * 32) \
        == BATCH
    offsets = [k * FRAME + MESSAGE_OFFSET for k in range(BATCH)]
    pack = struct.Struct(">Q").pack_into
    n = sent = 0
    send = sock.send_batch
    t0 = time.perf_counter()
    while True:
        for off in offsets:
            pack(buf, off, n)
            n += 1
        sent += send(buf, address)
        if time.perf_counter() - t0 >= seconds:
            return sent


def _blast_frames(sock, address: tuple, seconds: float, path: str, once: bool = False) -> int:
    with open(path, "rb") as f:
        data = f.read()
    n = len(data) // FRAME
    chunks = [data[i * FRAME:min(i + BATCH, n) * FRAME] for i in range(0, n, BATCH)]
    sent = 0
    send = sock.send_batch
    t0 = time.perf_counter()
    while True:
        for chunk in chunks:
            sent += send(chunk, address)
        if once or time.perf_counter() - t0 >= seconds:
            return sent


def main(argv: list[str]) -> None:
    sys.path.insert(0, ROOT)
    from srpfast import _udp
    mode, host, port, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    address = (host, port)
    with _udp.UDPSocket(host) as sock:
        print("ready", flush=True)
        sys.stdin.readline()
        t0 = time.perf_counter()
        if mode == "zeros":
            sent, _ = _udp._ceiling_send(sock, address, seconds, BATCH)
        elif mode == "publish":
            sent = _blast_publish(sock, address, seconds)
        elif mode in ("frames", "once"):
            sent = _blast_frames(sock, address, seconds, argv[4], once=mode == "once")
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        print(json.dumps({"sent": sent, "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
