"""One application, two drivers (issue 14): the README's pattern runs unchanged on real UDP
sockets and on the in-process memory driver; only the ``driver=`` argument differs."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

import srpfast

from loopback import wait_for


async def greetings_app(driver: Any, n: int = 5) -> tuple[int, int]:
    """n peers in one subcluster: every member welcomes every other one directly from its
    #join handler and publishes one hello. Returns (welcomes, hellos) received in all."""
    cluster_id = srpfast.create_cluster_id(b"two drivers")
    key = srpfast.create_shared_key(b"greetings")
    nets: list[srpfast.Network] = []
    welcomes = hellos = 0

    def count_welcome(value: Any, meta: srpfast.Meta) -> None:
        nonlocal welcomes
        welcomes += 1

    def count_hello(value: Any, meta: srpfast.Meta) -> None:
        nonlocal hellos
        hellos += 1

    try:
        for i in range(n):
            boot = [f"{nets[0].address[0]}:{nets[0].address[1]}"] if nets else []
            net = srpfast.network(cluster_id=cluster_id, host="127.0.0.1", bootstrap=boot,
                                  driver=driver)
            await net.start()
            nets.append(net)
            greetings = await net.subcluster(shared_key=key)
            greetings.on("hello", count_hello)

            def on_join(peer: srpfast.RemotePeer) -> None:
                peer.on("welcome", count_welcome)
                peer.emit("welcome", {"to": peer.peer_id.hex()})

            greetings.on("#join", on_join)
            # (a welcome that beats its sender's JOIN arrives as #stream: count it too)
            net.on("#stream", lambda pid, name, value: name == "welcome" and count_welcome(
                value, None))  # type: ignore[arg-type]
        for net in nets:
            await net.wait_ready(10)
        await wait_for(lambda: all(len(next(iter(net._subclusters.values())).peers) == n - 1
                                   for net in nets), 15)
        for net in nets:
            next(iter(net._subclusters.values())).emit("hello", "world")
        await wait_for(lambda: hellos >= n * (n - 1), 10)
        await asyncio.sleep(0.3)
    finally:
        for net in nets:
            await net.close()
    return welcomes, hellos


@pytest.mark.parametrize("driver", ["udp", "memory"])
def test_the_same_application_on_both_drivers(run, driver: str) -> None:
    chosen: Any = "udp" if driver == "udp" else srpfast.MemoryHub(seed=1)
    welcomes, hellos = run(greetings_app(chosen), timeout=60)
    assert hellos == 5 * 4
    assert welcomes == 5 * 4


def test_a_bad_driver_is_a_typed_error() -> None:
    with pytest.raises(srpfast.ArgumentError, match="MemoryHub"):
        srpfast.network(cluster_id=srpfast.create_cluster_id(b"x"), driver="tcp")


class CountingTransport:
    """A third-party transport (srpfast.drivers.base.Transport): the memory hub's datagrams,
    counted on the way. Plugs into network(driver=...) like the two built-in drivers."""

    def __init__(self) -> None:
        self.hub = srpfast.MemoryHub(seed=2)
        self.sockets = self.drivers = 0

    def socket(self, host: str, port: int) -> Any:
        self.sockets += 1
        return self.hub.socket(host, port)

    def driver(self, peer: Any, sock: Any, *, on_event: Any, clock: Any) -> Any:
        self.drivers += 1
        return self.hub.driver(peer, sock, on_event=on_event, clock=clock)


def test_a_driver_plugs_in_through_the_transport_interface(run) -> None:
    transport = CountingTransport()
    welcomes, hellos = run(greetings_app(transport, n=3), timeout=60)
    assert (welcomes, hellos) == (3 * 2, 3 * 2)
    assert transport.sockets == transport.drivers == 3
    assert transport.hub.sent > 0
