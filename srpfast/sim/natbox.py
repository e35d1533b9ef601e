"""The modelled network's NAT boxes and BDP spray ports (srpfast/sim/memnet.py runs them).

- "static": no box; the peer's address is public.
- "easy": endpoint-independent mapping (one public port per internal socket).
- "hard": endpoint-dependent mapping (a new random public port per internal socket AND
  destination).
- filtering "open" (endpoint-independent), "address" (address-dependent) or "port"
  (address-and-port-dependent), RFC 4787 terms; optionally Linux conntrack's "knock".

State lives as long as Linux conntrack keeps a UDP entry: a flow (internal socket, remote
address) dies ``CONNTRACK_UNREPLIED`` s after its last packet, or ``CONNTRACK_REPLIED`` s
once it has seen a reply; with the flow go its filtering permission and, for a Hard NAT, its
mapping; an Easy NAT's mapping goes with the last flow of its socket (docs/SIMULATION.md,
"Assumptions").
"""
from __future__ import annotations

import heapq
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
Ports = int | set[int] | bytearray  # the ports one internal socket sent to on one host (NatBox)
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
        # Filtering state per (internal socket, host it sent to): the ports of its live flows,
        # one as an int (nearly every pair: a Hard NAT's 256-socket BDP pool sends each socket
        # to one port, and a set per pair in a dict per socket was the simulator's largest
        # table, 17 MiB at 150 peers), a set from two, past BITMAP_AT ports a 8 KiB bitmap.
        self.perms: dict[tuple[Address, str], Ports] = {}
        # An Easy NAT's spray (open_ports): the ports its probes opened toward one host, as
        # one entry ([ports, time of the last probe]) that dies CONNTRACK_UNREPLIED s after
        # the last probe, as the probes' unreplied flows do (~1000 flows, built one by one,
        # would cost a spray ~1 ms); a probe's port that is answered becomes a flow of its own.
        self.sprays: dict[tuple[Address, str], list[Any]] = {}
        # Conntrack: each flow's last packet time, negated once the flow saw a reply; the
        # heap holds (when to look at it, flow), a spray as the flow (socket, (host, -1)).
        self.flows: dict[Flow, float] = {}
        self.users: dict[Address, int] = {}  # Easy: live flows (and sprays) of a mapped socket
        self._expiry: list[tuple[float, Flow]] = []
        self.filtered = 0
        # Linux conntrack's knock (opt-in, MemNet(conntrack=True); the nat-matrix scenario):
        # an unsolicited inbound packet leaves an entry that reserves its tuple for
        # CONNTRACK_UNREPLIED s, so a later outbound flow to that sender cannot take that
        # public port and leaves from another one: the "knock" of docs/NATLAB.md.
        self.knocked: dict[tuple[int, Address], float] = {}
        self._knocked_prune_at = 64

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
    def _new_flow(self, flow: Flow, now: float) -> None:
        self.flows[flow] = now
        heapq.heappush(self._expiry, (now + CONNTRACK_UNREPLIED, flow))
        if self.mapping == "easy":
            internal = flow[0]
            self.users[internal] = self.users.get(internal, 0) + 1

    def _expire(self, now: float) -> None:
        """Drop the flows (and sprays) whose timeout has passed (Linux: an entry is dead
        from its timeout on, whenever its garbage collector gets to it)."""
        heap, flows, sprays = self._expiry, self.flows, self.sprays
        while heap and heap[0][0] <= now:
            flow = heapq.heappop(heap)[1]
            internal, remote = flow
            if remote[1] < 0:  # a spray's probes toward one host
                spray = sprays.get((internal, remote[0]))
                if spray is None:
                    continue
                due = spray[1] + CONNTRACK_UNREPLIED
                if due > now:
                    heapq.heappush(heap, (due, flow))
                    continue
                del sprays[(internal, remote[0])]
                self._unuse(internal)
                continue
            last = flows.get(flow)
            if last is None:
                continue
            due = -last + CONNTRACK_REPLIED if last < 0 else last + CONNTRACK_UNREPLIED
            if due > now:
                heapq.heappush(heap, (due, flow))
                continue
            del flows[flow]
            port = self.out_map.pop(flow, None)  # a Hard NAT's (or a knock-moved) mapping
            if port is not None and self.in_map.get(port) == internal:
                del self.in_map[port]
            self._unuse(internal)
            self._unpermit(internal, remote)

    def _unuse(self, internal: Address) -> None:
        """One flow of ``internal`` died: an Easy NAT's mapping goes with its last one."""
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

    def _permit(self, internal: Address, dst: Address) -> None:
        perms, pair = self.perms, (internal, dst[0])
        ports = perms.get(pair)
        if ports is None:
            perms[pair] = dst[1]
        elif isinstance(ports, int):
            if ports != dst[1]:
                perms[pair] = {ports, dst[1]}
        elif isinstance(ports, set):
            ports.add(dst[1])
            if len(ports) > BITMAP_AT:
                bitmap = bytearray(8192)
                for p in ports:
                    bitmap[p >> 3] |= 1 << (p & 7)
                perms[pair] = bitmap
        else:
            ports[dst[1] >> 3] |= 1 << (dst[1] & 7)

    def _unpermit(self, internal: Address, dst: Address) -> None:
        perms, pair, port = self.perms, (internal, dst[0]), dst[1]
        ports = perms.get(pair)
        if isinstance(ports, int):
            if ports == port:
                del perms[pair]
        elif isinstance(ports, set):
            ports.discard(port)
            if len(ports) == 1:
                perms[pair] = ports.pop()
        elif ports is not None:
            ports[port >> 3] &= ~(1 << (port & 7)) & 0xFF
            if ports.count(0) == len(ports):
                del perms[pair]

    def permitted(self, internal: Address, host: str) -> set[int]:
        """The ports of ``host`` that may answer ``internal`` (its flows' and its sprays')."""
        out: set[int] = set()
        for ports in (self.perms.get((internal, host)),
                      (self.sprays.get((internal, host)) or [None])[0]):
            if isinstance(ports, int):
                out.add(ports)
            elif isinstance(ports, set):
                out |= ports
            elif ports is not None:
                out.update(p for p in range(65536) if ports[p >> 3] & (1 << (p & 7)))
        return out

    # ------------------------------------------------------------ packets
    def outbound(self, internal: Address, dst: Address) -> Address:
        now = self.clock()
        if self._expiry and self._expiry[0][0] <= now:
            self._expire(now)
        flow = (internal, dst)
        last = self.flows.get(flow)
        if last is None:
            self._new_flow(flow, now)
            self._permit(internal, dst)
        else:
            self.flows[flow] = -now if last < 0 else now
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

    def open_ports(self, internal: Address, host: str, ports: list[int]) -> None:
        """The filtering state ``outbound`` leaves for each of ``ports`` on ``host``, in one
        step: what an Easy NAT (one mapping per internal socket, no conntrack) does for a
        spray, whose public port is the mapping ``outbound`` already made for the first.
        The spray's ports live as one entry (``sprays``), as long as their flows would."""
        now = self.clock()
        if self._expiry and self._expiry[0][0] <= now:
            self._expire(now)
        pair = (internal, host)
        spray = self.sprays.get(pair)
        if spray is None:
            spray = self.sprays[pair] = [None, now]
            heapq.heappush(self._expiry, (now + CONNTRACK_UNREPLIED, (internal, (host, -1))))
            if self.mapping == "easy":
                self.users[internal] = self.users.get(internal, 0) + 1
        spray[1] = now
        known = spray[0]
        if isinstance(known, bytearray):
            bitmap = known
        else:
            merged = set(ports) if known is None else known | set(ports)
            if len(merged) <= BITMAP_AT:
                spray[0] = merged
                return
            bitmap = spray[0] = bytearray(8192)
            ports = list(merged)
        for p in ports:
            bitmap[p >> 3] |= 1 << (p & 7)

    def inbound(self, port: int, src: Address) -> Address | None:
        now = self.clock()
        if self._expiry and self._expiry[0][0] <= now:
            self._expire(now)
        internal = self.in_map.get(port)
        if internal is None:
            return self._filter(port, src)
        flow = (internal, src)
        if self.mapping == "hard" or (self.conntrack and flow in self.out_map):
            # An endpoint-dependent mapping only admits the endpoint it was made for.
            if self.out_map.get(flow) != port:
                return self._filter(port, src)
        pair = (internal, src[0])
        ports = self.perms.get(pair)
        sprayed = self.sprays.get(pair)
        answers = ((ports is not None
                    and (ports == src[1] if isinstance(ports, int)
                         else src[1] in ports if isinstance(ports, set)
                         else ports[src[1] >> 3] & (1 << (src[1] & 7)) != 0))
                   or (sprayed is not None
                       and (src[1] in sprayed[0] if isinstance(sprayed[0], set)
                            else sprayed[0][src[1] >> 3] & (1 << (src[1] & 7)) != 0)))
        ok = (answers or self.filtering == "open"
              or (self.filtering == "address" and (ports is not None or sprayed is not None)))
        if not ok:
            return self._filter(port, src)
        last = self.flows.get(flow)
        if last is not None:
            self.flows[flow] = -now  # traffic both ways: the stream timeout
        else:  # an answer to a spray's probe (a flow of its own now), or unsolicited
            self._new_flow(flow, now)
            self._permit(internal, src)
            if answers:
                self.flows[flow] = -now
        return internal

    def drop_unmapped(self, probes: list[tuple[int, Address]]) -> list[tuple[int, Address]]:
        """Of (port, source) datagrams arriving together, those that reach a mapping; the
        rest are filtered as ``_filter`` does one by one (counted, a conntrack entry each
        when modelled), in one step: a BDP spray's probes nearly all die here."""
        now = self.clock()
        if self._expiry and self._expiry[0][0] <= now:
            self._expire(now)
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
            now = self.clock()
            self.knocked[(port, src)] = now
            if len(self.knocked) > self._knocked_prune_at:  # (dead ones out, amortized)
                cutoff = now - CONNTRACK_UNREPLIED
                self.knocked = {k: t for k, t in self.knocked.items() if t > cutoff}
                self._knocked_prune_at = 2 * len(self.knocked) + 64
        return None
