"""srpfast publisher / subscriber child processes for bench/bench_e2e.py (the protocol is in
bench/e2e_procs.py). Default Config on both sides: what a user gets.

    python bench/srp_peers.py sub --mode emit|many --count N [--latency]
    python bench/srp_peers.py pub --connect HOST:PORT --mode emit|many --count N --size B
                                  [--rate R] [--latency]

mode emit: the publisher calls emit() per value and awaits drain() every YIELD_EVERY calls, the
subscriber counts with on() (a call per message); mode many: emit_many() of 256 values, then
drain(); the subscriber counts with on_batch() (a call per receive batch). drain() is the
flow control a publisher that must not lose messages uses (docs/GUIDE.md).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.e2e_procs import GRACE, Commands, Tally, now_ns, pace, say, stamp  # noqa: E402

CLUSTER = b"\x5a" * 32
SHARED = b"\xa5" * 32
BATCH = 256
# The publisher's loop awaits drain() every YIELD_EVERY emit() calls (every emit_many call):
# it gives the event loop a turn and waits while the send window is full. Printed in the
# row's settings.
YIELD_EVERY = 64


def _metrics(net) -> dict:
    """Counters that explain loss: drops by reason, socket and driver trouble."""
    skip = ("peers", "rx", "tx", "clock")  # gauges, not events
    return {k: v for k, v in net.metrics().items()
            if v and isinstance(v, int) and k not in skip}


async def _sub(args: argparse.Namespace) -> None:
    import srpfast
    cmds = Commands()
    tally = Tally(args.latency)
    tally.slow_us = args.slow_us
    async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1") as net:
        sub = await net.subcluster(shared_key=SHARED)
        if args.mode == "many":
            sub.on_batch("v", lambda values, metas: tally.arrived(values))
        else:
            sub.on("v", lambda value, meta: tally.arrived([value]))
        say(address=list(net.address))
        while not sub.peers:  # the publisher's signed JOIN: it is a member
            await asyncio.sleep(0.01)
        say(member=True)
        tally.cpu0 = time.process_time()
        done_at = None
        while True:
            cmd = cmds.poll()
            if cmd in ("done", "stop", "eof"):
                done_at = now_ns()
            if done_at is not None:
                quiet_since = max(done_at, tally.last or 0)
                if tally.delivered >= args.count or now_ns() - quiet_since > GRACE * 1e9:
                    break
            await asyncio.sleep(0.01)
        tally.report(metrics=_metrics(net))


async def _pub(args: argparse.Namespace) -> None:
    import srpfast
    cmds = Commands()
    host, port = args.connect.rsplit(":", 1)
    async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1", config=srpfast.Config(send_window=int(os.environ.get("W","2048"))),
                               bootstrap=[(host, int(port))]) as net:
        sub = await net.subcluster(shared_key=SHARED)
        while not sub.peers:
            await asyncio.sleep(0.01)
        say(member=True)
        while cmds.wait(0) not in ("go",):
            await asyncio.sleep(0.005)
        value = bytearray(os.urandom(args.size))
        times = pace(args.count, args.rate)
        sent, stopped = 0, False
        first, cpu0 = now_ns(), time.process_time()
        while sent < args.count and not stopped:
            if times is not None:  # latency: one message per tick, stamped when sent
                delay = times[sent] - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
                v = stamp(value)
                if args.mode == "many":
                    sub.emit_many("v", [v])
                else:
                    sub.emit("v", v)
                sent += 1
            elif args.mode == "many":
                n = min(BATCH, args.count - sent)
                sub.emit_many("v", [bytes(value)] * n)
                sent += n
                await sub.drain()
            else:
                sub.emit("v", bytes(value))
                sent += 1
                if sent % YIELD_EVERY == 0:
                    await sub.drain()
            if sent % 1024 < BATCH and cmds.poll() in ("stop", "eof"):
                stopped = True
        last = now_ns()
        say(sent=sent, first_send=first, last_send=last, cpu_s=time.process_time() - cpu0,
            metrics=_metrics(net))
        while cmds.wait(0) not in ("stop", "eof"):  # keep sending what is queued
            await asyncio.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["sub", "pub"])
    ap.add_argument("--connect", default="")
    ap.add_argument("--mode", choices=["emit", "many"], default="emit")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--slow-us", type=float, default=0.0,
                    help="subscriber: a handler that takes this many microseconds per value")
    args = ap.parse_args()
    import uvloop
    uvloop.run(_sub(args) if args.role == "sub" else _pub(args))


if __name__ == "__main__":
    main()
