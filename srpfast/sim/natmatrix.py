"""The NAT lab's pairings under simulation (scenario ``nat-matrix``): the path each pair of
Static/Easy/Hard peers ends on, beside the path the real lab measured (docs/NATLAB.md).

Per pairing and seed: two public bootstrap peers (the lab's s1, s2: reflection needs two),
then the pair, which joins one subcluster and is introduced through them, as in the lab. The
path is classified with the lab's own rule (srpfast/lab/runner.py ``_pair_result``): ``bdp``
if either side keeps a pool socket for the other, ``direct`` if both hold each other in their
tables, ``relay`` if either has a relay route, else ``none``.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from srpfast.sim.churn import CLUSTER, KEY, engine_config
from srpfast.sim.memnet import MemNet, Node
from srpfast.sim.scenario import Scenario

KINDS = ("static", "easy", "hard")
# The real lab's paths (docs/NATLAB.md, the latest statistics: routers with a home router's
# filter, so a knocking packet leaves no conntrack entry): Static pairs direct, Easy<->Easy a
# direct punch, Easy<->Hard the BDP spray (397 of 400), Hard<->Hard relay.
LAB_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("static", "static"): ("direct",), ("static", "easy"): ("direct",),
    ("static", "hard"): ("direct",), ("easy", "easy"): ("direct",),
    ("easy", "hard"): ("bdp",), ("hard", "hard"): ("relay",),
}


def path_of(x: Node, y: Node) -> str:
    a, b = x.peer, y.peer
    ea, eb = a.table.get(b.peer_id), b.table.get(a.peer_id)
    if (ea is not None and ea.pool is not None) or (eb is not None and eb.pool is not None):
        return "bdp"
    if ea is not None and eb is not None:
        return "direct"
    if a.traversal.route(b.peer_id) is not None or b.traversal.route(a.peer_id) is not None:
        return "relay"
    return "none"


def introduce_pair(net: MemNet, kinds: tuple[str, str], cluster: bytes = CLUSTER,
                   key: bytes = KEY) -> tuple[Node, Node]:
    """The lab's topology on ``net``: two public seeds, then a pair of ``kinds`` that both
    bootstrap from them, classify (35 s of reflection: the lab starts the pair after its
    publics) and join one subcluster with the first seed, which introduces them."""
    s1, s2 = net.add("static"), net.add("static")
    x, y = net.add(kinds[0]), net.add(kinds[1])
    for n in (s2, x, y):
        net.call(n, n.peer.add_peer, s1.public, net.now)
    for n in (x, y):
        net.call(n, n.peer.add_peer, s2.public, net.now)
    net.run(35)
    for n in (s1, x, y):
        net.call(n, n.peer.join, cluster, key, now=net.now)
    return x, y


def pair_path(kinds: tuple[str, str], seed: int, duration: float, sc: Scenario) -> str:
    net = MemNet(seed=seed, delay=sc.delay, loss=sc.loss, config=engine_config(sc),
                 conntrack=sc.conntrack)  # False: the lab's filtered routers (no knock)
    net.keep_events = False
    x, y = introduce_pair(net, kinds)
    net.run(duration)
    return path_of(x, y)


def matrix(sc: Scenario, seeds: int = 1) -> list[dict[str, Any]]:
    rows = []
    for i, a in enumerate(KINDS):
        for b in KINDS[i:]:
            paths = [pair_path((a, b), sc.seed + s, sc.duration, sc) for s in range(seeds)]
            lab = LAB_PATHS[(a, b)]
            rows.append({"pair": f"{a[0].upper()}-{b[0].upper()}", "sim": paths,
                         "lab": list(lab), "match": all(p in lab for p in paths)})
    return rows


def main(sc: Scenario, args: argparse.Namespace) -> int:
    rows = matrix(sc, max(1, args.seeds))
    if args.json:
        print(json.dumps({"scenario": sc.to_dict(), "pairs": rows}))
    else:
        print(f"{sc.name}: path per pairing after {sc.duration:g} virtual s, seeds "
              f"{sc.seed}..{sc.seed + max(1, args.seeds) - 1}; the lab: docs/NATLAB.md")
        print(f"{'pair':<6}{'simulated':<28}{'real lab':<16}match")
        for r in rows:
            print(f"{r['pair']:<6}{', '.join(r['sim']):<28}{' or '.join(r['lab']):<16}"
                  f"{'yes' if r['match'] else 'NO'}")
    return 0 if all(r["match"] for r in rows) else 1
