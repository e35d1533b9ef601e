"""A UDP sender in its own PROCESS, for the receive-side benches (bench_udp, bench_network).

The machine has 2 cores: a sender thread in the measuring process competes with the receiver
for the GIL-free core *and* the interpreter, so a receiver is loaded from another process.

    python bench/blast.py MODE HOST PORT SECONDS [FILE] [--prove]

MODE:
  zeros    the C sendmmsg loop (srpfast.drivers._udp._ceiling_send) of 1158-byte zero datagrams
  publish  valid, distinct PUBLISH frames (frame.encode_many template, an 8-byte counter
           patched into each message per batch so no two datagrams are duplicates)
  frames   the 1158-byte frames of FILE, cycled, 64 per sendmmsg
  once     the frames of FILE once each (or until SECONDS), 64 per sendmmsg: a receiver sees
           only new frames, none it must drop as a repeat

--prove: before blasting, the sender becomes a PROVEN PEER of HOST:PORT (an engine Peer on the
same socket completes the signed PING/PONG round trip, SPEC 4): the receiver then charges it
the default proven-peer budget (Config.rate_peer_packets), as it would a real publisher, not
the stranger budget. No Config is lifted on the receiver to make room for the blast.

Protocol: the child prints "ready" once built (and proven), waits for one line on stdin, blasts for SECONDS,
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

    def __init__(self, mode: str, address: tuple, seconds: float, path: str = "",
                 prove: bool = False) -> None:
        """Blocks until the child is ready: with ``prove``, call it off the event loop that
        runs the receiver (run_in_executor), which must answer the handshake meanwhile."""
        args = [sys.executable, os.path.abspath(__file__), mode, address[0], str(address[1]),
                str(seconds)] + ([path] if path else []) + (["--prove"] if prove else [])
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
    from srpfast.wire.constants import PUBLISH
    from srpfast.wire.frame import encode_many
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


def _load_chunks(path: str) -> list[bytes]:
    """The frames of FILE in sendmmsg-sized chunks, built BEFORE "ready": reading a large
    file after "go" would count as the receiver's time (rates run from the go)."""
    with open(path, "rb") as f:
        data = f.read()
    n = len(data) // FRAME
    return [data[i * FRAME:min(i + BATCH, n) * FRAME] for i in range(0, n, BATCH)]


def _blast_frames(sock, address: tuple, seconds: float, chunks: list[bytes],
                  once: bool = False) -> int:
    sent = 0
    send = sock.send_batch
    t0 = time.perf_counter()
    while True:
        for chunk in chunks:
            sent += send(chunk, address)
        if once or time.perf_counter() - t0 >= seconds:
            return sent


def _prove(sock, address: tuple, timeout: float = 10.0) -> None:
    """Complete the PING/PONG round trip with ``address`` from this socket (sans-I/O engine
    Peer pumped by hand), then let the trailing JOIN/PING traffic settle."""
    import select

    from srpfast.config import Config
    from srpfast.crypto import create_identity
    from srpfast.control.engine import Peer
    now = time.monotonic()
    peer = Peer(create_identity(), Config(), now=now, address=sock.local_address)
    peer.add_peer(address, now)
    end, settle_until = now + timeout, None
    while True:
        out = peer.datagrams_to_send()
        if out:
            sock.send_batch([d for d, _ in out], [a for _, a in out])
        now = time.monotonic()
        if settle_until is None and len(peer.table):
            settle_until = now + 0.2
        if settle_until is not None and now >= settle_until:
            return
        if now > end:
            raise SystemExit("blast: no PONG from the receiver: not proven")
        select.select([sock.fileno()], [], [], 0.01)
        for datagram, source in sock.recv_batch():
            peer.receive(datagram, source, time.monotonic())


def main(argv: list[str]) -> None:
    sys.path.insert(0, ROOT)
    from srpfast.drivers import _udp
    prove = "--prove" in argv
    argv = [a for a in argv if a != "--prove"]
    mode, host, port, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    address = (host, port)
    with _udp.UDPSocket(host) as sock:
        if prove:
            _prove(sock, address)
        chunks = _load_chunks(argv[4]) if mode in ("frames", "once") else []
        print("ready", flush=True)
        sys.stdin.readline()
        t0 = time.perf_counter()
        if mode == "zeros":
            sent, _ = _udp._ceiling_send(sock, address, seconds, BATCH)
        elif mode == "publish":
            sent = _blast_publish(sock, address, seconds)
        elif mode in ("frames", "once"):
            sent = _blast_frames(sock, address, seconds, chunks, once=mode == "once")
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        print(json.dumps({"sent": sent, "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
