"""Send a file to one peer over a direct sealed stream, in chunks, and check its hash.

A direct message carries at most 1,007,616 bytes (1024 fragments of 984 bytes, name and
kind included), so a file goes as chunks of 512 KiB; `await peer.send()` returns when each
chunk is handed to the network (it waits for a path if there is none yet) and raises
srpfast.DeliveryError if none appears in time.

    python examples/file_transfer.py --selftest     # two peers on loopback, 3 MB, then exit
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from typing import Any

import srpfast

CLUSTER = srpfast.create_cluster_id(b"srpfast examples")
KEY = srpfast.create_shared_key(b"srpfast example files")
CHUNK = 512 * 1024


async def send_file(peer: srpfast.RemotePeer, data: bytes) -> None:
    for offset in range(0, len(data), CHUNK):
        await peer.send("chunk", data[offset:offset + CHUNK])
    await peer.send("done", {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


async def selftest(size: int) -> int:
    data = os.urandom(size)
    received = bytearray()
    finished: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1") as a:
        async with srpfast.network(cluster_id=CLUSTER, host="127.0.0.1",
                                   bootstrap=[a.address]) as b:
            sa, sb = await a.subcluster(shared_key=KEY), await b.subcluster(shared_key=KEY)

            def finish(value: dict[str, Any], meta: srpfast.Meta) -> None:
                if not finished.done():
                    finished.set_result(value)

            def on_sender(peer: srpfast.RemotePeer) -> None:  # b learns of a: listen to it
                peer.on("chunk", lambda value, meta: received.extend(value))
                peer.on("done", finish)

            sb.on("#join", on_sender)
            joined: asyncio.Future[srpfast.RemotePeer] = asyncio.get_running_loop().create_future()
            sa.on("#join", lambda peer: None if joined.done() else joined.set_result(peer))
            target = await asyncio.wait_for(joined, 10)
            await asyncio.sleep(0.2)  # b's handlers are in place once it has seen a's JOIN
            await send_file(target, data)
            summary = await asyncio.wait_for(finished, 30)
    ok = (bytes(received) == data and summary["sha256"] == hashlib.sha256(data).hexdigest())
    print(f"file transfer selftest: {len(received)}/{size} bytes,",
          "hash matches" if ok else "MISMATCH")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--selftest", action="store_true", required=True)
    ap.add_argument("--size", type=int, default=3 * 1024 * 1024)
    args = ap.parse_args()
    return asyncio.run(selftest(args.size))


if __name__ == "__main__":
    sys.exit(main())
