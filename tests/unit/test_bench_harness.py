"""The benchmark table's honesty rules (bench/harness.py, bench/table.py, bench/run.py): a
figure above its limit is flagged, targets are evaluated to PASS/MISS and --check fails on
them, rates run from the first send, --compare shows the change per row."""
from __future__ import annotations

import json
import sys
import types

import pytest

from bench import run as bench_run
from bench import table as tb
from bench.harness import Row, best_rates_interleaved, delivery_rate, evaluate, loss_of


def _group(*rows: Row) -> list[Row]:
    return list(rows)


def test_figure_above_its_limit_is_flagged_and_the_note_says_fix_the_limit() -> None:
    limit = Row("g", "ceiling", 100.0, role="limit")
    fine = Row("g", "close to it", 104.0)       # within timing slack
    above = Row("g", "beats it", 119.0, note="n")
    rows = _group(limit, fine, above)
    assert not evaluate(fine, rows).above_limit
    assert evaluate(above, rows).above_limit
    line = next(x for x in tb.table(rows) if "beats it" in x)
    assert "ABOVE LIMIT" in line and "LIMIT MUST BE FIXED" in line
    assert any("ABOVE LIMIT g / beats it" in p for p in tb.problems(rows))


def test_latency_below_its_floor_is_flagged() -> None:
    floor = Row("lat", "echo", 1.0, unit="ms", role="limit", lower_is_better=True)
    fast = Row("lat", "impossible", 0.5, unit="ms", lower_is_better=True)
    assert evaluate(fast, [floor, fast]).above_limit


def test_ratios_only_between_rows_of_one_unit() -> None:
    limit = Row("g", "ceiling", 100.0, role="limit")
    mem = Row("g", "memory", 1.0, unit="x bound")
    v = evaluate(mem, [limit, mem])
    assert v.x_limit is None and not v.above_limit


def test_targets_pass_and_miss() -> None:
    limit = Row("g", "ceiling", 100.0, role="limit")
    peer = Row("g", "python", 10.0, role="peer")
    ok = Row("g", "ok", 90.0, min_x_limit=0.8, min_x_peer=3, min_rate=50, loss=0.0,
             max_loss=0.0)
    slow = Row("g", "slow", 70.0, min_x_limit=0.8)
    lossy = Row("g", "lossy", 95.0, loss=0.2, max_loss=0.0)
    no_loss_measured = Row("g", "unknown loss", 95.0, max_loss=0.0)
    untargeted = Row("g", "plain", 95.0)
    rows = [limit, peer, ok, slow, lossy, no_loss_measured, untargeted]
    assert evaluate(ok, rows).status == "PASS"
    assert evaluate(slow, rows).status == "MISS"
    assert evaluate(lossy, rows).status == "MISS"
    assert evaluate(no_loss_measured, rows).status == "MISS"
    assert evaluate(untargeted, rows).status == ""
    # a target relative to a limit the group does not have is a MISS, not a silent pass
    alone = Row("other", "alone", 5.0, min_x_limit=0.8)
    assert evaluate(alone, [alone]).why == ["no limit in the group"]
    lat = Row("lat", "p99", 3.0, unit="ms", lower_is_better=True, max_rate=2.0)
    assert evaluate(lat, [lat]).status == "MISS"
    assert ok.target_text() == ">= 0.8x limit, >= 3x peer, >= 50.00 pkt/s, loss <= 0%"


def test_rate_runs_from_first_send_not_first_arrival() -> None:
    # 1000 delivered; the first send at t=0, the first arrival at 9 s, the last at 10 s:
    # first-to-last arrival would claim 1000/s, the honest figure is 100/s.
    assert delivery_rate(1000, 0.0, 10.0) == pytest.approx(100.0)
    assert delivery_rate(0, 0.0, None, timeout_at=5.0) == 0.0
    assert loss_of(800, 1000) == pytest.approx(0.2)
    assert loss_of(0, 0) == 0.0


def test_settings_default_and_shown() -> None:
    rows = [Row("g", "a", 1.0), Row("g", "b", 1.0, settings="order_wait=0")]
    lines = tb.table(rows)
    assert "| defaults |" in lines[2] and "| order_wait=0 |" in lines[3]


def test_compare_shows_change_per_row(tmp_path) -> None:
    old_rows = [Row("g", "a", 100.0), Row("lat", "p50", 2.0, unit="ms", lower_is_better=True)]
    path = tmp_path / "old.json"
    path.write_text(tb.to_json(old_rows, {"commit": "x"}))
    new_rows = [Row("g", "a", 110.0), Row("lat", "p50", 1.0, unit="ms", lower_is_better=True),
                Row("g", "b", 1.0)]
    lines = tb.table(new_rows, tb.load_compare(str(path)))
    assert "change" in lines[0]
    by_name = {line.split(" | ")[1]: line for line in lines[2:]}
    assert "+10.0%" in by_name["a"]          # faster
    assert "+50.0%" in by_name["p50"]        # latency halved: better is +
    assert "| new |" in by_name["b"]


def _fake_bench(monkeypatch, rows: list[Row]) -> None:
    mod = types.ModuleType("bench.bench_fake")
    mod.run = lambda quick: rows  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.bench_fake", mod)
    monkeypatch.setattr(bench_run, "MODULES", ["fake"])


def test_check_exits_nonzero_on_miss_and_json_carries_the_verdict(monkeypatch, tmp_path,
                                                                   capsys) -> None:
    _fake_bench(monkeypatch, [Row("g", "ceiling", 100.0, role="limit"),
                              Row("g", "slow", 10.0, min_x_limit=0.8)])
    out = tmp_path / "t.json"
    assert bench_run.main(["--quick", "--json", str(out)]) == 0
    assert bench_run.main(["--quick", "--check"]) == 1
    data = json.loads(out.read_text())
    slow = next(r for r in data["rows"] if r["name"] == "slow")
    assert slow["status"] == "MISS" and slow["x_limit"] == pytest.approx(0.1)
    assert data["machine"]["cores"] and "cpu" in data["machine"]


def test_check_passes_a_clean_table(monkeypatch) -> None:
    _fake_bench(monkeypatch, [Row("g", "ceiling", 100.0, role="limit"),
                              Row("g", "fast", 90.0, min_x_limit=0.8)])
    assert bench_run.main(["--quick", "--check"]) == 0


def test_srp_bench_hands_its_options_to_the_harness(monkeypatch, capsys) -> None:
    from srpfast import cli
    _fake_bench(monkeypatch, [Row("g", "ceiling", 100.0, role="limit"),
                              Row("g", "slow", 10.0, min_x_limit=0.8)])
    assert cli.main(["bench", "--quick", "--only", "fake"]) == 0
    assert "| g | slow |" in capsys.readouterr().out
    assert cli.main(["bench", "--quick", "--check"]) == 1


def test_interleaved_rates_take_their_timed_runs_in_turns() -> None:
    # A figure and its limit get the same chances on a machine whose speed drifts: their
    # timed runs alternate (after one warm-up call each), so neither sees only one phase.
    order: list[str] = []

    def a() -> None:
        order.append("a")

    def b() -> None:
        order.append("b")
    rates = best_rates_interleaved([(a, 3), (b, 5)], min_time=0.0, repeat=3)
    assert order == ["a", "b"] + ["a", "b"] * 3
    assert all(r > 0 for r in rates)
