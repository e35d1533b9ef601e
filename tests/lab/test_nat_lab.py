"""The NAT lab on real kernel NATs (issue 12, docs/NATLAB.md).

These need root, network namespaces and nftables. Where those are missing they FAIL with a
message saying what is missing: never a silent skip (`make test` installs nftables).
"""
from __future__ import annotations

import pytest

from srpfast.errors import LabError
from srpfast.lab import runner, topology

pytestmark = [pytest.mark.netns, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def lab_capable() -> None:
    try:
        topology.require_root()
    except LabError as exc:
        pytest.fail(f"NAT lab unavailable: {exc}")


def test_topology_nats_measure_as_claimed_and_leave_nothing_behind() -> None:
    with topology.Lab() as lab:
        hosts = [lab.add(name, kind) for name, kind in
                 (("s1", "static"), ("e1", "easy"), ("h1", "hard"), ("o1", "open"),
                  ("a1", "address"), ("d1", "double"), ("k1", "knock"))]
        verdicts = {v.host: v for v in runner.verify_nats(lab, hosts)}
        assert topology.lab_namespaces()  # (inside the run)
    assert topology.lab_namespaces() == []
    assert all(v.ok for v in verdicts.values()), [v.as_dict() for v in verdicts.values()]
    assert verdicts["s1"].seen[0][0] == hosts[0].address  # public: nothing translates
    assert verdicts["e1"].port_preserved and verdicts["e1"].seen[0][0] == hosts[1].public
    assert verdicts["h1"].seen[0][1] != verdicts["h1"].seen[1][1]
    # A home router's filter drops the knocking packet before its conntrack entry is
    # confirmed: no trace, the port is kept. The NAT-only router ("knock") keeps an
    # [UNREPLIED] entry and masquerade remaps the host's later flow (docs/NATLAB.md).
    assert not verdicts["e1"].knock_remaps and verdicts["e1"].unreplied == 0
    assert not verdicts["o1"].knock_remaps
    assert verdicts["a1"].filtering == "address"  # (.ok checked the rest)
    # Double NAT: what the internet sees is the carrier-grade NAT's address.
    assert verdicts["d1"].seen[0][0] == hosts[5].public != hosts[5].address
    assert verdicts["k1"].knock_remaps and verdicts["k1"].unreplied == 1


def test_teardown_on_failure_and_leftovers_of_a_crashed_run() -> None:
    topology.run(["ip", "netns", "add", topology.PREFIX + "crashed"])  # a crashed run's
    with pytest.raises(RuntimeError, match="boom"):
        with topology.Lab() as lab:
            assert topology.PREFIX + "crashed" not in topology.lab_namespaces()
            lab.add("e1", "easy")
            raise RuntimeError("boom")
    assert topology.lab_namespaces() == []
    with pytest.raises(LabError, match="unknown NAT kind"):
        with topology.Lab() as lab:
            lab.add("x", "symmetric-ish")
    assert topology.lab_namespaces() == []


def test_pair_matrix_every_peer_classifies_and_every_pair_talks_without_long_timers() -> None:
    """Real srpfast processes, bound to 0.0.0.0, behind masquerade / fully-random NATs."""
    res = runner.run_once(timeout=25.0)
    if not runner.summary_ok([res]):
        # Seven real processes on 2 shared cores: a run can miss its window when the machine
        # is busy. One more run, reported; the assertions below hold for the second.
        print("first lab run incomplete:\n" + runner.format_matrix([res]))
        res = runner.run_once(timeout=25.0)
    assert topology.lab_namespaces() == []
    assert res["crashed"] == {}
    wrong = {n: (p["nat"], p["expected"]) for n, p in res["peers"].items() if not p["ok"]}
    assert wrong == {}
    # Generous time bounds: this asserts that it happens without the 10 s / 30 s timers the
    # issue measured, not how fast (make test shares 2 cores; `srp lab matrix` and
    # docs/NATLAB.md report the times: about 0.2 s).
    assert all(p["classified"] is not None and p["classified"] < 5.0
               for p in res["peers"].values()), res["peers"]
    slow = [(p["pair"], p["path"], p["direct"], p["publish"]) for p in res["pairs"]
            if p["direct"] is None or p["publish"] is None or p["direct"] > 5.0]
    assert slow == [], runner.format_matrix([res])
    # PROTOCOL.md §5's paths: direct for all but Hard<->Hard (relay); Easy<->Hard by BDP.
    wrong_path = [(p["pair"], p["path"], p["expected"]) for p in res["pairs"]
                  if p["path"] != p["expected"]]
    assert wrong_path == [], runner.format_matrix([res])
    assert {p["expected"] for p in res["pairs"] if p["classes"] in ("EH", "HE")} == {"bdp"}
    assert all(p["punch_datagrams"] > 0 for p in res["pairs"] if p["expected"] == "bdp")


def test_statistics_rounds_connect_easy_and_hard_by_bdp_on_one_topology() -> None:
    """`srp lab matrix` statistics mode: one verified topology, fresh peers per round; every
    Easy<->Hard introduction ends on a kept pool socket (the BDP), and the per-pairing
    figures are computed from what the rounds measured."""
    from srpfast.lab import rounds, stats
    peers = (("e1", "easy"), ("h1", "hard"))
    res = rounds.run_rounds(2, timeout=15.0, peers=peers)["rounds"]
    table = stats.pairing_stats(res)
    if table["EH"]["ok"] < 2:  # a busy machine can starve a round: one more, reported
        print("first rounds incomplete:\n" + stats.format_stats(table))
        res = rounds.run_rounds(2, timeout=15.0, peers=peers)["rounds"]
        table = stats.pairing_stats(res)
    assert topology.lab_namespaces() == []
    assert all(r["crashed"] == {} for r in res)
    eh = table["EH"]
    assert (eh["pairs"], eh["ok"], eh["paths"]) == (2, 2, {"bdp": 2}), stats.format_stats(table)
    assert eh["p50"] is not None and eh["datagrams_p50"] > 0


def test_ipv6_site_behind_a_stateful_firewall_connects_directly() -> None:
    """An IPv6 lab (2001:2::/48, RFC 5180): a public IPv6 peer and two sites whose firewall
    passes only flows the site started (no NAT). Plain sockets measure mapping none and
    port-restricted filtering; srpfast peers (bound to ::) call themselves Static and connect
    directly, the two firewalled ones by simultaneous open (docs/NATLAB.md "IPv6 site")."""
    peers = (("s1", "static6"), ("f1", "fw6"), ("f2", "fw6"))
    res = runner.run_once(peers, timeout=15.0)
    assert topology.lab_namespaces() == []
    assert res["crashed"] == {}
    measured = {v["host"]: (v["mapping"], v["filtering"]) for v in res["verify"]}
    assert measured == {"s0": ("none", "open"), "s1": ("none", "open"),
                        "f1": ("none", "port"), "f2": ("none", "port")}
    assert all(v["host"].startswith("s") or v["unreplied"] == 0 for v in res["verify"])
    assert {n: p["nat"] for n, p in res["peers"].items()} == dict.fromkeys(
        ("s0", "s1", "f1", "f2"), "static")
    paths = {p["pair"]: (p["path"], p["direct"] is not None, p["publish"] is not None)
             for p in res["pairs"]}
    assert paths == dict.fromkeys(("s1-f1", "s1-f2", "f1-f2"), ("direct", True, True)), \
        runner.format_matrix([res])


def test_ipv6_and_ipv4_kinds_do_not_mix() -> None:
    with pytest.raises(LabError, match="IPv6 kind"):
        runner.run_once((("s1", "static6"), ("e1", "easy")), timeout=1.0)
