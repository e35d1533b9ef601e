"""The in-memory network (now srpfast/sim/memnet.py, public) and the scenario helpers the
engine tests share."""
from __future__ import annotations

from srpfast.sim.memnet import INF, MemNet, NatBox, Node  # noqa: F401  (tests import them here)
from srpfast.wire import constants as _C
from srpfast.wire.bodies import Ping as _Ping, decode_body as _decode_body
from srpfast.wire.frame import decode as _decode

# -------------------------------------------------------------- scenario helpers for tests
def ping_flags(datagram: bytes) -> int | None:
    """The flags of a PING datagram's body (a filter's view of a frame); None for anything
    else."""
    if len(datagram) <= 4 or datagram[4] != _C.PING:
        return None
    body = _decode_body(_C.PING, _decode(datagram).message)
    assert isinstance(body, _Ping)
    return body.flags


def delivered(node: Node, message_id: bytes) -> list:
    """The deliveries of ``node`` for one message, as Delivered events, whichever path
    delivered it (the Python per-frame path, or C: a DeliveredBatch)."""
    from srpfast.control.events import Delivered
    return [e for e in node.of(Delivered) if e.message_id == message_id]


def pair(seed: int = 1, **kw: object) -> tuple[MemNet, Node, Node]:
    """Two Static peers, b bootstrapped on a, connected after 2 virtual seconds."""
    net = MemNet(seed=seed, **kw)  # type: ignore[arg-type]
    a, b = net.add("static"), net.add("static")
    net.call(b, b.peer.add_peer, a.public, net.now)
    net.run(2)
    return net, a, b


def joined_pair(seed: int, cluster_id: bytes, shared_key: bytes, **kw: object
                ) -> tuple[MemNet, Node, Node, bytes]:
    """``pair`` whose two peers then join one subcluster (1 more virtual second).
    Returns (net, a, b, subcluster id)."""
    net, a, b = pair(seed, **kw)
    s = net.call(a, a.peer.join, cluster_id, shared_key, now=net.now)
    net.call(b, b.peer.join, cluster_id, shared_key, now=net.now)
    net.run(1)
    return net, a, b, s  # type: ignore[return-value]


def mesh(seed: int, cluster_id: bytes, shared_key: bytes, n: int = 50, members: int = 40,
         **kw: object) -> tuple[MemNet, list[Node], bytes]:
    """n peers (8 Static, 6 Hard, the rest Easy) bootstrapped on the first; the first
    ``members`` join one subcluster. Returns (net, nodes, subcluster id)."""
    net = MemNet(seed=seed, **kw)  # type: ignore[arg-type]
    kinds = ["static"] * 8 + ["easy"] * (n - 8 - 6) + ["hard"] * 6
    nodes = [net.add(k) for k in kinds]
    net.bootstrap(nodes, nodes[0])
    net.run(3)
    subs = [net.call(x, x.peer.join, cluster_id, shared_key, now=net.now)
            for x in nodes[:members]]
    net.run(10)
    return net, nodes, subs[0]
