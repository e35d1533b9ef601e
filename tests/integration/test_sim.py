"""The churn simulator (srpfast/sim/churn.py, `srp sim`): unmodified engines under churn,
one seed per run. CI-sized: small N, fixed seeds, bounds on what must never regress."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from srpfast.sim.churn import Scenario, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_churn_reaches_every_subscriber_and_repeats_bit_for_bit() -> None:
    sc = Scenario(peers=24, duration=40.0, seed=3)
    first, second = run(sc), run(sc)
    assert first == second  # one seed makes a run
    assert first.messages == 20 and first.churn_events > 10
    assert first.stable_missed == 0            # online the whole run: never misses one
    assert first.reach_eventual == 1.0         # everyone online at publish time gets it
    assert first.reach_at_window >= 0.9
    assert first.rmr < 10                      # (a regression bound, not a target)


def test_srp_sim_prints_json() -> None:
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "srpfast.cli", "sim", "--peers", "12",
                           "--duration", "10", "--json"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["messages"] == 5 and 0 <= out["reach_eventual"] <= 1
