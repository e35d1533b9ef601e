"""nat.py: classification is a pure function of samples; the strategy table is complete."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srpfast.wire.bodies import (FILTER_ADDRESS, FILTER_OPEN, FILTER_PORT, NAT_EASY, NAT_HARD,
                                 NAT_STATIC, NAT_UNKNOWN)
from srpfast.control.nat import (STRATEGY, Evidence, Outcome, Sample, Strategy, classify, filtering_of,
                                 mapping_of, name_of, nat_byte, strategy)

R1, R2, R3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
BOUND = ("192.168.1.2", 5000)

FILTERINGS = {
    "open": (Evidence(unsolicited_host=True), FILTER_OPEN),
    "address": (Evidence(unsolicited_port=True), FILTER_ADDRESS),
    "port": (Evidence(), FILTER_PORT),
}


def samples_for(mapping: str) -> list[Sample]:
    """What two reflectors report for a peer behind ``mapping``."""
    if mapping == "static":
        return [Sample(R1, BOUND), Sample(R2, BOUND)]
    if mapping == "easy":
        return [Sample(R1, ("203.0.113.5", 40001)), Sample(R2, ("203.0.113.5", 40001))]
    return [Sample(R1, ("203.0.113.5", 40001)), Sample(R2, ("203.0.113.5", 51234))]


@pytest.mark.parametrize("mapping,filtering", list(itertools.product(
    ["static", "easy", "hard"], ["open", "address", "port"])))
def test_every_mapping_filtering_combination(mapping: str, filtering: str) -> None:
    evidence, want_filter = FILTERINGS[filtering]
    result = classify(samples_for(mapping), BOUND, evidence)
    assert result.outcome is Outcome.CLASSIFIED
    want_mapping = {"static": NAT_STATIC, "easy": NAT_EASY, "hard": NAT_HARD}[mapping]
    assert result.mapping == want_mapping
    assert result.filtering == want_filter
    assert result.name == mapping
    assert mapping_of(result.nat) == want_mapping and filtering_of(result.nat) == want_filter
    assert result.public is not None and result.public[0] in ("192.168.1.2", "203.0.113.5")


def test_full_cone_without_bound_address_counts_as_static() -> None:
    result = classify(samples_for("easy"), None, Evidence(unsolicited_host=True))
    assert result.mapping == NAT_STATIC
    assert classify(samples_for("easy"), None, Evidence()).mapping == NAT_EASY


def test_wildcard_bind_needs_an_unsolicited_arrival() -> None:
    s = [Sample(R1, ("198.51.100.7", 5000)), Sample(R2, ("198.51.100.7", 5000))]
    # A port-preserving NAT looks the same as a public host on ports alone.
    assert classify(s, ("0.0.0.0", 5000)).mapping == NAT_EASY
    assert classify(s, ("0.0.0.0", 5000), Evidence(unsolicited_host=True)).mapping == NAT_STATIC
    assert classify(s, ("0.0.0.0", 5001), Evidence(unsolicited_host=True)).mapping == NAT_EASY


def test_wildcard_bind_is_static_when_reflectors_see_the_routes_own_source() -> None:
    """Issue 12: a public host bound to 0.0.0.0. The driver tells the route's source address
    toward each reflector; both saw exactly it and our port: nothing translated."""
    s = [Sample(R1, ("198.51.100.7", 5000)), Sample(R2, ("198.51.100.7", 5000))]
    assert classify(s, ("0.0.0.0", 5000), Evidence(),
                    ["198.51.100.7", "198.51.100.7"]).mapping == NAT_STATIC
    # A port-preserving NAT shows its own address, never ours: still Easy.
    assert classify(s, ("0.0.0.0", 5000), Evidence(),
                    ["192.168.1.2", "192.168.1.2"]).mapping == NAT_EASY
    # Another port, routes that disagree, or an explicit bind: the old rules.
    assert classify(s, ("0.0.0.0", 5001), Evidence(),
                    ["198.51.100.7", "198.51.100.7"]).mapping == NAT_EASY
    assert classify(s, ("0.0.0.0", 5000), Evidence(),
                    ["198.51.100.7", "198.51.100.8"]).mapping == NAT_EASY
    assert classify(s, ("192.168.1.2", 5000), Evidence(),
                    ["198.51.100.7", "198.51.100.7"]).mapping == NAT_EASY
    # Hard stays Hard whatever the routes say.
    h = [Sample(R1, ("198.51.100.7", 5000)), Sample(R2, ("198.51.100.7", 5002))]
    assert classify(h, ("0.0.0.0", 5000), Evidence(),
                    ["198.51.100.7", "198.51.100.7"]).mapping == NAT_HARD


def test_a_third_reflector_outvotes_one_remapped_port() -> None:
    """Issue 12: a Linux NAT remaps an Easy peer toward a peer that knocked first; with a
    third reflector, two equal ports still say Easy. All different: Hard."""
    h = "203.0.113.5"
    knocked = [Sample(R1, (h, 40001)), Sample(R2, (h, 51234)), Sample(R3, (h, 40001))]
    result = classify(knocked, BOUND)
    assert result.mapping == NAT_EASY and result.public == (h, 40001)
    hard = [Sample(R1, (h, 40001)), Sample(R2, (h, 51234)), Sample(R3, (h, 60001))]
    assert classify(hard, BOUND).mapping == NAT_HARD
    # Two reflectors only: as before.
    assert classify(knocked[:2], BOUND).mapping == NAT_HARD


def test_mismatching_reflectors_are_not_classified() -> None:
    s = [Sample(R1, ("203.0.113.5", 40001)), Sample(R2, ("198.51.100.9", 40001))]
    result = classify(s, BOUND)
    assert result.outcome is Outcome.MISMATCH
    assert result.mapping == NAT_UNKNOWN


def test_too_few_reflectors() -> None:
    assert classify([], BOUND).outcome is Outcome.TOO_FEW
    assert classify([Sample(R1, BOUND)], BOUND).outcome is Outcome.TOO_FEW
    # The same reflector twice is still one mirror.
    assert classify([Sample(R1, BOUND), Sample(R1, BOUND)], BOUND).outcome is Outcome.TOO_FEW


def test_latest_sample_per_reflector_counts() -> None:
    s = [Sample(R1, ("203.0.113.5", 1)), Sample(R2, ("203.0.113.5", 2)),
         Sample(R1, ("203.0.113.5", 2))]
    assert classify(s, BOUND).mapping == NAT_EASY


@given(st.lists(st.tuples(st.sampled_from([R1, R2, R3]),
                          st.sampled_from(["203.0.113.5", "198.51.100.9", "192.168.1.2"]),
                          st.integers(1, 65535)), max_size=6),
       st.booleans(), st.booleans())
def test_classify_is_total_and_pure(raw, host_ev, port_ev) -> None:
    samples = [Sample(r, (h, p)) for r, h, p in raw]
    ev = Evidence(host_ev, port_ev)
    a = classify(samples, BOUND, ev)
    b = classify(list(samples), BOUND, ev)
    assert a == b
    if a.outcome is Outcome.CLASSIFIED:
        assert a.mapping in (NAT_STATIC, NAT_EASY, NAT_HARD)
    else:
        assert a.mapping == NAT_UNKNOWN


def test_strategy_table_matches_spec_5() -> None:
    names = {"static": NAT_STATIC, "easy": NAT_EASY, "hard": NAT_HARD, "unknown": NAT_UNKNOWN}
    # Every pair of mappings has an entry.
    assert set(STRATEGY) == set(itertools.product(names.values(), names.values()))
    # Static <-> NATed is "direct" with the NATed side dialling; the Static side waits
    # (its unsolicited ping would remap a Linux NAT: docs/NATLAB.md "the knock").
    assert strategy(NAT_STATIC, NAT_HARD) is Strategy.WAIT
    assert strategy(NAT_STATIC, NAT_EASY) is Strategy.WAIT
    assert strategy(NAT_STATIC, NAT_STATIC) is Strategy.PING
    assert strategy(NAT_EASY, NAT_EASY) is Strategy.PING
    assert strategy(NAT_EASY, NAT_HARD) is Strategy.SPRAY
    assert strategy(NAT_HARD, NAT_EASY) is Strategy.POOL
    assert strategy(NAT_HARD, NAT_HARD) is Strategy.RELAY
    assert strategy(NAT_HARD, NAT_STATIC) is Strategy.PING
    # The filtering nibble does not change the decision.
    assert strategy(nat_byte(NAT_EASY, FILTER_PORT), nat_byte(NAT_HARD, FILTER_OPEN)) \
        is Strategy.SPRAY
    # BDP is symmetric: one side sprays exactly when the other opens a pool.
    for (a, b), s in STRATEGY.items():
        if s is Strategy.SPRAY:
            assert STRATEGY[(b, a)] is Strategy.POOL
        if s is Strategy.RELAY:
            assert STRATEGY[(b, a)] is Strategy.RELAY
        # Whoever waits, the other side dials: no pair where nobody pings.
        if s is Strategy.WAIT:
            assert STRATEGY[(b, a)] is Strategy.PING


def test_names() -> None:
    assert name_of(nat_byte(NAT_HARD, FILTER_PORT)) == "hard"
    assert name_of(0) == "unknown"
