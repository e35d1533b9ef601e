"""The simulator at scale (group "simulator scale", issue 15's scale-10k): N unmodified
engines (control plane and C data plane) on one MemNet under virtual time, on ONE core.

Each figure comes from its own process (srpfast/sim/scale.py in a child, so its peak RSS is
the simulator's alone): N peers (8 public, the rest behind Easy or 20% Hard NATs), half in
one subcluster, a publish every 3 s, light churn (mean 600 s online, 60 s away), the
steady part (150 virtual s: one JOIN re-announce period) measured after a 20 s join storm
and 100 s of warmup (publishing and churn, its CPU printed apart: the storm's aftermath,
every storm-made pair's first heartbeat keep_alive later, and churn's ramp to its steady
rate of returns fall there; srpfast/sim/scale.py ScaleRun.warmup). The
figure is virtual seconds per CPU second of that process (> 1: faster than real time; CPU,
not wall: the machine is shared), over the whole run (join storm included) and over the
steady part alone. Settings beside each figure: a small device's cache (1 MiB),
delivered-id table (2^14), seen filter (2^12 copies) and verified batch roots (2^10)
(srpfast/sim/scale.py SMALL_DEVICE), engine timers on a 10 ms grid (srpfast/sim/memnet.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.harness import Row, main  # noqa: E402

GROUP = "simulator scale (one core, virtual time)"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = """
import json, sys
from srpfast.sim import scale
sc = scale.ScaleRun(peers=%d, settle=%r, warmup=%r, duration=%r)
r = scale.run(sc)
d = dict(r.__dict__); d["speed"] = r.speed; d["steady_speed"] = r.steady_speed(sc.duration)
d["steady_cpu_s"] = r.steady_cpu_s
print(json.dumps(d))
"""
TARGET_PEERS = 10_000
TARGET_MIB = 8 * 1024


def measure(peers: int, settle: float, warmup: float, duration: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD % (peers, settle, warmup, duration)],
                          capture_output=True, text=True, env=env, timeout=3600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool = False) -> list[Row]:
    # The steady part starts after the join storm's BDP attempts (up to 10 s each) are
    # over: measured from 5 s, it was half the storm's tail (2.8 vs 1.6 ms at 300 peers).
    # The warmup covers the storm's aftermath: at keep_alive (30 s) every pair the storm
    # made sends its first heartbeat and derives its pair key (at 200 peers, 20-30 s read
    # 0.37 ms a peer a virtual s, 30-40 s 0.57, 40-50 s 0.22: session 11). It is printed.
    # It also lets churn reach its steady rate: every peer starts online, so returns (mean
    # 60 s away) ramp up after the first leaves; at 120 s they come at ~80% of the steady
    # rate, at 40 s (the old 20 + 20 warmup) at ~30%. The measured part is one JOIN
    # re-announce period (join_interval, 150 s): the re-announce flood (~1.2 JOIN datagrams
    # a peer a second on average at 300 peers, each new one an Ed25519 check) and the JOINs
    # of returning peers are in it as often as in a long run. With 20 + 20 + 20, both fell
    # outside: 0.36 ms there against 0.64 over 120-270 s on the same (loaded) machine
    # (docs/SIMULATION_SCALE_LOG.md, session 13).
    peers, settle, warmup, duration = ((100, 12.0, 0.0, 10.0) if quick
                                       else (300, 20.0, 100.0, 150.0))
    r = measure(peers, settle, warmup, duration)
    settings = ("cache_bytes=1 MiB, dataplane_delivered=2^14, seen_ids=2^12, "
                "verified_envelopes=2^10, tick grid 10 ms; "
                f"{peers} peers, {settle:g}+{warmup:g}+{duration:g} virtual s "
                "(join storm + warmup + measured)")
    per_peer = (r["peak_rss_mib"] - r["base_rss_mib"]) / peers
    by_type: dict[str, int] = r["steady_by_type"]
    steady_ms = 1000 * r["steady_cpu_s"] / duration / peers
    warm = (f"; the {warmup:g} virtual s of warmup before it (the storm's aftermath): "
            f"{1000 * r['warmup_cpu_s'] / warmup / peers:.2f} ms" if warmup else "")
    facts = (f"{peers} peers: {r['virtual_s']:g} virtual s in {r['cpu_s']:.1f} CPU s "
             f"({r['wall_s']:.1f} s wall on the shared machine), {r['events']:,} events "
             f"({r['events'] / r['cpu_s']:,.0f}/s), {r['datagrams']:,} datagrams, "
             f"{r['deliveries']:,} deliveries ({r['wanted']:,} wanted: subscribers online at "
             "publication; one back from churn later gets what it missed too), "
             f"{r['churn']} churn events, "
             f"peak RSS {r['peak_rss_mib']:.0f} MiB")
    return [
        Row(GROUP, f"{peers} peers, whole run (join storm + steady)", r["speed"],
            unit="x real time", settings=settings, note=facts, extra=r),
        Row(GROUP, f"{peers} peers, steady part (publish + churn)", r["steady_speed"],
            unit="x real time", settings=settings,
            note=f"{r['steady_cpu_s']:.1f} CPU s for {duration:g} virtual s"),
        Row(GROUP, f"{peers} peers, steady datagrams per peer per virtual s",
            sum(by_type.values()) / duration / peers, unit="datagrams", settings=settings,
            note="by type: " + ", ".join(f"{k} {v / duration / peers:.1f}" for k, v in
                                         sorted(by_type.items(), key=lambda kv: -kv[1]))
                 + " (SYNC: nearly all HAVE: the lazy push to ~announce_copies fellows "
                   "a message, acknowledgements to authors, a digest a second; "
                   "control/announce.py)"),
        Row(GROUP, f"{peers} peers, steady CPU per peer per virtual s", steady_ms,
            unit="ms", lower_is_better=True, settings=settings,
            max_rate=1000 / TARGET_PEERS,
            note=f"target: {TARGET_PEERS:,} peers faster than real time on one core, i.e. "
                 f"<= {1000 / TARGET_PEERS:g} ms of CPU per peer per virtual second" + warm),
        Row(GROUP, f"{peers} peers, events per CPU second", r["events"] / r["cpu_s"],
            unit="events/s", settings=settings,
            note="events = receive batches + engine timer ticks"),
        Row(GROUP, f"{peers} peers, peak RSS per peer", per_peer, unit="MiB",
            lower_is_better=True, settings=settings, max_rate=TARGET_MIB / TARGET_PEERS,
            note=f"target: {TARGET_PEERS:,} peers in {TARGET_MIB // 1024} GiB; peak "
                 f"{r['peak_rss_mib']:.0f} MiB for {peers}, of which {r['base_rss_mib']:.0f} MiB "
                 "before the first engine (interpreter, modules)"),
    ]


if __name__ == "__main__":
    main(run)
