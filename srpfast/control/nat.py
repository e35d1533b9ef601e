"""NAT classification as a pure function of samples, and the connection strategy table (SPEC 5).

Nothing here does I/O or keeps state: the engine collects samples (what two reflectors saw,
which unsolicited packets arrived) and asks ``classify``; it asks ``strategy`` what to do when
introduced. Terms follow RFC 4787: *mapping* (endpoint-independent = Easy, endpoint-dependent =
Hard, none = Static) and *filtering* (open = endpoint-independent, address-restricted =
address-dependent, port-restricted = address-and-port-dependent).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from srpfast.wire.bodies import (FILTER_ADDRESS, FILTER_OPEN, FILTER_PORT, FILTER_UNKNOWN, NAT_EASY,
                                 NAT_HARD, NAT_STATIC, NAT_UNKNOWN)
from srpfast.wire.address import Address


MAPPING_NAMES = {NAT_UNKNOWN: "unknown", NAT_STATIC: "static", NAT_EASY: "easy", NAT_HARD: "hard"}
FILTERING_NAMES = {FILTER_UNKNOWN: "unknown", FILTER_OPEN: "open", FILTER_ADDRESS: "address",
                   FILTER_PORT: "port"}
MAPPING_BY_NAME = {v: k for k, v in MAPPING_NAMES.items()}


def nat_byte(mapping: int, filtering: int) -> int:
    """The NAT byte of control bodies: mapping in the low nibble, filtering in the high one."""
    return (mapping & 0x0F) | ((filtering & 0x0F) << 4)


def mapping_of(nat: int) -> int:
    return nat & 0x0F


def filtering_of(nat: int) -> int:
    return (nat >> 4) & 0x0F


@dataclass(frozen=True)
class Sample:
    """One reflection: ``reflector`` (its peerId) saw us at ``observed``."""
    reflector: bytes
    observed: Address


@dataclass(frozen=True)
class Evidence:
    """Filtering evidence gathered while reflecting.

    ``unsolicited_host``: a packet arrived from a host we never sent to (a third peer probing
    us after the reflector asked it to) -> filtering is open (endpoint-independent).
    ``unsolicited_port``: a packet arrived from a host we sent to, but from another port ->
    at most address-restricted. Neither, after a complete reflection -> port-restricted
    (the conservative answer; a later probe can still upgrade it)."""
    unsolicited_host: bool = False
    unsolicited_port: bool = False


class Outcome(Enum):
    CLASSIFIED = "classified"
    TOO_FEW = "too_few"        # fewer than two distinct reflectors answered: retry
    MISMATCH = "mismatch"      # reflectors disagree on our host: retry with others


@dataclass(frozen=True)
class Classification:
    outcome: Outcome
    mapping: int = NAT_UNKNOWN
    filtering: int = FILTER_UNKNOWN
    public: Address | None = None

    @property
    def nat(self) -> int:
        return nat_byte(self.mapping, self.filtering)

    @property
    def name(self) -> str:
        return MAPPING_NAMES[self.mapping]


def filtering_from(evidence: Evidence) -> int:
    """Open if a packet came from a host we never sent to, address-restricted if only from a
    known host on a new port, else (conservatively) port-restricted."""
    if evidence.unsolicited_host:
        return FILTER_OPEN
    if evidence.unsolicited_port:
        return FILTER_ADDRESS
    return FILTER_PORT


def classify(samples: Sequence[Sample], bound: Address | None = None,
             evidence: Evidence = Evidence(),
             local_hosts: Sequence[str] = ()) -> Classification:
    """Classify our NAT from reflection samples (SPEC 5, seed STATE_0/STATE_2).

    - Two distinct reflectors are needed (the "second mirror"); the latest sample per
      reflector counts, of the last three reflectors. Fewer -> TOO_FEW.
    - The reflectors must agree on our host; otherwise one of them (or the path) is lying or
      the network changed mid-test -> MISMATCH (the engine retries with backoff).
    - Two reflectors that saw the same port -> endpoint-independent mapping (Easy); every
      reflector a different port -> Hard. With a third reflector, one odd port does not make
      an Easy NAT Hard: a Linux NAT remaps toward a peer whose packet arrived before ours
      left (the NAT lab's "knock", docs/NATLAB.md), while an endpoint-dependent one gives
      two destinations the same port only by chance.
    - Observed == our bound address (both reflectors) -> no translation: Static. When the
      bound address is unknown or a wildcard, Easy mapping plus open filtering is reported as
      Static: a full-cone NAT is reachable unsolicited, which is all Static means to the
      strategy table (and a port-preserving NAT must not pass for Static on ports alone).
    - ``local_hosts`` (a wildcard bind): the source address the kernel routes from toward
      each reflector (the driver asks with a connected UDP socket, which sends nothing). If
      both reflectors saw exactly that address and our bound port, nothing on the way
      rewrote address or port: the same proof an explicit bind gives, so Static (issue 12;
      a port-preserving NAT shows ITS address, never one of ours).
    """
    latest: dict[bytes, Address] = {}
    for s in samples:
        latest.pop(s.reflector, None)  # (re-insert: dict order = order of latest samples)
        latest[s.reflector] = s.observed
    if len(latest) < 2:
        return Classification(Outcome.TOO_FEW)
    observed = list(latest.values())[-3:]
    hosts = {a[0] for a in observed}
    if len(hosts) != 1:
        return Classification(Outcome.MISMATCH)
    filtering = filtering_from(evidence)
    ports = [a[1] for a in observed]
    agreed = [port for port in ports if ports.count(port) >= 2]
    if not agreed:
        return Classification(Outcome.CLASSIFIED, NAT_HARD, filtering, observed[-1])
    public = (observed[0][0], agreed[0])
    if bound is not None and bound[0] in WILDCARDS and len(set(local_hosts)) == 1 and \
            public == (local_hosts[0], bound[1]):
        return Classification(Outcome.CLASSIFIED, NAT_STATIC, filtering, public)
    if bound is not None and bound[0] not in WILDCARDS:
        if public == tuple(bound):
            return Classification(Outcome.CLASSIFIED, NAT_STATIC, filtering, public)
        return Classification(Outcome.CLASSIFIED, NAT_EASY, filtering, public)
    # Bound address unknown, or a wildcard bind whose port matches: many NATs preserve the
    # source port, so only an unsolicited arrival (open filtering) proves reachability.
    if filtering == FILTER_OPEN and (bound is None or bound[1] == public[1]):
        return Classification(Outcome.CLASSIFIED, NAT_STATIC, filtering, public)
    return Classification(Outcome.CLASSIFIED, NAT_EASY, filtering, public)


WILDCARDS = ("0.0.0.0", "::", "")


class Strategy(Enum):
    """What *this* side does when introduced (SPEC 5 table)."""
    PING = "ping"      # direct ping (the other side pings too when it can: a hole punch)
    SPRAY = "spray"    # Easy side of BDP: probes from the main socket to many ports
    POOL = "pool"      # Hard side of BDP: 256 extra sockets ping the Easy side's port
    RELAY = "relay"    # Hard <-> Hard: no punch, traffic goes through the introducer
    WAIT = "wait"      # Static toward a NATed/unknown peer: it dials us; we ping 1 s later
                       # only if it has not (see STRATEGY)


_S, _E, _H, _U = NAT_STATIC, NAT_EASY, NAT_HARD, NAT_UNKNOWN

# (my mapping, their mapping) -> my action. SPEC 5's table read row by row; an unknown side is
# treated as reachable (a ping costs one packet and may succeed; failing falls back to nothing
# worse than before). Data, not ifs: docs/ENGINE.md prints it.
# "direct" between a Static peer and a NATed (or unknown) one means the NATed side dials:
# every row pings a Static column. The Static side WAITs (one ping after a second, only if the
# peer has not connected by then: an unknown peer may be Static too), because its ping would arrive
# unsolicited and, on Linux conntrack NATs, leave an entry that holds the tuple, so the NATed
# side's own ping to us then leaves from ANOTHER public port (measured in the NAT lab,
# docs/NATLAB.md "the knock"): an Easy peer would look Hard to us and to its reflection.
STRATEGY: dict[tuple[int, int], Strategy] = {
    (_S, _S): Strategy.PING, (_S, _E): Strategy.WAIT, (_S, _H): Strategy.WAIT,
    (_E, _S): Strategy.PING, (_E, _E): Strategy.PING, (_E, _H): Strategy.SPRAY,
    (_H, _S): Strategy.PING, (_H, _E): Strategy.POOL, (_H, _H): Strategy.RELAY,
    (_U, _S): Strategy.PING, (_U, _E): Strategy.PING, (_U, _H): Strategy.PING,
    (_S, _U): Strategy.WAIT, (_E, _U): Strategy.PING, (_H, _U): Strategy.PING,
    (_U, _U): Strategy.PING,
}


def strategy(mine: int, theirs: int) -> Strategy:
    """My action toward a peer I am introduced to; arguments are NAT bytes or mappings."""
    return STRATEGY[(mapping_of(mine), mapping_of(theirs))]


def name_of(nat: int) -> str:
    return MAPPING_NAMES.get(mapping_of(nat), "unknown")
