"""A long-lived headless node: a bootstrap and relay for others, with a key file (so its id
survives restarts), a known-peers file, and a status line every few seconds.

    python examples/relay_node.py --port 9000 --key node.key --peers-file node-peers.json
    python examples/relay_node.py --selftest      # run 3 s with one client, then exit

(`srp peer --serve` does the same from the command line.)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile

import srpfast

CLUSTER = srpfast.create_cluster_id(b"srpfast examples")


def identity_from(path: str) -> srpfast.Identity:
    if os.path.exists(path):
        return srpfast.load_identity(path)
    identity = srpfast.create_identity()
    srpfast.save_identity(identity, path)  # 0600
    return identity


async def serve(port: int, key: str, peers_file: str, seconds: float | None,
                every: float = 5.0, bound: "asyncio.Future[tuple[str, int]] | None" = None) -> srpfast.Network:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if seconds is not None:
        loop.call_later(seconds, stop.set)
    async with srpfast.network(identity=identity_from(key), cluster_id=CLUSTER,
                               host="127.0.0.1", port=port, peers_file=peers_file) as net:
        net.on("#connection", lambda e: print(f"+ {e.peer_id.hex()[:8]} {e.address}"))
        net.on("#error", lambda e: print(f"! {e.code}: {e.reason}", file=sys.stderr))
        print(f"node {net.identity.peer_id.hex()[:16]} on {net.address}", flush=True)
        if bound is not None:
            bound.set_result(net.address)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass
            m = net.metrics()
            print(f"peers={m['peers']} rx={m.get('rx', 0)} tx={m.get('tx', 0)} "
                  f"relayed={m.get('dataplane.forwarded', 0)}", flush=True)
        return net


async def selftest() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        key, peers = os.path.join(tmp, "node.key"), os.path.join(tmp, "peers.json")
        bound: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        node = asyncio.ensure_future(serve(0, key, peers, seconds=3.0, every=1.0, bound=bound))
        host, port = await bound
        async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1",
                                   bootstrap=f"{host}:{port}") as client:
            await client.wait_ready(5)
            connected = client.metrics()["peers"] >= 1
        net = await node
        kept = os.path.exists(peers) and srpfast.load_identity(key).peer_id == net.identity.peer_id
    print("relay node selftest", "passed" if connected and kept else "FAILED")
    return 0 if connected and kept else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--key", default="node.key")
    ap.add_argument("--peers-file", default="node-peers.json")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    if args.selftest:
        return asyncio.run(selftest())
    asyncio.run(serve(args.port, args.key, args.peers_file, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
