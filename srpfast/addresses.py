"""Bootstrap entries as a caller writes them: parsed and checked at ``network()``, resolved at
``start()`` (docs/EVENTS.md, "Bootstrap").

``bootstrap`` is one string or an iterable of strings and (host, port) pairs. A string is
``"host:port"`` (a name or an IPv4 address) or ``"[v6]:port"``. Bad entries raise
ArgumentError naming the entry at ``network()``, so a typo fails where it is written, not ten
seconds later as silence. Names are resolved through the event loop (``loop.getaddrinfo``,
UDP, never blocking the loop) and only addresses of a family the bound socket can reach are
kept: an IPv4 socket reaches IPv4 only; an IPv6 socket bound to ``::`` (dual stack) both; an
IPv6 socket bound to one IPv6 address IPv6 only. The engine (sans-I/O) only ever sees numeric
(host, port) tuples. The peers file (``peers_file=``, the seed's PEERS list) is read and
written here too: saved addresses are numeric and filtered the same way.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Iterable

from srpfast.errors import ArgumentError
from srpfast.wire.address import Address

log = logging.getLogger("srpfast")

PEERS_SAVED = 256       # addresses a peers file keeps (the seed's PEERS list)
RESOLVE_TIMEOUT = 5.0   # seconds per name: a dead resolver must not hold start() for minutes
PER_NAME = 4            # addresses kept per name (a name with many records is pinged at most 4x)
GOOD = ('write entries as "host:port" (e.g. "198.51.100.7:9000", "localhost:9000"), '
        '"[v6]:port" (e.g. "[2001:db8::7]:9000") or a (host, port) tuple')


@dataclass(frozen=True)
class Entry:
    """One bootstrap entry: as written (for messages) and split."""
    text: str
    host: str
    port: int


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bad(entry: object, why: str) -> ArgumentError:
    return ArgumentError(f"bootstrap entry {entry!r}: {why}; {GOOD}")


def _port(entry: object, port: object) -> int:
    if isinstance(port, str):
        if not port.isdigit() or not port.isascii():
            raise _bad(entry, f"port {port!r} is not a number" if port else "the port is missing")
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool):
        raise _bad(entry, f"port {port!r} is not an integer")
    if not 1 <= port <= 65535:
        raise _bad(entry, f"port {port} is outside 1..65535")
    return port


def _host(entry: object, host: object) -> str:
    if not isinstance(host, str) or not host:
        raise _bad(entry, "the host is empty" if host == "" else f"host {host!r} is not a string")
    if _ip(host) is None and (len(host) > 253 or not all(c.isalnum() or c in "-._"
                                                           for c in host)):
        raise _bad(entry, f"host {host!r} is not a name or an IP address")
    return host


def parse_entry(item: object) -> Entry:
    """One entry -> Entry, or ArgumentError naming it and saying what a good one looks like."""
    if isinstance(item, str):
        text = item
        if "://" in text:
            raise _bad(item, "this is a URL; drop the scheme")
        if text.startswith("["):
            inside, sep, rest = text[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise _bad(item, "an IPv6 address in brackets must be followed by :port")
            if not isinstance(_ip(inside), ipaddress.IPv6Address):
                raise _bad(item, f"{inside!r} in brackets is not an IPv6 address")
            return Entry(text, inside, _port(item, rest[1:]))
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise _bad(item, "the port is missing")
        if ":" in host:
            raise _bad(item, "an IPv6 address needs brackets before the port")
        return Entry(text, _host(item, host), _port(item, port_text))
    if isinstance(item, (tuple, list)) and len(item) == 2:
        raw = item[0]
        if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
            raw = raw[1:-1]  # ("[::1]", 9000) means ("::1", 9000)
        host, port = _host(item, raw), _port(item, item[1])
        return Entry(f"[{host}]:{port}" if ":" in host else f"{host}:{port}", host, port)
    raise _bad(item, f"a {type(item).__name__} is neither a string nor a (host, port) pair")


def parse_bootstrap(bootstrap: object) -> list[Entry]:
    """``bootstrap`` as given to network(): None, one string, or an iterable of entries."""
    if bootstrap is None:
        return []
    if isinstance(bootstrap, str):  # one entry, never its characters
        return [parse_entry(bootstrap)]
    if isinstance(bootstrap, (bytes, bytearray, memoryview)) or not isinstance(bootstrap,
                                                                               Iterable):
        raise ArgumentError(f"bootstrap={bootstrap!r}: pass a string or a list of entries; "
                            f"{GOOD}")
    if isinstance(bootstrap, tuple) and len(bootstrap) == 2 and isinstance(
            bootstrap[1], int) and isinstance(bootstrap[0], str):
        return [parse_entry(bootstrap)]  # one (host, port) pair, not two entries
    return [parse_entry(item) for item in bootstrap]


def families(sock_family: int, bound_host: str) -> tuple[int, ...]:
    """Address families a UDP socket of ``sock_family`` bound to ``bound_host`` can send to
    (srpfast.drivers._udp: an IPv6 socket is dual stack; IPv4 peers go as ::ffff:a.b.c.d)."""
    if sock_family != socket.AF_INET6:
        return (socket.AF_INET,)
    ip = _ip(bound_host.split("%")[0])
    if ip is None or ip.is_unspecified:
        return (socket.AF_INET6, socket.AF_INET)
    return (socket.AF_INET6,)


_NAMES: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


async def _getaddrinfo(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[Any]:
    """The resolver (a seam for tests: a name that fails without a network)."""
    return await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)


async def resolve(entry: Entry, sock_family: int,
                  bound_host: str) -> tuple[list[Address], str | None]:
    """(numeric addresses to ping, None) or ([], why it cannot be used)."""
    allowed = families(sock_family, bound_host)
    can = " or ".join(_NAMES[f] for f in allowed)
    ip = _ip(entry.host)
    if ip is not None:
        fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        if fam not in allowed:
            return [], (f"{_NAMES[fam]} address, but the socket (bound to {bound_host!r}) "
                        f"reaches {can} only: bind host='::' to reach both")
        return [(str(ip), entry.port)], None
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(_getaddrinfo(loop, entry.host, entry.port),
                                       RESOLVE_TIMEOUT)
    except asyncio.TimeoutError:
        return [], f"the name did not resolve within {RESOLVE_TIMEOUT:g} s (check DNS)"
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        return [], f"the name does not resolve ({exc}); check its spelling and DNS"
    out: list[Address] = []
    seen_families = set()
    for fam, _type, _proto, _canon, sockaddr in infos:
        seen_families.add(fam)
        address = (str(sockaddr[0]), int(sockaddr[1]))
        if fam in allowed and address not in out and len(out) < PER_NAME:
            out.append(address)
    if not out:
        found = " and ".join(sorted(_NAMES.get(f, str(f)) for f in seen_families)) or "no"
        return [], (f"the name resolves to {found} addresses only, but the socket (bound to "
                    f"{bound_host!r}) reaches {can}: bind host='::' to reach both")
    return out, None


def load_peers_file(path: str | os.PathLike[str], sock_family: int, bound_host: str) -> list[Address]:
    """Saved numeric addresses the socket can reach. An unreadable file, or an entry that is
    not such an address, is skipped with a warning: a hand-edited or foreign file must not
    stop start()."""
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            data = json.load(f)
        saved = [(str(h), int(p)) for h, p in data.get("peers", [])][:PEERS_SAVED]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable peers file %s: %s", path, exc)
        return []
    reach = families(sock_family, bound_host)
    out: list[Address] = []
    for host, port in saved:
        ip = _ip(host)
        fam = None if ip is None else (socket.AF_INET6 if ip.version == 6 else socket.AF_INET)
        if fam in reach and 0 < port <= 0xFFFF and (host, port) not in out:
            out.append((host, port))
        else:
            log.warning("peers file %s: skipping %s:%s (not a numeric address this socket "
                        "reaches)", path, host, port)
    return out


def save_peers_file(path: str | os.PathLike[str], addresses: list[Address]) -> None:
    """Write atomically (a crash mid-write leaves the old file, never half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"saved": time.time(), "peers": [list(a) for a in addresses][:PEERS_SAVED]},
                  f)
    os.replace(tmp, path)


__all__ = ["Entry", "parse_entry", "parse_bootstrap", "families", "resolve", "RESOLVE_TIMEOUT",
           "load_peers_file", "save_peers_file"]
