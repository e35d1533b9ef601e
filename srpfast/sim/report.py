"""`srp sim`: options, progress bar, summary table, JSON and chart (docs/SIMULATION.md).

    srp sim --list                                  # the shipped scenarios
    srp sim seed-chart --seed 3 --plot chart.png    # one run per policy the scenario compares
    srp sim readme-churn --seeds 20 --jobs 2 --json # a sweep: means over seeds
    srp sim seed-chart --set peers=50,100 --executor dask://10.0.0.5:8786

One seed and no grid: the runs go one after another in this process with a progress bar;
otherwise the sweep runs on ``--jobs`` local processes or a Dask cluster (sweep.py).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, Callable

# (the rows of the summary table: field, label, format)
ROWS: list[tuple[str, str, Callable[[float], str]]] = [
    ("messages", "messages published", lambda v: f"{v:.0f}"),
    ("wanted", "(message, subscriber) pairs wanted", lambda v: f"{v:.0f}"),
    ("reach_at_window", "reach at the window", lambda v: f"{100 * v:.2f}%"),
    ("reach_at_window_settled", "... of subscribers online >= 5 s", lambda v: f"{100 * v:.2f}%"),
    ("reach_eventual", "reach by the end", lambda v: f"{100 * v:.2f}%"),
    ("stable_missed", "missed by always-online subscribers", lambda v: f"{v:.0f}"),
    ("latency_mean", "latency mean", lambda v: f"{1000 * v:.0f} ms"),
    ("latency_p50", "latency p50", lambda v: f"{1000 * v:.0f} ms"),
    ("latency_p95", "latency p95", lambda v: f"{1000 * v:.0f} ms"),
    ("latency_max", "latency max", lambda v: f"{v:.2f} s"),
    ("rmr", "RMR (PUBLISH copies, Plumtree)", lambda v: f"{v:.3f}"),
    ("last_hop_mean", "hop of the last delivery (mean)", lambda v: f"{v:.2f}"),
    ("last_hop_max", "hop of the last delivery (max)", lambda v: f"{v:.0f}"),
    ("publish_bytes_per_peer", "PUBLISH bytes / peer / message", lambda v: f"{v:.0f} B"),
    ("data_bytes_per_peer", "+ ANSWER (pulled) bytes", lambda v: f"{v:.0f} B"),
    ("all_bytes_per_peer", "+ control bytes", lambda v: f"{v:.0f} B"),
    ("relay_load_p50", "PUBLISH sent / peer / msg p50", lambda v: f"{v:.2f}"),
    ("relay_load_p95", "PUBLISH sent / peer / msg p95", lambda v: f"{v:.2f}"),
    ("relay_load_max", "PUBLISH sent / peer / msg max", lambda v: f"{v:.2f}"),
    ("cache_frames_mean", "cache occupancy (frames, mean)", lambda v: f"{v:.1f}"),
    ("delivery_prob", "ONE delivery probability", lambda v: f"{v:.4f}"),
    ("overhead_ratio", "ONE overhead ratio", lambda v: f"{v:.2f}"),
    ("network_change", "network change", lambda v: f"{v:.0f}%"),
    ("heal_delivery", "last delivery after heal/return", lambda v: f"{v:.1f} s"),
]


def add_arguments(sim: argparse.ArgumentParser) -> None:
    sim.add_argument("scenario", nargs="?", default=None,
                     help="a shipped scenario (--list) or a .toml file; default: a small "
                          "churn run shaped by --peers/--duration/...")
    sim.add_argument("--list", action="store_true", help="list the shipped scenarios")
    sim.add_argument("--seed", type=int, default=None, help="the (first) seed (default: "
                     "the scenario's)")
    sim.add_argument("--seeds", type=int, default=1, help="seeds to run: seed, seed+1, ... "
                     "(default 1; the tables report means)")
    sim.add_argument("--policy", default=None,
                     help="replication policies, comma-separated: weighted, flood, spray "
                          "(default: the scenario's compare list, else weighted)")
    sim.add_argument("--set", action="append", default=[], metavar="KEY=V[,V...]",
                     help="override a scenario field; several values make a sweep grid")
    sim.add_argument("--peers", type=int, default=None, help="peers (shortcut for --set)")
    sim.add_argument("--duration", type=float, default=None,
                     help="virtual seconds of publishing (shortcut for --set)")
    sim.add_argument("--lifetime", type=float, default=None,
                     help="mean online time of a churning peer, s (shortcut)")
    sim.add_argument("--downtime", type=float, default=None,
                     help="mean time away before a restart, s (shortcut)")
    sim.add_argument("--jobs", type=int, default=1, help="local processes for a sweep")
    sim.add_argument("--executor", default=None, metavar="dask://HOST:PORT",
                     help="run the sweep on a Dask distributed scheduler")
    sim.add_argument("--plot", default=None, metavar="OUT.png",
                     help="draw the seed-style chart of the first seed (matplotlib)")


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, every 10% otherwise."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet = label, quiet
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.shown = -1

    def __call__(self, done: float, note: str = "") -> None:
        if self.quiet:
            return
        pct = int(100 * min(max(done, 0.0), 1.0))
        if not self.tty and pct // 10 == self.shown:
            return
        if self.tty and pct == self.shown:
            return
        self.shown = pct if self.tty else pct // 10
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        line = (f"{self.label} [{bar}] {pct:3d}% {note}"
                f"{time.monotonic() - self.t0:6.1f} s wall")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)
        if self.tty and pct >= 100:
            print(file=sys.stderr)


def table(columns: list[dict[str, Any]], heads: list[str]) -> str:
    width = max(len(label) for _, label, _ in ROWS) + 2
    lines = [" " * width + "".join(f"{h:>16}" for h in heads)]
    for field, label, fmt in ROWS:
        cells = []
        for col in columns:
            v = col.get(field)
            cells.append(f"{'-' if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v):>16}")
        lines.append(f"{label:<{width}}" + "".join(cells))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from srpfast.sim import scenario as S
    from srpfast.sim import sweep
    if args.list:
        for name in S.names():
            sc = S.load(name)
            print(f"{name:<20} {sc.description}")
        return 0
    overrides: dict[str, Any] = {"peers": args.peers, "duration": args.duration,
                                 "lifetime": args.lifetime, "downtime": args.downtime,
                                 "seed": args.seed}
    grid: dict[str, list[Any]] = {}
    for item in args.set:
        key, _, values = item.partition("=")
        vals = [_parse_value(v) for v in values.split(",") if v]
        if not key or not vals:
            raise S.ScenarioError(f"--set {item!r}: KEY=VALUE[,VALUE...]")
        if len(vals) == 1:
            overrides[key] = vals[0]
        else:
            grid[key] = vals
    if args.scenario is None:
        values = {k: v for k, v in overrides.items() if v is not None}
        base = S.from_dict({k: float(v) if k in ("duration", "lifetime", "downtime") else v
                            for k, v in values.items()})
    else:
        base = S.load(args.scenario, **overrides)
    if base.kind == "nat-matrix":
        from srpfast.sim import natmatrix
        return natmatrix.main(base, args)
    policies = ([p.strip() for p in args.policy.split(",")] if args.policy
                else list(base.compare) or [base.policy])
    for g in grid:
        base.replace(**{g: grid[g][0]})  # (validates the grid's field names and types)
    for p in policies:
        base.replace(policy=p)
    all_specs = sweep.specs(base, seeds=args.seeds, policies=policies, grid=grid)
    quiet = bool(args.json)
    if len(all_specs) == len(policies) and not grid:
        from srpfast.sim.churn import run
        results = []
        for p in policies:
            bar = Progress(f"{base.name} {p:<8}", quiet)
            results.append(dict(run(base.replace(policy=p),
                                    lambda d: bar(d, f"of {base.duration:g} virtual s ")
                                    ).__dict__))
    else:
        bar = Progress(f"{base.name} sweep", quiet)
        results = sweep.run_all(all_specs, jobs=args.jobs, executor=args.executor,
                                done=lambda k, n: bar(k / n, f"{k}/{n} runs "))
    rows = sweep.aggregate(results, sorted(grid))
    if args.plot:
        from srpfast.sim.plot import chart
        first_seed = [r for r in results if r["scenario"]["seed"] == results[0]["scenario"]["seed"]
                      and all(r["scenario"][k] == results[0]["scenario"][k] for k in grid)]
        chart(first_seed, args.plot)
    if args.json:
        summaries = [{k: v for k, v in r.items() if k not in SERIES} for r in results]
        print(json.dumps({"scenario": base.to_dict(), "rows": rows, "runs": summaries}
                         if len(results) > 1 else summaries[0]))
        return 0
    sc = base
    print(f"{sc.name}: {sc.peers} peers ({sc.public} public, always on), {sc.duration:g} "
          f"virtual s, seeds {sc.seed}..{sc.seed + args.seeds - 1}; means over seeds")
    heads = [" ".join([r["policy"]] + [f"{k}={r[k]}" for k in sorted(grid)]) for r in rows]
    print(table(rows, heads))
    if args.plot:
        print(f"chart: {args.plot}")
    return 0


SERIES = ("size_t", "size_n", "joins", "leaves", "track_t", "track_want", "track_have")
