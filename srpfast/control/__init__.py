"""The sans-I/O control plane: the engine (``engine.Peer``) and the parts it dispatches to.

One module per concern: handshake (PING/PONG, proofs, admission), peers (table, weights),
nat + reflection (classification), traversal (INTRO, BDP, relay), membership (JOIN),
replication (publish, forward, deliver, query), announce (lazy push), sync, streams,
budgets (rate), flow (send window), bootstrap, events, batch (the driver batch type),
dataplane (the link that keeps the C data plane's tables current)."""
