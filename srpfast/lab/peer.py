"""One lab peer: a real srpfast peer on the public API, printing JSON lines of timed events.

    python -m srpfast.lab.peer --name e1 --bootstrap 198.18.0.11:7000 --duration 60

It starts ``srpfast.network(...)``, joins one subcluster, then until stopped (SIGTERM,
--duration): publishes a sealed ``hello`` every --every seconds and sends every member it
has seen (``#join``) a direct sealed stream (``RemotePeer.emit``) at the same pace. Lines
(``t`` is wall-clock time, comparable across the lab's processes):

    {"ev": "start", "name", "id", "bound"}        {"ev": "ready", "nat", "public"}
    {"ev": "nat", "nat", "public"}  (#network-change)
    {"ev": "intro", "peer", "action", "their_nat"}  (each INTRO about a peer, SPEC 5)
    {"ev": "connection", "peer", "pool"}            {"ev": "join", "peer"}
    {"ev": "publish", "peer"} / {"ev": "direct", "peer"}  (first delivery from each peer)
    {"ev": "final", "metrics": {...}, "paths": {peer: {"connected", "pool", "relay"}},
     "punch": {host: [datagrams, wire bytes]}}   (BDP spray and pool sends per target host)

The INTRO line comes from wrapping the engine's ``traversal.on_intro``: the lab observes
which action the strategy table chose (the counters say how many, not about whom).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

import srpfast
from srpfast.control.nat import name_of

COUNTER_PREFIXES = ("intro.", "spray.", "pool.", "relay.", "reflect.", "bdp.", "probe.",
                    "stream.", "connections", "drop.", "join.", "rx.", "tx.", "ask.",
                    "driver.spray", "driver.send", "udp.send")


def say(ev: str, **fields: Any) -> None:
    print(json.dumps({"t": time.time(), "ev": ev, **fields}, default=str), flush=True)


def _watch_intros(net: Any) -> None:
    peer = net.peer
    original = peer.traversal.on_intro

    def on_intro(f: Any, body: Any, address: Any, now: float, pool: Any) -> None:
        before = {k: v for k, v in peer.counters().items() if k.startswith("intro.")}
        original(f, body, address, now, pool)
        after = peer.counters()
        for key, value in after.items():
            if key.startswith("intro.") and value > before.get(key, 0):
                say("intro", peer=body.peer_id.hex(), action=key[6:],
                    their_nat=name_of(body.nat), my_nat=peer.nat,
                    introducer=body.introducer.hex())

    peer.traversal.on_intro = on_intro


SPRAY_WIRE = 4 + 28     # a spray probe on the wire: 4 zero bytes + UDP and IPv4 headers
UDP_IP = 28


def _watch_punch(net: Any) -> dict[str, list[int]]:
    """Datagrams and wire bytes the BDP spends, per target host: Spray actions (Easy side)
    and pool sends (Hard side), seen where the engine hands them to the driver."""
    peer = net.peer
    spent: dict[str, list[int]] = {}
    act, send = peer.act, peer.send

    def on_act(action: Any) -> None:
        kind = type(action).__name__
        if kind == "Spray":
            t = spent.setdefault(action.host, [0, 0])
            t[0] += action.port_count
            t[1] += action.port_count * SPRAY_WIRE
        elif kind == "PoolSend":  # (index -1: one datagram from every pool socket)
            n = peer.config.bdp_sockets if action.index < 0 else 1
            t = spent.setdefault(action.address[0], [0, 0])
            t[0] += n
            t[1] += n * (len(action.datagram) + UDP_IP)
        act(action)

    def on_send(datagram: bytes, address: Any, pool: Any = None) -> None:
        if pool is not None and pool[0] in peer.traversal.pools:  # (not a kept socket's traffic)
            t = spent.setdefault(address[0], [0, 0])
            t[0] += 1
            t[1] += len(datagram) + UDP_IP
        send(datagram, address, pool)

    peer.act, peer.send = on_act, on_send
    return spent


def _watch_bdp(net: Any) -> None:
    """Event lines for the BDP's steps (bounded: a pool pings at most bdp_probes times, and
    only its bursts are logged of a spray): pool opened, a spray probe reaching a pool socket,
    a pool PING arriving at the Easy side, a PONG on a pool socket and what became of it."""
    from srpfast.wire.bodies import PING_PROBE
    peer = net.peer
    tr, hs = peer.traversal, peer.handshake
    start_pool, on_probe, for_pong = tr._start_pool, tr.on_pool_probe, tr.pool_for_pong
    on_ping, act = hs.on_ping, peer.act

    def _start_pool(peer_id: bytes, address: Any, introducer: bytes, now: float) -> None:
        before = len(tr.pools)
        start_pool(peer_id, address, introducer, now)
        if len(tr.pools) > before:
            say("bdp", step="pool_open", peer=peer_id.hex(), address=list(address))

    def on_pool_probe(pool: Any, address: Any, now: float) -> None:
        st = tr.pools.get(pool[0])
        sent = st.sent if st is not None else None
        on_probe(pool, address, now)
        say("bdp", step="probe_in", socket=pool[1], open=st is not None,
            peer=st.peer_id.hex() if st is not None else None,
            pinged=st is not None and st.sent != sent, address=list(address))

    def pool_for_pong(request_id: int, peer_id: bytes, pool: Any) -> Any:
        sent = for_pong(request_id, peer_id, pool)
        if pool is not None:
            st = tr.pools.get(pool[0])
            say("bdp", step="pong_in", socket=pool[1], peer=peer_id.hex(),
                expected=sent is not None, open=st is not None,
                same_peer=st is not None and st.peer_id == peer_id,
                known_rid=st is not None and request_id in st.sent_at,
                kept_for=(tr.kept.get(pool[0]) or b"").hex()[:12])
        return sent

    def on_ping_(f: Any, body: Any, address: Any, now: float, pool: Any) -> None:
        if body.flags & PING_PROBE:
            say("bdp", step="pool_ping_in", peer=body.peer_id.hex(), address=list(address),
                known=peer.table.get(body.peer_id) is not None)
        on_ping(f, body, address, now, pool)

    introduce = tr.introduce

    def introduce_(a: Any, a_address: Any, b: Any, *rest: Any) -> None:
        say("bdp", step="introduce", peer=a.peer_id.hex(), to=b.peer_id.hex(),
            their_nat=name_of(a.nat), to_nat=name_of(b.nat),
            to_heard=round(time.monotonic() - b.last_seen, 3))
        introduce(a, a_address, b, *rest)

    tr.introduce = introduce_

    def on_act(action: Any) -> None:
        if type(action).__name__ == "Spray" and action.first == 0:
            say("bdp", step="spray_burst", host=action.host, n=action.port_count)
        act(action)

    tr._start_pool, tr.on_pool_probe, tr.pool_for_pong = _start_pool, on_pool_probe, pool_for_pong
    hs.on_ping, peer.act = on_ping_, on_act


def _paths(net: Any, remotes: dict[bytes, Any]) -> dict[str, dict[str, bool]]:
    peer = net.peer
    out = {}
    for pid in remotes:
        entry = peer.table.get(pid)
        out[pid.hex()] = {"connected": entry is not None,
                          "pool": bool(entry is not None and entry.pool is not None),
                          "relay": peer.traversal.route(pid) is not None}
    return out


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    cluster = srpfast.create_cluster_id(args.cluster.encode())
    async with srpfast.network(cluster_id=cluster, host=args.host, port=args.port,
                               bootstrap=args.bootstrap) as net:
        me = net.identity.peer_id
        say("start", name=args.name, id=me.hex(), bound=list(net.address))
        _watch_intros(net)
        punch = _watch_punch(net)
        if args.trace_bdp:
            _watch_bdp(net)
        def samples() -> list[list[Any]]:
            r = net.peer.reflection
            out = []
            for s in r.last_samples:
                entry = net.peer.table.get(s.reflector)
                out.append([list(entry.address) if entry is not None else None, *s.observed])
            return out

        def public(address: Any) -> Any:
            return list(address) if address is not None else None

        # (typed network events: srpfast/api_events.py)
        net.on("#ready", lambda e: say("ready", nat=e.nat, public=public(e.public_address),
                                       samples=samples()))
        net.on("#network-change", lambda e: say("nat", nat=e.nat,
                                                public=public(e.public_address),
                                                samples=samples()))

        def connected(e: Any) -> None:
            entry = net.peer.table.get(e.peer_id)
            say("connection", peer=e.peer_id.hex(), address=list(e.address),
                pool=bool(entry is not None and entry.pool is not None))

        net.on("#connection", connected)
        sub = await net.subcluster(shared_key=srpfast.create_shared_key(args.join.encode()))
        remotes: dict[bytes, Any] = {}
        got_publish: set[str] = set()
        got_direct: set[bytes] = set()

        def on_hello(value: Any, meta: Any) -> None:
            author = meta.author.hex()
            if author not in got_publish:
                got_publish.add(author)
                say("publish", peer=author, hops=meta.hops)

        def on_join(remote: Any) -> None:
            remotes[remote.peer_id] = remote
            say("join", peer=remote.peer_id.hex())

            def on_direct(value: Any, meta: Any, pid: bytes = remote.peer_id) -> None:
                if pid not in got_direct:
                    got_direct.add(pid)
                    say("direct", peer=pid.hex())

            remote.on("direct", on_direct)

        sub.on("hello", on_hello)
        sub.on("#join", on_join)
        net.on("#error", lambda e: None)  # expired queued streams: expected early on
        end = time.monotonic() + args.duration
        n = 0
        while not stop.is_set() and time.monotonic() < end:
            n += 1
            sub.emit("hello", {"from": args.name, "n": n})
            for remote in list(remotes.values()):
                try:
                    remote.emit("direct", {"from": args.name, "n": n})
                except srpfast.SRPError:
                    pass  # queue full (no path for long): the next round tries again
            try:
                await asyncio.wait_for(stop.wait(), args.every)
            except asyncio.TimeoutError:
                pass
        metrics = {k: v for k, v in net.metrics().items() if k.startswith(COUNTER_PREFIXES)}
        say("final", nat=net.peer.nat, metrics=metrics, paths=_paths(net, remotes),
            punch=punch)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m srpfast.lab.peer")
    ap.add_argument("--name", required=True)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT")
    ap.add_argument("--cluster", default="srplab")
    ap.add_argument("--join", default="srplab pairs")
    ap.add_argument("--every", type=float, default=0.2, help="publish/stream period, s")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--trace-bdp", action="store_true",
                    help="event lines for each BDP step (pool open, probes, pool PINGs/PONGs)")
    args = ap.parse_args(argv)
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
