"""The UDP driver's send paths on real loopback sockets."""
from __future__ import annotations

import array
import asyncio

from srpfast.drivers._udp import UDPSocket
from srpfast.config import Config
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer
from srpfast.wire.frame import decode, encode
from srpfast.drivers.udp import UDPDriver


def test_relayed_batches_go_out_by_next_hop_in_order(run) -> None:
    """The data plane emits a relayed batch grouped by next hop with its runs; the driver
    sends each run with UDP GSO and the rest with one sendmmsg. Every sink gets every frame
    meant for it, in arrival order."""
    async def scenario() -> None:
        with UDPSocket("127.0.0.1") as sock, UDPSocket("127.0.0.1") as s1, \
                UDPSocket("127.0.0.1") as s2, UDPSocket("127.0.0.1") as s3:
            peer = Peer(create_identity(), Config(), now=0.0)
            driver = UDPDriver(peer, sock, on_event=lambda e: None)
            sinks = [s1, s2, s3]
            dp = driver.dataplane
            # Weights 1 : 1 : 0.02, so the third next hop gets a few frames: not a run.
            dp.set_peers(b"".join(sock.resolve(s.local_address) for s in sinks),
                         array.array("Q", [1, 2, 3]), array.array("d", [1.0, 1.0, 0.02]),
                         bytes(3))
            batch = b"".join(encode(type=5, message=b"%d" % k) for k in range(64))
            n = dp.process(batch, 64, now=1.0)
            runs = dp.runs()
            assert n == 3 * 64 and runs and runs[0][0] == 0
            driver._send_relayed(bytes(dp.out_frames), bytes(dp.out_addrs), runs)
            got: list[list[int]] = [[], [], []]
            for _ in range(200):
                for i, s in enumerate(sinks):
                    got[i] += [int(decode(d).message) for d, _ in s.recv_batch()]
                if sum(map(len, got)) == n:
                    break
                await asyncio.sleep(0.01)
            assert sum(map(len, got)) == n
            assert all(g == sorted(g) and len(set(g)) == len(g) for g in got)  # order kept
            if sock.gso_enabled:
                assert driver.counters["send.gso_groups"] == len(runs)
            driver.close()
    run(scenario())


def test_relayed_frames_held_back_are_copies_of_the_data_planes_buffer(run) -> None:
    """With Peer.relay_views the driver is handed a view of the data plane's output buffer,
    which the next batch overwrites. Frames it must hold back (older frames still queued)
    are copied: they leave intact after the next batch has run through the data plane."""
    async def scenario() -> None:
        with UDPSocket("127.0.0.1") as sock, UDPSocket("127.0.0.1") as sink:
            peer = Peer(create_identity(), Config(), now=0.0)
            driver = UDPDriver(peer, sock, on_event=lambda e: None)
            assert peer.relay_views
            dp = driver.dataplane
            dp.set_peers(sock.resolve(sink.local_address), array.array("Q", [1]),
                         array.array("d", [1.0]), bytes(1))
            first = b"".join(encode(type=5, message=b"a%d" % k) for k in range(8))
            assert dp.process(first, 8, now=1.0) == 8
            older = (encode(type=5, message=b"older"), sock.resolve(sink.local_address))
            driver._queue.append(older)  # (as if the kernel had pushed back before)
            send_queued = driver._send_queued
            driver._send_queued = lambda: None  # type: ignore[method-assign]  # (still full)
            driver._send_relayed(dp.out_frames, bytes(dp.out_addrs), dp.runs())
            assert len(driver._queue) == 9
            second = b"".join(encode(type=5, message=b"b%d" % k) for k in range(8))
            assert dp.process(second, 8, now=1.0) == 8  # overwrites the buffer viewed above
            driver._send_queued = send_queued  # type: ignore[method-assign]  # (room again)
            driver._send_queued()
            got: list[bytes] = []
            for _ in range(200):
                got += [decode(d).message for d, _ in sink.recv_batch()]
                if len(got) == 9:
                    break
                await asyncio.sleep(0.01)
            assert got == [b"older"] + [b"a%d" % k for k in range(8)]
            driver.close()
            assert not peer.relay_views
    run(scenario())
