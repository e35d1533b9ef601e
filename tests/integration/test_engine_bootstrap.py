"""Bootstrap in the sans-I/O engine (control/bootstrap.py) on the in-memory network: the first
node is ready alone, an unanswered bootstrap is reported once and retried."""
from __future__ import annotations

import pytest

from srpfast.config import Config
from srpfast.control.events import ErrorEvent, NetworkChange, Ready
from srpfast.errors import ArgumentError, ConfigError
from tests.memnet import MemNet

NOBODY = ("10.9.9.9", 7000)  # no node owns this address: every ping to it is lost


def test_first_node_is_ready_alone_then_network_change_when_peers_classify_it() -> None:
    net = MemNet(seed=3)
    a, b, c = net.add("static"), net.add("static"), net.add("static")
    net.call(a, a.peer.ready_alone, net.now)
    assert [(e.address, e.nat) for e in a.of(Ready)] == [(None, "unknown")]
    net.call(a, a.peer.ready_alone, net.now)  # idempotent: Ready fires once
    assert len(a.of(Ready)) == 1
    net.bootstrap([b, c], a)
    net.run(10)
    changes = a.of(NetworkChange)
    # first its public address (from the first proven PONG), then its classification
    assert changes[0].address == a.public
    assert changes[-1] == NetworkChange(a.public, "static")
    assert len(a.of(Ready)) == 1 and not a.of(ErrorEvent)


def test_unanswered_bootstrap_is_reported_once_at_the_bound_and_retried() -> None:
    net = MemNet(seed=4, config=Config(strict=True, clock_offset=0.0, bootstrap_timeout=5.0))
    a = net.add("static")
    start = net.now
    net.call(a, a.peer.add_peer, NOBODY, net.now)
    net.run(4.9)
    assert not a.of(ErrorEvent) and not a.of(Ready)
    net.run(0.2)  # the report is due at exactly start + bootstrap_timeout, not a tick later
    errors = a.of(ErrorEvent)
    assert len(errors) == 1 and errors[0].code == "bootstrap.unanswered"
    assert "10.9.9.9:7000" in errors[0].reason and "firewall" in errors[0].reason
    assert a.peer.counters()["bootstrap.unanswered"] == 1
    pings = a.peer.counters()["tx"]
    net.run(60)
    assert len(a.of(ErrorEvent)) == 1  # once
    assert a.peer.counters()["tx"] > pings  # still retrying with backoff
    assert a.peer.bootstrap.rounds >= 4 and not a.of(Ready)
    assert net.now - start > 60


def test_bootstrap_that_answers_late_is_not_reported_and_connects() -> None:
    net = MemNet(seed=5, config=Config(strict=True, clock_offset=0.0, bootstrap_timeout=5.0))
    a, b = net.add("static"), net.add("static")
    b.online = False  # the bootstrap node is down for now
    net.call(a, a.peer.add_peer, b.public, net.now)
    net.run(3)
    b.online = True
    net.run(8)  # a backoff retry reaches it before the bound passes
    assert b.peer.peer_id in a.peer.table and a.of(Ready)
    assert not a.of(ErrorEvent) and "bootstrap.unanswered" not in a.peer.counters()


def test_add_peer_takes_numeric_tuples_and_config_bounds_the_timeout() -> None:
    net = MemNet(seed=6)
    a = net.add("static")
    for bad in [("10.0.0.1", 0), ("10.0.0.1", 70000), "10.0.0.1:7000", ("10.0.0.1", "7000")]:
        with pytest.raises(ArgumentError):
            a.peer.add_peer(bad, net.now)
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match="bootstrap_timeout"):
            Config(bootstrap_timeout=bad)
