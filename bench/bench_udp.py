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
from bench.harness import Row, best_rate, main, quick_params  # noqa: E402
from srpfast import _udp  # noqa: E402
from srpfast._udp import FRAME_BYTES, UDPSocket  # noqa: E402

BATCH = 64


class _ProcessSender:
    """A sender PROCESS (bench/blast.py, C sendmmsg loop): on 2 cores a sender thread in this
    process would share the receiver's interpreter and skew the ceiling."""

    def __init__(self, address: tuple, seconds: float) -> None:
        self.blaster = Blaster("zeros", address, seconds)
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
        best = 0.0
        for _ in range(p["repeat"]):
            n, t = _udp._ceiling_send(tx, dest, seconds / p["repeat"] * 2, BATCH)
            best = max(best, n / t)
        rows.append(Row(group, "C sendmmsg loop, 64/call", best, role="limit"))
        rate = best_rate(lambda: tx.send_batch(buf, dest), BATCH, **p)
        rows.append(Row(group, "srpfast send_batch from Python, 64/call", rate,
                        target=">= 0.8x limit (relay output)"))
        addrs = [dest] * BATCH
        rate = best_rate(lambda: tx.send_batch(buf, addrs), BATCH, **p)
        rows.append(Row(group, "srpfast send_batch, per-datagram address list", rate))
        gso_buf = frame * 256
        rate = best_rate(lambda: tx.send_gso(gso_buf, FRAME_BYTES, dest), 256, **p)
        rows.append(Row(group, "srpfast send_gso (UDP GSO), 256/call", rate,
                        target=">= 2 M datagrams/s (direct stream)",
                        note="" if tx.gso_enabled else "GSO unsupported: sendmmsg fallback"))
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
    return rows


def _drain_python(sock: UDPSocket, seconds: float) -> tuple[int, float]:
    """recv_batch from Python until the sender stops: the srpfast receive path."""
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
    return got, max(last - first, 1e-9)


def _recv_group(seconds: float) -> list[Row]:
    group = "udp receive (1158-byte datagrams)"
    rows = []

    def measure(drain) -> tuple[float, int, int]:
        with UDPSocket(batch=BATCH) as rx:
            sender = _ProcessSender(rx.local_address, seconds)
            try:
                got, elapsed = drain(rx)
            finally:
                sender.join()
            return got / elapsed, got, sender.sent

    def seen(got: int, sent: int) -> str:
        return f"received {got:,} of {sent:,} sent" + (
            "; sender-limited (nothing dropped)" if got >= 0.98 * sent else "")

    rate, got, sent = measure(lambda rx: _udp._ceiling_recv(rx, seconds + 1.0))
    rows.append(Row(group, "C recvmmsg loop, C sender in another process", rate, role="limit",
                    note=seen(got, sent)))
    rate, got, sent = measure(lambda rx: _drain_python(rx, seconds))
    rows.append(Row(group, "srpfast recv_batch drained from Python", rate,
                    target=">= 0.8x limit (receive+deliver)",
                    note=seen(got, sent)))
    loop = asyncio.new_event_loop()
    try:
        holder: dict = {}

        def start(address: tuple) -> _ProcessSender:
            holder["s"] = s = _ProcessSender(address, seconds)
            return s

        got, elapsed = udp_peers.receive_rate(loop, start, seconds)
    finally:
        loop.close()
    rows.append(Row(group, "asyncio datagram_received", got / elapsed, role="peer",
                    note=seen(got, holder["s"].sent)))
    return rows


def run(quick: bool = False) -> list[Row]:
    p = quick_params(quick)
    seconds = 0.3 if quick else 1.0
    return _send_group(p, seconds) + _recv_group(seconds)


if __name__ == "__main__":
    main(run)
