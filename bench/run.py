#!/usr/bin/env python3
"""`make bench` / `srp bench`: run every bench/bench_*.py and print one table in which every
figure stands beside its group's limit and peer, measured in the same run, with its loss,
settings and target verdict (bench/harness.py states the rules).

    bench/run.py [--quick] [--only frame,e2e] [--write docs/BENCHMARKS.md]
                 [--json out.json] [--compare old.json] [--check]

--check exits 1 when a target is MISSed or a figure is above its limit.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import table as tb  # noqa: E402
from bench.harness import Row  # noqa: E402

# order of the table: what users get end to end first, then the parts
MODULES = ["e2e", "frame", "cache", "crypto", "dataplane", "engine", "udp", "relay", "network",
           "latency", "flood", "nat", "sim"]

INTRO = (
    "Produced by `make bench` (bench/run.py); bench/harness.py states the rules the table "
    "enforces. Every figure stands beside its group's limit (the ceiling for that work, "
    "measured in the same run on the same machine) and peer (the baseline to beat); a figure "
    "above its limit is flagged ABOVE LIMIT, which means the limit is wrong, not that the "
    "figure is good. Delivery rates count delivered messages from the first send to the last "
    "delivery, and loss is its own column. `settings` lists every non-default Config value or "
    "other knob a row used. `check` evaluates the row's target (PASS/MISS); "
    "`bench/run.py --check` fails on any MISS or ABOVE LIMIT. `x limit` / `x peer` are plain "
    "ratios: for rows where lower is better (ms, x bound) a ratio above 1 means slower. "
    "Micro-benchmarks are best-of-N "
    "timed runs; the machine is shared, so figures that need a second process share its "
    "cores with it.")

RUNNING = """How to run it:

- `make bench`: this table, written here (installs pyzmq into .venv for the end-to-end peers);
  `make bench BENCH_ARGS="--json new.json --compare old.json --check"` passes options on.
- `srp bench --quick --only e2e` (or `bench/run.py ...`): print a subset, short runs.
- `--json FILE` writes every row with its verdict; `--compare OLD.json` adds a change column
  (+ is better, whichever way the unit counts); `--check` exits 1 on a MISS or ABOVE LIMIT.
- `make bench-micro` (`pytest bench/ --benchmark-storage=bench/baselines --benchmark-compare`):
  the micro-benchmarks under pytest-benchmark against the committed baseline (not collected
  by `make test`); `MICRO_ARGS="--benchmark-save=NAME"` saves a new one.

The end-to-end groups run one publisher and one subscriber PROCESS on loopback with default
settings (bench/bench_e2e.py): a fixed message count sent as fast as the API allows (the
srpfast publishers await `drain()`, its flow control), rates from the first send, loss = never
delivered; latency at 200 msg/s; a slow subscriber (a handler that blocks 50 us per value)
against a fast publisher. Their peer is pyzmq PUB/SUB with CURVE (encrypted like every srpfast
message); plain pyzmq over TCP stands beside it. Each note gives the CPU time per message of
both processes: on a shared machine the wall-clock rates move with the load, the CPU per
message much less, and it is where the gap to pyzmq comes from: per frame srpfast computes a
synthetic nonce (HMAC-SHA256), seals (XChaCha20-Poly1305), hashes the packetId (SHA-256) and
caches the frame, and per message it hashes a Merkle leaf, where CURVE encrypts a message once
(PROTOCOL.md §4). Values published together are packed, ~14 of 1 KB in a message of 15 frames
(PROTOCOL.md "Application events"), so a 1 KB value costs ~1.1 frames; a lone value (the
latency rows) costs 2 frames and an Ed25519 signature (23 us here) and verification (73 us,
libsodium 1.0.18): of a lone value's ~0.45 ms one way, measured in one process (session 8),
the subscriber's data-plane call takes ~115 us (the verification included) and its Python
delivery ~35 us; CURVE's whole one-way p50 is ~0.2 ms.

The NAT traversal group (bench/bench_nat.py, docs/NATLAB.md) runs real srpfast processes
behind real Linux NATs in network namespaces (needs root and nftables; otherwise one row says
"skipped: needs root"): 25 rounds of fresh peers on one verified topology, 100 Easy<->Hard
introductions; the time from the moment both peers were introduced until they are connected
on the path PROTOCOL.md §5 names; loss = introductions that did not get there. Beside it,
what the seed and the reference claim (not measured here): the seed "97% within 1000
probes", "under a second"; the reference "1024 probes at once", ~98%.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run.py")
    ap.add_argument("--quick", action="store_true", help="short runs (development)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(MODULES)}")
    ap.add_argument("--write", default="", help="write the table as markdown (docs)")
    ap.add_argument("--json", default="", help="write the table as JSON")
    ap.add_argument("--compare", default="", help="an earlier --json file: show the change")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 on any MISS or figure above its limit")
    args = ap.parse_args(argv)
    wanted = [m for m in (args.only.split(",") if args.only else MODULES) if m]
    unknown = [m for m in wanted if m not in MODULES]
    if unknown:
        ap.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    old = tb.load_compare(args.compare) if args.compare else None
    rows: list[Row] = []
    failed = []
    t0 = time.time()
    load0 = os.getloadavg()  # the machine is shared: how busy it was is part of the result
    for name in wanted:
        print(f"running bench_{name} ...", file=sys.stderr, flush=True)
        try:
            mod = importlib.import_module(f"bench.bench_{name}")
            got = mod.run(args.quick)
        except Exception:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(got)
        print("\n".join(tb.table(got, old)[2:]), flush=True)
    text = "\n".join(tb.table(rows, old))
    print("\n" + text)
    facts = {"machine": tb.machine(), "commit": tb.commit(ROOT),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "duration_s": round(time.time() - t0), "quick": args.quick, "failed": failed,
             "load_start": [round(x, 2) for x in load0],
             "load_end": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        with open(args.json, "w") as f:
            f.write(tb.to_json(rows, facts) + "\n")
    problems = tb.problems(rows)
    if args.write:
        with open(os.path.join(ROOT, args.write), "w") as f:
            f.write("# Benchmarks\n\n" + INTRO + "\n\n" + RUNNING + "\n"
                    f"- machine: {tb.machine_line(facts['machine'])}\n"
                    f"- commit: {facts['commit']}\n- date: {facts['date']}\n"
                    f"- load average (1, 5, 15 min; {os.cpu_count()} cores shared with other "
                    f"users): {', '.join(map(str, facts['load_start']))} at the start, "
                    f"{', '.join(map(str, facts['load_end']))} at the end\n"
                    f"- duration: {facts['duration_s']} s"
                    + (" (--quick)" if args.quick else "") + "\n\n" + text + "\n")
            if problems:
                f.write("\nWhat `--check` reports for this run:\n\n"
                        + "".join(f"- {p}\n" for p in problems))
            if failed:
                f.write(f"\nBenches that failed in this run: {', '.join(failed)}\n")
    if problems:
        print("\n" + "\n".join(problems), file=sys.stderr)
    if failed:
        return 1
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
