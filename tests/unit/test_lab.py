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
    assert "dnat to 198.19.5.2" in cone and "dnat to" not in easy + hard
    assert all(r.startswith("table ip srplab {") for r in (easy, hard, cone))
    # A home router's filter on every router but "knock" (docs/NATLAB.md "The knock").
    knock = topology.nft_rules("knock", "198.19.6.2")
    for rules in (easy, hard, cone):
        assert 'iifname "wan" ct state established,related accept' in rules
        assert rules.count('iifname "wan" drop') == 2  # input and forward
    assert "hook input" not in knock and "hook forward" not in knock
    address = topology.nft_rules("address", "198.19.7.2")
    assert "update @sent { ip daddr . udp sport }" in address
    assert "ip saddr . udp dport @sent dnat to 198.19.7.2" in address


def _pair(classes: str, path: str, direct: float | None) -> dict:
    kinds = {"S": "static", "E": "easy", "H": "hard"}
    expected = runner.expected_path(kinds[classes[0]], kinds[classes[1]])
    return {"pair": "a-b", "classes": classes, "path": path, "intros": [], "connect": direct,
            "direct": direct, "publish": 0.05, "direct_from_start": direct,
            "expected": expected, "ok": path == expected and direct is not None,
            "punch_datagrams": 0, "punch_bytes": 0}


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


def test_expected_paths_and_pairing_statistics() -> None:
    from srpfast.lab import stats
    assert runner.expected_path("easy", "hard") == runner.expected_path("hard", "double") == "bdp"
    assert runner.expected_path("hard", "hard") == "relay"
    assert runner.expected_path("easy", "easy") == runner.expected_path("static", "hard") == \
        "direct"
    assert runner.expected_path("address", "hard") == "direct"  # its NAT lets Hard's ping in
    assert stats.percentile([], 50) is None
    assert stats.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0  # nearest rank
    assert stats.percentile([float(i) for i in range(1, 101)], 95) == 95.0
    runs = [{"pairs": [_pair("EH", "bdp", 0.4), _pair("EH", "bdp", 0.8),
                       _pair("EH", "relay", 0.2), _pair("HH", "relay", 0.1)]}]
    table = stats.pairing_stats(runs)
    assert table["EH"]["pairs"] == 3 and table["EH"]["ok"] == 2
    assert table["EH"]["p50"] == 0.4 and table["EH"]["max"] == 0.8  # successful pairs only
    assert table["HH"]["success"] == 1.0
    assert "EH" in stats.format_stats(table)


def test_ipv6_site_rules_and_expectations() -> None:
    """fw6: a stateful firewall without NAT (inet table, no nat chain); the engine is expected
    to call an IPv6 host Static (mapping none) and to connect directly; the lab measures
    its filtering port-restricted with plain sockets."""
    rules = topology.nft_rules6()
    assert rules.startswith("table inet srplab6 {")
    assert "nat" not in rules and "masquerade" not in rules
    assert rules.count('iifname "wan" ct state established,related accept') == 2
    assert rules.count('iifname "wan" drop') == 2
    assert 'iifname "wan" meta l4proto ipv6-icmp accept' in rules  # (neighbour discovery)
    assert runner.expected_nat("fw6", True) == runner.expected_nat("static6", False) == "static"
    assert runner.expected_path("static6", "fw6") == runner.expected_path("fw6", "fw6") == "direct"
    from srpfast.lab import verify
    assert verify.EXPECTED["fw6"] == ("none", "port")
    assert runner.seed_address("2001:2::11", 7000) == "[2001:2::11]:7000"
    assert runner.public_kind(["static6", "fw6"]) == "static6"
    assert runner.public_kind(["static", "hard"]) == "static"
