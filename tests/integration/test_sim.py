"""The simulator (srpfast/sim, `srp sim`): unmodified engines under virtual time, one seed per
run. CI-sized (small N, fixed seeds): the regression gate of `make test`, as iroh-gossip's,
with bounds on what must never regress (docs/SIMULATION.md "The CI gate")."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from srpfast.sim.churn import run
from srpfast.sim.scenario import Scenario, ScenarioError, load, names

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATE = Scenario(name="gate", peers=24, duration=40.0, seed=3)


def test_churn_gate_reaches_every_subscriber_and_repeats_bit_for_bit() -> None:
    first, second = run(GATE), run(GATE)
    assert first == second  # one seed makes a run
    assert first.messages == 20 and first.churn_events > 10
    assert first.stable_missed == 0            # online the whole run: never misses one
    assert first.reach_eventual == 1.0         # everyone online at publish time gets it
    assert first.reach_at_window >= 0.95
    # Regression bounds, not targets (measured 1.0-1.1 and ~1.4 KB at this size): PUBLISH
    # copies only, as Plumtree counts them.
    assert 0 <= first.rmr < 2.0
    assert first.publish_bytes_per_peer < 2500
    assert first.last_hop_max <= 16 and first.delivery_prob == first.reach_eventual


def test_policies_show_their_cost_and_benefit() -> None:
    small = GATE.replace(duration=20.0)
    got = {p: run(small.replace(policy=p)) for p in ("weighted", "flood", "spray")}
    for res in got.values():
        assert res.stable_missed == 0 and res.reach_eventual == 1.0
    # Flooding sends each frame to every peer: the most copies, the least latency.
    assert got["flood"].rmr > got["weighted"].rmr > got["spray"].rmr
    assert got["flood"].relay_load_max > small.replace().peers / 2
    assert got["flood"].latency_p95 <= got["weighted"].latency_p95
    # Spray-and-wait: at most 14 PUBLISH copies per message; the rest is pulled (ANSWERs).
    assert got["spray"].publish_bytes_per_peer * small.peers <= 14 * 1158
    assert got["spray"].data_bytes_per_peer > got["spray"].publish_bytes_per_peer


def test_partition_heals_and_every_message_crosses() -> None:
    sc = load("partition-heal", peers=10, duration=420.0, publish_every=60.0,
              partition_at=30.0, partition_for=300.0, tail=120.0)
    res = run(sc)
    assert res.events_dropped > 0              # the cut was real
    assert res.reach_at_window < 0.9           # the far half waited for the heal ...
    assert res.reach_eventual == 1.0 and res.stable_missed == 0  # ... and got everything
    assert 0 < res.heal_delivery < 120


def test_offline_recipient_gets_what_it_missed() -> None:
    sc = load("offline-recipient", peers=8, duration=660.0, publish_every=60.0,
              offline_at=20.0, offline_for=600.0, tail=60.0)
    res = run(sc)
    assert res.reach_eventual == 1.0
    assert res.latency_max > 500               # published while it was away
    assert 0 < res.heal_delivery < 60


def test_nat_matrix_matches_the_lab() -> None:
    from srpfast.sim.natmatrix import matrix
    rows = matrix(load("nat-matrix"), seeds=1)
    assert len(rows) == 6
    assert all(r["match"] for r in rows), rows


def test_scenarios_load_and_bad_ones_say_why(tmp_path: object) -> None:
    assert {"seed-chart", "readme-churn", "partition-heal", "offline-recipient", "nat-matrix",
            "scale-10k"} <= set(names())
    for name in names():
        assert load(name).name == name
    assert load("seed-chart", peers=40).peers == 40
    with pytest.raises(ScenarioError, match="no scenario"):
        load("no-such-scenario")
    with pytest.raises(ScenarioError, match="unknown scenario keys: fanot"):
        load("seed-chart", fanot=3)
    with pytest.raises(ScenarioError, match="policy"):
        Scenario(policy="gossip")


def test_sweep_on_local_dask_cluster_equals_local_processes() -> None:
    distributed = pytest.importorskip("distributed")  # `make test` installs it
    from srpfast.sim import sweep
    base = Scenario(name="sweep", peers=10, duration=6.0, seed=5)
    specs = sweep.specs(base, seeds=2, policies=("weighted", "spray"))
    local = sweep.run_all(specs, jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        remote = sweep.run_all(specs, executor=address)
    assert len(local) == 4
    assert sweep.fingerprint(local) == sweep.fingerprint(remote)
    rows = sweep.aggregate(local)
    assert [r["policy"] for r in rows] == ["weighted", "spray"] and rows[0]["runs"] == 2


def _srp(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "srpfast.cli", "sim", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_srp_sim_prints_json() -> None:
    done = _srp("--peers", "12", "--duration", "10", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["messages"] == 5 and 0 <= out["reach_eventual"] <= 1


def test_srp_sim_table_and_chart(tmp_path: object) -> None:
    pytest.importorskip("matplotlib")  # `make test` installs it (srpfast[sim])
    png = os.path.join(str(tmp_path), "chart.png")
    done = _srp("seed-chart", "--peers", "16", "--duration", "20", "--seed", "2",
                "--plot", png)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "weighted" in lines[1] and "flood" in lines[1] and "spray" in lines[1]
    assert any(line.startswith("RMR (PUBLISH copies") for line in lines)
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 20_000
