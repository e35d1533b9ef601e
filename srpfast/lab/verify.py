"""Measure each lab NAT with plain UDP sockets before any srpfast peer runs (docs/NATLAB.md).

Two echo servers on public hosts (``serve``) and a probe inside the host under test
(``probe``), each a process in its namespace (``python -m srpfast.lab.verify ...``):

- mapping: one socket asks both echo servers what address they see; the same public port
  from both -> endpoint-independent (Easy), different ports -> endpoint-dependent (Hard), the
  host's own address and port -> no translation (Static).
- knock: after (b), the same socket asks echo 2 what it sees. On Linux an EIM mapping then
  shows ANOTHER port toward echo 2: the unsolicited packet left a conntrack entry holding
  that tuple, so masquerade picks a new port for the flow (why SPEC 5's "direct" lets the
  NATed side dial first: docs/NATLAB.md).
- filtering: a fresh socket asks echo 1 what it sees, then (a) asks echo 1 to answer from its
  other port and (b) asks echo 1 to have echo 2, a host this socket never sent to, send to
  that address. (b) arriving -> open (endpoint-independent) filtering; only (a) ->
  address-restricted; neither -> port-restricted (address-and-port-dependent).

Echo protocol (text datagrams): ``echo`` -> ``seen HOST PORT`` from the same port; ``alt`` ->
the same answer from the other port; ``fwd HOST PORT`` -> ``poke HOST PORT`` to the other echo
server, whose answer ``poked`` goes to HOST:PORT.
"""
from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from srpfast.errors import LabError

ECHO_PORT, ALT_PORT = 3478, 3479
WAIT = 0.4      # seconds per try
TRIES = 3

# What each lab kind must measure as (topology.KINDS): (mapping, filtering).
EXPECTED = {
    "static": ("none", "open"),
    "easy": ("endpoint-independent", "port"),
    "hard": ("endpoint-dependent", "port"),
    "open": ("endpoint-independent", "open"),
    "knock": ("endpoint-independent", "port"),
    "address": ("endpoint-independent", "address"),
    "double": ("endpoint-independent", "port"),
    "samenat": ("endpoint-independent", "port"),
    "static6": ("none", "open"),
    "fw6": ("none", "port"),      # a stateful firewall, no NAT: port-restricted filtering
}
# Kinds whose router keeps a knocking packet's conntrack entry (topology.NAT_ONLY): a later
# flow of the host toward that source is remapped. Every other EIM kind must keep its port.
KNOCK_REMAPS = frozenset({"knock"})


@dataclass(frozen=True)
class Verdict:
    host: str
    kind: str
    mapping: str
    filtering: str
    local: tuple[str, int]
    seen: tuple[tuple[str, int], tuple[str, int]]
    port_preserved: bool
    knock_remaps: bool = False  # EIM, yet a destination that sent first gets another port
    # The router's conntrack after the probe: UDP entries from echo 2 to the router's wan
    # address that never saw a reply (the knock's trace; None for a public host).
    unreplied: int | None = None

    @property
    def ok(self) -> bool:
        knock_ok = self.mapping != "endpoint-independent" or \
            self.knock_remaps == (self.kind in KNOCK_REMAPS)
        return (self.mapping, self.filtering) == EXPECTED[self.kind] and knock_ok

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "mapping": self.mapping,
                "filtering": self.filtering, "local": list(self.local),
                "seen": [list(s) for s in self.seen], "port_preserved": self.port_preserved,
                "knock_remaps": self.knock_remaps, "unreplied": self.unreplied,
                "ok": self.ok}


# ---------------------------------------------------------------------- server
def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(host: str, peer: str) -> None:
    """Answer forever (the lab ends this process by pid). ``peer``: the other echo server."""
    main = socket.socket(family(host), socket.SOCK_DGRAM)
    alt = socket.socket(family(host), socket.SOCK_DGRAM)
    main.bind((host, ECHO_PORT))
    alt.bind((host, ALT_PORT))
    print(json.dumps({"ev": "serving", "host": host}), flush=True)
    while True:
        ready, _, _ = select.select([main, alt], [], [])
        for sock in ready:
            data, src = sock.recvfrom(512)
            words = data.decode(errors="replace").split()
            if not words:
                continue
            seen = f"seen {src[0]} {src[1]}".encode()
            if words[0] == "echo":
                sock.sendto(seen, src)
            elif words[0] == "alt":
                (alt if sock is main else main).sendto(seen, src)
            elif words[0] == "fwd" and len(words) == 3:
                main.sendto(f"poke {words[1]} {words[2]}".encode(), (peer, ECHO_PORT))
            elif words[0] == "poke" and len(words) == 3 and src[0] == peer:
                main.sendto(b"poked", (words[1], int(words[2])))


# ---------------------------------------------------------------------- probe
def _ask(sock: socket.socket, message: bytes, to: tuple[str, int]) -> tuple[str, int]:
    for _ in range(TRIES):
        sock.sendto(message, to)
        if select.select([sock], [], [], WAIT)[0]:
            words = sock.recv(512).decode().split()
            if words[:1] == ["seen"]:
                return words[1], int(words[2])
    raise LabError(f"no answer from echo server {to[0]}:{to[1]}: is the lab network up?")


def _arrives(sock: socket.socket, want: bytes, wait: float) -> bool:
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return False
        data = sock.recv(512)
        if data.startswith(want):
            return True
    return False


def route_source(to: tuple[str, int]) -> str:
    """The source address the kernel picks toward ``to`` (a connected UDP socket sends
    nothing)."""
    s = socket.socket(family(to[0]), socket.SOCK_DGRAM)
    try:
        s.connect(to)
        source: str = s.getsockname()[0]
        return source
    finally:
        s.close()


def probe(echo1: str, echo2: str) -> dict[str, Any]:
    fam = family(echo1)
    anywhere = "::" if fam == socket.AF_INET6 else "0.0.0.0"
    a = socket.socket(fam, socket.SOCK_DGRAM)
    a.bind((anywhere, 0))
    local = (route_source((echo1, ECHO_PORT)), a.getsockname()[1])
    seen1 = _ask(a, b"echo", (echo1, ECHO_PORT))
    seen2 = _ask(a, b"echo", (echo2, ECHO_PORT))
    if seen1 == local and seen2 == local:
        mapping = "none"
    elif seen1 == seen2:
        mapping = "endpoint-independent"
    else:
        mapping = "endpoint-dependent"
    b = socket.socket(fam, socket.SOCK_DGRAM)
    b.bind((anywhere, 0))
    seen_b = _ask(b, b"echo", (echo1, ECHO_PORT))
    b.sendto(f"fwd {seen_b[0]} {seen_b[1]}".encode(), (echo1, ECHO_PORT))
    third_party = _arrives(b, b"poked", 2 * WAIT)
    b.sendto(b"alt", (echo1, ECHO_PORT))
    other_port = _arrives(b, b"seen", 2 * WAIT)
    filtering = "open" if third_party else "address" if other_port else "port"
    # The knock: echo 2 sent to this mapping before we ever sent to echo 2. Now we do: with
    # Linux conntrack, the unsolicited packet left an entry holding that tuple, so an
    # endpoint-independent mapping gets a NEW port toward echo 2 (docs/NATLAB.md).
    after_knock = _ask(b, b"echo", (echo2, ECHO_PORT))
    b.close()
    a.close()
    b.close()
    return {"mapping": mapping, "filtering": filtering, "local": list(local),
            "seen": [list(seen1), list(seen2)], "port_preserved": seen1[1] == local[1],
            "knock_remaps": mapping == "endpoint-independent" and after_knock != seen_b}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m srpfast.lab.verify")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("host")
    s.add_argument("peer")
    p = sub.add_parser("probe")
    p.add_argument("echo1")
    p.add_argument("echo2")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        serve(args.host, args.peer)
        return 0
    try:
        print(json.dumps(probe(args.echo1, args.echo2)), flush=True)
    except LabError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
