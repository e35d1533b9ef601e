"""Publisher and subscriber PROCESSES for the end-to-end rows (bench/bench_e2e.py): the parent
side (``Child``) and what both kinds of child (bench/srp_peers.py, bench/zmq_peers.py) share.

Every run follows one script, the same for srpfast and pyzmq, so their figures are measured
the same way:

1. the subscriber child starts and prints {"address": [host, port]};
2. the publisher child starts, given that address; each child prints {"member": true} once it
   sees the other (srpfast: a signed JOIN; pyzmq: the subscriber received a probe);
3. the parent writes "go" to the publisher, which stamps its FIRST SEND, publishes, and prints
   {"sent", "first_send", "last_send"};
4. the parent writes "done" to the subscriber (after the publisher finished, or at the
   timeout); the subscriber waits for stragglers (``GRACE`` of silence, or everything sent
   arrived) and prints {"delivered", "first", "last", "lat_ms"}.

Times are CLOCK_MONOTONIC nanoseconds, one clock for every process on the machine, so the
subscriber's arrivals and the publisher's first send can be compared directly.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Stop waiting this long after the last delivery once the publisher is done: longer than
# srpfast's default order_wait (1 s), which may hold a message back for its predecessor.
GRACE = 1.5


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def stamp(value: bytearray, at: int | None = None) -> bytes:
    """A value whose first 8 bytes carry its send time (for one-way latency)."""
    value[:8] = (now_ns() if at is None else at).to_bytes(8, "big")
    return bytes(value)


def latency_ms(value: bytes, arrived: int) -> float:
    return (arrived - int.from_bytes(value[:8], "big")) / 1e6


# ------------------------------------------------------------------ child side
def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class Commands:
    """stdin lines in a thread: the child's loop (asyncio or blocking zmq) only polls."""

    def __init__(self) -> None:
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def poll(self) -> str | None:
        try:
            return self.lines.get_nowait()
        except queue.Empty:
            return None

    def wait(self, timeout: float | None = None) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None


class Tally:
    """What a subscriber counts: deliveries, first/last arrival, latencies."""

    def __init__(self, latency: bool) -> None:
        self.delivered = 0
        self.first: int | None = None
        self.last: int | None = None
        self.latency = latency
        self.lat_ms: list[float] = []
        self.cpu0 = time.process_time()  # reset when the run starts (report: CPU since)

    slow_us = 0.0  # a slow consumer: this many microseconds of work per value (blocking)

    def arrived(self, values: list) -> None:
        if self.slow_us:  # (blocks the loop, as a slow handler does: the socket fills)
            time.sleep(self.slow_us * len(values) / 1e6)
        t = now_ns()
        if self.first is None:
            self.first = t
        self.last = t
        self.delivered += len(values)
        if self.latency:
            self.lat_ms.extend(latency_ms(v, t) for v in values)

    def report(self, **extra: object) -> None:
        say(delivered=self.delivered, first=self.first, last=self.last, lat_ms=self.lat_ms,
            cpu_s=time.process_time() - self.cpu0, **extra)


def pace(count: int, rate: float | None):
    """Send times: None (as fast as possible) or one every 1/rate seconds, on a fixed
    schedule so a late tick does not push every later one."""
    if not rate:
        return None
    t0 = time.monotonic()
    return [t0 + i / rate for i in range(count)]


# ------------------------------------------------------------------ parent side
class Child:
    """One child process speaking JSON lines; always killed on exit, never left running."""

    def __init__(self, script: str, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", script)]
                                     + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, key: str, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"child did not report {key!r} within {timeout:.0f} s")
            if line is None:
                raise RuntimeError(f"child exited (rc {self.proc.wait()}) before {key!r}")
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # stray output (warnings) is not the protocol
            if key in msg:
                return msg

    def send(self, line: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("stop")
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _both_members(sub: Child, pub: Child, timeout: float) -> None:
    """Both children report the other as a member; fail fast when either one died."""
    end = time.monotonic() + timeout
    waiting = [sub, pub]
    while waiting:
        child = waiting[0]
        try:
            child.expect("member", 0.2)
            waiting.pop(0)
        except TimeoutError:
            dead = [c for c in (sub, pub) if c.proc.poll() is not None]
            if dead:
                raise RuntimeError(f"a child exited (rc {dead[0].proc.returncode}) before "
                                   f"seeing the other as a member")
            if time.monotonic() > end:
                raise TimeoutError(f"no membership within {timeout:.0f} s")


def run_pair(script: str, sub_args: list[str], pub_args: list[str], timeout: float) -> dict:
    """One publisher -> subscriber run (the script in the module docstring). Returns
    {"sent", "first_send", "delivered", "last", "lat_ms", "timed_out", "sub": {...},
    "pub": {...}}."""
    with Child(script, ["sub"] + sub_args) as sub:
        host, port = sub.expect("address", 30)["address"]
        with Child(script, ["pub", "--connect", f"{host}:{port}"] + pub_args) as pub:
            _both_members(sub, pub, 30.0)
            pub.send("go")
            timed_out = False
            try:
                sent = pub.expect("sent", timeout)
            except TimeoutError:  # stop the publisher; it reports what it sent by then
                timed_out = True
                pub.send("stop")
                sent = pub.expect("sent", 30)
            sub.send("done")
            got = sub.expect("delivered", 60)
            pub.send("stop")
    return {"sent": sent.get("sent", 0), "first_send": sent.get("first_send"),
            "delivered": got["delivered"], "last": got["last"], "lat_ms": got["lat_ms"],
            "timed_out": timed_out, "sub": got, "pub": sent}
