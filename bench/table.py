"""The benchmark table: markdown lines, JSON, comparison with an earlier JSON, machine facts.

Everything shown comes from the rows and harness.evaluate (bench/harness.py): the table adds
no judgement of its own, so the printed table, the JSON and ``--check`` always agree.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from typing import Any

from bench.harness import Row, evaluate, fmt_value, row_dict

FIX_LIMIT = ("LIMIT MUST BE FIXED: this figure beats its group's limit, so that limit is not "
             "the ceiling for this work. ")


def _groups(rows: list[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    return groups


def _key(group: str, name: str) -> str:
    return f"{group} / {name}"


def change(new: Row, old: dict[str, Any] | None) -> str:
    """The change of one row against its earlier figure, + meaning better."""
    if old is None:
        return "new"
    before = float(old.get("rate", 0.0))
    if before <= 0:
        return "-"
    pct = 100.0 * (new.rate - before) / before
    if new.lower_is_better:
        pct = -pct
    return f"{pct:+.1f}%"


def table(rows: list[Row], old: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Markdown lines. ``old``: earlier rows by "group / name" (load_compare) for a change
    column ("+" = better, whichever way the unit counts)."""
    head = ["group", "figure", "rate", "loss", "x limit", "x peer", "target", "check",
            "settings", "note"]
    align = ["---", "---", "---:", "---:", "---:", "---:", "---", "---", "---", "---"]
    if old is not None:
        head.insert(3, "change")
        align.insert(3, "---:")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for group, rs in _groups(rows).items():
        for r in rs:
            v = evaluate(r, rs)
            name = r.name + (" **(limit)**" if r.role == "limit" else
                             " *(peer)*" if r.role == "peer" else "")
            xl = f"{v.x_limit:.2f}x" if v.x_limit is not None else "-"
            if v.above_limit:
                xl = f"**{xl} ABOVE LIMIT**"
            xp = f"{v.x_peer:.2f}x" if v.x_peer is not None else "-"
            loss = f"{100 * r.loss:.2f}%" if r.loss is not None else "-"
            check = v.status + (f" ({'; '.join(v.why)})" if v.why else "")
            note = (FIX_LIMIT if v.above_limit else "") + r.note
            cells = [group, name, fmt_value(r.rate, r.unit), loss, xl, xp, r.target_text(),
                     check, r.settings, note]
            if old is not None:
                cells.insert(3, change(r, old.get(_key(r.group, r.name))))
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def problems(rows: list[Row]) -> list[str]:
    """What makes ``--check`` fail: every MISS and every figure above its limit."""
    out = []
    for group, rs in _groups(rows).items():
        for r in rs:
            v = evaluate(r, rs)
            if v.status == "MISS":
                out.append(f"MISS {_key(group, r.name)}: {'; '.join(v.why)}")
            if v.above_limit:
                out.append(f"ABOVE LIMIT {_key(group, r.name)}: {v.x_limit:.2f}x; fix the limit")
    return out


def to_json(rows: list[Row], facts: dict[str, Any]) -> str:
    groups = _groups(rows)
    return json.dumps({**facts, "rows": [row_dict(r, groups[r.group]) for r in rows]}, indent=1)


def load_compare(path: str) -> dict[str, dict[str, Any]]:
    with open(path) as f:
        data = json.load(f)
    return {_key(r["group"], r["name"]): r for r in data.get("rows", [])}


def machine() -> dict[str, Any]:
    """Facts read from the machine itself, never written by hand."""
    cpu = platform.processor() or "unknown CPU"
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        from srpfast.crypto import _sha256
        sha = _sha256.impl()
    except ImportError:
        sha = "?"
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "os": f"{platform.system()} {platform.release()}",
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "sha256": sha, "cpu_flags": " ".join(sorted(flags & {"sha_ni", "avx2", "avx512f",
                                                                  "aes"}))}


def machine_line(m: dict[str, Any]) -> str:
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}, {m['python']}, "
            f"SHA-256: {m['sha256']}, CPU flags: {m['cpu_flags'] or 'none of sha_ni/avx2/aes'}")


def commit(root: str) -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    return (out or "unknown") + (" (with uncommitted changes)" if dirty else "")
