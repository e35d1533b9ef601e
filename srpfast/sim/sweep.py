"""Many runs: a scenario over seeds, policies and parameter grids, on local processes
(``jobs``) or a Dask distributed cluster (``executor="dask://host:port"``, the optional extra
``srpfast[dask]``; every worker needs srpfast importable).

A run is a pure function of its scenario (seed included), so where it runs changes nothing:
the same specs give the same results, bit for bit, with 1 process, N processes or Dask.
Results come back in spec order whatever order they finish in.
"""
from __future__ import annotations

import itertools
import json
import math
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable

from srpfast.errors import ArgumentError
from srpfast.sim.scenario import Scenario, from_dict


def specs(base: Scenario, *, seeds: int = 1, policies: Iterable[str] = (),
          grid: dict[str, list[Any]] | None = None) -> list[dict[str, Any]]:
    """Every run of a sweep as a plain dict (what crosses to a worker): the grid's product,
    then each policy, then seeds base.seed, base.seed + 1, ..."""
    pols = list(policies) or [base.policy]
    grid = grid or {}
    keys = sorted(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = base.replace(**dict(zip(keys, values)))
        for pol in pols:
            for s in range(seeds):
                out.append(point.replace(policy=pol, seed=base.seed + s).to_dict())
    return out


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """One run (in whatever process or worker): its Result as plain data."""
    from srpfast.sim.churn import run
    res = run(from_dict(spec))
    return dict(res.__dict__)


def run_all(all_specs: list[dict[str, Any]], *, jobs: int = 1, executor: str | None = None,
            done: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run every spec; results in spec order. ``done(finished, total)`` after each."""
    total = len(all_specs)
    results: list[dict[str, Any] | None] = [None] * total
    finished = 0
    if executor:
        if not executor.startswith("dask://"):
            raise ArgumentError(f"executor {executor!r}: only dask://host:port is known")
        try:
            from distributed import Client, as_completed as dask_completed
        except ImportError:
            raise ArgumentError("--executor dask:// needs Dask: pip install "
                                "'srpfast[dask]'") from None
        address = "tcp://" + executor[len("dask://"):]
        with Client(address) as client:  # type: ignore[no-untyped-call]
            futures = client.map(run_spec, all_specs, pure=False)
            where = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):  # type: ignore[no-untyped-call]
                results[where[fut.key]] = fut.result()
                finished += 1
                if done is not None:
                    done(finished, total)
    elif jobs <= 1:
        for i, spec in enumerate(all_specs):
            results[i] = run_spec(spec)
            if done is not None:
                done(i + 1, total)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = {pool.submit(run_spec, spec): i for i, spec in enumerate(all_specs)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                finished += 1
                if done is not None:
                    done(finished, total)
    return [r for r in results if r is not None]


def fingerprint(results: list[dict[str, Any]]) -> str:
    """The results as canonical JSON (NaN included): equal strings, equal runs."""
    return json.dumps(results, sort_keys=True, default=list)


def aggregate(results: list[dict[str, Any]], grid_keys: Iterable[str] = ()
              ) -> list[dict[str, Any]]:
    """Means over seeds per (grid point, policy): every numeric summary field, plus
    ``runs``, and the min of reach at the window (the worst seed)."""
    keys = list(grid_keys)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        sc = r["scenario"]
        groups.setdefault(tuple(sc[k] for k in keys) + (r["policy"],), []).append(r)
    rows = []
    for key, runs in groups.items():
        row: dict[str, Any] = dict(zip(keys, key[:-1]))
        row["policy"] = key[-1]
        row["runs"] = len(runs)
        row["seeds"] = [r["scenario"]["seed"] for r in runs]
        for field, value in runs[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                vals = [r[field] for r in runs if not math.isnan(r[field])]
                row[field] = statistics.fmean(vals) if vals else float("nan")
        row["reach_at_window_min"] = min(r["reach_at_window"] for r in runs)
        row["stable_missed"] = sum(r["stable_missed"] for r in runs)
        rows.append(row)
    return rows
