"""Where the delivering process loses its time under the garbage flood (docs/SECURITY.md
section 12): the bench of bench/bench_flood.py (same publisher and subscriber, same flood),
with the measured interval of each phase (peace, flood) accounted for by the kernel:

- the bench process (publisher + subscriber, one uvloop): CPU in user and kernel mode, time
  runnable but waiting for a CPU (/proc/self/schedstat run_delay), involuntary switches;
- the flooder process (bench/blast.py zeros): its CPU, kernel mode included (on loopback the
  receive path, the subscriber's socket filter included, runs in the sender's context);
- the machine: per CPU, busy / softirq / idle ticks (/proc/stat), so other load shows.

``FLOOD_PERF=1`` also records ``perf record -g`` of the bench process over each phase
(build with SRPFAST_SYMBOLS=1 for C symbols) into /tmp/flood_where.<phase>.data and prints
the top of ``perf report``. Usage: python tools/flood_where.py [N messages] [runs]."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_flood import _deliver  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PERF = os.environ.get("FLOOD_PERF") == "1"


def cpu_ticks() -> dict[str, list[int]]:
    """cpuN -> [user, nice, system, idle, iowait, irq, softirq, steal] in ticks."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                out[parts[0]] = [int(x) for x in parts[1:9]]
    return out


def task(pid: int) -> dict[str, float]:
    """user/system CPU seconds of a process (all threads), run_delay seconds of its main
    thread (runnable, waiting for a CPU), its involuntary context switches."""
    if not pid:
        return {"user": 0.0, "system": 0.0, "run_delay": 0.0, "nivcsw": 0.0}
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/schedstat") as f:
        run_delay = int(f.read().split()[1]) / 1e9
    nivcsw = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("nonvoluntary_ctxt_switches"):
                nivcsw = int(line.split()[1])
    return {"user": int(fields[11]) / TICK, "system": int(fields[12]) / TICK,
            "run_delay": run_delay, "nivcsw": float(nivcsw)}


class Probe:
    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.perf: subprocess.Popen[bytes] | None = None
        self.start: dict = {}
        self.result: dict = {}

    def __call__(self, what: str, flooder: int) -> None:
        snap = {"t": time.monotonic(), "cpu": cpu_ticks(), "me": task(os.getpid()),
                "flooder": task(flooder)}
        if what == "start":
            self.start = snap
            if PERF:
                self.perf = subprocess.Popen(
                    ["perf", "record", "-q", "-g", "-F", "2000", "-p", str(os.getpid()),
                     "-o", f"/tmp/flood_where.{self.phase}.data"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)  # perf attached before the interval (not counted: t0 follows)
                self.start = {"t": time.monotonic(), "cpu": cpu_ticks(), "me": task(os.getpid()),
                              "flooder": task(flooder)}
            return
        if self.perf is not None:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait()
        a, wall = self.start, snap["t"] - self.start["t"]
        d = lambda who: {k: snap[who][k] - a[who][k] for k in snap[who]}  # noqa: E731
        cpus = {c: [y - x for x, y in zip(a["cpu"][c], snap["cpu"][c])] for c in snap["cpu"]}
        self.result = {"wall": wall, "me": d("me"), "flooder": d("flooder"), "cpus": cpus}


def show(phase: str, r: dict, n: int) -> None:
    w, me, fl = r["wall"], r["me"], r["flooder"]
    pct = lambda x: f"{100 * x / w:5.1f}%"  # noqa: E731
    print(f"{phase:6s} {r['got']:6d}/{n} in {w:.3f} s = {r['got'] / w:8.0f} msg/s | bench: "
          f"user {pct(me['user'])} sys {pct(me['system'])} waiting for a CPU "
          f"{pct(me['run_delay'])} ({me['nivcsw']:.0f} preemptions) | flooder: user "
          f"{pct(fl['user'])} sys {pct(fl['system'])}")
    for c, t in sorted(r["cpus"].items()):
        total = sum(t) or 1
        print(f"       {c}: busy {100 * (total - t[3] - t[4]) / total:5.1f}% "
              f"(softirq {100 * t[6] / total:4.1f}%, system {100 * t[2] / total:4.1f}%, "
              f"user+nice {100 * (t[0] + t[1]) / total:4.1f}%)")


def main() -> None:
    import asyncio

    import uvloop
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_deliver(200, 0))  # warm-up, as in the bench
        for _ in range(runs):
            for phase, flood in (("peace", 0.0), ("flood", 8.0)):
                probe = Probe(phase)
                out = loop.run_until_complete(_deliver(n, flood, probe))
                show(phase, {**probe.result, "got": out["got"]}, n)
                if PERF:
                    rep = subprocess.run(
                        ["perf", "report", "-i", f"/tmp/flood_where.{phase}.data", "--stdio",
                         "--no-children", "--sort", "dso,sym", "--percent-limit", "1.5",
                         "-g", "none"], capture_output=True, text=True)
                    print("\n".join(line for line in rep.stdout.splitlines()
                                    if line.strip() and not line.startswith("#"))[:3000])
    finally:
        loop.close()


if __name__ == "__main__":
    main()
