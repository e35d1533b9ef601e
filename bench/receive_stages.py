"""Where the receive-to-subscriber on_batch row's time goes (bench_network.py), per stage of
the receiving process: the row's own run (bench_network._deliver_run: the same frames, the
same GSO sender, a full srpfast.network with the default Config, an on_batch handler) with
thread-CPU marks (time.thread_time_ns) around each stage, printed as microseconds of the
receiving thread's CPU a delivered message. Not a row of the table: each mark costs ~0.8 us
here (~0.05-0.1 us a message in all), and the figure to judge a change by is still the row's
"us of its CPU a message" in interleaved runs (docs/BENCHMARKS.md, session 13).

    python bench/receive_stages.py [RUNS] [--count N]

The stages are timed where they are, by wrapping, never re-implemented: the socket's
recv_batch (a forwarding proxy on the driver's socket), the C data-plane call and messages()
(a proxy on the engine's DataPlane), the delivered-id set's add_ready (a proxy on the
replication's set), and the engine, driver and API methods around them. Restored on exit.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import os
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

T = time.thread_time_ns
# (label, how it is found): the derived stages below subtract the nested ones
STAGES = ("wake-up (_on_readable)", "recv_batch", "engine receive_batch", "data-plane call",
          "messages()", "add_ready", "driver flush", "API event", "decode_events",
          "timer (ack tick)", "driver flush in the timer")


class _Timed:
    """Forwards every attribute to ``inner``; the methods named in ``timed`` are timed."""

    def __init__(self, inner: Any, acc: collections.Counter[str],
                 timed: dict[str, str]) -> None:
        object.__setattr__(self, "_inner", inner)
        for name, label in timed.items():
            object.__setattr__(self, name, _clock(getattr(inner, name), acc, label))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, key: object) -> bool:
        return key in self._inner


def _clock(f: Callable[..., Any], acc: collections.Counter[str], label: str,
           within: tuple[str, str] | None = None) -> Callable[..., Any]:
    """``f`` timed under ``label``; with ``within`` = (stage, other label): under the other
    label while that stage runs (a flush inside the timer is the timer's)."""
    @functools.wraps(f)
    def timed(*a: Any, **k: Any) -> Any:
        name = within[1] if within and acc["active " + within[0]] else label
        acc["active " + label] += 1
        t = T()
        try:
            return f(*a, **k)
        finally:
            acc[name] += T() - t
            acc["calls " + name] += 1
            acc["active " + label] -= 1
    return timed


@contextlib.contextmanager
def marks(acc: collections.Counter[str]) -> Iterator[None]:
    """Install the marks (class attributes, restored on exit)."""
    import srpfast.api as api
    from srpfast.control import dataplane, engine, replication
    from srpfast.drivers import udp
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, new: Any) -> None:
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, new)

    def wrap_init(cls: Any, attr: str, timed: dict[str, str]) -> None:
        init = cls.__init__

        def __init__(self: Any, *a: Any, **k: Any) -> None:
            init(self, *a, **k)
            setattr(self, attr, _Timed(getattr(self, attr), acc, timed))
        patch(cls, "__init__", __init__)

    for cls, name, label in ((udp.UDPDriver, "_on_readable", STAGES[0]),
                             (engine.Peer, "receive_batch", STAGES[2]),
                             (api.Network, "_on_engine_event", STAGES[7]),
                             (udp.UDPDriver, "_on_timer", STAGES[9])):
        patch(cls, name, _clock(cls.__dict__[name], acc, label))
    patch(udp.UDPDriver, "_flush", _clock(udp.UDPDriver.__dict__["_flush"], acc, STAGES[6],
                                          within=(STAGES[9], STAGES[10])))
    patch(api, "decode_events", _clock(api.decode_events, acc, STAGES[8]))
    wrap_init(udp.UDPDriver, "sock", {"recv_batch": STAGES[1]})
    wrap_init(replication.Replication, "delivered", {"add_ready": STAGES[5]})
    link_init = dataplane.DataPlaneLink.__init__

    def link(self: Any, *a: Any, **k: Any) -> None:
        link_init(self, *a, **k)
        self.dp = self.carry.dp = _Timed(self.dp, acc, {"process": STAGES[3],
                                                         "messages": STAGES[4]})
    patch(dataplane.DataPlaneLink, "__init__", link)
    # The row's CPU is read from the sender's go() on (bench_network._deliver_run); the marks
    # start there too, so the set-up before it (the proving handshake, the join, timer ticks)
    # is in neither. go() is called from the loop's coroutine, outside every marked call.
    from bench import blast
    go = blast.Blaster.__dict__["go"]

    def go_fresh(self: Any) -> None:
        for key in [k for k in acc if not k.startswith("active ")]:
            del acc[key]
        go(self)
    patch(blast.Blaster, "go", go_fresh)
    try:
        yield
    finally:
        for owner, name, old in reversed(saved):
            setattr(owner, name, old)


def breakdown(acc: collections.Counter[str], messages: int,
              cpu_us: float) -> list[tuple[str, float]]:
    """(stage, us a message): the measured stages, the engine's Python as what its
    receive_batch took beyond the C calls inside it, and what no mark covered."""
    us = {s: acc[s] / 1e3 / messages for s in STAGES}
    engine = us[STAGES[2]] - us[STAGES[3]] - us[STAGES[4]] - us[STAGES[5]]
    wakeup = us[STAGES[0]] - us[STAGES[1]] - us[STAGES[2]] - us[STAGES[6]]
    return [("receive (recv_batch)", us[STAGES[1]]), ("data-plane call (C)", us[STAGES[3]]),
            ("messages() columns", us[STAGES[4]]),
            ("delivered-id set add_ready (C)", us[STAGES[5]]),
            ("engine Python per receive batch (the rest of receive_batch)", engine),
            ("driver flush + API (events, decode_events, batch handler)", us[STAGES[6]]),
            ("  of it decode_events", us[STAGES[8]]),
            ("the acknowledgement tick (timer, its flush included)",
             us[STAGES[9]]),
            ("the wake-up's own loop (_on_readable beyond the above)", wakeup),
            ("outside the marks (event loop, epoll, marks)",
             cpu_us - us[STAGES[0]] - us[STAGES[9]])]


def run(runs: int = 3, count: int = 150000) -> list[dict[str, Any]]:
    import srpfast
    from bench import bench_network as bn
    cluster_id = srpfast.create_cluster_id(b"bench-network")
    shared_key = srpfast.create_shared_key(b"bench-subscriber")
    fd, path = tempfile.mkstemp(prefix="srpfast-stages-", suffix=".frames")
    out = []
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(bn._sealed_frames(cluster_id, shared_key, count, 256))
        for _ in range(runs):
            acc: collections.Counter[str] = collections.Counter()
            loop = bn._new_loop()
            try:
                with marks(acc):
                    r = loop.run_until_complete(
                        bn._deliver_run(path, cluster_id, shared_key, 1.5, True))
            finally:
                loop.close()
            n = r["delivered"]
            cpu_us = 1e6 * r["busy"] / r["rate"] if r["rate"] else 0.0
            out.append({"delivered": n, "rate": r["rate"], "busy": r["busy"],
                        "cpu_us": cpu_us, "wakeups": acc["calls " + STAGES[0]],
                        "batches": acc["calls " + STAGES[2]],
                        "stages": breakdown(acc, max(n, 1), cpu_us)})
    finally:
        os.unlink(path)
    return out


def main(argv: list[str]) -> None:
    count = int(argv[argv.index("--count") + 1]) if "--count" in argv else 150000
    runs = int(argv[0]) if argv and argv[0].isdigit() else 3
    for r in run(runs, count):
        print(f"{r['delivered']:,} delivered at {r['rate'] or 0:,.0f}/s, the receiving process "
              f"at {100 * r['busy']:.0f}% of a core, {r['cpu_us']:.2f} us of its CPU a message; "
              f"{r['batches']:,} receive batches in {r['wakeups']:,} wake-ups")
        for name, us in r["stages"]:
            print(f"  {us:6.3f} us  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
