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


def test_live_relay_ceiling_relays_every_input_to_every_sink() -> None:
    """The live relay ceiling (bench_relay.py's limit) on real loopback sockets: frames queued
    on a socket built like the relay's are each stored and sent, hops+1, to every sink, in
    GSO runs the sinks receive whole; a frame that fails validation is reported."""
    from srpfast.drivers._udp import UDPSocket
    from srpfast.drivers.base import RECV_BATCH, UDPTransport
    n = RECV_BATCH + 72  # more than one receive batch, and an odd last batch
    buf = _frames(n)
    with UDPTransport().socket("127.0.0.1", 0) as relay, UDPSocket("127.0.0.1") as tx:
        sinks = [UDPSocket("127.0.0.1", gro=True, batch=1024) for _ in range(3)]
        try:
            assert tx.send_batch(bytes(buf), relay.local_address) == n
            packed = b"".join(relay.resolve(s.local_address) for s in sinks)
            got = ceilings.relay_live(relay.fileno(), packed, relay.batch, 4096, idle=0.05,
                                      limit=5.0)
            assert (got["inputs"], got["outputs"]) == (n, 3 * n)
            assert got["first_in"] <= got["last_out"] and got["cpu"] > 0
            for sink in sinks:
                seen = []
                while len(seen) < n:
                    batch = sink.recv_batch()
                    assert batch.count, "a sink got fewer frames than the relay sent"
                    seen += [bytes(batch.frame(i)) for i in range(batch.count)]
                assert len(seen) == n
                assert {f[:6] + f[7:] for f in seen} == \
                    {bytes(buf[k * 1158:k * 1158 + 6] + buf[k * 1158 + 7:(k + 1) * 1158])
                     for k in range(n)}
                assert all(f[6] == buf[6] + 1 for f in seen)  # hops + 1
            buf[1158 * 3] ^= 0xFF  # a bad magic (sent without the relay socket's filter)
            relay.close()
        finally:
            for sink in sinks:
                sink.close()
    with UDPSocket("127.0.0.1", gro=True) as relay, UDPSocket("127.0.0.1") as tx:
        tx.send_batch(bytes(buf[:1158 * 8]), relay.local_address)
        with pytest.raises(RuntimeError, match="invalid"):
            ceilings.relay_live(relay.fileno(), relay.resolve(tx.local_address), 128, 64,
                                idle=0.05, limit=5.0)


def test_udp_send_ceiling_sends_whole_frames_to_its_address() -> None:
    """The UDP send ceiling (bench_udp's limit, blast.py zeros) on real loopback sockets: what
    it reports sent arrives at the address it was given, as 1158-byte datagrams."""
    from srpfast.drivers._udp import UDPSocket
    with UDPSocket("127.0.0.1", rcvbuf=8 << 20) as rx, UDPSocket("127.0.0.1") as tx:
        sent, elapsed = ceilings.udp_send_loop(tx, rx.local_address, 0.02, 8)
        assert sent > 0 and elapsed >= 0.02
        got = 0
        while True:
            batch = rx.recv_batch()
            if not batch.count:
                break
            assert all(n == 1158 for n in batch.lens)
            got += batch.count
        assert 0 < got <= sent  # (loopback drops what overflows the receive buffer)
        with pytest.raises(ValueError):
            ceilings.udp_send_loop(tx, rx.local_address, 0.01, 0)


@pytest.mark.parametrize("gro", [False, True])
def test_udp_recv_ceiling_drains_every_queued_datagram(gro: bool) -> None:
    """The UDP receive ceiling (bench_udp's and bench_network's limit) drains, with the
    socket's own batch and GRO set-up, every datagram queued on it: single sends and GSO
    super-datagrams (one read each with GRO) alike; it times first to last read."""
    from srpfast.drivers._udp import UDPSocket
    from srpfast.errors import ClosedError
    with UDPSocket("127.0.0.1", batch=256, gro=gro, filter_frames=True) as rx, \
            UDPSocket("127.0.0.1") as tx:
        assert rx.gro == gro
        buf = bytes(_frames(64))
        assert tx.send_batch(buf, rx.local_address) == 64
        assert tx.send_gso(buf, 1158, rx.local_address) == 64
        tx.send_batch(b"short", rx.local_address, stride=5)  # the frame filter drops it
        got, elapsed = ceilings.udp_recv_loop(rx, 5.0, idle=0.05)
        assert got == 128 and 0.0 <= elapsed < 5.0
        assert ceilings.udp_recv_loop(rx, 5.0, idle=0.01) == (0, 0.0)
    with pytest.raises(ClosedError):
        ceilings.udp_recv_loop(rx, 1.0)


def test_open_ceiling_opens_with_subkeys_made_sixteen_at_a_time() -> None:
    """bench_network's open part opens as the data plane does (subkeys 16 at a time where
    the CPU has AVX-512): every ciphertext it sealed opens, at the row's sealed length, a full
    frame's and none; a length past a frame's is refused."""
    for plain in (372, 984, 0):
        ceilings.open_x16_loop(bytes(32), 64, plain)
        ceilings.open_x16_loop(bytes(range(32)), 5, plain)  # (rounded up to 16)
    with pytest.raises(RuntimeError):
        ceilings.open_x16_loop(bytes(32), 16, 985)


@pytest.mark.parametrize("gso", [False, True])
def test_blaster_sends_every_frame_of_its_file_once(tmp_path, gso: bool) -> None:
    """blast.py once (bench_network's sender), plain or as GSO super-datagrams: every frame
    of the file reaches a GRO socket once, in order, whole."""
    from srpfast.drivers._udp import UDPSocket
    buf = _frames(200)  # (64-frame chunks and an odd last one)
    path = tmp_path / "frames"
    path.write_bytes(bytes(buf))
    with UDPSocket("127.0.0.1", batch=256, gro=True, filter_frames=True,
                   rcvbuf=8 << 20) as rx:
        with blast.Blaster("once", rx.local_address, 5.0, str(path), gso=gso) as sender:
            sender.go()
            assert sender.result()["sent"] == 200
        got = bytearray()
        while True:
            batch = rx.recv_batch()
            if not batch.count:
                break
            got += batch.data
    assert got == buf


def test_sender_alone_is_the_rate_a_bare_receiver_gets(tmp_path) -> None:
    """bench_network's _sender_alone: the rows' sender (paced, the whole file once) into a
    bare C receive loop gives a rate a loopback sender can reach (not 0: nothing lost)."""
    from bench import bench_network
    path = tmp_path / "frames"
    path.write_bytes(bytes(_frames(1024)))  # (more than one receive batch of RECV_BATCH)
    rate = bench_network._sender_alone(str(path))
    assert 1_000 < rate < 50_000_000


def test_receive_stages_time_the_rows_run_and_leave_the_classes_as_they_were() -> None:
    """bench/receive_stages.py: the on_batch row's own run with thread-CPU marks delivers
    every message, each stage it names took CPU, the marked stages take no more than the
    process's CPU a message (both counted from the sender's go(): the marks are reset
    there), and the marks are gone afterwards (the table's runs carry none)."""
    from bench import blast, receive_stages
    from srpfast.control import dataplane, engine
    from srpfast.drivers import udp
    before = (udp.UDPDriver.__dict__["_on_readable"], udp.UDPDriver.__dict__["_flush"],
              udp.UDPDriver.__init__, engine.Peer.__dict__["receive_batch"],
              dataplane.DataPlaneLink.__init__, blast.Blaster.__dict__["go"])
    from srpfast.drivers.base import RECV_BATCH
    (r,) = receive_stages.run(1, count=4096)
    assert r["delivered"] == 4096 and r["batches"] >= 4096 // RECV_BATCH
    stages = dict(r["stages"])
    for name in ("receive (recv_batch)", "data-plane call (C)", "messages() columns",
                 "delivered-id set add_ready (C)"):
        assert stages[name] > 0, name
    assert -0.1 * r["cpu_us"] < stages["outside the marks (event loop, epoll, marks)"] < \
        r["cpu_us"]
    assert (udp.UDPDriver.__dict__["_on_readable"], udp.UDPDriver.__dict__["_flush"],
            udp.UDPDriver.__init__, engine.Peer.__dict__["receive_batch"],
            dataplane.DataPlaneLink.__init__, blast.Blaster.__dict__["go"]) == before
