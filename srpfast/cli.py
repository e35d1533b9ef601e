"""The `srp` command: keygen, peer, info, demo (issue 6), lab (issue 12)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

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
    from srpfast import _sha256
    out = {"peer_id": identity.peer_id.hex(), "version": srpfast.__version__,
           "sha256": _sha256.impl()}
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


async def _peer(args: argparse.Namespace) -> int:
    identity = srpfast.load_identity(args.key) if args.key else srpfast.create_identity()
    cluster_id = srpfast.create_cluster_id(args.cluster.encode())
    async with srpfast.network(identity=identity, cluster_id=cluster_id, host=args.host,
                               port=args.port, bootstrap=args.bootstrap,
                               peers_file=args.peers_file) as net:
        sub = await net.subcluster(shared_key=srpfast.create_shared_key(args.join.encode()))
        print(f"peer {identity.peer_id.hex()[:16]} on {net.address[0]}:{net.address[1]}, "
              f"subcluster {args.join!r}", flush=True)
        sub.on("line", lambda value, meta: print(f"<{meta.author.hex()[:8]}> {value}", flush=True))
        sub.on("#join", lambda peer: print(f"#join {peer.peer_id.hex()[:16]}", flush=True))
        net.on("#ready", lambda info: print(f"#ready {json.dumps(info, default=str)}", flush=True))
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            sub.emit("line", line.decode(errors="replace").rstrip("\n"))
        await asyncio.sleep(args.linger)
    return 0


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
    say = (lambda text: None) if args.json else (lambda text: print(text, flush=True))
    if args.lab_cmd == "verify":
        with topology.Lab() as lab:
            hosts = [lab.add(name, kind) for name, kind in runner.DEFAULT_PEERS]
            hosts.append(lab.add("o1", "open"))
            verdicts = [v.as_dict() for v in runner.verify_nats(lab, hosts)]
        if args.json:
            print(json.dumps(verdicts))
        else:
            for v in verdicts:
                print(f"{v['host']:<4} {v['kind']:<7} mapping {v['mapping']:<21} filtering "
                      f"{v['filtering']:<5} seen {v['seen'][0]} / {v['seen'][1]} "
                      f"{'knock remaps ' if v['knock_remaps'] else ''}{'ok' if v['ok'] else 'UNEXPECTED'}")
        return 0 if all(v["ok"] for v in verdicts) else 1
    results = []
    for i in range(args.runs):
        say(f"run {i + 1}/{args.runs}")
        results.append(runner.run_once(timeout=args.timeout, wildcard=not args.bind_own,
                                       say=say, events=args.events, hold=args.hold,
                                       staged=not args.together))
    if args.json:
        print(json.dumps({"runs": results, "matrix": runner.matrix(results)}))
    else:
        print(runner.format_matrix(results))
    return 0 if runner.summary_ok(results) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="srp", description="srpfast: Stream Relay Protocol peer")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen", help="create an identity key file (0600)")
    k.add_argument("path", nargs="?", default="srp.key")
    k.add_argument("--force", action="store_true")
    i = sub.add_parser("info", help="show an identity and build facts")
    i.add_argument("--key", default="srp.key")
    p = sub.add_parser("peer", help="run a peer; lines typed on stdin are published")
    p.add_argument("--key", default=None)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--cluster", default="srpfast")
    p.add_argument("--join", default="lobby", help="subcluster seed to join")
    p.add_argument("--peers-file", default=None, help="save/reload known peers here")
    p.add_argument("--linger", type=float, default=1.0)
    d = sub.add_parser("demo", help="a live local network of N peers on loopback")
    d.add_argument("--peers", type=int, default=12)
    d.add_argument("--messages", type=int, default=20)
    d.add_argument("--timeout", type=float, default=30.0)
    lab = sub.add_parser("lab", help="real peers behind real Linux NATs (root; docs/NATLAB.md)")
    lab.add_argument("lab_cmd", choices=("matrix", "verify", "clean"), nargs="?",
                     default="matrix")
    lab.add_argument("--runs", type=int, default=1)
    lab.add_argument("--timeout", type=float, default=30.0, help="seconds per run")
    lab.add_argument("--bind-own", action="store_true",
                     help="bind peers to their own address instead of 0.0.0.0")
    lab.add_argument("--together", action="store_true",
                     help="start every peer at once (default: public peers first)")
    lab.add_argument("--hold", type=float, default=0.0,
                     help="keep peers running this long (s) to see later reflection rounds")
    lab.add_argument("--events", action="store_true",
                     help="with --json: every peer's event lines too")
    lab.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="machine-readable output")
    args = ap.parse_args(argv)
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
        from srpfast.demo import run_demo
        return asyncio.run(run_demo(args))
    except srpfast.SRPError as exc:  # a typed error says what to do: show it, no traceback
        print(f"srp {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
