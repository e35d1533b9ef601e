"""The NAT lab's pure parts (no root needed): what it says when it cannot run, the nftables
rules per NAT kind, and the matrix arithmetic. The lab itself: tests/lab (root)."""
from __future__ import annotations

import pytest

from srpfast.errors import LabError, SRPError
from srpfast.lab import runner, topology


def test_without_root_the_lab_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root") as info:
        topology.require_root()
    assert isinstance(info.value, SRPError)  # one error hierarchy


def test_without_nft_the_lab_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology.os, "geteuid", lambda: 0)
    monkeypatch.setattr(topology.shutil, "which", lambda tool: None if tool == "nft" else "/x")
    with pytest.raises(LabError, match="apt-get install -y nftables"):
        topology.require_root()


def test_nft_rules_per_kind() -> None:
    easy = topology.nft_rules("easy", "198.19.1.2")
    hard = topology.nft_rules("hard", "198.19.3.2")
    cone = topology.nft_rules("open", "198.19.5.2")
    assert 'oifname "wan" masquerade\n' in easy and "fully-random" not in easy
    assert 'oifname "wan" masquerade fully-random' in hard
    assert "dnat to 198.19.5.2" in cone and "dnat" not in easy + hard
    assert all(r.startswith("table ip srplab {") for r in (easy, hard, cone))


def _pair(classes: str, path: str, direct: float | None) -> dict:
    return {"pair": "a-b", "classes": classes, "path": path, "intros": [], "connect": direct,
            "direct": direct, "publish": 0.05, "direct_from_start": direct}


def test_matrix_cells_and_verdict() -> None:
    peers = {"e1": {"nat": "easy", "expected": "easy", "ok": True, "classified": 0.1}}
    runs = [{"pairs": [_pair("SE", "direct", 0.2), _pair("ES", "direct", 0.3),
                       _pair("HH", "relay", None)], "peers": peers}]
    cells = runner.matrix(runs)
    assert cells["SE"]["pairs"] == 2 and cells["SE"]["direct"] == [0.2, 0.3]
    assert cells["HH"]["failed"] == 1
    assert not runner.summary_ok(runs)
    text = runner.format_matrix(runs)
    assert "direct 0.20-0.30/0.20-0.30/0.05" in text and "FAIL 1" in text
    runs[0]["pairs"].pop()
    assert runner.summary_ok(runs)
    assert runner.expected_nat("open", wildcard=True) == "static"
    assert runner.expected_nat("open", wildcard=False) == "easy"
