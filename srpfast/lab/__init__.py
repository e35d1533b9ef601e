"""The NAT lab: real srpfast peers behind real Linux NATs (docs/NATLAB.md, issue 12).

- ``topology``: network namespaces, veth pairs, a bridge as the "internet" (198.18.0.0/16,
  inside the benchmarking range 198.18.0.0/15) and nftables NAT routers (SPEC 5 types:
  Static, Easy = ``masquerade``, Hard = ``masquerade fully-random``). Everything is named
  ``srplab-*``, torn down on exit and on failure, and leftovers of a crashed run are removed
  before a new one starts.
- ``verify``: each NAT's mapping and filtering measured with plain sockets (no srpfast).
- ``peer``: one srpfast peer, public API only, printing JSON lines of timed events.
- ``runner``: starts peers in the namespaces, collects their events, builds the pair matrix.

Needs root (network namespaces, nftables). ``srp lab matrix`` / ``make lab`` run it.
"""
