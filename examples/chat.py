"""A chat room: every peer in the "chat" subcluster sees every line, sealed end to end.

    python examples/chat.py --name alice --port 9000
    python examples/chat.py --name bob --bootstrap 127.0.0.1:9000
    python examples/chat.py --selftest      # three peers on loopback talk, then exit
"""
from __future__ import annotations

import argparse
import asyncio
import sys

import srpfast

ROOM = srpfast.create_shared_key(b"srpfast example chat")
CLUSTER = srpfast.create_cluster_id(b"srpfast examples")


async def chat_peer(name: str, port: int, bootstrap: list[str],
                    lines: "asyncio.Queue[str | None]", heard: list[str],
                    bound: "asyncio.Future[tuple[str, int]] | None" = None) -> None:
    async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1", port=port,
                               bootstrap=bootstrap) as net:
        if bound is not None:
            bound.set_result(net.address)
        room = await net.subcluster(shared_key=ROOM)

        def show(value: dict[str, str], meta: srpfast.Meta) -> None:
            heard.append(f"<{value['name']}> {value['text']}")
            print(heard[-1], flush=True)

        room.on("say", show)
        room.on("#join", lambda peer: print(f"* {peer.peer_id.hex()[:8]} joined", flush=True))
        while (text := await lines.get()) is not None:
            room.emit("say", {"name": name, "text": text})
        await asyncio.sleep(0.5)  # let the last line leave


async def selftest() -> int:
    names = ("alice", "bob", "carol")
    queues: dict[str, asyncio.Queue[str | None]] = {n: asyncio.Queue() for n in names}
    heard: dict[str, list[str]] = {n: [] for n in names}
    bound: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    first = asyncio.ensure_future(chat_peer("alice", 0, [], queues["alice"], heard["alice"],
                                            bound))
    host, port = await bound
    rest = [asyncio.ensure_future(chat_peer(n, 0, [f"{host}:{port}"], queues[n], heard[n]))
            for n in names[1:]]
    await asyncio.sleep(2.0)  # connect and join
    for n in names:
        await queues[n].put(f"hello from {n}")
    for _ in range(100):
        if all(len(h) == 2 for n, h in heard.items()):
            break
        await asyncio.sleep(0.05)
    for q in queues.values():
        await q.put(None)
    await asyncio.gather(first, *rest)
    ok = all(sorted(h) == sorted(f"<{m}> hello from {m}" for m in names if m != n)
             for n, h in heard.items())
    print("chat selftest", "passed" if ok else f"FAILED: {heard}")
    return 0 if ok else 1


async def interactive(args: argparse.Namespace) -> int:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def read() -> None:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            await lines.put(line.rstrip("\n"))
        await lines.put(None)

    reader = asyncio.ensure_future(read())
    await chat_peer(args.name, args.port, args.bootstrap, lines, [])
    reader.cancel()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="anonymous")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bootstrap", action="append", default=[])
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    return asyncio.run(selftest() if args.selftest else interactive(args))


if __name__ == "__main__":
    sys.exit(main())
