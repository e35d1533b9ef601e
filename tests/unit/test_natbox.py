"""The simulator's NAT boxes keep state as long as Linux conntrack keeps a UDP entry
(srpfast/sim/natbox.py): 30 s after the last packet of a flow that saw no reply, 120 s after
the last packet of one that did; the mapping and the filtering permission go with it."""
from __future__ import annotations

import random

from srpfast.sim.natbox import CONNTRACK_REPLIED, CONNTRACK_UNREPLIED, NatBox

LAN = ("192.168.0.2", 5000)
PEER = ("203.0.113.7", 7000)


def _box(mapping: str) -> tuple[NatBox, list[float]]:
    now = [1000.0]
    nat = NatBox("100.64.0.1", mapping, "port", random.Random(1))
    nat.clock = lambda: now[0]
    return nat, now


def test_an_unreplied_hard_mapping_dies_30_s_after_its_last_packet() -> None:
    nat, now = _box("hard")
    public = nat.outbound(LAN, PEER)
    now[0] += CONNTRACK_UNREPLIED - 1
    nat.outbound(LAN, PEER)                   # refreshed: 30 s from here
    now[0] += CONNTRACK_UNREPLIED - 1
    assert nat.inbound(public[1], PEER) == LAN  # the answer comes back: a stream now
    now[0] += CONNTRACK_REPLIED - 1
    assert nat.inbound(public[1], PEER) == LAN
    now[0] += CONNTRACK_REPLIED
    assert nat.inbound(public[1], PEER) is None  # idle past the stream timeout: gone
    assert not nat.flows and not nat.out_map and not nat.in_map
    other = ("192.168.0.3", 5000)
    nat.outbound(other, PEER)                 # a flow that never hears back ...
    now[0] += CONNTRACK_UNREPLIED
    nat.outbound(other, ("203.0.113.8", 1))   # (any packet lets the box look)
    assert (other, PEER) not in nat.flows and (other, PEER) not in nat.out_map


def test_an_easy_mapping_lives_while_any_flow_of_its_socket_does() -> None:
    nat, now = _box("easy")
    public = nat.outbound(LAN, PEER)
    now[0] += 20
    assert nat.outbound(LAN, ("203.0.113.8", 9)) == public  # endpoint-independent
    now[0] += 15                              # the first flow is dead, the second is not
    assert nat.inbound(public[1], PEER) is None
    assert nat.out_map[LAN] == public[1]
    now[0] += 15
    assert nat.inbound(public[1], ("203.0.113.8", 9)) is None
    assert LAN not in nat.out_map and not nat.in_map and not nat.users


def test_a_sprays_ports_die_together_and_an_answered_one_lives_on() -> None:
    nat, now = _box("easy")
    public = nat.outbound(LAN, ("198.51.100.1", 1024))
    nat.open_ports(LAN, "198.51.100.1", list(range(1025, 2025)))
    assert len(nat.permitted(LAN, "198.51.100.1")) == 1001
    now[0] += 5
    assert nat.inbound(public[1], ("198.51.100.1", 1500)) == LAN  # a pool socket answers
    now[0] += CONNTRACK_UNREPLIED
    assert nat.inbound(public[1], ("198.51.100.1", 1600)) is None  # the spray is gone
    assert nat.permitted(LAN, "198.51.100.1") == {1500} and not nat.sprays
    assert nat.inbound(public[1], ("198.51.100.1", 1500)) == LAN  # the answered one lives
