"""A UDP sender in its own PROCESS, for the receive-side benches (bench_udp, bench_network).

The machine has 2 cores: a sender thread in the measuring process competes with the receiver
for the GIL-free core *and* the interpreter, so a receiver is loaded from another process.

    python bench/blast.py MODE HOST PORT SECONDS [FILE] [--prove] [--paced] [--gso]

MODE:
  zeros    the C sendmmsg loop (bench/ceilings.py udp_send_loop) of 1158-byte zero datagrams
  publish  valid, distinct PUBLISH frames (frame.encode_many template, an 8-byte counter
           patched into each message per batch so no two datagrams are duplicates)
  publish_gso  the same frames, each batch of 64 as UDP GSO super-datagrams (as srpfast's own
           senders send a run to one peer: drivers/udp.py)
  relay    the publish_gso frames at a relay, flow-controlled by three SINK sockets of this
           process that the relay forwards to (proven peers too with --prove; read here, off
           the relay's core; their addresses printed before "ready" for the live relay
           ceiling, which has no handshake): at most RELAY_WINDOW inputs are in flight (sent,
           not yet seen by the sinks), so the relay is never measured as a victim of its own
           receive-buffer overflow; a
           window stalled STALL (0.2 s: datagrams lost on the way) is written off and counted
  frames   the 1158-byte frames of FILE, cycled, 64 per sendmmsg
  once     the frames of FILE once each (or until SECONDS), 64 per sendmmsg: a receiver sees
           only new frames, none it must drop as a repeat

--paced (once): the receiver's socket queue is kept under PACED_QUEUE bytes: before every
PACED_EVERY sendmmsg calls the sender reads the receiver's rx_queue (/proc/net/udp{,6}, the
kernel's count for that port) and waits while it is above: the receiver reads everything it
is sent, so its rate is what it can take, not what is left after its buffer overflowed.

--gso (frames, once): each chunk of 64 frames leaves as UDP GSO super-datagrams (one pass
down the sender's stack per 56 frames, as srpfast's publishers send a run to one peer,
drivers/udp.py) instead of 64 datagrams of one sendmmsg; a receiver with UDP GRO reads each
whole. The "receive to subscriber" rows and their limit's receive part use it (bench_network.py
SENDER; docs/BENCHMARKS.md, session 13: plain sends on loopback were the rows' bound).

--prove: before blasting, the sender becomes a PROVEN PEER of HOST:PORT (an engine Peer on the
same socket completes the signed PING/PONG round trip, SPEC 4): the receiver then charges it
the default proven-peer budget (Config.rate_peer_packets), as it would a real publisher, not
the stranger budget. No Config is lifted on the receiver to make room for the blast.

Protocol: the child prints "ready" once built (and proven; in relay mode after a line "sinks"
and their addresses as JSON), waits for one line on stdin, blasts for SECONDS, then prints one
JSON line {"sent": n, "seconds": t}. ``Blaster`` wraps that for the parent (``sinks``).
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
# Inputs in flight to the relay: ~2.4 MB of frames, inside its 4 MiB receive buffer
# (UDPSocket's default; the kernel counts twice that), 4 wakeups' worth of its receive batches
# (8 x 64 per wakeup). 1,024 and 4,096 measured the same relay rate: the window never bound.
RELAY_WINDOW = 2048
PACED_QUEUE = 2 << 20  # bytes (skb truesize) queued: a quarter of the 8 MiB the kernel allows
# sendmmsg calls (512 frames, ~1.2 MB queued) between two looks at the queue: reading
# /proc/net/udp took ~40% of the sender's CPU looking every 4
PACED_EVERY = 8
RELAY_SINKS = 3
# A window with nothing arriving at the sinks this long is written off as lost on the way and
# the sender goes on. 20 ms was shorter than a relay descheduled on a busy 2-core machine: the
# sender then wrote off a window still queued at the relay, doubled what was in flight and
# overflowed the relay's receive buffer (kernel drops counted as the relay's loss).
STALL = 0.2


class Blaster:
    """Parent side: start the sender process, ``go()`` when the receiver is ready, ``result()``
    when done. Always terminated on exit (context manager), never left running."""

    def __init__(self, mode: str, address: tuple, seconds: float, path: str = "",
                 prove: bool = False, paced: bool = False, gso: bool = False) -> None:
        """Blocks until the child is ready: with ``prove``, call it off the event loop that
        runs the receiver (run_in_executor), which must answer the handshake meanwhile."""
        args = [sys.executable, os.path.abspath(__file__), mode, address[0], str(address[1]),
                str(seconds)] + ([path] if path else []) + (["--prove"] if prove else []) + \
            (["--paced"] if paced else []) + (["--gso"] if gso else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        # relay mode names its sinks first (the live relay ceiling sends to them)
        self.sinks: list[tuple[str, int]] = []
        if line.startswith("sinks "):
            self.sinks = [(h, p) for h, p in json.loads(line[6:])]
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


def _publish_template() -> tuple[bytearray, list[int]]:
    from srpfast.wire.constants import PUBLISH
    from srpfast.wire.frame import encode_many
    buf = bytearray(BATCH * FRAME)
    base = os.urandom(1024)  # a fresh prefix per run: no id repeats a previous run's
    messages = [bytes(8) + base[8:] for _ in range(BATCH)]
    assert encode_many(buf, messages, type=PUBLISH, cluster=b"\x07" * 16, to=b"\x09" * 32) \
        == BATCH
    return buf, [k * FRAME + MESSAGE_OFFSET for k in range(BATCH)]


def _blast_publish(sock, address: tuple, seconds: float, gso: bool = False) -> int:
    buf, offsets = _publish_template()
    pack = struct.Struct(">Q").pack_into
    n = sent = 0
    dest = sock.resolve(address)
    send = (lambda: sock.send_gso(buf, FRAME, dest)) if gso else \
        (lambda: sock.send_batch(buf, address))
    t0 = time.perf_counter()
    while True:
        for off in offsets:
            pack(buf, off, n)
            n += 1
        sent += send()
        if time.perf_counter() - t0 >= seconds:
            return sent


def _drain(sinks: list) -> int:
    got = 0
    for s in sinks:
        while True:
            n = s.recv_batch().count
            got += n
            if n < s.batch and not s.pending:
                break
    return got


def _blast_relay(sock, sinks: list, address: tuple, seconds: float) -> dict:
    """publish_gso frames at the relay with at most RELAY_WINDOW inputs in flight, the sinks
    read here; then the sinks drained until 0.2 s pass with nothing."""
    import select
    buf, offsets = _publish_template()
    pack = struct.Struct(">Q").pack_into
    dest = sock.resolve(address)
    fanout = len(sinks)
    n = sent = got = written_off = stalls = 0
    cpu0 = time.process_time()
    t0 = last = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now - t0 >= seconds:
            break
        room = RELAY_WINDOW - (sent - written_off - got // fanout) >= BATCH
        if room:
            for off in offsets:
                pack(buf, off, n)
                n += 1
            sent += sock.send_gso(buf, FRAME, dest)
        else:
            select.select(sinks, [], [], 0.001)
        g = _drain(sinks)
        if g:
            got += g
            last = now
        elif not room and now - last > STALL:  # lost on the way: do not wait for them
            written_off = sent - got // fanout
            stalls += 1
            last = now
    sending = time.perf_counter() - t0
    busy = (time.process_time() - cpu0) / max(sending, 1e-9)
    idle = time.perf_counter()
    while time.perf_counter() - idle < 0.2:
        select.select(sinks, [], [], 0.01)
        g = _drain(sinks)
        if g:
            got += g
            idle = time.perf_counter()
    return {"sent": sent, "sinks": got, "stalls": stalls, "seconds": sending,
            "window": RELAY_WINDOW, "busy": busy}


def _load_chunks(path: str) -> list[bytes]:
    """The frames of FILE in sendmmsg-sized chunks, built BEFORE "ready": reading a large
    file after "go" would count as the receiver's time (rates run from the go)."""
    with open(path, "rb") as f:
        data = f.read()
    n = len(data) // FRAME
    return [data[i * FRAME:min(i + BATCH, n) * FRAME] for i in range(0, n, BATCH)]


def _rx_queue(port: int) -> int:
    """Bytes queued on the UDP socket bound to ``port`` (the kernel's rx_queue; 0 if none)."""
    want = f":{port:04X} "
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) > 4 and (fields[1] + " ").endswith(want):
                        total += int(fields[4].split(":")[1], 16)
        except OSError:
            pass
    return total


def _blast_frames(sock, address: tuple, seconds: float, chunks: list[bytes],
                  once: bool = False, paced: bool = False, gso: bool = False) -> tuple[int, int]:
    """Returns (datagrams sent, waits for the receiver's queue)."""
    sent = waits = 0
    dest = sock.resolve(address)
    send = (lambda chunk, _: sock.send_gso(chunk, FRAME, dest)) if gso else sock.send_batch
    t0 = time.perf_counter()
    while True:
        for k, chunk in enumerate(chunks):
            if paced and k % PACED_EVERY == 0:
                while _rx_queue(address[1]) > PACED_QUEUE:
                    waits += 1
                    time.sleep(0.0002)
            sent += send(chunk, address)
        if once or time.perf_counter() - t0 >= seconds:
            return sent, waits


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
    from bench import ceilings
    from srpfast.drivers import _udp
    prove, paced, gso = "--prove" in argv, "--paced" in argv, "--gso" in argv
    argv = [a for a in argv if a not in ("--prove", "--paced", "--gso")]
    mode, host, port, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    address = (host, port)
    sinks = []
    try:
        if mode == "relay":  # GRO: a relayed run of frames is one read here (docs/NET.md)
            sinks = [_udp.UDPSocket(host, gro=True, batch=1024) for _ in range(RELAY_SINKS)]
            for sink in sinks:
                if prove:  # (the live relay ceiling has no engine to prove them to)
                    _prove(sink, address)
            print("sinks " + json.dumps([sink.local_address for sink in sinks]), flush=True)
        with _udp.UDPSocket(host) as sock:
            if prove:
                _prove(sock, address)
            chunks = _load_chunks(argv[4]) if mode in ("frames", "once") else []
            if mode == "zeros":
                ceilings.lib()  # (built, if it must be, before "ready": not in the blast time)
            print("ready", flush=True)
            sys.stdin.readline()
            t0 = time.perf_counter()
            extra: dict = {}
            if mode == "zeros":
                sent, _ = ceilings.udp_send_loop(sock, address, seconds, BATCH)
            elif mode in ("publish", "publish_gso"):
                sent = _blast_publish(sock, address, seconds, gso=mode == "publish_gso")
            elif mode == "relay":
                extra = _blast_relay(sock, sinks, address, seconds)
                sent = extra.pop("sent")
            elif mode in ("frames", "once"):
                sent, waits = _blast_frames(sock, address, seconds, chunks, once=mode == "once",
                                            paced=paced, gso=gso)
                extra = {"waits": waits} if paced else {}
            else:
                raise SystemExit(f"unknown mode {mode!r}")
            print(json.dumps({"sent": sent, "seconds": time.perf_counter() - t0, **extra}),
                  flush=True)
    finally:
        for sink in sinks:
            sink.close()


if __name__ == "__main__":
    main(sys.argv[1:])
