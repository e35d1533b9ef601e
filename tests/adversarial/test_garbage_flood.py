"""Threat: a garbage flood while real traffic flows (issue 13; SPEC 9.5: malformed input of
any kind is dropped and counted, never raises into the event loop, never logs once per packet
at warning level; 9.4/9.6: an attacker's sources cannot starve honest ones).

Three real peers on loopback (uvloop driver, C data plane) share a subcluster; 64 attacker
sources (127.6.0.x) send 6,400 malformed datagrams of every kind (random bytes, wrong sizes,
valid headers with flipped bits or hostile bodies) at the receiving peer while a member
publishes 60 messages. Every message is delivered, the garbage is counted as drops, and not
one log record at WARNING or above is written. What makes a flood cheap (docs/BENCHMARKS.md,
the garbage-flood row) is where it dies: a datagram that is not frame-sized or lacks the
magic is dropped by the kernel's socket filter before it takes receive-buffer space (counted
as ``udp.kernel_drops``), and every other invalid frame by the C data plane's frame
validator, counted under its verdict; none reaches Python (no ``drop.malformed.*`` from the
engine's own decoder)."""
from __future__ import annotations

import asyncio
import logging
import os
import random
import sys

from srpfast.errors import MalformedPacket
from srpfast.wire.frame import decode, encode

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from loopback import mesh, wait_for  # noqa: E402

MESSAGES, SOURCES, PER_SOURCE = 60, 64, 100
# The C data plane's frame verdicts (csrc/frame.h): what it drops before Python sees it.
GARBAGE_VERDICTS = {f"dataplane.{v}" for v in ("size", "magic", "type", "version", "flags",
                                               "length", "padding")}
KERNEL = "udp.kernel_drops"  # the main socket's frame filter (srp_udp_filter_frames)


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 1400))
    frame = bytearray(encode(type=rng.randrange(1, 10), message=rng.randbytes(rng.randrange(1024))))
    if kind == 1:  # a valid header, a hostile body (control types decode it)
        return bytes(frame)
    for _ in range(rng.randrange(1, 4)):
        frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
    return bytes(frame)


def _valid(datagram: bytes) -> bool:
    try:
        decode(datagram)
        return True
    except MalformedPacket:
        return False


def test_legitimate_delivery_survives_a_garbage_flood(run, caplog) -> None:
    from srpfast.drivers._udp import UDPSocket
    rng = random.Random(7)
    key = os.urandom(32)
    caplog.set_level(logging.WARNING)

    async def scenario():
        async with mesh(3) as (a, b, c):
            sa, sb = await a.subcluster(shared_key=key), await b.subcluster(shared_key=key)
            got: list = []
            sb.on("m", lambda v, meta: got.append(v["i"]))
            assert await wait_for(lambda: b.identity.peer_id in sa.peers)
            to = ("127.0.0.1", b.address[1])
            before = b.metrics()
            socks = [UDPSocket(f"127.6.0.{i + 1}", 0) for i in range(SOURCES)]
            sent = invalid = 0
            try:
                for rnd in range(PER_SOURCE // 10):
                    for s in socks:
                        batch = [_garbage(rng) for _ in range(10)]
                        sent += s.send_batch(batch, [to] * 10)  # (a list: true lengths)
                        invalid += sum(not _valid(d) for d in batch)
                    for i in range(rnd * MESSAGES // 10, (rnd + 1) * MESSAGES // 10):
                        sa.emit("m", {"i": i})
                    await asyncio.sleep(0.02)
                ok = await wait_for(lambda: len(set(got)) == MESSAGES, timeout=20)
            finally:
                for s in socks:
                    s.close()
            after = b.metrics()
            return ok, sent, invalid, got, before, after

    ok, sent, invalid, got, before, after = run(scenario(), timeout=60)
    dropped = sum(v - before.get(k, 0) for k, v in after.items()
                  if (k.startswith("drop.") and k != "drop.internal")
                  or k in GARBAGE_VERDICTS or k == KERNEL)
    in_c = sum(after.get(k, 0) - before.get(k, 0) for k in GARBAGE_VERDICTS)
    in_kernel = after.get(KERNEL, 0) - before.get(KERNEL, 0)
    in_python = {k: v - before.get(k, 0) for k, v in after.items()
                 if k.startswith("drop.malformed.") and v > before.get(k, 0)}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    print(f"garbage flood: {sent} datagrams from {SOURCES} sources; {len(set(got))}/{MESSAGES} "
          f"messages delivered; {dropped} drops counted; {invalid} not frames: {in_kernel} "
          f"dropped by the kernel's filter, {in_c} by the C validator, "
          f"{sum(in_python.values())} by Python; {len(warnings)} warning log records")
    assert ok and sorted(set(got)) == list(range(MESSAGES))
    assert after.get("drop.internal", 0) == 0          # nothing raised inside the engine
    assert dropped >= 0.9 * sent                        # counted (a few garbage frames are
    assert warnings == []
    assert in_python == {}                              # no invalid frame reached Python
    assert in_kernel > 0 and in_c > 0                   # wrong sizes die in the kernel,
    assert in_kernel + in_c >= 0.9 * invalid            # the rest in C; all counted                               # well-formed relay-able PUBLISHes)
