"""Engine configuration: every SPEC 8 constant plus the bound of every table (SPEC 9.4).

``Config()`` gives the defaults; ``Config(keep_alive=5.0, ...)`` overrides. ``validate()`` runs
on construction and raises ConfigError naming the field and its allowed range, so a bad value
fails where it is written, not deep inside the engine.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from srpfast.wire import constants as C
from srpfast.errors import ConfigError


REPLICATION_POLICIES = ("weighted", "flood", "spray")


@dataclass(frozen=True)
class Config:
    # --- SPEC 8 protocol constants ---
    max_hops: int = C.MAX_HOPS
    fanout: int = C.FANOUT
    cache_ttl: int = C.CACHE_TTL
    postage: int = C.POSTAGE
    cache_bytes: int = C.CACHE_BYTES
    cache_source_share: float = 1 / 8
    keep_alive: float = C.KEEP_ALIVE
    bdp_sockets: int = C.BDP_SOCKETS
    bdp_probes: int = C.BDP_PROBES
    bdp_burst: int = C.BDP_BURST
    bdp_interval: float = C.BDP_INTERVAL
    max_fragments: int = C.MAX_FRAGMENTS

    # --- peer table (STATE_0): bounded, expiry after peer_expiry_factor x keep_alive ---
    max_peers: int = 256
    # The seed deletes a peer after KEEP_ALIVE of silence; with heartbeats every KEEP_ALIVE one
    # lost ping would then drop a healthy peer, so srpfast waits 3 intervals (docs/ENGINE.md).
    peer_expiry_factor: float = 3.0
    want_peers: int = 16          # below this, a new connection is sent our JOINs (more intros)
    maintenance_interval: float = 1.0

    # --- reflection (STATE_0..2, SPEC 5) ---
    reflect_timeout: float = 3.0
    reflect_backoff: float = 1.0      # first retry delay; doubles per failure ...
    reflect_backoff_max: float = 30.0  # ... up to this (PROTOCOL.md §9.10: never stalls)

    # --- bootstrap (STATE_0) ---
    # No peer answered this long after the first bootstrap address was added: one
    # ErrorEvent "bootstrap.unanswered" (retries go on; control/bootstrap.py).
    bootstrap_timeout: float = 10.0

    # --- proofs of id (SPEC 4, 9.2) ---
    proof_window: float = 60.0
    proof_capacity: int = 8192
    pending_pings: int = 1024         # outstanding ping ids (for pong matching and distance)
    challenge_recheck: float = 1.0    # after answering a challenge, ping again this soon (x2 a repeat)

    # --- join / intro (STATE_3, STATE_5) ---
    intro_peers: int = 3              # peers introduced per JOIN received
    join_hops: int = 3                # a JOIN is relayed at most this many hops
    join_relay_fanout: int = 3
    join_seen: int = 8192             # (peer_id, join_id) dedup set
    join_interval: float = 150.0      # re-announce subscriptions (refreshes membership)
    seek_interval: float = 10.0       # below want_peers: JOIN to a few peers for more intros
    member_ttl: float = 450.0         # a member not in the peer table is forgotten after this
    max_members: int = 4096           # per subcluster
    # Pings per introduced peer (1 s apart). 1: an INTRO never makes us send more toward the
    # introduced address than it carried (SPEC 9.3); BDP spray is the only gated exception.
    connect_attempts: int = 1
    max_attempts: int = 512           # concurrent connection attempts
    spray_window: float = 60.0        # at most one spray per pair per window (PROTOCOL.md §5)
    # BDP (spray or pool) is the one gated amplifier (SPEC 9.3): at most one per target HOST
    # per spray_window, whatever peer id an INTRO claims, and at most this many per
    # introducer per spray_window.
    bdp_per_introducer: int = 2
    max_pools: int = 4                # concurrent hard-side BDP pools (256 sockets each)
    relay_routes: int = 1024
    relay_budget_packets: int = 2000  # per relayed pair per relay_window
    relay_window: float = 10.0

    # --- replication (STATE_4, STATE_6) ---
    seen_ids: int = 65536             # packetIds already handled (beyond the cache; C: its filter)
    rate_packets: float = 4000.0      # token bucket per source address (PROTOCOL.md §9.6) ...
    rate_burst: float = 8000.0
    # ... and per proven peer (in the peer table: round trip done), sized for a publisher at
    # full speed; still a budget (control/budgets.py)
    rate_peer_packets: float = 400_000.0
    rate_peer_burst: float = 400_000.0
    rate_table: int = 4096            # ... for at most this many addresses (LRU)
    reassembly_bytes: int = 4 * 2**20
    reassembly_timeout: float = 60.0
    completed_ids: int = 4096         # messages the reassembler completed lately (LRU)
    verified_envelopes: int = 4096    # batch signatures verified lately (LRU; C: its root table)
    order_wait: float = 1.0           # hold a message this long for its previousId
    order_held: int = 1024
    delivered_ids: int = 65536        # = seen_ids; C delivery keeps its own 2^20 (ENGINE.md)
    query_hops: int = 4
    query_fanout: int = 2
    query_pending: int = 4096         # answer routes (PROTOCOL.md §9.8); expire: query_timeout
    query_timeout: float = 5.0
    query_retry: float = 2.0
    query_max_per_tick: int = 32
    push_count: int = 3               # lowest-hop packets pushed on connection (STATE_6)
    sync_interval: float = 30.0       # at most one SYNC round per peer per interval
    # A connected pair compares caches on (re)connection (SPEC 6), then again only after
    # this long: comparing at every heartbeat whose summary differed (every 30 s, and the
    # caches of members and relays always differ) was 2 of a simulated member's 10
    # datagrams a second, re-copying to every cache what lazy push already delivered.
    sync_every: float = 600.0
    sync_budget: int = 64             # frames sent per SYNC round (ANSWER pushes + messages)
    # Lazy push (docs/ENGINE.md "Delivery guarantee"): a member tells its connected fellow
    # members which messages it just delivered (SYNC HAVE, 30 ids a frame); one that lacks
    # one asks the announcer for it after announce_wait (the eager copy may be in flight).
    announce_delay: float = 0.05      # batch fresh ids this long (the latency it adds)
    announce_wait: float = 0.05       # a HAVE'd id we still lack after this (+ 1 trip) is pulled
    # fellow members told per flush at most (random, connected). 64, not 8: under churn a
    # Hard-NAT member has few connections and its neighbours many, so 8 random fellows rarely
    # named it and it waited seconds for a digest (srp sim seed-chart, docs/SIMULATION.md).
    announce_peers: int = 64
    # ... and each fellow is told with probability announce_copies / (ITS fellow count, which
    # its own HAVEs state; 1 while unknown), so every member hears of a message from about
    # announce_copies fellows whatever its degree: a lone Hard-NAT member from all of its
    # few, a well-connected one from ~6 of its 40 instead of all 40 (control/announce.py).
    # 0: every fellow is told (Plumtree's IHAVE to every lazy peer).
    announce_copies: float = 6.0
    announce_digest: float = 1.0      # every this many s, one random fellow gets our recent ids
    announce_digest_ids: int = 90     # ... the newest this many, of the last 36 s (announce.digest_window)
    announce_recent: int = 256        # recent message ids per subcluster offered to a new member
    announce_window: float = 60.0     # ... if published or delivered within this many seconds
    announce_pending: int = 4096      # ids waiting to be announced / pulled (bounded, counted)
    # Flow control (control/flow.py): own frames sent and not yet acknowledged by a fellow
    # member's HAVE; drain() waits for room. Below a subscriber's socket buffer (4 MiB:
    # about 1,800 frames at the kernel's ~2.3 KB per 1158-byte datagram), so a burst that
    # fills the window still fits there.
    send_window: int = 2048
    send_window_timeout: float = 1.0  # a message not acknowledged by then leaves the window
    send_backlog: int = 65536         # frames published and waiting for the window (bounded)
    stream_keys: int = 1024           # cached stream session keys
    # Direct messages to a peer with no path yet wait (docs/ENGINE.md "Direct messages"):
    stream_queue_bytes: int = 4 * 2**20  # in all, across peers; beyond: CapacityError
    stream_queue_age: float = 10.0       # per message; then StreamResult "expired"

    # --- replication policy: a simulation / research knob (docs/SIMULATION.md) ---
    # "weighted" (SPEC 6, the protocol: FANOUT next hops by weight); "flood" (plain epidemic
    # flooding: every peer but the sender); "spray" (binary spray-and-wait: about
    # spray_copies copies in all, 2 next hops while hops + 1 < spray depth, then the copies
    # wait in caches for a pull). Peers of a real network keep the default.
    replication: str = "weighted"
    spray_copies: int = 14            # spray: 2 + 4 + ... copies; depth = log2(L + 2) - 1

    # --- engine behaviour ---
    strict: bool = False              # re-raise internal bugs (tests) after counting them
    dataplane: bool = True            # run batches through the engine's own C data plane ...
    dataplane_delivered: int = 1 << 20  # ... remembering this many delivered ids (8 B each)
    clock_offset: float | None = None  # wall = now + offset for signed timestamps; None: real

    def __post_init__(self) -> None:
        self.validate()

    def replace(self, **changes: Any) -> "Config":
        return replace(self, **changes)

    def validate(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"Config.{name}={getattr(self, name)!r}: must be {what}")

        for f in fields(self):  # the type first: a range check on a str would be a TypeError
            value = getattr(self, f.name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok, kind = {"int": (number and isinstance(value, int), "an int"),
                        "float": (number, "a number"),
                        "bool": (isinstance(value, bool), "True or False"),
                        "float | None": (value is None or number, "a number or None"),
                        }.get(str(f.type), (True, ""))
            need(ok, f.name, f"{kind}, got {type(value).__name__}")
        need(1 <= self.max_hops <= 255, "max_hops", "1..255")
        need(1 <= self.fanout <= 16, "fanout", "1..16 (the C data plane picks at most 16)")
        need(1 <= self.cache_ttl <= 2**32 - 1, "cache_ttl", "1..2^32-1 seconds")
        need(0 <= self.postage <= 255, "postage", "0..255")
        need(self.cache_bytes >= 64 * 1024, "cache_bytes", ">= 65536")
        need(0 < self.cache_source_share <= 1, "cache_source_share", "in (0, 1]")
        need(self.keep_alive > 0, "keep_alive", "> 0 seconds")
        need(1 <= self.bdp_sockets <= 1024, "bdp_sockets", "1..1024")
        need(1 <= self.bdp_probes <= 65535, "bdp_probes", "1..65535")
        need(0 <= self.bdp_burst <= 64512 - self.bdp_probes, "bdp_burst",
             "0..64512 - bdp_probes (distinct ports 1024..65535)")
        need(self.bdp_interval > 0, "bdp_interval", "> 0 seconds")
        need(1 <= self.max_fragments <= C.MAX_FRAGMENTS, "max_fragments",
             f"1..{C.MAX_FRAGMENTS}")
        for name in ("max_peers", "want_peers", "proof_capacity", "pending_pings", "join_seen",
                     "max_members", "max_attempts", "max_pools", "relay_routes",
                     "relay_budget_packets", "seen_ids", "rate_table", "order_held",
                     "delivered_ids", "completed_ids", "verified_envelopes", "query_pending", "query_max_per_tick", "sync_budget",
                     "stream_keys", "connect_attempts", "join_relay_fanout", "query_fanout",
                     "bdp_per_introducer", "announce_peers", "announce_pending", "dataplane_delivered",
                     "stream_queue_bytes", "send_window", "send_backlog"):
            need(getattr(self, name) >= 1, name, ">= 1")
        for name in ("peer_expiry_factor", "maintenance_interval", "reflect_timeout",
                     "reflect_backoff", "reflect_backoff_max", "proof_window", "join_interval",
                     "member_ttl", "spray_window", "relay_window", "rate_packets", "rate_burst",
                     "reassembly_timeout", "query_timeout", "query_retry", "sync_interval", "sync_every",
                     "rate_peer_packets", "rate_peer_burst",
                     "seek_interval", "stream_queue_age", "challenge_recheck",
                     "bootstrap_timeout", "send_window_timeout"):
            need(getattr(self, name) > 0, name, "> 0")
        for name in ("intro_peers", "join_hops", "query_hops", "push_count", "order_wait",
                     "announce_delay", "announce_wait", "announce_recent", "announce_window",
                     "announce_copies",
                     "announce_digest", "announce_digest_ids"):
            need(getattr(self, name) >= 0, name, ">= 0")
        need(self.reassembly_bytes >= C.MESSAGE_BYTES, "reassembly_bytes", ">= 1024")
        need(self.reflect_backoff_max >= self.reflect_backoff, "reflect_backoff_max",
             ">= reflect_backoff")
        need(self.rate_burst >= 1, "rate_burst", ">= 1")
        need(self.replication in REPLICATION_POLICIES, "replication",
             " or ".join(repr(x) for x in REPLICATION_POLICIES))
        need(2 <= self.spray_copies <= 2 ** 16, "spray_copies", "2..65536")

    @property
    def spray_depth(self) -> int:
        """Hops of a binary spray tree of at most spray_copies copies (2, 6, 14, 30, ...):
        the publisher's 2 copies are depth 1."""
        return max(1, (self.spray_copies + 2).bit_length() - 2)

    @property
    def peer_expiry(self) -> float:
        return self.keep_alive * self.peer_expiry_factor


def config_fields() -> list[str]:
    return [f.name for f in fields(Config)]


def _checked_init(init: Callable[..., None]) -> Callable[..., None]:
    """Config(...) with a keyword that is no field raises ConfigError naming it and the
    nearest field, instead of the dataclass's bare TypeError."""
    @functools.wraps(init)
    def __init__(self: Config, *args: Any, **changes: Any) -> None:
        known = config_fields()
        for name in changes:
            if name not in known:
                near = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise ConfigError(f"Config has no field {name!r}: {hint}the fields are those of "
                                  f"srpfast.Config (docs/API.md)")
        init(self, *args, **changes)
    return __init__


setattr(Config, "__init__", _checked_init(Config.__init__))
