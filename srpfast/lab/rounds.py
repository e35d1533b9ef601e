"""Many introductions on one lab: the statistics mode of ``srp lab matrix --runs N``.

Building and verifying a topology takes most of a 15 s run, so this builds it once, keeps a
bootstrap peer (s0) and a second public peer (s1, a reflector) running, and in each round
starts FRESH peers (new identities, new ports) s2, e1, e2, h1, h2: every round introduces new
pairs, measured as in ``runner.run_once`` (docs/NATLAB.md "Statistics"). Between rounds the
routers keep the old peers' conntrack entries (a new process binds a new port, so they do not
collide), as a real NAT would.
"""
from __future__ import annotations

import json
import queue
import sys
import time
from typing import Any, Callable

from srpfast.errors import LabError
from srpfast.lab.runner import (BOOT_PORT, ORDER, PeerLog, Proc, _collect, _done,
                                _pair_result, expected_nat, verify_nats)
from srpfast.lab.topology import Host, Lab

ANCHORS = (("s0", "static"), ("s1", "static"))
ROUND_PEERS = (("s2", "static"), ("e1", "easy"), ("e2", "easy"), ("h1", "hard"),
               ("h2", "hard"))


def run_rounds(rounds: int, *, timeout: float = 12.0, wildcard: bool = True,
               say: Callable[[str], None] | None = None,
               peers: tuple[tuple[str, str], ...] = ROUND_PEERS,
               dump: str | None = None, slow_after: float = 2.0,
               trace_bdp: bool = False) -> dict[str, Any]:
    """``rounds`` rounds of fresh ``peers`` on one verified topology; returns {"verify",
    "rounds": [{"peers", "pairs", "round"}]} (each round shaped like a run_once result).
    ``dump``: a file to which every peer's event lines of a SLOW round (a pair not on its
    path, or connected after ``slow_after`` s, or a peer misclassified) are appended as JSON
    lines, to explain the tail afterwards; ``trace_bdp``: peers log each BDP step too."""
    tell = say or (lambda text: None)
    with Lab() as lab:
        anchors = [lab.add(n, k) for n, k in ANCHORS]
        hosts = [lab.add(n, k) for n, k in peers]
        tell(f"lab up: {len(lab.hosts)} hosts; verifying NATs with plain sockets")
        verdicts = verify_nats(lab, anchors + hosts)
        bad = [v for v in verdicts if not v.ok]
        if bad:
            raise LabError("NAT verification failed: " + "; ".join(
                f"{v.host} ({v.kind}) measured {v.mapping}/{v.filtering}" for v in bad))
        sink: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        logs: dict[str, PeerLog] = {}
        base = [sys.executable, "-m", "srpfast.lab.peer", "--duration", str(timeout + 600)]
        if trace_bdp:
            base.append("--trace-bdp")
        seed = f"{anchors[0].address}:{BOOT_PORT}"

        def start(h: Host, name: str, extra: list[str]) -> Proc:
            logs[name] = PeerLog(name, h.kind, h.public)
            bind = ["--host", "0.0.0.0" if wildcard else h.address]
            return Proc(lab, h, base + ["--name", name] + extra + bind, sink, name)

        def wait(names: list[str], until: float, done: Callable[[], bool]) -> None:
            while time.monotonic() < until and not done():
                _collect(sink, logs, min(until, time.monotonic() + 0.2))

        fixed = [start(anchors[0], "s0", ["--port", str(BOOT_PORT)])]
        out: list[dict[str, Any]] = []
        try:
            wait(["s0"], time.monotonic() + 10, lambda: bool(logs["s0"].peer_id))
            if not logs["s0"].peer_id:
                raise LabError("the bootstrap peer did not start: " +
                               " | ".join(fixed[0].stderr[-5:]))
            fixed.append(start(anchors[1], "s1", ["--bootstrap", seed]))
            wait(["s1"], time.monotonic() + 5, lambda: logs["s1"].classified_at() is not None)
            for r in range(rounds):
                names = [f"{n}.{r}" for n, _ in peers]
                began = time.time()  # (event lines carry wall-clock times)
                procs = [start(h, name, ["--bootstrap", seed])
                         for h, name in zip(hosts, names)]
                try:
                    wait(names, time.monotonic() + timeout, lambda: _done(logs, names))
                finally:
                    for p in procs:
                        p.stop()
                    wait(names, time.monotonic() + 5,  # (each reader ends with "exit")
                         lambda: all(logs[n].events and logs[n].events[-1]["ev"] == "exit"
                                     for n in names))
                res = _round_result(r, [logs[n] for n in names], wildcard)
                res["crashed"] = {p.name: p.stderr[-5:] for p in procs
                                  if logs[p.name].final is None}
                out.append(res)
                tell(progress(r, rounds, res))
                if dump is not None and _slow(res, slow_after):
                    _dump(dump, r, [logs[n] for n in names], res,
                          [logs["s0"], logs["s1"]], began)
                for n in names:  # (keep memory flat over hundreds of rounds)
                    logs[n].events = [e for e in logs[n].events if e["ev"] == "start"]
                for a in ("s0", "s1"):
                    logs[a].events = [e for e in logs[a].events
                                      if e["ev"] in ("start", "ready", "nat")]
        finally:
            for p in fixed:
                p.stop()
    return {"wildcard": wildcard, "verify": [v.as_dict() for v in verdicts], "rounds": out}


def _slow(res: dict[str, Any], slow_after: float) -> bool:
    return (any(not p["ok"] for p in res["peers"].values()) or
            any(not p["ok"] or p["connect"] is None or p["connect"] > slow_after
                for p in res["pairs"]))


def _dump(path: str, r: int, logs: list[PeerLog], res: dict[str, Any],
          anchors: list[PeerLog], began: float) -> None:
    """The round's peers' event lines, and the anchors' (s0 introduces) since it began."""
    with open(path, "a") as f:
        f.write(json.dumps({"round": r, "result": res}) + "\n")
        for log in logs + anchors:
            for e in log.events:
                if log in anchors and e["t"] < began:
                    continue
                f.write(json.dumps({**e, "host": log.name}, default=str) + "\n")


def _round_result(r: int, logs: list[PeerLog], wildcard: bool) -> dict[str, Any]:
    peers = {}
    for log in logs:
        at, ready = log.classified_at(), log.first("ready")
        want = expected_nat(log.kind, wildcard)
        peers[log.name] = {"kind": log.kind, "nat": log.nat, "expected": want,
                           "ok": log.nat == want,
                           "ready": None if ready is None else round(ready - log.start, 3),
                           "classified": None if at is None else round(at - log.start, 3)}
    pairs = [_pair_result(x, y) for i, x in enumerate(logs) for y in logs[i + 1:]]
    return {"round": r, "peers": peers, "pairs": pairs}


def progress(r: int, rounds: int, res: dict[str, Any]) -> str:
    cells: dict[str, list[str]] = {}
    for p in res["pairs"]:
        key = "".join(sorted(p["classes"], key=ORDER.index))
        cells.setdefault(key, []).append(
            f"{p['connect']:.2f}" if p["ok"] and p["connect"] is not None else "FAIL")
    wrong = [n for n, p in res["peers"].items() if not p["ok"]]
    return (f"round {r + 1}/{rounds}: " + "  ".join(f"{k} {' '.join(v)}"
                                                   for k, v in sorted(cells.items()))
            + (f"  misclassified {wrong}" if wrong else ""))

