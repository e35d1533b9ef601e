"""The sans-I/O control plane of srpfast: tables and decisions the engine (srpfast.control.engine.Peer)
dispatches to. One module per concern: peers (table, weights), reflection (NAT), traversal
(intro, BDP, relay), membership (JOIN), replication (publish, query), sync, streams, events."""
