"""The bench's C ceiling loops and the paced sender's view of a receiver's queue (bench/):
a ceiling that skipped its work, or a pacing that never saw the queue, would make a limit
or a figure lie."""
from __future__ import annotations

import os
import socket

import pytest

from bench import blast, ceilings
from srpfast.wire import frame


def _frames(n: int) -> bytearray:
    buf = bytearray(1158 * n)
    frame.encode_many(buf, [os.urandom(1024) for _ in range(n)], type=5, cluster=b"c" * 16)
    return buf


def test_relay_ceiling_validates_every_frame_it_is_given() -> None:
    buf = _frames(128)
    ceilings.relay_loop(bytes(buf), 2, 64)             # valid: runs (fan-out 3)
    ceilings.relay_loop(bytes(buf), 1, 64, fanout=0)   # a subscriber: store only
    buf[1158 * 70] ^= 0xFF                             # one bad magic
    with pytest.raises(RuntimeError):
        ceilings.relay_loop(bytes(buf), 1, 64)


def test_relay_ceiling_refuses_a_partial_batch() -> None:
    with pytest.raises(RuntimeError):
        ceilings.relay_loop(bytes(_frames(65)), 1, 64)


def test_rx_queue_sees_what_waits_on_a_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        assert blast._rx_queue(port) == 0
        for _ in range(10):
            tx.sendto(bytes(1158), ("127.0.0.1", port))
        assert blast._rx_queue(port) >= 10 * 1158  # (skb truesize: more than the bytes)
        for _ in range(10):
            rx.recv(2048)
        assert blast._rx_queue(port) == 0
