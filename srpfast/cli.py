"""The `srp` command: keygen, info, peer (interactive, or a headless node with --serve), demo,
lab (real peers behind real NATs), bench (the benchmark table of a source checkout)."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any

import srpfast


def _loop_policy() -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # stdlib asyncio works too, only slower
        pass


def cmd_keygen(args: argparse.Namespace) -> int:
    if os.path.exists(args.path) and not args.force:
        print(f"{args.path} exists; pass --force to replace it", file=sys.stderr)
        return 2
    identity = srpfast.create_identity()
    srpfast.save_identity(identity, args.path)
    out = {"path": args.path, "peer_id": identity.peer_id.hex()}
    print(json.dumps(out) if args.json else f"wrote {args.path} (0600)\npeer id {out['peer_id']}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    identity = srpfast.load_identity(args.key)
    from srpfast.crypto import _sha256
    out = {"peer_id": identity.peer_id.hex(), "version": srpfast.__version__,
           "sha256": _sha256.impl()}
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _json_event(event: object) -> str:
    """A typed API event (srpfast/api_events.py) as one JSON line, ids in hex."""
    fields = dataclasses.asdict(event)  # type: ignore[call-overload]
    return json.dumps({k: v.hex() if isinstance(v, bytes) else v for k, v in fields.items()})


def _say(args: argparse.Namespace, kind: str, text: str, **fields: object) -> None:
    """One line per event: JSON with --json (kind, time, fields), else readable text."""
    if args.json:
        print(json.dumps({"event": kind, "t": round(time.time(), 3), **fields}), flush=True)
    else:
        print(text, flush=True)


def _status(net: "srpfast.Network") -> dict[str, Any]:
    m, info = net.metrics(), net.info()
    return {"peers": m.get("peers", 0), "nat": info.get("nat"),
            "public": info.get("public_address"), "cache_packets": info.get("cache_packets"),
            "rx": m.get("rx", 0), "tx": m.get("tx", 0),
            "delivered": m.get("deliver.messages", 0),
            "relayed": m.get("dataplane.forwarded", 0) + m.get("publish.forwarded", 0),
            "drops": sum(v for k, v in m.items() if k.startswith("drop."))}


async def _lines(queue: "asyncio.Queue[str | None]") -> None:
    """stdin lines into ``queue`` (None at EOF). A thread reads, so stdin may be a terminal,
    a pipe, a file or /dev/null (a pipe reader on /dev/null or a file aborted the process)."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await queue.put(None)
            return
        await queue.put(line.rstrip("\n"))


async def _peer(args: argparse.Namespace) -> int:
    identity = srpfast.load_identity(args.key) if args.key else srpfast.create_identity()
    cluster_id = srpfast.create_cluster_id(args.cluster.encode())
    async with srpfast.network(identity=identity, cluster_id=cluster_id, host=args.host,
                               port=args.port, bootstrap=args.bootstrap,
                               peers_file=args.peers_file) as net:
        sub = await net.subcluster(shared_key=srpfast.create_shared_key(args.join.encode()))
        _say(args, "start", f"peer {identity.peer_id.hex()[:16]} on {net.address[0]}:"
                            f"{net.address[1]}, subcluster {args.join!r}",
             peer_id=identity.peer_id.hex(), address=list(net.address), subcluster=args.join)
        sub.on("line", lambda value, meta: _say(
            args, "line", f"<{meta.author.hex()[:8]}> {value}", author=meta.author.hex(),
            value=value))
        sub.on("#join", lambda peer: _say(args, "join", f"#join {peer.peer_id.hex()[:16]}",
                                          peer_id=peer.peer_id.hex()))
        sub.on("#leave", lambda peer: _say(args, "leave", f"#leave {peer.peer_id.hex()[:16]}",
                                           peer_id=peer.peer_id.hex()))
        net.on("#ready", lambda e: _say(args, "ready", f"#ready {_json_event(e)}",
                                        **json.loads(_json_event(e))))
        net.on("#network-change", lambda e: _say(
            args, "network-change", f"#network-change {_json_event(e)}",
            **json.loads(_json_event(e))))
        net.on("#error", lambda e: print(
            json.dumps({"event": "error", "code": e.code, "reason": e.reason}) if args.json
            else f"#error {e.code}: {e.reason}", file=sys.stderr, flush=True))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread / platform
                pass
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        if not args.serve:
            asyncio.ensure_future(_lines(queue))
        next_status = time.monotonic() + args.status_interval
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(queue.get(), 0.25)
            except asyncio.TimeoutError:
                line = ""
            if line is None:  # stdin ended: publish what came, linger, leave
                await asyncio.sleep(args.linger)
                break
            if line:
                sub.emit("line", line)
            if args.serve and time.monotonic() >= next_status:
                next_status = time.monotonic() + args.status_interval
                st = _status(net)
                _say(args, "status", " ".join(f"{k}={v}" for k, v in st.items()), **st)
    return 0


def cmd_bench(bench_args: list[str]) -> int:
    """bench/run.py of the source checkout this package was imported from: the harness and
    its peers (pyzmq) are not part of an installed wheel, so say so instead of guessing."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(srpfast.__file__)))
    if not os.path.isfile(os.path.join(root, "bench", "run.py")):
        print("srp bench: needs a source checkout (bench/run.py next to srpfast/); "
              "run `make bench` there", file=sys.stderr)
        return 2
    sys.path.insert(0, root)
    from bench.run import main as bench_main
    return bench_main(bench_args)


def cmd_lab(args: argparse.Namespace) -> int:
    """`srp lab matrix|verify|clean`: the NAT lab (srpfast/lab, docs/NATLAB.md; needs root)."""
    import signal
    from srpfast.lab import runner, topology
    # SIGTERM unwinds like Ctrl-C: the lab's finally blocks stop the peers and delete the
    # namespaces (atexit alone does not run on a signal).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.lab_cmd == "clean":
        topology.require_root()
        gone = topology.clean_leftovers()
        print(json.dumps({"removed": gone}) if args.json else f"removed {len(gone)} namespaces")
        return 0
    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    if args.lab_cmd == "verify":
        with topology.Lab() as lab:
            hosts = [lab.add(name, kind) for name, kind in runner.DEFAULT_PEERS]
            hosts.append(lab.add("o1", "open"))
            hosts.append(lab.add("a1", "address"))
            hosts.append(lab.add("d1", "double"))
            hosts.append(lab.add("k1", "knock"))
            verdicts = [v.as_dict() for v in runner.verify_nats(lab, hosts)]
        if args.json:
            print(json.dumps(verdicts))
        else:
            for v in verdicts:
                print(f"{v['host']:<4} {v['kind']:<7} mapping {v['mapping']:<21} filtering "
                      f"{v['filtering']:<5} seen {v['seen'][0]} / {v['seen'][1]} "
                      f"{'knock remaps ' if v['knock_remaps'] else ''}"
                      f"{'' if v['unreplied'] is None else 'unreplied ' + str(v['unreplied']) + ' '}"
                      f"{'ok' if v['ok'] else 'UNEXPECTED'}")
        return 0 if all(v["ok"] for v in verdicts) else 1
    from srpfast.lab import rounds, stats
    results = []
    kinds = [k for k in args.kinds.split(",") if k] if args.kinds else []
    bad = [k for k in kinds if k not in topology.KINDS]
    if bad:
        print(f"srp lab: unknown kind {', '.join(bad)}: one of {', '.join(topology.KINDS)}",
              file=sys.stderr)
        return 2
    peers = tuple((f"{k[0]}{i + 11}", k) for i, k in enumerate(kinds))  # (not s0, s1)
    v6 = any(k in topology.V6_KINDS for k in kinds)  # (rounds.py keeps IPv4 anchors)
    if args.fresh_lab or args.events or args.hold or args.together or v6:
        for i in range(args.runs):
            say(f"run {i + 1}/{args.runs}")
            results.append(runner.run_once(peers or runner.DEFAULT_PEERS,
                                           timeout=args.timeout, wildcard=not args.bind_own,
                                           say=say, events=args.events, hold=args.hold,
                                           staged=not args.together))
    else:  # one topology, fresh peers every round (srpfast/lab/rounds.py)
        results = rounds.run_rounds(args.runs, timeout=args.timeout,
                                    wildcard=not args.bind_own, say=say,
                                    peers=peers or rounds.ROUND_PEERS,
                                    dump=args.dump_slow,
                                    trace_bdp=args.trace_bdp)["rounds"]
    table = stats.pairing_stats(results)
    if args.json:
        print(json.dumps({"runs": results, "matrix": runner.matrix(results), "stats": table}))
    else:
        print(runner.format_matrix(results))
        print()
        print(stats.format_stats(table))
    return 0 if runner.summary_ok(results) else 1


def cmd_sim(args: argparse.Namespace) -> int:
    """`srp sim [SCENARIO]`: unmodified engines under virtual time (srpfast/sim/,
    docs/SIMULATION.md): one run, policies side by side, or a sweep over seeds and a grid."""
    from srpfast.sim import report
    return report.main(args)


def _parser() -> argparse.ArgumentParser:
    # --json is accepted before or after the subcommand (`srp --json demo`, `srp demo --json`):
    # each subcommand repeats it with SUPPRESS, so its absence never resets the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output (JSON)")
    ap = argparse.ArgumentParser(prog="srp", description="srpfast: Stream Relay Protocol peer")
    ap.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    ap.add_argument("--version", action="version",
                    version=f"srpfast {srpfast.__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    k = sub.add_parser("keygen", parents=[common], help="create an identity key file (0600)")
    k.add_argument("path", nargs="?", default="srp.key", help="where to write (default srp.key)")
    k.add_argument("--force", action="store_true", help="replace an existing key file")
    i = sub.add_parser("info", parents=[common], help="show an identity and build facts")
    i.add_argument("--key", default="srp.key", help="identity key file (default srp.key)")
    p = sub.add_parser("peer", parents=[common],
                       help="run a peer: lines on stdin are published; --serve: a headless "
                            "bootstrap/relay node")
    p.add_argument("--key", default=None, help="identity key file (default: a fresh identity)")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=0, help="UDP port (default: any free port)")
    p.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT",
                   help="a peer to start from (repeatable; names resolve)")
    p.add_argument("--cluster", default="srpfast", help="cluster seed (default 'srpfast')")
    p.add_argument("--join", default="lobby", help="subcluster seed to join (default 'lobby')")
    p.add_argument("--peers-file", default=None, help="save/reload known peers here")
    p.add_argument("--linger", type=float, default=1.0,
                   help="seconds to stay after stdin ends (default 1)")
    p.add_argument("--serve", action="store_true",
                   help="headless: ignore stdin, run until SIGINT/SIGTERM, print status lines")
    p.add_argument("--status-interval", type=float, default=10.0,
                   help="seconds between status lines with --serve (default 10)")
    d = sub.add_parser("demo", parents=[common], help="a live local network of N peers on loopback")
    d.add_argument("--peers", type=int, default=12, help="number of peers (default 12)")
    d.add_argument("--messages", type=int, default=20,
                   help="messages published per subcluster (default 20)")
    d.add_argument("--timeout", type=float, default=30.0,
                   help="seconds for the whole run (default 30)")
    # Listed for --help only: main() hands `srp bench ...` to bench/run.py untouched (its
    # options start with "--", which an argparse REMAINDER here would not take).
    sub.add_parser("bench", help="print the benchmark table (source checkout; every option "
                                 "goes to bench/run.py: --quick, --only, --json, --compare, "
                                 "--check, --write; `srp bench --help`)")
    lab = sub.add_parser("lab", parents=[common],
                         help="real peers behind real Linux NATs (root; docs/NATLAB.md)")
    lab.add_argument("lab_cmd", choices=("matrix", "verify", "clean"), nargs="?",
                     default="matrix")
    lab.add_argument("--runs", type=int, default=1,
                     help="runs of the matrix (default 1): rounds of fresh peers on one "
                          "topology, or whole runs with --fresh-lab")
    lab.add_argument("--timeout", type=float, default=15.0, help="seconds per run / round")
    lab.add_argument("--kinds", default="",
                     help="the peers under test, by NAT kind, e.g. static,easy,knock,hard "
                          "(default: the Static/Easy/Hard set)")
    lab.add_argument("--fresh-lab", action="store_true",
                     help="build and verify a new topology for every run (~15 s each)")
    lab.add_argument("--bind-own", action="store_true",
                     help="bind peers to their own address instead of 0.0.0.0")
    lab.add_argument("--together", action="store_true",
                     help="start every peer at once (default: public peers first)")
    lab.add_argument("--hold", type=float, default=0.0,
                     help="keep peers running this long (s) to see later reflection rounds")
    lab.add_argument("--events", action="store_true",
                     help="with --json: every peer's event lines too")
    lab.add_argument("--dump-slow", metavar="FILE", default=None,
                     help="statistics mode: append every peer's event lines of each slow "
                          "round (a pair off its path or > 2 s, a peer misclassified) to FILE")
    lab.add_argument("--trace-bdp", action="store_true",
                     help="statistics mode: peers log every BDP step (for --dump-slow)")
    sim = sub.add_parser("sim", parents=[common],
                         help="simulate a network of unmodified engines under virtual time "
                              "(docs/SIMULATION.md)")
    from srpfast.sim.report import add_arguments
    add_arguments(sim)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    args = _parser().parse_args(argv)
    _loop_policy()
    try:
        if args.cmd == "keygen":
            return cmd_keygen(args)
        if args.cmd == "info":
            return cmd_info(args)
        if args.cmd == "peer":
            return asyncio.run(_peer(args))
        if args.cmd == "lab":
            return cmd_lab(args)
        if args.cmd == "sim":
            return cmd_sim(args)
        from srpfast.demo import run_demo
        return asyncio.run(run_demo(args))
    except srpfast.SRPError as exc:  # a typed error says what to do: show it, no traceback
        print(f"srp {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
