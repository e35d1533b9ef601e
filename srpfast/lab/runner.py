"""Run real srpfast peers behind the lab's NATs and measure every pair (docs/NATLAB.md).

One run: build the topology (topology.Lab), verify every NAT with plain sockets (verify.py),
start a public bootstrap peer and the peers under test, each a separate process in its
namespace (``ip netns exec NS python -m srpfast.lab.peer``), read their JSON event lines until
every pair has exchanged a sealed PUBLISH and a direct stream both ways (or the timeout), stop
them by pid, tear the lab down. Per peer: the NAT it classified itself as vs the truth, time
to ``#ready`` and to its classification. Per pair: the path (direct, BDP through a kept pool
socket, relay through the introducer), the strategy the INTROs chose (SPEC 5 table), and the
times to connect / first direct stream / first publish both ways, from the pair's first
introduction.
"""
from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import srpfast
from srpfast.errors import LabError
from srpfast.lab import verify
from srpfast.lab.topology import V6_KINDS, Host, Lab

BOOT_PORT = 7000
LETTER = {"static": "S", "easy": "E", "hard": "H", "open": "O", "address": "A", "double": "D",
          "samenat": "L", "knock": "K", "static6": "6", "fw6": "F"}
DEFAULT_PEERS = (("s1", "static"), ("s2", "static"), ("e1", "easy"), ("e2", "easy"),
                 ("h1", "hard"), ("h2", "hard"))
_ROOT = str(Path(srpfast.__file__).resolve().parent.parent)


def expected_nat(kind: str, wildcard: bool) -> str:
    """What a correct peer calls itself. A full cone with a wildcard bind counts as Static
    (reachable unsolicited on the port it is bound to: nat.classify)."""
    if kind == "open":
        return "static" if wildcard else "easy"
    if kind in V6_KINDS:  # nothing translates: the engine's Static (mapping none), whatever
        return "static"   # the filtering (a stateful firewall's is port-restricted)
    return "easy" if kind in EASY_LIKE else kind


class Proc:
    """A process in a lab namespace whose stdout lines (JSON) land in a shared queue."""

    def __init__(self, lab: Lab, host: Host, argv: list[str],
                 sink: "queue.Queue[tuple[str, dict[str, Any]]]", name: str = "") -> None:
        self.name = name or host.name
        env = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # `ip netns exec` execs the command: the pid we hold is the python process itself.
        self.popen = subprocess.Popen(lab.exec_argv(host.ns, argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env)
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(sink,), daemon=True).start()
        threading.Thread(target=self._drain_err, daemon=True).start()

    def _read(self, sink: "queue.Queue[tuple[str, dict[str, Any]]]") -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                sink.put((self.name, json.loads(line)))
            except ValueError:
                sink.put((self.name, {"ev": "text", "line": line.rstrip()}))
        sink.put((self.name, {"ev": "exit", "t": time.time()}))

    def _drain_err(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            if len(self.stderr) < 200:
                self.stderr.append(line.rstrip())

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM (the peer prints its final line), then SIGKILL: by our own pid only."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(grace)


def verify_nats(lab: Lab, hosts: list[Host]) -> list[verify.Verdict]:
    """Both echo servers up, then one probe per host (plain sockets, no srpfast). IPv6
    hosts (topology.V6_KINDS) are measured against IPv6 echo servers; a lab is one or the
    other (no dual stack)."""
    echo_kind = public_kind([h.kind for h in hosts])
    e1, e2 = lab.add("echo1", echo_kind), lab.add("echo2", echo_kind)
    sink: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    py = [sys.executable, "-m", "srpfast.lab.verify"]
    servers = [Proc(lab, e1, py + ["serve", e1.address, e2.address], sink),
               Proc(lab, e2, py + ["serve", e2.address, e1.address], sink)]
    try:
        up: set[str] = set()
        end = time.monotonic() + 10
        while len(up) < 2:
            try:
                name, ev = sink.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise LabError("echo servers did not start: " +
                               " | ".join(" ".join(p.stderr[-3:]) for p in servers)) from None
            if ev.get("ev") == "serving":
                up.add(name)
        verdicts = []
        env = dict(os.environ, PYTHONPATH=_ROOT)
        for host in hosts:
            done = subprocess.run(lab.exec_argv(host.ns, py + ["probe", e1.address,
                                                                e2.address]),
                                  capture_output=True, text=True, timeout=30, env=env,
                                  check=False)  # (its JSON line says what failed)
            try:
                out = json.loads(done.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise LabError(f"NAT probe in {host.ns} failed: {done.stderr.strip()}") from None
            if "error" in out:
                raise LabError(f"NAT probe in {host.ns}: {out['error']}")
            (h1, p1), (h2, p2) = out["seen"]
            unreplied = None
            if host.natted:  # the knock's trace in the router (docs/NATLAB.md "The knock")
                unreplied = sum(1 for line in _conntrack(lab, host)
                                if "[UNREPLIED]" in line and f"src={e2.address} " in line
                                and f"dst={host.public} " in line)
            verdicts.append(verify.Verdict(host.name, host.kind, out["mapping"],
                                           out["filtering"], (out["local"][0], out["local"][1]),
                                           ((h1, p1), (h2, p2)), out["port_preserved"],
                                           out.get("knock_remaps", False), unreplied))
        return verdicts
    finally:
        for p in servers:
            p.stop(1.0)


def public_kind(kinds: list[str]) -> str:
    """``static6`` for an IPv6 lab, ``static`` for an IPv4 one; never both (LabError)."""
    v6 = {k in V6_KINDS for k in kinds}
    if len(v6) > 1:
        raise LabError("an IPv6 kind (static6, fw6) and an IPv4 kind in one lab: the lab "
                       "builds one or the other")
    return "static6" if v6 == {True} else "static"


def seed_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class PeerLog:
    name: str
    kind: str
    public: str = ""       # the host the others see it at (its own, or its NAT's wan)
    start: float = 0.0
    peer_id: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None

    def first(self, ev: str, peer: str | None = None, **match: Any) -> float | None:
        for e in self.events:
            if e["ev"] == ev and (peer is None or e.get("peer") == peer) and all(
                    e.get(k) == v for k, v in match.items()):
                t: float = e["t"]
                return t
        return None

    @property
    def nat(self) -> str | None:
        nats = [e["nat"] for e in self.events if e["ev"] in ("ready", "nat")]
        if self.final is not None:
            nats.append(self.final["nat"])
        return nats[-1] if nats else None

    def classified_at(self) -> float | None:
        final = self.nat
        for e in self.events:
            if e["ev"] in ("ready", "nat") and e["nat"] == final and final != "unknown":
                t: float = e["t"]
                return t
        return None


def _pair_result(a: PeerLog, b: PeerLog) -> dict[str, Any]:
    ida, idb = a.peer_id, b.peer_id
    intros = sorted([(e["t"], a.name, e["action"]) for e in a.events
                     if e["ev"] == "intro" and e["peer"] == idb] +
                    [(e["t"], b.name, e["action"]) for e in b.events
                     if e["ev"] == "intro" and e["peer"] == ida])
    # Times count from the moment BOTH peers were introduced (issue 12): the later of the
    # two sides' first INTRO about the other.
    ta = [t for t, n, _ in intros if n == a.name]
    tb = [t for t, n, _ in intros if n == b.name]
    t0 = max(ta[0], tb[0]) if ta and tb else None

    def both(ev: str) -> float | None:
        x, y = a.first(ev, idb), b.first(ev, ida)
        return None if x is None or y is None else max(x, y)

    pa = (a.final or {}).get("paths", {}).get(idb, {})
    pb = (b.final or {}).get("paths", {}).get(ida, {})
    if pa.get("pool") or pb.get("pool"):
        path = "bdp"
    elif pa.get("connected") and pb.get("connected"):
        path = "direct"
    elif pa.get("relay") or pb.get("relay"):
        path = "relay"
    else:
        path = "none"
    direct = both("direct")
    connect = both("connection") if path in ("direct", "bdp") else direct
    def rel(t: float | None) -> float | None:
        return None if t is None or t0 is None else round(t - t0, 3)
    spent = [0, 0]  # BDP datagrams and wire bytes both sides aimed at each other's host
    for x, y in ((a, b), (b, a)):
        for i, v in enumerate(((x.final or {}).get("punch") or {}).get(y.public, [0, 0])):
            spent[i] += v
    want = expected_path(a.kind, b.kind, same_nat=_same_nat(a, b))
    publish = rel(both("publish"))
    return {"pair": f"{a.name}-{b.name}", "classes": LETTER[a.kind] + LETTER[b.kind],
            "path": path, "expected": want, "intros": [f"{n}:{act}" for _, n, act in intros][:8],
            "connect": rel(connect), "direct": rel(direct), "publish": publish,
            "ok": path == want and direct is not None and publish is not None
            and connect is not None,
            "punch_datagrams": spent[0], "punch_bytes": spent[1],
            "direct_from_start": None if direct is None else
            round(direct - max(a.start, b.start), 3)}


EASY_LIKE = ("easy", "knock", "address", "double", "samenat")  # endpoint-independent mapping: the engine's Easy


def _same_nat(a: PeerLog, b: PeerLog) -> bool:
    return a.kind != "static" and a.public == b.public


def expected_path(ka: str, kb: str, same_nat: bool = False) -> str:
    """PROTOCOL.md §5: Hard<->Hard relays, Easy<->Hard connects by BDP, the rest directly.
    An address-restricted Easy side lets the Hard side's own ping in (it sent to that
    address already): the pair connects directly before the BDP can. Two peers behind one
    Linux NAT (``samenat``) cannot reach each other at their public address (masquerade does
    not hairpin) and SRP carries no local address: the introducer relays."""
    if same_nat:
        return "relay"
    hard = (ka == "hard") + (kb == "hard")
    easy = (ka in EASY_LIKE) + (kb in EASY_LIKE)
    if hard == 1 and "address" in (ka, kb):
        return "direct"
    return "relay" if hard == 2 else "bdp" if hard == 1 and easy == 1 else "direct"


def _done(logs: dict[str, PeerLog], names: list[str]) -> bool:
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            a, b = logs[x], logs[y]
            if not (a.peer_id and b.peer_id):
                return False
            for ev in ("direct", "publish"):
                if a.first(ev, b.peer_id) is None or b.first(ev, a.peer_id) is None:
                    return False
            if expected_path(a.kind, b.kind, _same_nat(a, b)) != "relay" and (  # wait for the punch / BDP
                    a.first("connection", b.peer_id) is None
                    or b.first("connection", a.peer_id) is None):
                return False
    return all(logs[n].classified_at() is not None for n in names)


def run_once(peers: tuple[tuple[str, str], ...] = DEFAULT_PEERS, *, timeout: float = 45.0,
             wildcard: bool = True, say: Any = None, events: bool = False,
             hold: float = 0.0, staged: bool = True) -> dict[str, Any]:
    """One lab run; returns {"verify": [...], "peers": {...}, "pairs": [...]}. ``hold``:
    keep the peers running at least this long (s) after they start, so later reflection
    rounds (every keep-alive, 30 s) show in each peer's final NAT. ``staged``: public peers
    first, NATed ones once those have classified (False: all at once)."""
    say = say or (lambda text: None)
    boot_kind = public_kind([kind for _, kind in peers])
    v6 = boot_kind == "static6"
    with Lab() as lab:
        boot = lab.add("s0", boot_kind)
        hosts = [lab.add(name, kind) for name, kind in peers]
        say(f"lab up: {len(lab.hosts)} hosts; verifying NATs with plain sockets")
        verdicts = verify_nats(lab, [boot] + hosts)
        bad = [v for v in verdicts if not v.ok]
        if bad:
            raise LabError("NAT verification failed: " + "; ".join(
                f"{v.host} ({v.kind}) measured {v.mapping}/{v.filtering}, expected "
                f"{'/'.join(verify.EXPECTED[v.kind])}" for v in bad))
        sink: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        logs = {h.name: PeerLog(h.name, h.kind, h.public) for h in [boot] + hosts}
        procs: list[Proc] = []
        base = [sys.executable, "-m", "srpfast.lab.peer", "--duration",
                str(max(timeout, hold) + 15)]

        def bind(h: Host) -> list[str]:
            return ["--host", ("::" if v6 else "0.0.0.0") if wildcard else h.address]

        try:
            procs.append(Proc(lab, boot, base + ["--name", "s0", "--port", str(BOOT_PORT)]
                              + bind(boot), sink))
            seed = seed_address(boot.address, BOOT_PORT)
            end = time.monotonic() + 10
            while not logs["s0"].peer_id:  # the bootstrap listens before anyone pings it
                if time.monotonic() > end or procs[0].popen.poll() is not None:
                    raise LabError("the bootstrap peer did not start: " +
                                   " | ".join(procs[0].stderr[-5:]))
                _collect(sink, logs, min(end, time.monotonic() + 0.2))
            # Public peers first, NATed ones once those know they are Static: on the
            # internet the public peers a network bootstraps from have been up for a while
            # (and a Static peer lets NATed ones dial it: nat.STRATEGY). Bounded wait.
            phases = ([h for h in hosts if not h.natted], [h for h in hosts if h.natted]) \
                if staged else (hosts,)
            for phase in phases:
                for h in phase:
                    procs.append(Proc(lab, h, base + ["--name", h.name, "--bootstrap", seed]
                                      + bind(h), sink))
                end = time.monotonic() + 5
                while time.monotonic() < end and not all(
                        logs[n].classified_at() for n in ["s0"] + [h.name for h in phase]):
                    _collect(sink, logs, min(end, time.monotonic() + 0.2))
            say(f"{len(procs)} peers started; waiting for every pair (<= {timeout:.0f} s)")
            started = time.monotonic()
            end = time.monotonic() + timeout
            names = [h.name for h in hosts]
            while time.monotonic() < end and not _done(logs, names):
                _collect(sink, logs, min(end, time.monotonic() + 0.5))
            end = time.monotonic() + max(0.0, hold - (time.monotonic() - started))
            while time.monotonic() < end:
                _collect(sink, logs, min(end, time.monotonic() + 0.5))
        finally:
            for p in procs:
                p.stop()
            end = time.monotonic() + 5
            while time.monotonic() < end and any(
                    logs[p.name].final is None and p.popen.poll() is None for p in procs):
                _collect(sink, logs, min(end, time.monotonic() + 0.2))
            while not sink.empty():
                _collect(sink, logs, time.monotonic())
        crashed = {p.name: p.stderr[-5:] for p in procs if logs[p.name].final is None}
        conntrack = {h.name: _conntrack(lab, h) for h in hosts if h.natted} if events else {}
    peers_out = {}
    for h in [boot] + hosts:
        log = logs[h.name]
        want = expected_nat(h.kind, wildcard)
        at = log.classified_at()
        ready = log.first("ready")
        peers_out[h.name] = {"kind": h.kind, "nat": log.nat, "expected": want,
                             "ok": log.nat == want,
                             "ready": None if ready is None else round(ready - log.start, 3),
                             "classified": None if at is None else round(at - log.start, 3),
                             "metrics": (log.final or {}).get("metrics", {})}
    pairs = [_pair_result(logs[x.name], logs[y.name])
             for i, x in enumerate(hosts) for y in hosts[i + 1:]]
    out: dict[str, Any] = {"wildcard": wildcard, "verify": [v.as_dict() for v in verdicts],
                           "peers": peers_out, "pairs": pairs, "crashed": crashed}
    if events:  # every peer's raw event lines, ids -> names (for `srp lab matrix --events`)
        by_id = {log.peer_id: n for n, log in logs.items()}
        out["conntrack"] = conntrack
        out["events"] = {n: [{k: by_id.get(v, v) if isinstance(v, str) else v
                              for k, v in e.items()} for e in log.events]
                         for n, log in logs.items()}
    return out


def _conntrack(lab: Lab, host: Host) -> list[str]:
    """The router's UDP conntrack entries (the knocks show as [UNREPLIED] to the router)."""
    assert host.router_ns is not None
    done = subprocess.run(lab.exec_argv(host.router_ns, ["cat", "/proc/net/nf_conntrack"]),
                          capture_output=True, text=True, timeout=10, check=False)
    return [" ".join(line.split()[2:]) for line in done.stdout.splitlines() if " udp " in line]


def _collect(sink: queue.Queue[tuple[str, dict[str, Any]]], logs: dict[str, PeerLog], until: float) -> None:
    try:
        name, ev = sink.get(timeout=max(0.0, until - time.monotonic()))
    except queue.Empty:
        return
    log = logs[name]
    if ev.get("ev") == "start":
        log.start, log.peer_id = ev["t"], ev["id"]
    elif ev.get("ev") == "final":
        log.final = ev
    log.events.append(ev)


# ---------------------------------------------------------------------- the matrix
ORDER = ("S", "E", "H", "O", "A", "D", "L", "K", "6", "F")


def matrix(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Cells by class pair ("SE"...): paths seen and times (s) over all pairs and runs."""
    cells: dict[str, dict[str, Any]] = {}
    for res in results:
        for p in res["pairs"]:
            key = "".join(sorted(p["classes"], key=ORDER.index))
            c = cells.setdefault(key, {"pairs": 0, "paths": {}, "connect": [], "direct": [],
                                       "publish": [], "failed": 0})
            c["pairs"] += 1
            c["paths"][p["path"]] = c["paths"].get(p["path"], 0) + 1
            for k in ("connect", "direct", "publish"):
                if p[k] is not None:
                    c[k].append(p[k])
            if not p["ok"]:  # no stream or PUBLISH both ways, or not the §5 path
                c["failed"] += 1
    return cells


def _span(xs: list[float]) -> str:
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    return f"{lo:.2f}" if len(xs) == 1 or hi - lo < 0.005 else f"{lo:.2f}-{hi:.2f}"


def format_matrix(results: list[dict[str, Any]]) -> str:
    cells = matrix(results)
    classes = [c for c in ORDER if any(c in k for k in cells)]
    lines = [("pair matrix: path; connect / direct stream both ways / publish both ways, "
              "seconds from both peers' introduction (min-max over pairs and runs)"), ""]
    width = 44
    lines.append(" " * 4 + "".join(f"{c:<{width}}" for c in classes))
    for r in classes:
        row = f"{r:<4}"
        for c in classes:
            key = "".join(sorted(r + c, key=ORDER.index))
            cell = cells.get(key)
            if cell is None or ORDER.index(c) < ORDER.index(r):
                row += " " * width
                continue
            paths = "+".join(f"{k}" if v == cell["pairs"] else f"{k}x{v}"
                             for k, v in sorted(cell["paths"].items()))
            text = (f"{paths} {_span(cell['connect'])}/{_span(cell['direct'])}/"
                    f"{_span(cell['publish'])}" + (f" FAIL {cell['failed']}"
                                                   if cell["failed"] else ""))
            row += f"{text:<{width}}"
        lines.append(row.rstrip())
    lines.append("")
    for res in results:
        lines.append("peers: " + ", ".join(
            f"{n}={p['nat']}{'' if p['ok'] else '(!=' + p['expected'] + ')'}"
            f"@{p['classified'] if p['classified'] is not None else '-'}s"
            for n, p in res["peers"].items()))
    return "\n".join(lines)


def summary_ok(results: list[dict[str, Any]]) -> bool:
    return all(p["ok"] for r in results for p in r["peers"].values()) and all(
        c["failed"] == 0 for c in matrix(results).values())


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None
