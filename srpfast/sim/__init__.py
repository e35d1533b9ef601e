"""Simulation: many unmodified srpfast engines under virtual time (docs/SIMULATION.md).

``memnet`` (the modelled network: latency, loss, NAT boxes, a heap of engine timers),
``scenario`` + ``scenarios/*.toml`` (what a run is), ``churn`` (runs a churn scenario),
``metrics`` (reach, latency, RMR, bytes, relay load), ``natmatrix`` (the NAT lab's pairings),
``scale`` (large runs for bench/bench_sim.py), ``sweep`` (``--jobs`` / Dask), ``report`` and
``plot`` (the table and the seed-style chart: ``srp sim SCENARIO``)."""
