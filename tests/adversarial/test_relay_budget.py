"""Threat: relay-budget abuse for Hard<->Hard relays (issue 13; SPEC 5: Hard<->Hard traffic is
relayed by a peer connected to both, with a per-relay budget, Config.relay_budget_packets per
relay_window per relayed pair).

x (behind a Hard NAT, reachable from y only through r) streams 200 direct messages to y
through the relay r within one window; r relays at most the budget, counts the rest as
drop.relay_budget, and relays again once the window has passed."""
from __future__ import annotations

from srpfast.config import Config
from srpfast.control.events import StreamData
from tests.memnet import MemNet


def test_a_relayed_pair_gets_its_budget_and_no_more() -> None:
    cfg = Config(strict=True, clock_offset=0.0, relay_budget_packets=20, relay_window=10.0,
                 rate_packets=1e6, rate_burst=1e6)
    net = MemNet(seed=95, config=cfg)
    r, x, y = net.add("static"), net.add("static"), net.add("static")
    net.bootstrap([r, x, y], r)
    net.run(2)
    # As after a Hard<->Hard introduction: x reaches y only through r.
    x.peer.table.remove(y.peer.peer_id)
    x.peer.traversal.routes.put(y.peer.peer_id, r.peer.peer_id, net.now)
    net.filter = lambda d, src, dst: not (src == x.public and dst == y.public)
    for i in range(200):
        net.call(x, x.peer.stream, y.peer.peer_id, b"relay me %d" % i, now=net.now)
    net.run(1)
    first = len(y.of(StreamData))
    c = r.peer.counters()
    print(f"relay budget: 200 frames in one window -> {c['relay.frames']} relayed "
          f"(budget {cfg.relay_budget_packets}), {c['drop.relay_budget']} refused")
    assert c["relay.frames"] == cfg.relay_budget_packets == first
    assert c["drop.relay_budget"] == 200 - cfg.relay_budget_packets
    net.run(cfg.relay_window)
    x.peer.traversal.routes.put(y.peer.peer_id, r.peer.peer_id, net.now)
    for i in range(5):
        net.call(x, x.peer.stream, y.peer.peer_id, b"next window %d" % i, now=net.now)
    net.run(1)
    assert len(y.of(StreamData)) == first + 5  # a new window, a new budget
