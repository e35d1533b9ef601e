"""Baseline UDP peers for bench_udp: what a plain asyncio/uvloop program does without
srpfast (one Python call and one syscall per datagram)."""
from __future__ import annotations

import asyncio
import time
from typing import Callable


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0
        self.first = 0.0
        self.last = 0.0

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        now = time.perf_counter()
        if not self.received:
            self.first = now
        self.received += 1
        self.last = now


def sendto_rate(loop: asyncio.AbstractEventLoop, sink: tuple, frame: bytes, per_call: int,
                measure: Callable[[Callable[[], object], int], float]) -> float:
    """Datagrams/s of transport.sendto in a Python loop on `loop` (uvloop or asyncio)."""
    transport, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)))
    try:
        sendto = transport.sendto

        def burst() -> None:
            for _ in range(per_call):
                sendto(frame, sink)

        rate = measure(burst, per_call)
        # let any datagrams the transport had to buffer go out before closing
        loop.run_until_complete(asyncio.sleep(0))
        return rate
    finally:
        transport.close()
        loop.run_until_complete(asyncio.sleep(0))


def receive_rate(loop: asyncio.AbstractEventLoop, start_sender: Callable[[tuple], object],
                 seconds: float) -> tuple[int, float]:
    """(received, perf_counter of the last arrival) of a DatagramProtocol while `start_sender(address)` floods it;
    start_sender returns an object with .join() (a thread) whose result the caller reads."""
    transport, proto = loop.run_until_complete(
        loop.create_datagram_endpoint(_Sink, local_addr=("127.0.0.1", 0)))
    try:
        sender = start_sender(transport.get_extra_info("sockname"))
        loop.run_until_complete(asyncio.sleep(seconds + 0.2))
        sender.join()
        return proto.received, proto.last
    finally:
        transport.close()
        loop.run_until_complete(asyncio.sleep(0))
