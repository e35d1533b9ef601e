"""Shared measuring helpers for bench/bench_*.py.

Each bench module exposes ``run(quick: bool) -> list[Row]``. Within a ``group`` exactly one row
has ``role="limit"`` (the ceiling measured in the same run, e.g. the C SHA-256 loop) and
optionally one has ``role="peer"`` (the baseline to beat, e.g. pure Python). ``bench/run.py``
prints every row with its ratio to the group's limit and peer, side by side.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Row:
    group: str            # e.g. "frame codec"
    name: str             # e.g. "srpfast batch decode+validate+id"
    rate: float           # items per second (higher is better) unless unit says otherwise
    unit: str = "pkt/s"
    role: str = ""        # "limit", "peer", or "" (an srpfast figure)
    target: str = ""      # e.g. ">= 0.8x limit"; shown next to the figure
    note: str = ""


def best_rate(fn: Callable[[], object], items_per_call: int, *, min_time: float = 0.2,
              repeat: int = 5) -> float:
    """Items/s of ``fn`` (each call handles ``items_per_call`` items): best of ``repeat`` timed
    runs of at least ``min_time`` seconds each (best-of filters scheduler noise on 2 cores)."""
    fn()  # warm up (page faults, lazy init)
    best = 0.0
    for _ in range(repeat):
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = max(best, calls * items_per_call / elapsed)
    return best


def quick_params(quick: bool) -> dict:
    """Shorter timing for `make test`-style smoke runs of the benches."""
    return {"min_time": 0.05, "repeat": 2} if quick else {"min_time": 0.25, "repeat": 5}


def main(run: Callable[[bool], list[Row]]) -> None:
    """``python bench/bench_x.py [--quick]``: run one module and print its rows (bench/run.py
    makes the full table with ratios)."""
    import sys
    for r in run("--quick" in sys.argv):
        print(f"{r.group:24} {r.name:66} {r.rate:14,.2f} {r.unit:12} {r.role:5} {r.target} "
              f"| {r.note}")
