"""The UDP driver's send paths on real loopback sockets."""
from __future__ import annotations

import asyncio

from srpfast._udp import UDPSocket
from srpfast.config import Config
from srpfast.crypto import create_identity
from srpfast.engine import Peer
from srpfast.frame import decode, encode
from srpfast.net.driver import UDPDriver


def test_relayed_batches_go_out_grouped_by_next_hop_in_order(run) -> None:
    """A relayed batch interleaves FANOUT destinations; the driver regroups it by next hop
    (GSO where a group is a run) and every sink still gets its own frames, all of them, in
    the order the data plane emitted them."""
    async def scenario() -> None:
        with UDPSocket("127.0.0.1") as sock, UDPSocket("127.0.0.1") as s1, \
                UDPSocket("127.0.0.1") as s2, UDPSocket("127.0.0.1") as s3:
            peer = Peer(create_identity(), Config(), now=0.0)
            driver = UDPDriver(peer, sock, on_event=lambda e: None)
            sinks = [s1, s2, s3]
            wanted = {i: [] for i in range(3)}
            frames, addrs = bytearray(), bytearray()
            for k in range(64):          # a receive batch of 64, fan-out 3
                for i in (0, 1, 2):
                    if i == 2 and k % 32:  # the third next hop gets two only: no run
                        continue
                    frames += encode(type=5, message=f"{k}".encode(), hops=1)
                    addrs += sock.resolve(sinks[i].local_address)
                    wanted[i].append(f"{k}".encode())
            driver._send_relayed(bytes(frames), bytes(addrs))
            got = {i: [] for i in range(3)}
            for _ in range(200):
                for i, s in enumerate(sinks):
                    got[i] += [decode(d).message for d, _ in s.recv_batch()]
                if all(len(got[i]) == len(wanted[i]) for i in range(3)):
                    break
                await asyncio.sleep(0.01)
            assert got == wanted
            if sock.gso_enabled:
                assert driver.counters["send.gso_groups"] == 2  # sinks 1 and 2; sink 3 had 2 < GSO_MIN_RUN
            driver.close()
    run(scenario())
