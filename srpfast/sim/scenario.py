"""What a simulation run models: one ``Scenario``, read from a TOML file (``load``).

The shipped scenarios live in srpfast/sim/scenarios/*.toml (``srp sim --list``); a path to
any other TOML file works too. Top-level keys are Scenario fields; a table's keys are
prefixed with its name (``[partition] at = 60`` is ``partition_at = 60``), so a file reads
as the model it describes:

    peers = 150              # in all, public ones included
    lifetime = 24.0          # mean online time of a churning peer, s (0: no churn)
    [partition]
    at = 60.0                # s after the first publish: links between the halves drop
    for = 3600.0             # ... for this long, then heal

docs/SIMULATION.md states each field's meaning and the model's assumptions.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, fields
from typing import Any

from srpfast.config import REPLICATION_POLICIES
from srpfast.errors import ArgumentError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has no tomllib; the sim needs 3.11 or tomli
    import tomli as tomllib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")


class ScenarioError(ArgumentError):
    """A scenario that cannot be run: unknown name, unreadable TOML, an unknown key or a
    value out of range (the message names it)."""


@dataclass(frozen=True)
class Scenario:
    name: str = "custom"
    description: str = ""
    kind: str = "churn"          # "churn" (every scenario but one) or "nat-matrix"
    peers: int = 30
    public: int = 3              # always online, Static, everyone's bootstrap
    hard: float = 0.2            # share of the other peers behind a Hard NAT (rest Easy)
    subscribers: float = 0.5     # share of all peers in the subcluster
    duration: float = 120.0      # virtual seconds of publishing
    lifetime: float = 24.0       # mean online time of a churning peer (0: nobody churns)
    downtime: float = 24.0       # mean time away before it restarts (same identity)
    publish_every: float = 2.0
    window: float = 0.72         # reach is also reported at this age (the seed's chart)
    settle: float = 10.0         # virtual seconds before the first publish
    tail: float = 2.0            # virtual seconds after the last publish (late deliveries)
    seed: int = 1
    seeds: int = 1               # seeds a sweep runs by default (seed, seed + 1, ...)
    delay_min: float = 0.005     # one-way link latency, uniform in [min, max] s
    delay_max: float = 0.030
    loss: float = 0.0
    conntrack: bool = False      # NAT boxes model Linux conntrack's knock (NAT-only routers)
    policy: str = "weighted"     # Config.replication: weighted, flood or spray
    spray_copies: int = 14
    compare: tuple[str, ...] = ()  # policies run side by side (srp sim SCENARIO)
    track: float = 0.5           # the charted packet: this fraction into the publishing
    # Two halves (even and odd peers) lose every link between them for a time, then heal.
    partition_at: float = -1.0   # s after the first publish (< 0: no partition)
    partition_for: float = 0.0
    # Subscribers that go offline for a long time and come back with the same identity.
    offline_peers: int = 0
    offline_at: float = 0.0      # s after the first publish
    offline_for: float = 0.0

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ScenarioError(f"scenario {self.name!r}: {what}")
        need(self.kind in ("churn", "nat-matrix"), "kind must be 'churn' or 'nat-matrix'")
        need(self.peers >= 2 and 1 <= self.public <= self.peers,
             "peers >= 2 and 1 <= public <= peers")
        need(0 <= self.hard <= 1 and 0 < self.subscribers <= 1 and 0 <= self.loss < 1,
             "hard and loss in [0, 1], subscribers in (0, 1]")
        need(self.duration > 0 and self.publish_every > 0 and self.settle >= 0
             and self.tail >= 0, "duration, publish_every > 0; settle, tail >= 0")
        need(self.lifetime >= 0 and self.downtime > 0, "lifetime >= 0 and downtime > 0")
        need(0 <= self.delay_min <= self.delay_max, "0 <= delay_min <= delay_max")
        need(self.policy in REPLICATION_POLICIES,
             f"policy must be one of {', '.join(REPLICATION_POLICIES)}")
        need(all(p in REPLICATION_POLICIES for p in self.compare),
             f"compare lists policies among {', '.join(REPLICATION_POLICIES)}")
        need(self.seeds >= 1 and 0 <= self.track <= 1, "seeds >= 1, track in [0, 1]")
        need(self.offline_peers >= 0 and self.offline_for >= 0 and self.partition_for >= 0,
             "offline_peers, offline_for, partition_for >= 0")

    @property
    def delay(self) -> tuple[float, float]:
        return (self.delay_min, self.delay_max)

    def replace(self, **changes: Any) -> "Scenario":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def names() -> list[str]:
    """The shipped scenarios (srpfast/sim/scenarios/*.toml), sorted."""
    return sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".toml"))


def load(name_or_path: str, **overrides: Any) -> Scenario:
    """A shipped scenario by name, or a TOML file by path; ``overrides`` replace fields."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(HERE, f"{name_or_path}.toml")
        if not os.path.exists(path):
            raise ScenarioError(f"no scenario {name_or_path!r}: shipped ones are "
                                f"{', '.join(names())} (or give a path to a .toml file)")
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    flat: dict[str, Any] = {"name": os.path.basename(path)[:-5]}
    for key, value in raw.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                flat[f"{key}_{sub}"] = v
        else:
            flat[key] = value
    flat.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(flat)


def from_dict(values: dict[str, Any]) -> Scenario:
    """A Scenario from plain values (a TOML table, a sweep's JSON); unknown keys are errors."""
    known = {f.name: f for f in fields(Scenario)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ScenarioError(f"unknown scenario keys: {', '.join(unknown)}")
    kw: dict[str, Any] = {}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        elif type(default) is not type(value):
            raise ScenarioError(f"scenario key {key}: {type(default).__name__} expected, "
                                f"got {value!r}")
        kw[key] = value
    return Scenario(**kw)
