#!/usr/bin/env python3
"""`make bench`: run every bench/bench_*.py in one process and print one table in which every
figure stands beside its group's limit and peer, measured in the same run.

    bench/run.py [--quick] [--only frame,cache] [--write docs/BENCHMARKS.md]
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.harness import Row  # noqa: E402

MODULES = ["frame", "cache", "crypto", "dataplane", "engine", "udp", "network"]  # order of the table


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from srpfast import _sha256
        sha = _sha256.impl()
    except ImportError:
        sha = "?"
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"Python {platform.python_version()}, SHA-256: {sha}")


def fmt_rate(r: Row) -> str:
    if r.rate >= 1e6:
        return f"{r.rate / 1e6:,.2f} M {r.unit}"
    if r.rate >= 1e3:
        return f"{r.rate / 1e3:,.1f} k {r.unit}"
    return f"{r.rate:,.2f} {r.unit}"


def table(rows: list[Row]) -> list[str]:
    lines = ["| group | figure | rate | x limit | x peer | target | note |",
             "|---|---|---:|---:|---:|---|---|"]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    for group, rs in groups.items():
        limit = next((r.rate for r in rs if r.role == "limit"), None)
        peer = next((r.rate for r in rs if r.role == "peer"), None)
        for r in rs:
            name = r.name + (" **(limit)**" if r.role == "limit" else
                             " *(peer)*" if r.role == "peer" else "")
            xl = f"{r.rate / limit:.2f}x" if limit else "-"
            xp = f"{r.rate / peer:.2f}x" if peer else "-"
            lines.append(f"| {group} | {name} | {fmt_rate(r)} | {xl} | {xp} | {r.target} | "
                         f"{r.note} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--write", default="")
    args = ap.parse_args()
    wanted = [m for m in (args.only.split(",") if args.only else MODULES) if m]
    rows: list[Row] = []
    failed = []
    t0 = time.time()
    for name in wanted:
        try:
            mod = importlib.import_module(f"bench.bench_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.bench_{name}":
                continue  # that area has no benchmark yet
            raise
        print(f"running bench_{name} ...", file=sys.stderr, flush=True)
        try:
            got = mod.run(args.quick)
        except Exception:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(got)
        print("\n".join(table(got)[2:]), flush=True)
    lines = table(rows)
    text = "\n".join(lines)
    print("\n" + text)
    if args.write:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        with open(os.path.join(ROOT, args.write), "w") as f:
            f.write("# Benchmarks\n\n"
                    "Produced by `make bench` (bench/run.py). Every figure stands beside the limit "
                    "(the ceiling for that work, measured in the same run on the same machine) and "
                    "the peer (the baseline to beat). Rates are best-of-5 timed runs; the machine "
                    "has 2 cores, so figures that need a second process (UDP) share them.\n\n"
                    f"- machine: {machine()}\n- commit: {commit}\n"
                    f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
                    f"- duration: {time.time() - t0:.0f} s\n\n" + text + "\n")
            if failed:
                f.write(f"\nBenches that failed in this run: {', '.join(failed)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
