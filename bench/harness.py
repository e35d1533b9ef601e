"""Shared measuring helpers and the honesty rules of the benchmark table (bench/run.py).

Each bench module exposes ``run(quick: bool) -> list[Row]``. Within a ``group`` at most one
row has ``role="limit"`` (the ceiling for that work, measured in the same run, e.g. the C
SHA-256 loop) and at most one ``role="peer"`` (the baseline to beat, e.g. pure Python).

The rules, enforced here rather than left to each bench (issue 17: a table that hid lifted
limits, single-frame payloads and loss):

- A limit is a ceiling: a figure above its group's limit (beyond ``LIMIT_SLACK`` of timing
  noise) is flagged, and the note says the limit must be fixed. Ratios are only computed
  between rows of the same unit.
- A limit is the ceiling of the SAME work in the SAME environment: where a path does several
  parts (a subscriber receives, stores, opens, verifies), the limit is composed from the
  fastest loop for each part, measured in the same run, as time per item = the sum of the
  parts' times, and the row's note lists the parts (bench_network.py); where the parts'
  environment matters (a relay's sends wake its sinks' reader), the limit runs the bare work
  in that environment, with the same sender and sinks (bench_relay.py). A limit that covers
  only part of the work (SHA-256 alone for the data plane, the GSO send loop for a relay),
  that sends to a sink nobody reads, or that a sender, not the receiver, bound is no ceiling:
  those were replaced.
- A receiver is never measured as the victim of its own buffer's overflow: senders are
  paced by the receiver's queue or flow-controlled by what arrived (bench/blast.py).
- Delivery rates count delivered messages over the time from the FIRST SEND to the last
  delivery (``delivery_rate``); loss is its own column, so a lossy run can never look fast.
- Every non-default Config setting or other knob a row uses is in ``settings``; rows with
  none say "defaults".
- Targets are machine-readable (``min_x_limit``, ``min_x_peer``, ``min_rate``,
  ``max_rate``, ``max_loss``, ``max_x_peer``) and evaluated to PASS/MISS (``evaluate``); a row that counted
  engine exceptions (``errors``: drop.internal) is a MISS whatever its figure.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

# Best-of timing on 2 shared cores scatters a few percent: a figure up to 5% above its limit
# is noise, beyond that the limit is not the ceiling for that work.
LIMIT_SLACK = 1.05
DEFAULTS = "defaults"


@dataclass
class Row:
    group: str            # e.g. "frame codec"
    name: str             # e.g. "srpfast batch decode+validate+id"
    rate: float           # the figure: items per second unless ``lower_is_better`` (ms, ...)
    unit: str = "pkt/s"
    role: str = ""        # "limit", "peer", or "" (an srpfast figure)
    note: str = ""
    settings: str = DEFAULTS  # every non-default Config value / knob this row used
    loss: float | None = None  # fraction of what was sent that never arrived (0..1)
    lower_is_better: bool = False  # latencies, memory: smaller figures are better
    # Machine-readable targets; None = no such target. x limit / x peer compare ``rate``.
    min_x_limit: float | None = None
    min_x_peer: float | None = None
    max_x_peer: float | None = None  # (latencies: at most this many times the peer's)
    min_rate: float | None = None
    max_rate: float | None = None
    max_loss: float | None = None
    # Exceptions counted inside the engines during the run (drop.internal, summed over the
    # processes); None = not measured. Any is a MISS: a bug, whatever the figure.
    errors: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # raw counts for the JSON (not in the table)

    def target_text(self) -> str:
        parts = []
        if self.min_x_limit is not None:
            parts.append(f">= {self.min_x_limit:g}x limit")
        if self.min_x_peer is not None:
            parts.append(f">= {self.min_x_peer:g}x peer")
        if self.max_x_peer is not None:
            parts.append(f"<= {self.max_x_peer:g}x peer")
        if self.min_rate is not None:
            parts.append(f">= {fmt_value(self.min_rate, self.unit)}")
        if self.max_rate is not None:
            parts.append(f"<= {fmt_value(self.max_rate, self.unit)}")
        if self.max_loss is not None:
            parts.append(f"loss <= {100 * self.max_loss:g}%")
        if self.errors is not None:
            parts.append("drop.internal = 0")
        return ", ".join(parts)


@dataclass
class Verdict:
    """What the table shows for one row beside its figure."""
    x_limit: float | None
    x_peer: float | None
    above_limit: bool     # the figure beats its ceiling: the limit is wrong
    status: str           # "PASS", "MISS" or "" (no target)
    why: list[str]        # the failed parts of the target


def fmt_value(v: float, unit: str) -> str:
    if v >= 1e6:
        return f"{v / 1e6:,.2f} M {unit}"
    if v >= 1e3:
        return f"{v / 1e3:,.1f} k {unit}"
    return f"{v:,.2f} {unit}"


def evaluate(row: Row, group_rows: list[Row]) -> Verdict:
    """Ratios to the group's limit and peer (same unit only), the above-limit flag and the
    PASS/MISS of the row's target."""
    limit = next((r for r in group_rows if r.role == "limit" and r.unit == row.unit), None)
    peer = next((r for r in group_rows if r.role == "peer" and r.unit == row.unit), None)
    xl = row.rate / limit.rate if limit is not None and limit.rate > 0 else None
    xp = row.rate / peer.rate if peer is not None and peer.rate > 0 else None
    above = False
    if xl is not None and row.role != "limit":
        above = xl < 1 / LIMIT_SLACK if row.lower_is_better else xl > LIMIT_SLACK
    why = []
    if row.min_x_limit is not None:
        if xl is None:
            why.append("no limit in the group")
        elif xl < row.min_x_limit:
            why.append(f"{xl:.2f}x < {row.min_x_limit:g}x limit")
    if row.min_x_peer is not None:
        if xp is None:
            why.append("no peer in the group")
        elif xp < row.min_x_peer:
            why.append(f"{xp:.2f}x < {row.min_x_peer:g}x peer")
    if row.max_x_peer is not None:
        if xp is None:
            why.append("no peer in the group")
        elif xp > row.max_x_peer:
            why.append(f"{xp:.2f}x > {row.max_x_peer:g}x peer")
    if row.min_rate is not None and row.rate < row.min_rate:
        why.append(f"{fmt_value(row.rate, row.unit)} < {fmt_value(row.min_rate, row.unit)}")
    if row.max_rate is not None and row.rate > row.max_rate:
        why.append(f"{fmt_value(row.rate, row.unit)} > {fmt_value(row.max_rate, row.unit)}")
    if row.max_loss is not None:
        if row.loss is None:
            why.append("loss not measured")
        elif row.loss > row.max_loss + 1e-9:  # (1 - 99/100 is 0.01000...09: 1 in 100 is 1%)
            why.append(f"loss {100 * row.loss:.2f}% > {100 * row.max_loss:g}%")
    if row.errors:
        why.append(f"drop.internal {row.errors:,} > 0")
    status = "" if not row.target_text() else ("MISS" if why else "PASS")
    return Verdict(xl, xp, above, status, why)


def delivery_rate(delivered: int, first_send: float, last_delivery: float | None,
                  timeout_at: float | None = None) -> float:
    """Delivered messages per second from the FIRST SEND to the last delivery (or to the
    timeout when nothing was delivered). Never first-to-last arrival: that window shrinks
    with loss and would let a lossy run look fast."""
    if delivered <= 0:
        return 0.0
    end = last_delivery if last_delivery is not None else timeout_at
    if end is None:
        raise ValueError("a delivery rate needs the last delivery or the timeout")
    return delivered / max(end - first_send, 1e-9)


def loss_of(delivered: int, sent: int) -> float:
    """Fraction of ``sent`` never delivered (0 when nothing was sent)."""
    return max(0.0, 1.0 - delivered / sent) if sent > 0 else 0.0


def row_dict(row: Row, group_rows: list[Row]) -> dict[str, Any]:
    """One row for ``--json``: its fields plus the computed verdict."""
    v = evaluate(row, group_rows)
    d = asdict(row)
    d.update(target=row.target_text(), x_limit=v.x_limit, x_peer=v.x_peer,
             above_limit=v.above_limit, status=v.status, why=v.why)
    return d


def best_rate(fn: Callable[[], object], items_per_call: int, *, min_time: float = 0.2,
              repeat: int = 5) -> float:
    """Items/s of ``fn`` (each call handles ``items_per_call`` items): best of ``repeat`` timed
    runs of at least ``min_time`` seconds each (best-of filters scheduler noise on 2 cores)."""
    return best_rates_interleaved([(fn, items_per_call)], min_time=min_time, repeat=repeat)[0]


def best_rates_interleaved(fns: list[tuple[Callable[[], object], int]], *,
                           min_time: float = 0.2, repeat: int = 5) -> list[float]:
    """best_rate of each (fn, items_per_call), their timed runs taken in turn (one of each,
    ``repeat`` times): a figure and its limit then get the same chances on a machine whose
    speed drifts. Measured one after the other, or the limit again after the figures
    (refresh_limit), the limit's runs spanned more of the drift than the figure's: on session
    20's VM the data-plane relay read 0.83-0.91x its limit measured alone and 0.78x in the full
    table, the limit itself ranging 1.26-1.83 M/s between runs of the same code."""
    for fn, _ in fns:
        fn()  # warm up (page faults, lazy init)
    best = [0.0] * len(fns)
    for _ in range(repeat):
        for k, (fn, items_per_call) in enumerate(fns):
            calls = 0
            t0 = time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time:
                    break
            best[k] = max(best[k], calls * items_per_call / elapsed)
    return best


def refresh_limit(row: Row, measure: Callable[[], float]) -> None:
    """Measure a limit again after its group's figures and keep the better: on a shared
    machine a ceiling measured once, while another program ran, can fall below the figures
    measured after it, and a ceiling is the best that work was seen to do."""
    row.rate = max(row.rate, measure())
    row.note = (row.note + "; " if row.note else "") + "best of runs before and after the figures"


def quick_params(quick: bool) -> dict[str, Any]:
    """Shorter timing for `make test`-style smoke runs of the benches."""
    return {"min_time": 0.05, "repeat": 2} if quick else {"min_time": 0.25, "repeat": 5}


def main(run: Callable[[bool], list[Row]]) -> None:
    """``python bench/bench_x.py [--quick]``: run one module and print its table (bench/run.py
    makes the full table)."""
    import sys

    from bench.table import table
    print("\n".join(table(run("--quick" in sys.argv))))
