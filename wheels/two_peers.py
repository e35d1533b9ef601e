"""Two srpfast peers on loopback exchange a sealed message and a direct one, then exit 0.
The wheel smoke test runs it with the system libsodium hidden (wheels/smoke.sh)."""
import asyncio
import sys

import srpfast


async def main() -> int:
    cluster = srpfast.create_cluster_id(b"smoke")
    key = srpfast.create_shared_key(b"smoke")
    async with srpfast.network(cluster_id=cluster, host="127.0.0.1") as a:
        async with srpfast.network(cluster_id=cluster, host="127.0.0.1",
                                   bootstrap=[a.address]) as b:
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            got: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            sb.on("hello", lambda value, meta: got.done() or got.set_result(value))
            joined: asyncio.Future[srpfast.RemotePeer] = asyncio.get_running_loop().create_future()
            sa.on("#join", lambda peer: joined.done() or joined.set_result(peer))
            peer = await asyncio.wait_for(joined, 10)
            sa.emit("hello", {"sealed": True})
            await peer.send("direct", b"and a direct one")
            value = await asyncio.wait_for(got, 10)
    print("two peers exchanged a sealed message:", value)
    return 0 if value == {"sealed": True} else 1


sys.exit(asyncio.run(main()))
