"""A census of every table of a peer that grows with input (SPEC 9.4), for the flood tests
and the soak: name -> (entries, bound). Bounded containers are found by walking the engine's
parts (anything with a ``capacity`` and a length: LruSet, LruDict, ExpiringDict, PeerTable),
so a table added later is covered without editing this list; the tables with hand-written
bounds (rate buckets, reassembly bytes, held messages, announce queues, the stream queue) are
named explicitly."""
from __future__ import annotations

import os

from srpfast.control.engine import Peer

_PARTS = ("", "handshake", "traversal", "membership", "replication", "announce", "sync", "streams",
          "bootstrap", "reflection", "proofs")


def _bounded(obj) -> bool:
    return isinstance(getattr(obj, "capacity", None), int) and hasattr(obj, "__len__")


def table_sizes(peer: Peer) -> dict[str, tuple[int, int]]:
    cfg = peer.config
    out: dict[str, tuple[int, int]] = {}
    for part in _PARTS:
        owner = getattr(peer, part) if part else peer
        for name, value in list(vars(owner).items()):
            if _bounded(value):
                out[f"{part or 'peer'}.{name.lstrip('_')}"] = (len(value), value.capacity)
            elif isinstance(value, dict) and name == "members":  # per-subcluster member sets
                for sub, members in value.items():
                    if _bounded(members):
                        out[f"membership.members.{sub.hex()[:8]}"] = (len(members),
                                                                      members.capacity)
    out["peer.rate"] = (len(peer.budgets), cfg.rate_table)
    for part in ("replication", "streams"):
        r = getattr(peer, part).reassembler
        out[f"{part}.reassembly_bytes"] = (r.bytes_buffered, cfg.reassembly_bytes)
        out[f"{part}.reassembly_done"] = (len(r._done), r.done_ids)
    out["replication.held"] = (len(peer.replication.held_ids), cfg.order_held)
    out["announce.pulls"] = (len(peer.announce.pulls), cfg.announce_pending)
    out["announce.fresh"] = (peer.announce.fresh_count, cfg.announce_pending)
    out["streams.queued_bytes"] = (peer.streams.queued_bytes, cfg.stream_queue_bytes)
    out["cache.bytes"] = (peer.cache.bytes_used, cfg.cache_bytes)
    return out


def over_bound(peer: Peer) -> dict[str, tuple[int, int]]:
    return {k: v for k, v in table_sizes(peer).items() if v[0] > v[1]}


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
