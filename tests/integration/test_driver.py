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
