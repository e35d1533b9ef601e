"""Loopback helpers for network tests: bounded waits and a mesh of real networks that is
always closed, even when the test fails."""
import asyncio
import contextlib
import time

import srpfast


async def wait_for(predicate, timeout: float = 15.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


@contextlib.asynccontextmanager
async def mesh(n: int, cluster: bytes = b"srpfast tests", **kw):
    """n networks on 127.0.0.1; the first two are everyone's bootstrap."""
    cluster_id = srpfast.create_cluster_id(cluster)
    nets = []
    try:
        first = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1", **kw)
        nets.append(first)
        seeds = [("127.0.0.1", first.address[1])]
        for i in range(1, n):
            net = await srpfast.network(cluster_id=cluster_id, host="127.0.0.1",
                                        bootstrap=list(seeds), **kw)
            nets.append(net)
            if i == 1:
                seeds.append(("127.0.0.1", net.address[1]))
        yield nets
    finally:
        for net in nets:
            await net.close()
