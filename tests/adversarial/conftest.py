"""Attack tests (issue 13): one module per threat, against real srpfast code; network
scenarios use loopback only (127.0.0.0/8 gives many source addresses without raw sockets),
bounded in count and time, and close every socket they open. docs/SECURITY.md maps each
threat to its defence, its bound and the test here that proves it."""
from __future__ import annotations

import random
import select
from dataclasses import dataclass

import pytest

from srpfast.config import Config
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer


@dataclass
class Relay:
    """A real peer on 127.0.0.1 with the C data plane attached, three forwarding candidates,
    and a spy on the per-datagram (Python) receive path."""
    peer: Peer
    sock: object
    python_path: list

    def feed(self, expected: int, now: float, timeout: float = 2.0) -> int:
        """Receive until ``expected`` datagrams went through receive_batch (bounded)."""
        got = 0
        while got < expected and select.select([self.sock.fileno()], [], [], timeout)[0]:
            batch = self.sock.recv_batch()
            if not len(batch):
                break
            got += len(batch)
            self.peer.receive_batch(batch, now)
        return got


from tests.integration.conftest import run  # noqa: E402,F401  (the same bounded runner)


@pytest.fixture
def relay():
    dataplane = pytest.importorskip("srpfast.dataplane._dataplane")
    udp = pytest.importorskip("srpfast.drivers._udp")
    from srpfast.control.dataplane import udp_address_key

    sock = udp.UDPSocket("127.0.0.1", 0)
    try:
        cfg = Config(strict=True, clock_offset=0.0, rate_packets=1.0, rate_burst=20.0)
        peer = Peer(create_identity(b"\x41" * 32), cfg, now=100.0, rng=random.Random(1),
                    address=sock.local_address)
        peer.attach_dataplane(dataplane.DataPlane(peer.cache, fanout=3, max_hops=cfg.max_hops,
                                                  seed=3, max_batch=sock.batch),
                              resolve=sock.resolve, key=udp_address_key)
        for i in range(3):  # forwarding candidates (nothing listens there: sends are not made)
            peer.table.upsert(bytes([0x50 + i]) * 32, ("127.0.0.1", 9 + i), 2, 100.0)
        peer.tick(101.0)  # maintenance pushes the candidates down
        peer.datagrams_to_send()
        calls: list = []
        inner = peer.receive_one

        def spy(datagram, address, now, pool, rated=False):
            calls.append((datagram[4:5], address))
            return inner(datagram, address, now, pool, rated)

        peer.receive_one = spy  # type: ignore[method-assign]
        yield Relay(peer, sock, calls)
    finally:
        sock.close()
