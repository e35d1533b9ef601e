"""NAT traversal on real kernel NATs (issue 12; docs/NATLAB.md): per pairing, the time from
the moment both peers were introduced until they are connected by the path PROTOCOL.md §5
names, over many introductions of fresh peers on one lab topology (srpfast/lab/rounds.py).

Loss is the share of introductions that did not reach that path with a PUBLISH and a direct
stream both ways within the round. Beside the figures, what the seed and the reference claim
(not measured here: no such implementation runs in this lab): the seed "97% within 1000
probes", "under a second"; the reference "1024 probes at once", ~98%.

Needs root, network namespaces and nftables: otherwise one row says "skipped: needs root".
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import Row, main  # noqa: E402
from srpfast.errors import LabError  # noqa: E402

GROUP = "NAT traversal: time to connect from introduction, real Linux NATs (lab)"
CLAIMS = ("seed: 97% within 1000 probes, 'under a second'; reference: 1024 probes at once, "
          "~98% (claims, not measured here)")
NAMES = {"SS": "Static<->Static", "SE": "Static<->Easy", "SH": "Static<->Hard",
         "EE": "Easy<->Easy (hole punch)", "EH": "Easy<->Hard (BDP)",
         "HH": "Hard<->Hard (relay)"}


def run(quick: bool) -> list[Row]:
    from srpfast.lab import rounds, stats, topology
    try:
        topology.require_root()
    except LabError as exc:
        return [Row(GROUP, "skipped: needs root", 0.0, unit="s", lower_is_better=True,
                    note=f"skipped: needs root + network namespaces + nftables ({exc})")]
    n = 3 if quick else 25  # 4 Easy<->Hard pairs per round: 100 over 25 rounds
    res = rounds.run_rounds(n, timeout=15.0)["rounds"]
    rows = []
    for key, c in stats.pairing_stats(res).items():
        name = NAMES.get(key, key)
        note = (f"{c['ok']}/{c['pairs']} connected by {c['expected']}; p95 "
                f"{c['p95'] if c['p95'] is not None else '-'} s, max "
                f"{c['max'] if c['max'] is not None else '-'} s; paths "
                + ", ".join(f"{k} {v}" for k, v in sorted(c["paths"].items())))
        if key == "EH":
            note += (f"; BDP spent per pair p50 {c['datagrams_p50']} datagrams, "
                     f"{c['bytes_p50']:,} B (max {c['bytes_max']:,} B); {CLAIMS}")
        settings = f"defaults; {n} rounds of fresh peers on one topology, 15 s per round"
        for q in ("p50", "p95"):
            if c[q] is None:
                continue
            rows.append(Row(GROUP, f"srpfast {name} {q}", float(c[q]), unit="s",
                            lower_is_better=True, loss=1 - c["success"], settings=settings,
                            note=note if q == "p50" else "",
                            max_rate={"EH": {"p50": 1.0, "p95": 3.0}[q]}.get(key) if key == "EH"
                            else 1.0 if key == "HH" and q == "p50" else None,
                            max_loss=0.01 if key == "EH" else None,
                            extra={"pairs": c["pairs"], "ok": c["ok"]}))
    return rows


if __name__ == "__main__":
    main(run)
