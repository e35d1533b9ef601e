"""What a simulation measures: every datagram on the modelled wire and every delivery event,
folded into one ``Result`` per run (docs/SIMULATION.md "Metrics").

Per message (one publisher, single-frame messages): the subscribers that want it, when each
got it and at which hop; the PUBLISH copies sent for it (m) and the peers that received one
(n), hence Plumtree's Relative Message Redundancy m / (n - 1) - 1 (PUBLISH copies only: pulls
answered with ANSWER frames are counted apart, as control traffic is in Plumtree). Per run:
bytes per peer (PUBLISH only; data with ANSWERs; everything), relay load per peer, cache
occupancy, the network size over time, and the ONE simulator's delivery probability and
overhead ratio ((relayed - delivered) / delivered) for comparison with the DTN literature.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from srpfast.wire import constants as C
from srpfast.wire.address import Address
from srpfast.control.events import Delivered, DeliveredBatch, Event

if TYPE_CHECKING:
    from srpfast.sim.memnet import MemNet, Node



@dataclass
class Result:
    scenario: dict[str, Any]
    policy: str
    messages: int
    wanted: int                  # (message, subscriber) pairs that should be delivered
    reach_at_window: float       # fraction of those delivered within `window` (0.72 s)
    reach_eventual: float        # ... by the end of the run
    reach_at_window_settled: float  # reach at window of subscribers online >= 5 s before it
    stable_missed: int           # deliveries missed by subscribers online the whole run
    latency_mean: float
    latency_p50: float
    latency_p95: float
    latency_max: float
    rmr: float                   # Plumtree: m / (n - 1) - 1 over PUBLISH copies, mean per message
    last_hop_mean: float         # hop of each message's last delivery, mean over messages
    last_hop_max: int
    publish_bytes_per_peer: float  # per peer and message: PUBLISH frames only
    data_bytes_per_peer: float     # ... PUBLISH and ANSWER (pulled) frames
    all_bytes_per_peer: float      # ... every datagram, control included
    relay_load_p50: float        # PUBLISH frames sent per peer per message
    relay_load_p95: float
    relay_load_max: float
    cache_frames_mean: float     # frames in an online peer's cache, sampled every 5 s
    cache_frames_max: int
    delivery_prob: float         # ONE: delivered / wanted
    overhead_ratio: float        # ONE: (data copies relayed - delivered) / delivered
    churn_events: int            # peers that left or came back
    network_change: float        # total network change, % (the seed's "39,900%")
    heal_delivery: float         # partition / offline: last delivery after heal/return, s
    events_dropped: int          # datagrams the partition cut
    # The chart's data (srpfast/sim/plot.py), left out of the summary table.
    size_t: list[float] = field(default_factory=list, repr=False)
    size_n: list[int] = field(default_factory=list, repr=False)
    joins: list[float] = field(default_factory=list, repr=False)
    leaves: list[float] = field(default_factory=list, repr=False)
    track_t: list[float] = field(default_factory=list, repr=False)
    track_want: list[int] = field(default_factory=list, repr=False)
    track_have: list[int] = field(default_factory=list, repr=False)
    track_published: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Everything but the chart's series (what --json prints per run)."""
        series = {"size_t", "size_n", "joins", "leaves", "track_t", "track_want", "track_have"}
        return {k: v for k, v in self.__dict__.items() if k not in series}


class Recorder:
    """Watches one MemNet: its ``filter`` (every datagram sent) and ``on_event`` hooks."""

    def __init__(self, net: "MemNet", nodes: list["Node"]) -> None:
        self.net = net
        self.nodes = nodes
        self.index = {id(n): i for i, n in enumerate(nodes)}
        self.host: dict[str, int] = {}
        for i, n in enumerate(nodes):
            self.host[n.nat.host if n.nat is not None else n.address[0]] = i
        self.publish_bytes = self.answer_bytes = self.all_bytes = 0
        self.copies: dict[bytes, int] = {}         # message key -> PUBLISH copies sent
        self.receivers: dict[bytes, set[int]] = {}  # message key -> peers sent a copy
        self.sent_by = [0] * len(nodes)            # PUBLISH frames each peer sent
        self.answers = 0
        self.delivered: dict[tuple[int, bytes], tuple[float, int]] = {}  # -> (time, hops)
        self.cut: tuple[set[int], set[int]] | None = None  # a partition's halves while cut
        self.cut_dropped = 0
        self.counting = False
        self.cache_samples: list[int] = []

    @staticmethod
    def message_key(frame: bytes) -> bytes:
        """clock + index + length: unique per frame of the one publisher's messages."""
        return bytes(frame[8:16])

    def filter(self, d: bytes, src: Address, dst: Address) -> bool:
        if self.cut is not None:
            a, b = self.host.get(src[0], -1), self.host.get(dst[0], -1)
            left, right = self.cut
            if (a in left and b in right) or (a in right and b in left):
                self.cut_dropped += 1
                return False
        if not self.counting:
            return True
        self.all_bytes += len(d)
        kind = d[4] if len(d) > 4 else -1
        if kind == C.PUBLISH:
            self.publish_bytes += len(d)
            key = self.message_key(d)
            self.copies[key] = self.copies.get(key, 0) + 1
            to = self.host.get(dst[0])
            if to is not None:
                self.receivers.setdefault(key, set()).add(to)
            i = self.host.get(src[0])
            if i is not None:
                self.sent_by[i] += 1
        elif kind == C.ANSWER:
            self.answer_bytes += len(d)
            self.answers += 1
        return True

    def on_event(self, node: "Node", event: Event) -> None:
        i = self.index[id(node)]
        now = self.net.now
        if isinstance(event, DeliveredBatch):
            for mid, hops in zip(event.message_ids, event.hops):
                self.delivered.setdefault((i, mid), (now, hops))
        elif isinstance(event, Delivered):
            self.delivered.setdefault((i, event.message_id), (now, event.hops))

    def sample_caches(self) -> None:
        self.cache_samples += [len(n.peer.cache) for n in self.nodes if n.online]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def summarize(rec: Recorder, *, scenario: dict[str, Any], policy: str,
              published: dict[bytes, tuple[float, set[int], bytes]], always_on: set[int],
              window: float, churn: int, joins: int, heal_at: float | None,
              settled: dict[bytes, set[int]], extra: dict[str, Any]) -> Result:
    """Fold a run's records into its Result. ``published``: message id -> (time, the
    subscribers that should get it, its frame's message_key)."""
    wanted = in_window = eventually = stable_missed = 0
    lat: list[float] = []
    rmrs: list[float] = []
    last_hops: list[int] = []
    heal_last = 0.0
    n_settled = settled_in = 0
    for mid, (t, want, key) in published.items():
        for i in settled.get(mid, set()) & want:
            n_settled += 1
            got = rec.delivered.get((i, mid))
            settled_in += got is not None and got[0] - t <= window
        last: tuple[float, int] | None = None
        for i in want:
            wanted += 1
            got = rec.delivered.get((i, mid))
            if got is None:
                if i in always_on:
                    stable_missed += 1
                continue
            eventually += 1
            lat.append(got[0] - t)
            if got[0] - t <= window:
                in_window += 1
            if last is None or got[0] > last[0]:
                last = got
            if heal_at is not None and got[0] > heal_at:
                heal_last = max(heal_last, got[0] - heal_at)
        if last is not None:
            last_hops.append(last[1])
        m = rec.copies.get(key, 0)
        n = len(rec.receivers.get(key, ())) + 1  # + the publisher
        if n >= 2:
            rmrs.append(m / (n - 1) - 1)
    n_msgs = max(1, len(published))
    peers = max(1, len(rec.nodes))
    loads = [s / n_msgs for s in rec.sent_by]
    data_copies = sum(rec.copies.values()) + rec.answers
    return Result(
        scenario=scenario, policy=policy, messages=len(published), wanted=wanted,
        reach_at_window=in_window / wanted if wanted else 1.0,
        reach_eventual=eventually / wanted if wanted else 1.0,
        reach_at_window_settled=settled_in / n_settled if n_settled else 1.0,
        stable_missed=stable_missed,
        latency_mean=statistics.fmean(lat) if lat else float("nan"),
        latency_p50=statistics.median(lat) if lat else float("nan"),
        latency_p95=percentile(lat, 0.95), latency_max=max(lat) if lat else float("nan"),
        rmr=statistics.fmean(rmrs) if rmrs else float("nan"),
        last_hop_mean=statistics.fmean(last_hops) if last_hops else float("nan"),
        last_hop_max=max(last_hops) if last_hops else 0,
        publish_bytes_per_peer=rec.publish_bytes / peers / n_msgs,
        data_bytes_per_peer=(rec.publish_bytes + rec.answer_bytes) / peers / n_msgs,
        all_bytes_per_peer=rec.all_bytes / peers / n_msgs,
        relay_load_p50=percentile(loads, 0.5), relay_load_p95=percentile(loads, 0.95),
        relay_load_max=max(loads) if loads else 0.0,
        cache_frames_mean=statistics.fmean(rec.cache_samples) if rec.cache_samples else 0.0,
        cache_frames_max=max(rec.cache_samples, default=0),
        delivery_prob=eventually / wanted if wanted else 1.0,
        overhead_ratio=(data_copies - eventually) / eventually if eventually else float("nan"),
        churn_events=churn, network_change=100.0 * joins / peers,
        heal_delivery=heal_last, events_dropped=rec.cut_dropped, **extra)
