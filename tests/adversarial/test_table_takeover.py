"""Threat: peer-table takeover by many proven rogue identities (issue 13; SPEC 9.2, 9.4).

A rogue that completes the PING/PONG round trip with a fresh key per identity is a proven
peer; 40 of them arrive over two minutes at a target whose table holds 8. The table stays at
8, and the 4 honest peers (heartbeating) are never evicted while active: a full table only
evicts an entry silent for longer than 1.5 x keep_alive (a missed heartbeat: one side of a
connection pings every keep_alive), so a newcomer is refused (counted
drop.table_full) instead of pushing an active peer out."""
from __future__ import annotations

from srpfast.config import Config
from tests.memnet import MemNet


def test_rogue_identities_cannot_evict_active_honest_peers() -> None:
    cfg = Config(strict=True, clock_offset=0.0, max_peers=8, keep_alive=10.0)
    net = MemNet(seed=91, config=cfg)
    target = net.add("static")
    honest = [net.add("static") for _ in range(4)]
    net.bootstrap(honest, target)
    net.run(3)
    ids = {h.peer.peer_id for h in honest}
    assert ids <= set(target.peer.table.by_id)
    rogues = [net.add("static") for _ in range(40)]
    evicted_honest = max_size = 0
    for k, r in enumerate(rogues):
        net.call(r, r.peer.add_peer, target.public, net.now)
        net.run(3)
        size = len(target.peer.table)
        max_size = max(max_size, size)
        evicted_honest += len(ids - set(target.peer.table.by_id))
    c = target.peer.counters()
    rogue_in = len(set(target.peer.table.by_id) - ids)
    print(f"takeover: 40 rogue identities over {40 * 3} s: table max {max_size}/8, rogues "
          f"held {rogue_in}, honest evictions {evicted_honest}, drop.table_full="
          f"{c.get('drop.table_full', 0)}")
    assert max_size <= 8 and evicted_honest == 0
    assert c.get("drop.table_full", 0) > 0
