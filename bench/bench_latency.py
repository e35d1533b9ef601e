"""Publish latency on loopback (issue 6), in one process on one uvloop:

- emit() -> callback over a chain of five srpfast networks in which each only knows its
  neighbours (intro_peers=0), by meta.hops; beside a plain asyncio UDP echo round trip (the
  peer: the floor any UDP program pays on this machine).
- emit() -> callback while a 12-network mesh forms (defaults), with loss.

The two-process latency against pyzmq is in bench/bench_e2e.py.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_network import HOST, _new_loop, _until  # noqa: E402
from bench.harness import Row, loss_of, main  # noqa: E402
from srpfast.config import Config  # noqa: E402

# ------------------------------------------------------------------ publish latency
def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _chain_latency(messages: int) -> dict[int, list[float]]:
    import srpfast
    cluster_id = os.urandom(32)
    shared_key = os.urandom(32)
    # intro_peers=0: a JOIN introduces nobody, so each network keeps only the neighbours it
    # bootstrapped with or was pinged by: a chain of 5, up to 3 relay hops end to end.
    cfg = Config(intro_peers=0)
    nets = []
    lat: dict[int, list[float]] = {}
    sent_at: dict[int, int] = {}
    try:
        for i in range(5):
            boot = [nets[-1].address] if nets else []
            net = srpfast.network(cluster_id=cluster_id, host=HOST, bootstrap=boot, config=cfg)
            await net.start()
            nets.append(net)
        subs = [await n.subcluster(shared_key=shared_key) for n in nets]

        def on_tick(value: object, meta) -> None:
            t = time.perf_counter_ns()
            if isinstance(value, int) and value in sent_at:
                lat.setdefault(meta.hops, []).append((t - sent_at[value]) / 1e6)

        for s in subs[1:]:
            s.on("tick", on_tick)
        await _until(lambda: all(len(n.peer.table) >= (1 if i in (0, 4) else 2)
                                 for i, n in enumerate(nets)), 10.0, "5-peer chain")
        await asyncio.sleep(0.2)
        for k in range(messages):
            sent_at[k] = time.perf_counter_ns()
            subs[0].emit("tick", k)
            await asyncio.sleep(0.003)
        await asyncio.sleep(0.3)
        lat["peers"] = [float(len(n.peer.table)) for n in nets]  # type: ignore[index]
    finally:
        for n in nets:
            await n.close()
    return lat


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.t = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.t.sendto(data, addr)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future | None = None

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(time.perf_counter_ns())


async def _echo_rtts(n: int) -> list[float]:
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(HOST, 0))
    client, proto = await loop.create_datagram_endpoint(
        _Client, remote_addr=server.get_extra_info("sockname"))
    out = []
    payload = bytes(1158)
    try:
        for _ in range(n):
            proto.waiter = loop.create_future()
            t0 = time.perf_counter_ns()
            client.sendto(payload)
            t1 = await asyncio.wait_for(proto.waiter, 1.0)
            out.append((t1 - t0) / 1e6)
            await asyncio.sleep(0.001)
    finally:
        client.close()
        server.close()
        await asyncio.sleep(0)
    return out


def _latency_group(quick: bool) -> list[Row]:
    group = "publish latency"
    messages = 60 if quick else 300
    loop = _new_loop()
    try:
        lat = loop.run_until_complete(_chain_latency(messages))
        rtts = loop.run_until_complete(_echo_rtts(messages))
    finally:
        loop.close()
    peers = lat.pop("peers", [])  # type: ignore[call-overload]
    rows = []
    shape = f"peers per network {[int(p) for p in peers]}"
    chain = ("5 srpfast networks on one uvloop, bootstrapped as a chain (intro_peers=0; a "
             "filtering probe pings but connects nobody), so the chain stays a chain; deepest "
             f"path observed: {max(lat, default=0)} relay hops")
    loss = loss_of(sum(len(xs) for xs in lat.values()), 4 * messages)
    for hops in sorted(lat):
        xs = lat[hops]
        what = "direct (0 relay hops)" if hops == 0 else f"{hops} relay hop{'s' * (hops > 1)}"
        for q in (0.5, 0.99):
            rows.append(Row(group, f"emit -> callback, {what}, p{int(q * 100)}", _pct(xs, q),
                            unit="ms", lower_is_better=True, loss=loss, max_loss=0.0,
                            settings="intro_peers=0 (keeps the chain a chain)",
                            note=f"{len(xs)} deliveries at meta.hops={hops} ({messages} "
                                 f"messages x 4 subscribers, each counted at the hops it "
                                 f"arrived with)" + ("" if rows else f"; {chain}; {shape}")))
    rows.append(Row(group, "asyncio UDP echo round trip, p50 (1158 bytes)", _pct(rtts, 0.5),
                    unit="ms", role="peer", lower_is_better=True,
                    note=f"p99 {_pct(rtts, 0.99):.3f} ms"
                                                 f", {len(rtts)} round trips on uvloop"))
    return rows


async def _forming_latency(n: int, window: float, interval: float) -> tuple[list[float], int]:
    """n networks started at once (bootstrapped on the first two, as `srp demo`); every one
    joins one subcluster at start, and the first publishes a message every ``interval`` for
    the first ``window`` seconds, while peers still connect, join and get introduced.
    Returns (publish -> callback latencies in ms, deliveries wanted)."""
    import srpfast
    cluster_id, shared_key = os.urandom(32), os.urandom(32)
    nets: list = []
    lat: list[float] = []
    sent_at: dict[int, int] = {}
    try:
        first = srpfast.network(cluster_id=cluster_id, host=HOST)
        await first.start()
        nets.append(first)
        seeds = [first.address]
        for i in range(1, n):
            net = srpfast.network(cluster_id=cluster_id, host=HOST, bootstrap=list(seeds))
            await net.start()
            nets.append(net)
            if i == 1:
                seeds.append(net.address)
        subs = [await net.subcluster(shared_key=shared_key) for net in nets]

        def on_msg(value: object, meta) -> None:
            if isinstance(value, int) and value in sent_at:
                lat.append((time.perf_counter_ns() - sent_at[value]) / 1e6)

        for s in subs[1:]:
            s.on("m", on_msg)
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < window:
            sent_at[k] = time.perf_counter_ns()
            subs[0].emit("m", k)
            k += 1
            await asyncio.sleep(interval)
        wanted = k * (n - 1)
        end = time.monotonic() + 10.0
        while len(lat) < wanted and time.monotonic() < end:
            await asyncio.sleep(0.05)
    finally:
        for net in nets:
            await net.close()
    return lat, wanted


def _forming_group(quick: bool) -> list[Row]:
    group = "publish latency"
    n, window, interval = 12, 2.0, 0.02
    loop = _new_loop()
    try:
        lat, wanted = loop.run_until_complete(_forming_latency(n, window, interval))
    finally:
        loop.close()
    got = len(lat)
    note = (f"{got}/{wanted} deliveries ({100.0 * got / max(1, wanted):.1f}%) within 10 s; "
            f"{n} networks started together on one uvloop (bootstrapped on the first two), "
            f"all in one subcluster, one message every {interval * 1000:.0f} ms during the "
            f"first {window:.0f} s")
    if not lat:
        return [Row(group, "emit -> callback while the mesh forms: nothing delivered", 0.0,
                    unit="ms", note=note, loss=1.0, max_loss=0.0)]
    rows = [Row(group, f"emit -> callback while the mesh forms (first {window:.0f} s), "
                       f"{label}", v, unit="ms", lower_is_better=True,
                loss=loss_of(got, wanted), max_loss=0.0,
                note=note if not i else "")
            for i, (label, v) in enumerate((("p50", _pct(lat, 0.5)), ("p99", _pct(lat, 0.99)),
                                            ("max", max(lat))))]
    return rows


def run(quick: bool = False) -> list[Row]:
    return _latency_group(quick) + _forming_group(quick)


if __name__ == "__main__":
    main(run)
