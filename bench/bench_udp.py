"""UDP socket layer throughput (issue 6), loopback: the C sendmmsg/recvmmsg ceilings, srpfast's
batch calls from Python, UDP GSO, and plain uvloop/asyncio peers, in one run.

Loopback on a shared 2-core machine: the receive group's sender is another process
(bench/blast.py, a C sendmmsg loop), so the receiver has a core of its own; sender and
receiver still share the machine, so the group reports sent and received counts (the
difference is kernel drops)."""
from __future__ import annotations

import asyncio
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import udp_peers  # noqa: E402
from bench.blast import Blaster  # noqa: E402
from bench.harness import (Row, best_rate, delivery_rate, loss_of, main, quick_params,  # noqa: E402
                           refresh_limit)
from srpfast.drivers import _udp  # noqa: E402
from srpfast.drivers._udp import FRAME_BYTES, UDPSocket  # noqa: E402

BATCH = 64


class _ProcessSender:
    """A sender PROCESS (bench/blast.py, C sendmmsg loop): on 2 cores a sender thread in this
    process would share the receiver's interpreter and skew the ceiling."""

    def __init__(self, address: tuple, seconds: float) -> None:
        self.blaster = Blaster("zeros", address, seconds)
        self.started = time.perf_counter()  # the first send is after this (same clock)
        self.blaster.go()
        self.sent = 0

    def join(self) -> None:
        try:
            self.sent = self.blaster.result()["sent"]
        finally:
            self.blaster.close()


def _send_group(p: dict, seconds: float) -> list[Row]:
    group = "udp send (1158-byte datagrams)"
    frame = bytes(FRAME_BYTES)
    buf = frame * BATCH
    rows = []
    with UDPSocket() as sink, UDPSocket() as tx:
        dest = sink.local_address

        def ceiling() -> float:
            best = 0.0
            for _ in range(p["repeat"]):
                n, t = _udp._ceiling_send(tx, dest, seconds / p["repeat"] * 2, BATCH)
                best = max(best, n / t)
            return best
        rows.append(Row(group, "C sendmmsg loop, 64/call", ceiling(), role="limit"))
        rate = best_rate(lambda: tx.send_batch(buf, dest), BATCH, **p)
        rows.append(Row(group, "srpfast send_batch from Python, 64/call", rate,
                        min_x_limit=0.8, note="relay output path without GSO"))
        addrs = [dest] * BATCH
        rate = best_rate(lambda: tx.send_batch(buf, addrs), BATCH, **p)
        rows.append(Row(group, "srpfast send_batch, per-datagram address list", rate))
        rows.append(gso_ceiling(tx, dest, p))
        import uvloop
        loop = uvloop.new_event_loop()
        try:
            rate = udp_peers.sendto_rate(loop, dest, frame, BATCH,
                                         lambda fn, n: best_rate(fn, n, **p))
        finally:
            loop.close()
        rows.append(Row(group, "uvloop transport.sendto loop", rate, role="peer"))
        loop = asyncio.new_event_loop()
        try:
            rate = udp_peers.sendto_rate(loop, dest, frame, BATCH,
                                         lambda fn, n: best_rate(fn, n, **p))
        finally:
            loop.close()
        rows.append(Row(group, "asyncio DatagramTransport.sendto loop", rate))
        refresh_limit(rows[0], ceiling)
    return rows


GSO_GROUP = "udp send, GSO (1158-byte segments)"


def gso_ceiling(tx: UDPSocket, dest: tuple, p: dict) -> Row:
    """send_gso of 256 segments per call in a Python loop: the fastest way srpfast has to put
    datagrams on a socket, so the ceiling for anything that sends with GSO (a relay's output,
    a direct stream). sendmmsg is no ceiling for it: GSO hands the kernel 64 KB at a time."""
    gso_buf = bytes(FRAME_BYTES) * 256
    rate = best_rate(lambda: tx.send_gso(gso_buf, FRAME_BYTES, dest), 256, **p)
    return Row(GSO_GROUP, "srpfast send_gso (UDP GSO), 256/call, one sink", rate, role="limit",
               min_rate=2e6, note="direct-stream target" + (
                   "" if tx.gso_enabled else "; GSO unsupported here: sendmmsg fallback"))


def _drain_python(sock: UDPSocket, seconds: float) -> tuple[int, float]:
    """recv_batch from Python until the sender stops: the srpfast receive path. Returns
    (received, perf_counter of the last arrival)."""
    got, first, last = 0, 0.0, 0.0
    t0 = time.perf_counter()
    fd = sock.fileno()
    while True:
        b = sock.recv_batch()
        now = time.perf_counter()
        if b.count:
            if not got:
                first = now
            # deliver: what the engine gets is the buffer + lens, one object per batch
            got += b.count
            last = now
        elif now - t0 > seconds + 0.5 or (got and now - last > 0.2):
            break
        else:
            select.select([fd], [], [], 0.01)
    return got, last


def _recv_group(seconds: float) -> list[Row]:
    """Each receiver against its own C sender process; rates run from the sender's start to
    the last arrival, and what the kernel dropped is the loss column. The limit is the C
    recvmmsg loop, best of two runs (a ceiling is the best it was seen to do)."""
    group = "udp receive (1158-byte datagrams)"
    rows = []

    def measure(drain) -> tuple[float, float, int, int]:
        with UDPSocket(batch=BATCH) as rx:
            sender = _ProcessSender(rx.local_address, seconds)
            try:
                got, last = drain(rx)
            finally:
                sender.join()
            return delivery_rate(got, sender.started, last), loss_of(got, sender.sent), got, \
                sender.sent

    def c_drain(rx: UDPSocket) -> tuple[int, float]:
        got, _ = _udp._ceiling_recv(rx, seconds + 1.0, idle=0.2)
        # it returns 0.2 s (idle) after the last arrival, give or take one 10 ms poll
        return got, time.perf_counter() - 0.2

    def seen(got: int, sent: int) -> str:
        return f"received {got:,} of {sent:,} sent" + (
            "; sender-limited" if got >= 0.98 * sent else "")

    best = max((measure(c_drain) for _ in range(2)), key=lambda m: m[0])
    rows.append(Row(group, "C recvmmsg loop, C sender in another process", best[0],
                    role="limit", loss=best[1], note=seen(best[2], best[3]) + "; best of 2"))
    rate, loss, got, sent = measure(lambda rx: _drain_python(rx, seconds))
    rows.append(Row(group, "srpfast recv_batch drained from Python", rate, loss=loss,
                    min_x_limit=0.8, note=seen(got, sent)))
    loop = asyncio.new_event_loop()
    try:
        holder: dict = {}

        def start(address: tuple) -> _ProcessSender:
            holder["s"] = s = _ProcessSender(address, seconds)
            return s

        got, last = udp_peers.receive_rate(loop, start, seconds)
    finally:
        loop.close()
    s = holder["s"]
    rows.append(Row(group, "asyncio datagram_received", delivery_rate(got, s.started, last),
                    role="peer", loss=loss_of(got, s.sent), note=seen(got, s.sent)))
    return rows


def run(quick: bool = False) -> list[Row]:
    p = quick_params(quick)
    seconds = 0.3 if quick else 1.0
    return _send_group(p, seconds) + _recv_group(seconds)


if __name__ == "__main__":
    main(run)
