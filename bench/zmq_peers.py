"""pyzmq PUB/SUB over TCP (optionally CURVE-encrypted) child processes for bench/bench_e2e.py,
the peer the end-to-end srpfast rows are measured against (same protocol: bench/e2e_procs.py).
pyzmq defaults (HWM 1000 messages); blocking sockets, the fastest way to drive pyzmq.

    python bench/zmq_peers.py sub --count N [--curve SERVER_PUBLIC] [--latency]
    python bench/zmq_peers.py pub --connect HOST:PORT --count N --size B [--rate R]
                                  [--curve SERVER_PUBLIC --secret SERVER_SECRET] [--latency]

Throughput: send_multipart of 256 values per message (the batch the srpfast emit_many row
uses); latency: one value per message at --rate. Keys are Z85 text (zmq.curve_keypair()).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.e2e_procs import GRACE, Commands, Tally, now_ns, pace, say, stamp  # noqa: E402

BATCH = 256
DATA, PROBE = b"d", b"p"


def _sub(args: argparse.Namespace) -> None:
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    if args.curve:  # the subscriber is the CURVE client: it knows the publisher's key
        public, secret = zmq.curve_keypair()
        s.curve_serverkey = args.curve.encode()
        s.curve_publickey, s.curve_secretkey = public, secret
    s.setsockopt(zmq.SUBSCRIBE, b"")
    port = s.bind_to_random_port("tcp://127.0.0.1")
    cmds = Commands()
    tally = Tally(args.latency)
    tally.slow_us = args.slow_us
    say(address=["127.0.0.1", port])
    member = False
    tally.cpu0 = time.process_time()
    done_at = None
    while True:
        if s.poll(10):
            parts = s.recv_multipart(copy=False)
            if parts[0].bytes == PROBE:
                if not member:
                    member = True
                    say(member=True)
            else:
                tally.arrived([p.buffer for p in parts[1:]])
        cmd = cmds.poll()
        if cmd in ("done", "stop", "eof"):
            done_at = now_ns()
        if done_at is not None:
            quiet_since = max(done_at, tally.last or 0)
            if tally.delivered >= args.count or now_ns() - quiet_since > GRACE * 1e9:
                break
    tally.report()
    s.close(linger=0)
    ctx.term()


def _pub(args: argparse.Namespace) -> None:
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    if args.curve:  # the publisher is the CURVE server
        public, secret = args.curve, args.secret
        s.curve_server = True
        s.curve_publickey, s.curve_secretkey = public.encode(), secret.encode()
    s.connect(f"tcp://{args.connect}")
    cmds = Commands()
    say(member=True)  # the subscriber says when the path works (it got a probe)
    while True:  # PUB/SUB joins late: probe until the parent says go
        s.send_multipart([PROBE])
        if cmds.wait(0.01) == "go":
            break
    value = bytearray(os.urandom(args.size))
    times = pace(args.count, args.rate)
    sent, stopped = 0, False
    first, cpu0 = now_ns(), time.process_time()
    while sent < args.count and not stopped:
        if times is not None:
            delay = times[sent] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.send_multipart([DATA, stamp(value)])
            sent += 1
        else:
            n = min(BATCH, args.count - sent)
            s.send_multipart([DATA] + [bytes(value)] * n)
            sent += n
        if cmds.poll() in ("stop", "eof"):
            stopped = True
    say(sent=sent, first_send=first, last_send=now_ns(), cpu_s=time.process_time() - cpu0)
    while cmds.wait(0.1) not in ("stop", "eof"):  # keep the socket open while it drains
        pass
    s.close(linger=0)
    ctx.term()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["sub", "pub"])
    ap.add_argument("--connect", default="")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--curve", default="", help="the publisher's CURVE public key (Z85)")
    ap.add_argument("--secret", default="", help="publisher only: its CURVE secret key")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--slow-us", type=float, default=0.0,
                    help="subscriber: a handler that takes this many microseconds per value")
    ap.add_argument("--mode", default="multipart")  # accepted for symmetry with srp_peers
    args = ap.parse_args()
    (_sub if args.role == "sub" else _pub)(args)


if __name__ == "__main__":
    main()
