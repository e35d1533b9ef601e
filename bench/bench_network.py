"""Whole-network figures of issue 6 on loopback (127.0.0.1), each with its limit measured in
the same run:

- "relay peer on loopback": a real relay (engine Peer + UDPDriver on uvloop, default Config)
  whose three candidates are real srpfast Peers that proved themselves by PING/PONG (SPEC 4),
  loaded by a sender PROCESS (itself a proven peer) blasting distinct valid PUBLISH frames;
  its output datagrams/s against the GSO send ceiling measured beside it (the driver sends
  with GSO, which sendmmsg is no ceiling for).
- "receive to subscriber": sealed PUBLISH frames built by a second engine Peer's own publish
  path, blasted from another process (a proven peer) at a full srpfast.network; deliveries/s
  reaching a Python callback against the C recvmmsg ceiling for the same sender and frames.

Rates run from the sender's start to the last output / delivery; what never arrived is the
loss column. Nothing is lifted to make room for the blast: every Config value a row changes
is in its settings. Publish latency is in bench/bench_latency.py.
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
from bench.bench_udp import GSO_GROUP, gso_ceiling  # noqa: E402
from bench.harness import Row, delivery_rate, loss_of, main, quick_params  # noqa: E402
from srpfast.drivers import _udp  # noqa: E402
from srpfast.drivers._udp import UDPSocket  # noqa: E402
from srpfast.config import Config  # noqa: E402
from srpfast.crypto import create_identity  # noqa: E402

HOST = "127.0.0.1"


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
        from srpfast.control.engine import Peer
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
    from srpfast.control.engine import Peer
    from srpfast.drivers.udp import UDPDriver
    sock = UDPSocket(HOST, 0)
    relay = Peer(create_identity(), Config(), now=time.monotonic(),
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
        # The sender proves itself to the relay first (the relay must answer meanwhile).
        blaster = await loop.run_in_executor(
            None, lambda: Blaster("publish", sock.local_address, seconds, prove=True))
        with blaster:
            n0 = sock.counters()["sent"]
            started = time.perf_counter()  # the sender's first send is after this
            blaster.go()
            t_end = time.monotonic() + seconds + 0.3
            while time.monotonic() < t_end:
                samples.append((time.perf_counter(), sock.counters()["sent"]))
                await asyncio.sleep(0.02)
            result = await loop.run_in_executor(None, blaster.result)
        await asyncio.sleep(0.05)
        after = sock.counters()
        dp = relay.counters()
        # Output rate from the sender's start to the relay's last output.
        last = next((t for (t, n), (_, prev) in zip(reversed(samples[1:]),
                                                     reversed(samples[:-1])) if n != prev),
                    None)
        sent_out = samples[-1][1] - n0
        return {
            "rate": delivery_rate(sent_out, started, last),
            "proven": len(relay.table),
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


def _relay_group(seconds: float, quick: bool) -> list[Row]:
    """The relay sends with UDP GSO (net/driver.py), so its ceiling is the GSO send loop, not
    sendmmsg (which the relay beat by 1.19x when it stood as the limit)."""
    group = "relay peer on loopback"
    rows = []
    with UDPSocket(HOST) as sink, UDPSocket(HOST) as tx:
        gso = gso_ceiling(tx, sink.local_address, quick_params(quick))
        n, t = _udp._ceiling_send(tx, sink.local_address, seconds, 64)
    rows.append(Row(group, "srpfast send_gso loop, 256/call, one process to one sink",
                    gso.rate, unit="datagrams/s", role="limit",
                    note=f"the ceiling of {GSO_GROUP!r}, measured again here"))
    rows.append(Row(group, "C sendmmsg loop, 1158-byte datagrams, one process to one sink",
                    n / t, unit="datagrams/s", note="without GSO, for scale"))
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
    note = (f"sender proven ({r['proven']} peers in the relay's table); "
            f"blasted {r['blasted']:,}, relay received {r['received']:,}, forwarded "
            f"{r['forwarded']:,}, sent {r['relay_sent']:,} (EAGAIN {r['eagain']:,}), sinks got "
            f"{r['sinks']:,} (sink drains share the relay's core); fan-out 3; "
            f"{r['received'] / max(r['batches'], 1):.0f} datagrams per receive batch; {'; '.join(x for x in limited if x)}")
    rows.append(Row(group, "srpfast relay (Peer + UDPDriver, uvloop), output", r["rate"],
                    unit="datagrams/s", min_x_limit=0.8,
                    loss=loss_of(r["sinks"], 3 * r["blasted"]), note=note))
    return rows


# ------------------------------------------------------------------ receive to subscriber
def _sealed_frames(cluster_id: bytes, shared_key: bytes, count: int, batch: int) -> bytes:
    """`count` distinct sealed PUBLISH frames made by a second Peer's own publish path (seal +
    sign + split, SPEC 6), each one event "tick" (api.encode_event), collected from
    datagrams_to_send(); ``batch`` messages per publish_many call (one author signature per
    call: 1 is what emit() does, 256 what emit_many() does for bulk data)."""
    from srpfast.api import encode_event
    from srpfast.control.engine import Peer
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
    cfg = Config(order_wait=0.0)
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
        blaster = await asyncio.get_running_loop().run_in_executor(
            None, lambda: Blaster("once", net.address, seconds, path, prove=True))
        with blaster:
            started = time.perf_counter()  # the sender's first send is after this
            blaster.go()
            await asyncio.sleep(seconds + 0.4)
            result = await asyncio.get_running_loop().run_in_executor(None, blaster.result)
        m = net.metrics()
    n = got["n"]
    return {"rate": delivery_rate(n, started, got["last"] if n else None),
            "first_ms": 1000 * (got["first"] - started) if n else None,
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
                        got / max(elapsed, 1e-9), unit="msg/s", role="limit",
                        loss=loss_of(got, sent),
                        note=f"one-frame messages; received {got:,} of {sent:,} sent"
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
                r["rate"], unit="msg/s", min_x_limit=0.8 if batched else None,
                loss=loss_of(r["delivered"], r["blasted"]),
                settings="order_wait=0 (a blast the kernel partly drops leaves most "
                         "predecessors missing; the default 1 s hold would measure the hold)",
                note=(f"delivered {r['delivered']:,} of {r['blasted']:,} distinct messages "
                      f"sent once each ({r['received']:,} received, {r['duplicates']:,} "
                      f"repeats); each delivery opens the AEAD seal and checks the author's "
                      f"signature (SPEC 4)"
                      + (f"; receiver-bound: the kernel dropped {lost:,}" if lost > 0.05 *
                         r["blasted"] else "")
                      + (f"; first delivery {r['first_ms']:.0f} ms after the sender started"
                         if r["first_ms"] is not None else "")
                      + f"; frames built at {build:,.0f}/s")))
    finally:
        for path, _ in paths.values():
            os.unlink(path)
    return rows


def run(quick: bool = False) -> list[Row]:
    seconds = 0.5 if quick else 1.5
    return _relay_group(seconds, quick) + _deliver_group(seconds, quick)


if __name__ == "__main__":
    main(run)
