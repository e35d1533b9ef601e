"""The modelled network's NAT boxes and BDP spray ports (srpfast/sim/memnet.py runs them).

- "static": no box; the peer's address is public.
- "easy": endpoint-independent mapping (one public port per internal socket).
- "hard": endpoint-dependent mapping (a new random public port per internal socket AND
  destination).
- filtering "open" (endpoint-independent), "address" (address-dependent) or "port"
  (address-and-port-dependent), RFC 4787 terms; optionally Linux conntrack's "knock".
"""
from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Callable

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


CONNTRACK_UNREPLIED = 30.0  # s: Linux nf_conntrack_udp_timeout (an unreplied UDP entry)
Ports = int | set[int] | bytearray  # the ports one internal socket sent to on one host (NatBox)


class NatBox:
    def __init__(self, host: str, mapping: str, filtering: str, rng: random.Random,
                 port_range: tuple[int, int] = (1024, 65535)) -> None:
        assert mapping in ("easy", "hard") and filtering in ("open", "address", "port")
        self.host, self.mapping, self.filtering = host, mapping, filtering
        self.rng = rng
        self.port_range = port_range
        self.out_map: dict[object, int] = {}
        self.in_map: dict[int, Address] = {}
        # Filtering state per (internal socket, host it sent to): the ports, one as an int
        # (nearly every pair: a Hard NAT's 256-socket BDP pool sends each socket to one port,
        # and a set per pair in a dict per socket was the simulator's largest table, 17 MiB
        # at 150 peers), a set from two, past BITMAP_AT ports a 8 KiB bitmap (a BDP spray
        # opens ~1000 ports toward one host, which as (host, port) tuples cost ~100 KiB).
        self.perms: dict[tuple[Address, str], Ports] = {}
        self.filtered = 0
        # Linux conntrack (opt-in, MemNet(conntrack=True); the nat-matrix scenario): an
        # unsolicited inbound packet leaves an entry that reserves its tuple for
        # CONNTRACK_UNREPLIED s, so a later outbound flow to that sender cannot take that
        # public port and leaves from another one: the "knock" of docs/NATLAB.md.
        self.conntrack = False
        self.knocked: dict[tuple[int, Address], float] = {}
        self.clock: Callable[[], float] = lambda: 0.0

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

    def outbound(self, internal: Address, dst: Address) -> Address:
        key: object = internal if self.mapping == "easy" else (internal, dst)
        if self.conntrack and (internal, dst) in self.out_map:
            key = (internal, dst)  # a flow that had to leave from another port keeps it
        port = self.out_map.get(key)
        if (port is not None and self.conntrack and (internal, dst) not in self.out_map
                and self.knocked.get((port, dst), -INF) > self.clock() - CONNTRACK_UNREPLIED):
            key, port = (internal, dst), None  # the tuple is taken: another source port
        if port is None:
            port = self._new_port()
            while (self.conntrack and self.knocked.get((port, dst), -INF)
                   > self.clock() - CONNTRACK_UNREPLIED):
                port = self._new_port()
            self.out_map[key] = port
            self.in_map[port] = internal
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
        return (self.host, port)

    def open_ports(self, internal: Address, host: str, ports: list[int]) -> None:
        """The filtering state ``outbound`` leaves for each of ``ports`` on ``host``, in one
        step: what an Easy NAT (one mapping per internal socket, no conntrack) does for a
        spray, whose public port is the mapping ``outbound`` already made for the first."""
        pair = (internal, host)
        known = self.perms.get(pair)
        if isinstance(known, bytearray):
            bitmap = known
        else:
            merged = (set(ports) if known is None
                      else {known, *ports} if isinstance(known, int) else known | set(ports))
            if len(merged) <= BITMAP_AT:
                self.perms[pair] = merged
                return
            bitmap = self.perms[pair] = bytearray(8192)
            ports = list(merged)
        for p in ports:
            bitmap[p >> 3] |= 1 << (p & 7)

    def inbound(self, port: int, src: Address) -> Address | None:
        internal = self.in_map.get(port)
        if internal is None:
            return self._filter(port, src)
        if self.mapping == "hard" or (self.conntrack and (internal, src) in self.out_map):
            # An endpoint-dependent mapping only admits the endpoint it was made for.
            if self.out_map.get((internal, src)) != port:
                return self._filter(port, src)
        ports = self.perms.get((internal, src[0]))
        ok = (self.filtering == "open" or (self.filtering == "address" and ports is not None)
              or (self.filtering == "port" and ports is not None
                  and (ports == src[1] if isinstance(ports, int)
                       else src[1] in ports if isinstance(ports, set)
                       else ports[src[1] >> 3] & (1 << (src[1] & 7)) != 0)))
        if not ok:
            return self._filter(port, src)
        return internal

    def drop_unmapped(self, probes: list[tuple[int, Address]]) -> list[tuple[int, Address]]:
        """Of (port, source) datagrams arriving together, those that reach a mapping; the
        rest are filtered as ``_filter`` does one by one (counted, a conntrack entry each
        when modelled), in one step: a BDP spray's probes nearly all die here."""
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
