"""Per-pairing statistics of lab runs (docs/NATLAB.md "Statistics", bench's NAT group).

For each class pairing ("EH": Easy<->Hard, ...): how many pairs, how many reached the path
PROTOCOL.md §5 names with a sealed PUBLISH and a direct stream both ways (success), the
time to connect from the moment both peers were introduced (p50 / p95 over the successful
pairs, nearest rank), and the BDP datagrams / wire bytes both sides spent on each other.
"""
from __future__ import annotations

import math
from typing import Any

from srpfast.lab.runner import ORDER


def percentile(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``xs``; None when empty."""
    if not xs:
        return None
    ys = sorted(xs)
    return ys[max(0, math.ceil(q / 100 * len(ys)) - 1)]


def pairing_stats(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``results``: run_once results or rounds (anything with "pairs")."""
    acc: dict[str, dict[str, Any]] = {}
    for res in results:
        for p in res["pairs"]:
            key = "".join(sorted(p["classes"], key=ORDER.index))
            c = acc.setdefault(key, {"pairs": 0, "ok": 0, "paths": {}, "connect": [],
                                     "datagrams": [], "bytes": [], "expected": p["expected"]})
            c["pairs"] += 1
            c["paths"][p["path"]] = c["paths"].get(p["path"], 0) + 1
            c["datagrams"].append(p.get("punch_datagrams", 0))
            c["bytes"].append(p.get("punch_bytes", 0))
            if p["ok"]:
                c["ok"] += 1
                c["connect"].append(p["connect"])
    out = {}
    for key, c in acc.items():
        n = c["pairs"]
        out[key] = {"pairs": n, "ok": c["ok"], "success": c["ok"] / n if n else 0.0,
                    "expected": c["expected"], "paths": c["paths"],
                    "p50": percentile(c["connect"], 50), "p95": percentile(c["connect"], 95),
                    "max": max(c["connect"]) if c["connect"] else None,
                    "datagrams_p50": percentile(c["datagrams"], 50),
                    "bytes_p50": percentile(c["bytes"], 50),
                    "bytes_max": max(c["bytes"]) if c["bytes"] else None}
    return dict(sorted(out.items(), key=lambda kv: [ORDER.index(ch) for ch in kv[0]]))


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_stats(stats: dict[str, dict[str, Any]]) -> str:
    lines = ["pairing  expected  pairs  success   connect p50 / p95 / max (s)   "
             "BDP datagrams p50  bytes p50 / max   paths"]
    for key, c in stats.items():
        paths = " ".join(f"{k}:{v}" for k, v in sorted(c["paths"].items()))
        lines.append(f"{key:<8} {c['expected']:<9} {c['pairs']:>5}  {c['ok']:>3} "
                     f"{100 * c['success']:5.1f}%  {_s(c['p50']):>7} / {_s(c['p95']):>6} / "
                     f"{_s(c['max']):>6}      {c['datagrams_p50'] or 0:>8}       "
                     f"{c['bytes_p50'] or 0:>7} / {c['bytes_max'] or 0:<7}  {paths}")
    return "\n".join(lines)
