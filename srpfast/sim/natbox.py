"""The modelled network's NAT boxes and BDP spray ports (srpfast/sim/memnet.py runs them).

- "static": no box; the peer's address is public.
- "easy": endpoint-independent mapping (one public port per internal socket).
- "hard": endpoint-dependent mapping (a new random public port per internal socket AND
  destination).
- filtering "open" (endpoint-independent), "address" (address-dependent) or "port"
  (address-and-port-dependent), RFC 4787 terms; optionally Linux conntrack's "knock".

State lives as long as Linux conntrack keeps a UDP entry: a flow (internal socket, remote
address) dies ``CONNTRACK_UNREPLIED`` s after its last packet, or ``CONNTRACK_REPLIED`` s
after it once it has seen a reply; with the flow go its filtering permission and, for a Hard
NAT, its mapping; an Easy NAT's mapping goes with the last flow of its socket (docs/SIMULATION.md,
"Assumptions").
"""
from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Callable

from srpfast.wire.address import Address

INF = float("inf")

_M64 = (1 << 64) - 1
BITMAP_AT = 256  # ports toward one host kept as a set up to this many, then as a bitmap
_SPRAY_RANGE = 65536 - 1024  # BDP probes go to ports 1024..65535 (PROTOCOL.md §5)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


@lru_cache(maxsize=4096)
def _spray_affine(seed: int) -> tuple[int, int]:
    """(a, b) of the seed's permutation k -> (a k + b) mod range: a coprime to the range."""
    x = _splitmix64(seed & _M64)
    a = x % _SPRAY_RANGE
    while math.gcd(a, _SPRAY_RANGE) != 1:
        a += 1
    return a, _splitmix64(x) % _SPRAY_RANGE


def spray_ports(seed: int, count: int, first: int = 0) -> list[int]:
    """Ports ``first`` .. ``first + count - 1`` of the spray drawn from ``seed`` (a Spray
    action's), distinct, in 1024..65535, deterministic: an affine permutation of the range
    whose multiplier and offset come from the seed, so any stretch of it costs its own
    length. (A drawn-and-kept plan per seed went quadratic once more sprays were in flight
    than plans were kept: 300 peers spent 97% of their time redrawing, bench_sim.) The
    driver's C spray draws its ports otherwise (a partial Fisher-Yates, csrc/udp.c); what
    the model needs is the same: distinct ports, which a Hard NAT's random port (NatBox)
    meets with the same chance whatever their order."""
    end = min(first + count, _SPRAY_RANGE)
    a, b = _spray_affine(seed)
    return [1024 + (a * k + b) % _SPRAY_RANGE for k in range(first, end)]


SPRAY_PROBE = bytes(4)  # what the driver's C spray sends (srpfast/drivers/_udp.pyx)


# Linux's UDP conntrack timeouts (nf_conntrack_proto_udp.c; Documentation/networking/
# nf_conntrack-sysctl): an entry that saw packets one way lives nf_conntrack_udp_timeout s
# after its last packet, one that saw replies nf_conntrack_udp_timeout_stream s (120 since
# Linux 5.0, commit 294304e4; 180 before). (Linux gives the stream timeout only to a flow
# still active 2 s after its first packet; the model gives it to every replied flow.)
CONNTRACK_UNREPLIED = 30.0
CONNTRACK_REPLIED = 120.0
GC_EVERY = 10.0  # s between two collections of a box's dead entries (NatBox._collect)
Flow = tuple[Address, Address]  # (internal socket, remote address): one conntrack entry


class NatBox:
    def __init__(self, host: str, mapping: str, filtering: str, rng: random.Random,
                 port_range: tuple[int, int] = (1024, 65535)) -> None:
        assert mapping in ("easy", "hard") and filtering in ("open", "address", "port")
        self.host, self.mapping, self.filtering = host, mapping, filtering
        self.rng = rng
        self.port_range = port_range
        self.clock: Callable[[], float] = lambda: 0.0
        self.conntrack = False
        self.reset()

    def reset(self) -> None:
        """Every mapping, flow and permission gone (the box reboots)."""
        self.out_map: dict[object, int] = {}
        self.in_map: dict[int, Address] = {}
        # The conntrack entries: each flow's last packet time, negated once it saw a reply.
        # They are also the filtering state: a port-restricted NAT admits what answers a
        # live flow. (A Hard NAT's BDP pool makes 256 flows at once, an Easy peer's spray
        # ~1000: kept forever they were what grew with virtual time, 0.25 MiB a peer per
        # 100 virtual s at 1,000 peers; docs/SIMULATION_SCALE_LOG.md, "Memory".)
        self.flows: dict[Flow, float] = {}
        # An Easy NAT's spray (open_ports): the ports its probes went to on one host, one
        # entry ([ports, time of the last probe]) that dies CONNTRACK_UNREPLIED s after its
        # last probe, as the probes' unreplied flows would (~1000 flows built one by one
        # would cost a spray ~1 ms): up to BITMAP_AT ports a set, past it a 8 KiB bitmap. A
        # probe's port that answers becomes a flow of its own.
        self.sprays: dict[tuple[Address, str], list[Any]] = {}
        self.users: dict[Address, int] = {}  # Easy: flows and sprays of each mapped socket
        # Dead entries are treated as gone when a packet looks them up (as Linux does) and
        # are collected every GC_EVERY s (Linux's gc_worker runs periodically too).
        self._gc_at = -INF
        self.filtered = 0
        # Linux conntrack's knock (opt-in, MemNet(conntrack=True); the nat-matrix scenario):
        # an unsolicited inbound packet leaves an entry that reserves its tuple for
        # CONNTRACK_UNREPLIED s, so a later outbound flow to that sender cannot take that
        # public port and leaves from another one: the "knock" of docs/NATLAB.md.
        self.knocked: dict[tuple[int, Address], float] = {}

    def _new_port(self) -> int:
        # The draws of rng.randint(lo, hi), in the same order (CPython's randrange: a
        # getrandbits of the width's bit length until one falls below the width), without
        # its four Python calls a port: a Hard peer's BDP pool maps 256 sockets at once,
        # and randint was ~3.5% of a 200-peer steady run (py-spy).
        lo, hi = self.port_range
        width = hi - lo + 1
        bits, draw, in_map = width.bit_length(), self.rng.getrandbits, self.in_map
        while True:
            r = draw(bits)
            while r >= width:
                r = draw(bits)
            port = lo + r
            if port not in in_map:
                return port

    # ------------------------------------------------------------ conntrack's lifetimes
    def _now(self) -> float:
        now = self.clock()
        if now >= self._gc_at:
            self._collect(now)
        return now

    def _collect(self, now: float) -> None:
        """Drop every dead flow, spray and knock."""
        unreplied, replied = now - CONNTRACK_UNREPLIED, -(now - CONNTRACK_REPLIED)
        for flow in [f for f, t in self.flows.items()
                     if (t <= unreplied if t >= 0 else t >= replied)]:
            self._drop(flow)
        for pair in [k for k, s in self.sprays.items() if s[1] <= unreplied]:
            del self.sprays[pair]
            self._unuse(pair[0])
        if self.knocked:
            self.knocked = {k: t for k, t in self.knocked.items() if t > unreplied}
        self._gc_at = now + GC_EVERY

    @staticmethod
    def _live(last: float | None, now: float) -> bool:
        if last is None:
            return False
        return (last > now - CONNTRACK_UNREPLIED if last >= 0
                else -last > now - CONNTRACK_REPLIED)

    @staticmethod
    def _spray_live(spray: list[Any] | None, now: float) -> bool:
        """A spray entry (``sprays``) whose probes' flows conntrack still keeps."""
        return spray is not None and spray[1] > now - CONNTRACK_UNREPLIED

    def _new_flow(self, flow: Flow, when: float) -> None:
        self.flows[flow] = when
        if self.mapping == "easy":
            self.users[flow[0]] = self.users.get(flow[0], 0) + 1

    def _drop(self, flow: Flow) -> None:
        del self.flows[flow]
        internal = flow[0]
        port = self.out_map.pop(flow, None)  # a Hard NAT's (or a knock-moved) mapping
        if port is not None and self.in_map.get(port) == internal:
            del self.in_map[port]
        self._unuse(internal)

    def _unuse(self, internal: Address) -> None:
        """A flow or spray of ``internal`` died: an Easy mapping goes with its last one."""
        if self.mapping != "easy":
            return
        left = self.users.get(internal, 0) - 1
        if left > 0:
            self.users[internal] = left
            return
        self.users.pop(internal, None)
        port = self.out_map.pop(internal, None)
        if port is not None and self.in_map.get(port) == internal:
            del self.in_map[port]

    def permitted(self, internal: Address, host: str) -> set[int]:
        """The ports of ``host`` that may answer ``internal`` now (its live flows' and its
        sprays' ports)."""
        now = self.clock()
        out = {f[1][1] for f, t in self.flows.items()
               if f[0] == internal and f[1][0] == host and self._live(t, now)}
        spray = self.sprays.get((internal, host))
        if self._spray_live(spray, now):
            assert spray is not None
            ports = spray[0]
            out |= (ports if isinstance(ports, set)
                    else {p for p in range(65536) if ports[p >> 3] & (1 << (p & 7))})
        return out

    # ------------------------------------------------------------ packets
    def outbound(self, internal: Address, dst: Address) -> Address:
        now = self._now()
        flow = (internal, dst)
        last = self.flows.get(flow)
        if last is not None and self._live(last, now):
            self.flows[flow] = -now if last < 0 else now
        else:
            if last is not None:
                self._drop(flow)
            self._new_flow(flow, now)
        key: object = internal if self.mapping == "easy" else flow
        if self.conntrack and flow in self.out_map:
            key = flow  # a flow that had to leave from another port keeps it
        port = self.out_map.get(key)
        if (port is not None and self.conntrack and flow not in self.out_map
                and self.knocked.get((port, dst), -INF) > now - CONNTRACK_UNREPLIED):
            key, port = flow, None  # the tuple is taken: another source port
        if port is None:
            port = self._new_port()
            while (self.conntrack and self.knocked.get((port, dst), -INF)
                   > now - CONNTRACK_UNREPLIED):
                port = self._new_port()
            self.out_map[key] = port
            self.in_map[port] = internal
        return (self.host, port)

    def open_ports(self, internal: Address, host: str, ports: list[int]) -> Address:
        """What an Easy NAT (one mapping per internal socket, no conntrack) does for a
        spray's probes from ``internal`` to ``ports`` on ``host``, in one step: the mapping
        ``outbound`` would make or use (returned: the probes' public source) and the
        filtering state it would leave for each port, as one entry (``sprays``)."""
        now = self._now()
        port = self.out_map.get(internal)
        if port is None:
            port = self.out_map[internal] = self._new_port()
            self.in_map[port] = internal
        pair = (internal, host)
        spray = self.sprays.get(pair)
        if spray is None or not self._spray_live(spray, now):
            if spray is None:
                self.users[internal] = self.users.get(internal, 0) + 1
            spray = self.sprays[pair] = [None, now]
        spray[1] = now
        known = spray[0]
        if isinstance(known, bytearray):
            bitmap = known
        else:
            merged = set(ports) if known is None else known | set(ports)
            if len(merged) <= BITMAP_AT:
                spray[0] = merged
                return (self.host, port)
            bitmap = spray[0] = bytearray(8192)
            ports = list(merged)
        for p in ports:
            bitmap[p >> 3] |= 1 << (p & 7)
        return (self.host, port)

    def inbound(self, port: int, src: Address) -> Address | None:
        now = self._now()
        internal = self.in_map.get(port)
        if internal is None:
            return self._filter(port, src)
        flow = (internal, src)
        last = self.flows.get(flow)
        live = self._live(last, now)
        if last is not None and not live:
            self._drop(flow)  # (dead since its timeout)
            internal = self.in_map.get(port)
            if internal is None:
                return self._filter(port, src)
        if self.mapping == "hard" or (self.conntrack and flow in self.out_map):
            # An endpoint-dependent mapping only admits the endpoint it was made for.
            if not live or self.out_map.get(flow) != port:
                return self._filter(port, src)
        if live:
            self.flows[flow] = -now  # traffic both ways: the stream timeout
            return internal
        spray = self.sprays.get((internal, src[0]))
        spray_live = self._spray_live(spray, now)
        sprayed = spray_live and spray is not None and (
            src[1] in spray[0] if isinstance(spray[0], set)
            else spray[0][src[1] >> 3] & (1 << (src[1] & 7)) != 0)
        if not (sprayed or self.filtering == "open"
                or (self.filtering == "address"
                    and (spray_live
                         or any(f[0] == internal and f[1][0] == src[0]  # (no sim scenario
                                and self._live(t, now)               # filters so: a scan)
                                for f, t in self.flows.items())))):
            return self._filter(port, src)
        # An answer to a spray's probe (a replied flow of its own now), or unsolicited
        self._new_flow(flow, -now if sprayed else now)
        return internal

    def drop_unmapped(self, probes: list[tuple[int, Address]]) -> list[tuple[int, Address]]:
        """Of (port, source) datagrams arriving together, those that reach a mapping; the
        rest are filtered as ``_filter`` does one by one (counted, a conntrack entry each
        when modelled), in one step: a BDP spray's probes nearly all die here."""
        self._now()
        in_map = self.in_map
        hits = [(p, s) for p, s in probes if p in in_map]
        if len(hits) < len(probes):
            if self.conntrack:
                for p, s in probes:
                    if p not in in_map:
                        self._filter(p, s)
            else:
                self.filtered += len(probes) - len(hits)
        return hits

    def _filter(self, port: int, src: Address) -> Address | None:
        """Drop an inbound datagram (None), leaving its conntrack entry when modelled."""
        self.filtered += 1
        if self.conntrack:
            self.knocked[(port, src)] = self.clock()
        return None
