"""Whole-network figures of issue 6 on loopback (127.0.0.1), each with its limit measured in
the same run:

- "relay peer on loopback": a real relay (engine Peer + UDPDriver on uvloop) whose three
  candidates are real srpfast Peers that proved themselves by PING/PONG (SPEC 4), loaded by a
  sender PROCESS blasting distinct valid PUBLISH frames; its output datagrams/s against the C
  sendmmsg ceiling (one process, one sink) measured beside it.
- "receive to subscriber": sealed PUBLISH frames built by a second engine Peer's own publish
  path, blasted from another process at a full srpfast.network; deliveries/s reaching a Python
  callback against the C recvmmsg ceiling for the same sender process and frames.
- "publish latency": emit() -> callback over a chain of five srpfast networks in which each
  only knows its neighbours (intro_peers=0), by meta.hops; beside a plain asyncio UDP echo.

The machine has 2 cores: the sender process takes one, the measured peer the other; rows say
in `note` when the sender or kernel drops are what limits them.
"""
from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.blast import Blaster  # noqa: E402
from bench.harness import Row, main  # noqa: E402
from srpfast import _udp  # noqa: E402
from srpfast._udp import UDPSocket  # noqa: E402
from srpfast.config import Config  # noqa: E402
from srpfast.crypto import create_identity  # noqa: E402

HOST = "127.0.0.1"
# SPEC 9.6 limits every source address to rate_packets/s; the bench has ONE sender address
# standing for a whole network's traffic, so the measured peer lifts that limit.
BENCH_RATE = dict(rate_packets=1e9, rate_burst=1e9)


def _new_loop() -> asyncio.AbstractEventLoop:
    import uvloop
    return uvloop.new_event_loop()


async def _until(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"bench setup timed out: {what}")
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ relay peer on loopback
class _SansIOSink:
    """A real engine Peer on its own UDPSocket, pumped by hand (sans-I/O) so that after the
    handshake its socket can be switched to a counting drain: as a full peer it would relay
    what it receives back into the network and the relay would measure its own echoes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        from srpfast.engine import Peer
        self.loop = loop
        self.sock = UDPSocket(HOST, 0, batch=64)
        self.peer = Peer(create_identity(), Config(), now=time.monotonic(),
                         address=self.sock.local_address)
        self.received = 0
        loop.add_reader(self.sock.fileno(), self._pump)

    def _flush(self) -> None:
        out = self.peer.datagrams_to_send()
        if out:
            self.sock.send_batch([d for d, _ in out], [a for _, a in out])

    def _pump(self) -> None:
        batch = self.sock.recv_batch()
        now = time.monotonic()
        for datagram, address in batch:
            self.peer.receive(datagram, address, now)
        self._flush()

    def connect(self, address: tuple) -> None:
        self.peer.add_peer(address, time.monotonic())
        self._flush()

    def _drain(self) -> None:
        while True:
            n = self.sock.recv_batch().count
            self.received += n
            if n < self.sock.batch:
                return

    def count_only(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.loop.add_reader(self.sock.fileno(), self._drain)

    def close(self) -> None:
        if not self.sock.closed:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


async def _relay_run(loop: asyncio.AbstractEventLoop, seconds: float) -> dict:
    from srpfast.engine import Peer
    from srpfast.net.driver import UDPDriver
    sock = UDPSocket(HOST, 0)
    relay = Peer(create_identity(), Config(**BENCH_RATE), now=time.monotonic(),
                 address=sock.local_address)
    driver = UDPDriver(relay, sock, on_event=lambda e: None, loop=loop)
    sinks: list[_SansIOSink] = []
    try:
        driver.start()
        for _ in range(3):
            sink = _SansIOSink(loop)
            sinks.append(sink)
            sink.connect(sock.local_address)
        # Proven peers: the relay admitted each sink after verifying its signed PING, and
        # each sink got the relay's PONG (the engine's normal path fills the data plane).
        await _until(lambda: len(relay.table) >= 3 and all(len(s.peer.table) for s in sinks),
                     5.0, "relay handshake with 3 sinks")
        await asyncio.sleep(0.05)  # let the handshake's trailing JOIN/PING traffic settle
        for sink in sinks:
            sink.count_only()
        before = dict(sock.counters())
        dp_before = relay.counters()
        samples: list[tuple[float, int]] = []
        with Blaster("publish", sock.local_address, seconds) as blaster:
            blaster.go()
            t_end = time.monotonic() + seconds + 0.3
            while time.monotonic() < t_end:
                samples.append((time.perf_counter(), sock.counters()["sent"]))
                await asyncio.sleep(0.02)
            result = await loop.run_in_executor(None, blaster.result)
        await asyncio.sleep(0.05)
        after = sock.counters()
        dp = relay.counters()
        # Output rate over the window in which the relay was sending (first..last change).
        moving = [(t, n) for (t, n), (_, prev) in zip(samples[1:], samples) if n != prev]
        first = next(((t, n) for (t, n), (_, nxt) in zip(samples, samples[1:]) if nxt != n),
                     None)
        if first is None or not moving:
            rate = 0.0
        else:
            rate = (moving[-1][1] - first[1]) / max(moving[-1][0] - first[0], 1e-9)
        return {
            "rate": rate,
            "blasted": result["sent"],
            "received": after["received"] - before["received"],
            "forwarded": dp.get("dataplane.forwarded", 0) - dp_before.get("dataplane.forwarded", 0),
            "relay_sent": after["sent"] - before["sent"],
            "eagain": after["send_eagain"] - before["send_eagain"],
            "deferred": driver.counters["send.deferred"],
            "sinks": sum(s.received for s in sinks),
            "batches": driver.counters["recv.batches"],
        }
    finally:
        driver.close()
        for sink in sinks:
            sink.close()


def _relay_group(seconds: float) -> list[Row]:
    group = "relay peer on loopback"
    rows = []
    with UDPSocket(HOST) as sink, UDPSocket(HOST) as tx:
        n, t = _udp._ceiling_send(tx, sink.local_address, seconds, 64)
    rows.append(Row(group, "C sendmmsg loop, 1158-byte datagrams, one process to one sink",
                    n / t, unit="datagrams/s", role="limit"))
    loop = _new_loop()
    try:
        r = loop.run_until_complete(_relay_run(loop, seconds))
    finally:
        loop.close()
    dropped = r["blasted"] - r["received"]
    limited = []
    if dropped > 0.05 * r["blasted"]:
        limited.append(f"kernel dropped {dropped:,} of the {r['blasted']:,} blasted: relay-bound")
    if r["received"] >= 0.95 * r["blasted"]:
        limited.append(f"sender-limited: the sender process blasted {r['blasted']:,} in "
                       f"{seconds:.1f} s and the relay took them all")
    note = (f"blasted {r['blasted']:,}, relay received {r['received']:,}, forwarded "
            f"{r['forwarded']:,}, sent {r['relay_sent']:,} (EAGAIN {r['eagain']:,}), sinks got "
            f"{r['sinks']:,} (sink drains share the relay's core); fan-out 3; "
            f"{r['received'] / max(r['batches'], 1):.0f} datagrams per receive batch; {'; '.join(x for x in limited if x)}")
    rows.append(Row(group, "srpfast relay (Peer + UDPDriver, uvloop), output", r["rate"],
                    unit="datagrams/s", target=">= 0.8x limit", note=note))
    return rows


# ------------------------------------------------------------------ receive to subscriber
def _sealed_frames(cluster_id: bytes, shared_key: bytes, count: int, batch: int) -> bytes:
    """`count` distinct sealed PUBLISH frames made by a second Peer's own publish path (seal +
    sign + split, SPEC 6), each one event "tick" (api.encode_event), collected from
    datagrams_to_send(); ``batch`` messages per publish_many call (one author signature per
    call: 1 is what emit() does, 256 what emit_many() does for bulk data)."""
    from srpfast.api import encode_event
    from srpfast.engine import Peer
    from srpfast.errors import SRPError
    pub = Peer(create_identity(), Config(), now=0.0, rng=random.Random(5))
    sub_id = pub.join(cluster_id, shared_key, now=0.0)
    # One entry in its table so publish() has a next hop to hand the frames to; only the bytes
    # are used (the receiver is addressed by the sender process).
    pub.table.upsert(b"\x02" * 32, ("127.0.0.1", 9), 2, 0.0)
    pub.datagrams_to_send()
    out = bytearray()
    for i in range(0, count, batch):
        pub.publish_many(sub_id, [encode_event("tick", k) for k in range(i, min(i + batch, count))],
                         now=0.0)
        for datagram, _ in pub.datagrams_to_send():
            if datagram[4] == 5:  # PUBLISH (JOINs to the fake entry are not wanted)
                out += datagram
    if len(out) != count * 1158:
        raise SRPError(f"expected {count} one-frame messages, got {len(out) / 1158:.1f}")
    return bytes(out)


async def _deliver_run(path: str, cluster_id: bytes, shared_key: bytes,
                       seconds: float, batched: bool) -> dict:
    import srpfast
    # order_wait=0: the kernel drops most of an over-fast blast, so nearly every message's
    # previousId is missing; with the default 1 s hold each would wait for it (SPEC 6
    # ordering), which measures the hold, not the receive path.
    cfg = Config(order_wait=0.0, **BENCH_RATE)
    got = {"n": 0, "first": 0.0, "last": 0.0}

    def arrived(n: int) -> None:
        now = time.perf_counter()
        if not got["n"]:
            got["first"] = now
        got["n"] += n
        got["last"] = now

    async with srpfast.network(cluster_id=cluster_id, host=HOST, config=cfg) as net:
        sub = await net.subcluster(shared_key=shared_key)
        if batched:
            sub.on_batch("tick", lambda values, metas: arrived(len(values)))
        else:
            sub.on("tick", lambda value, meta: arrived(1))
        m0 = net.metrics()
        with Blaster("once", net.address, seconds, path) as blaster:
            blaster.go()
            await asyncio.sleep(seconds + 0.4)
            result = await asyncio.get_running_loop().run_in_executor(None, blaster.result)
        m = net.metrics()
    n = got["n"]
    return {"rate": n / max(got["last"] - got["first"], 1e-9) if n > 1 else 0.0,
            "delivered": n, "blasted": result["sent"],
            "received": m.get("udp.received", 0) - m0.get("udp.received", 0),
            # frames seen before (none when each is sent once): dropped in C by the cache,
            # the delivered-id table, or by the engine
            "duplicates": sum(m.get(k, 0) - m0.get(k, 0)
                              for k in ("dataplane.duplicate", "dataplane.deliver.duplicate",
                                        "publish.duplicate", "deliver.duplicate"))}


def _deliver_group(seconds: float, quick: bool) -> list[Row]:
    """Each sender pass is every frame of a file ONCE ("once" mode): the receiver sees only
    new messages, the case the target is about, and never spends its time dropping repeats
    of a small cycled set. The limit is the C recvmmsg loop under the same pass of the same
    frames; every rate is first-to-last arrival (delivery) over what arrived."""
    import srpfast
    group = "receive to subscriber"
    cluster_id = srpfast.create_cluster_id(b"bench-network")
    shared_key = srpfast.create_shared_key(b"bench-subscriber")
    # emit_many frames: enough for ~0.5 s at the ceiling; emit() frames cost one Ed25519
    # signature each to build and are received ~10x slower, so fewer do.
    counts = {256: 8000 if quick else 150000, 1: 4000 if quick else 30000}
    rows: list[Row] = []
    paths: dict[int, tuple[str, float]] = {}
    try:
        for batch, count in counts.items():
            t0 = time.perf_counter()
            frames = _sealed_frames(cluster_id, shared_key, count, batch)
            build = count / (time.perf_counter() - t0)
            fd, path = tempfile.mkstemp(prefix="srpfast-bench-", suffix=".frames")
            with os.fdopen(fd, "wb") as f:
                f.write(frames)
            paths[batch] = (path, build)
        with UDPSocket(HOST) as rx:
            with Blaster("once", rx.local_address, seconds, paths[256][0]) as blaster:
                blaster.go()
                got, elapsed = _udp._ceiling_recv(rx, seconds + 1.0)
                sent = blaster.result()["sent"]
        rows.append(Row(group, "C recvmmsg loop, same sender process and frames",
                        got / max(elapsed, 1e-9), unit="pkt/s", role="limit",
                        note=f"received {got:,} of {sent:,} sent"
                             + ("; sender-limited" if got >= 0.95 * sent else "")))
        for batch, batched, how in (
                (1, False, "emit(): one author signature per message, on(): a call per "
                           "message"),
                (256, False, "emit_many(): one author signature per 256 messages, on(): a "
                             "call per message"),
                (256, True, "emit_many(), on_batch(): a call per receive batch")):
            path, build = paths[batch]
            loop = _new_loop()
            try:
                r = loop.run_until_complete(_deliver_run(path, cluster_id, shared_key, seconds,
                                                         batched))
            finally:
                loop.close()
            lost = r["blasted"] - r["received"]
            rows.append(Row(
                group, f"srpfast.network receive -> open+verify -> callback, {how}",
                r["rate"], unit="deliveries/s", target=">= 0.8x limit" if batched else "",
                note=(f"delivered {r['delivered']:,} of {r['blasted']:,} distinct messages "
                      f"sent once each ({r['received']:,} received, {r['duplicates']:,} "
                      f"repeats); each delivery opens the AEAD seal and checks the author's "
                      f"signature (SPEC 4)"
                      + (f"; receiver-bound: the kernel dropped {lost:,}" if lost > 0.05 *
                         r["blasted"] else "")
                      + f"; frames built at {build:,.0f}/s")))
    finally:
        for path, _ in paths.values():
            os.unlink(path)
    return rows


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
    for hops in sorted(lat):
        xs = lat[hops]
        what = "direct (0 relay hops)" if hops == 0 else f"{hops} relay hop{'s' * (hops > 1)}"
        for q in (0.5, 0.99):
            rows.append(Row(group, f"emit -> callback, {what}, p{int(q * 100)}", _pct(xs, q),
                            unit="ms",
                            target="lower is better",
                            note=f"{len(xs)} deliveries at meta.hops={hops} ({messages} "
                                 f"messages x 4 subscribers, each counted at the hops it "
                                 f"arrived with)" + ("" if rows else f"; {chain}; {shape}")))
    rows.append(Row(group, "asyncio UDP echo round trip, p50 (1158 bytes)", _pct(rtts, 0.5),
                    unit="ms", role="peer", note=f"lower is better; p99 {_pct(rtts, 0.99):.3f} ms"
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
            f"first {window:.0f} s; defaults")
    if not lat:
        return [Row(group, "emit -> callback while the mesh forms: nothing delivered", 0.0,
                    unit="ms", note=note)]
    rows = [Row(group, f"emit -> callback while the mesh forms (first {window:.0f} s), "
                       f"{label}", v, unit="ms", target="lower is better; all delivered",
                note=note if not i else "")
            for i, (label, v) in enumerate((("p50", _pct(lat, 0.5)), ("p99", _pct(lat, 0.99)),
                                            ("max", max(lat))))]
    return rows


def run(quick: bool = False) -> list[Row]:
    seconds = 0.5 if quick else 1.5
    return (_relay_group(seconds) + _deliver_group(seconds, quick) + _latency_group(quick)
            + _forming_group(quick))


if __name__ == "__main__":
    main(run)
