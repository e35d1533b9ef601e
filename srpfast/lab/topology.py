"""Build and tear down a NAT lab topology with ip netns, veth, a bridge and nftables.

    srplab-inet          the "internet": bridge br0, no address, no route to the host
      |-- srplab-s1      Static host: eth0 198.18.0.11/16 (public), nothing translates
      |-- srplab-e1-nat  NAT router: wan 198.18.1.11/16 | lan 198.19.1.1/24, nft masquerade
      |     `-- srplab-e1    host behind it: eth0 198.19.1.2/24, default via 198.19.1.1
      `-- ...

Only addresses in 198.18.0.0/15 are used and no interface of the host's own namespace is
touched (veth pairs are created directly between lab namespaces), so lab traffic cannot leave
the lab. Every namespace name starts with ``PREFIX``: ``clean_leftovers`` removes those of a
crashed run, and a lock file serialises lab runs so two runs never tear down each other.

NAT kinds (SPEC 5; RFC 4787 terms):

- ``static``: a public address on the bridge (no NAT).
- ``easy``: ``masquerade``. Linux keeps a flow's source port when it is free and reuses it for
  every destination: endpoint-independent mapping. Filtering: port-restricted (conntrack).
- ``hard``: ``masquerade fully-random``: a random public port per flow (per destination):
  endpoint-dependent mapping, port-restricted filtering.
- ``open``: ``masquerade`` plus a ``dnat`` of every inbound UDP port to the host behind it
  (same port): with the port preserved, an endpoint-independent mapping with
  endpoint-independent filtering (a "full cone"), the filtering variant.
- ``address``: ``masquerade`` plus a ``dnat`` to the host of inbound UDP from an address the
  host has sent to, on the public port it sent from (a set the postrouting hook fills after
  masquerade): address-restricted filtering, the other filtering variant.
- ``double``: a home router (``easy``) whose wan is on the LAN of a carrier-grade NAT
  (another ``easy`` router, ``srplab-<name>-cgn``, on the bridge): two masquerades in a row.
- ``samenat``: a second host behind the router of the last ``easy`` host added (its own
  /24 on that router): two peers behind one NAT. Linux masquerade does not hairpin, so
  neither can reach the other at their shared public address.
- ``knock``: ``easy`` with a NAT-only ruleset (no filter chain), the lab's first router:
  kept to compare (docs/NATLAB.md "The knock").
- ``static6``: a public IPv6 host on the bridge (2001:2::N/64), no IPv4.
- ``fw6``: an IPv6 site: a router ``srplab-<name>-fw`` (wan 2001:2::1:N on the bridge, lan
  2001:2:0:N::1/64) that routes without NAT and has a stateful firewall (``ct state
  established,related accept``, new flows from wan dropped); the host 2001:2:0:N::2 behind
  it. Mapping none, port-restricted filtering. IPv6 addresses come from 2001:2::/48 (RFC
  5180's benchmarking prefix) and exist only in lab namespaces, like the IPv4 ones.

Every router but ``knock`` has a home router's filter (OpenWrt fw4, consumer routers): from
wan, ``input`` and ``forward`` accept only ``ct state established,related`` (and dnat-ed
flows), everything else is dropped. This matters for hole punching: a packet dropped in a
filter hook never confirms its conntrack entry, so an early punch packet leaves nothing
behind. Without the filter it is accepted to the router's local input (nothing listens:
ICMP port unreachable) and its CONFIRMED ``[UNREPLIED]`` entry holds the tuple the host's own
later flow would take: masquerade remaps that flow to another port (the knock).
"""
from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from srpfast.errors import LabError

PREFIX = "srplab-"
INTERNET = PREFIX + "inet"
LOCK_PATH = "/run/srplab.lock"
KINDS = ("static", "easy", "hard", "open", "address", "double", "samenat", "knock",
         "static6", "fw6")
V6_KINDS = frozenset({"static6", "fw6"})
PUBLIC_NET = "198.18"      # 198.18.0.0/16: the bridge ("internet")
PRIVATE_NET = "198.19"     # 198.19.N.0/24: the LAN behind NAT number N
# IPv6: 2001:2::/48, the benchmarking prefix of RFC 5180 (the counterpart of 198.18.0.0/15).
# 2001:2::/64 is the bridge; site N's LAN is 2001:2:0:N::/64 behind its firewall.
PUBLIC6 = "2001:2::"       # + host number: public hosts; + "1:N": site N's firewall wan
SITE6 = "2001:2:0:{n}::"   # site N's LAN (the firewall ::1, the host ::2)
CMD_TIMEOUT = 20.0

_NFT_RULES = {
    "easy": 'oifname "wan" masquerade',
    "hard": 'oifname "wan" masquerade fully-random',
    "open": 'oifname "wan" masquerade',
    "knock": 'oifname "wan" masquerade',
    "address": 'oifname "wan" masquerade',
    "double": 'oifname "wan" masquerade',
}
NAT_ONLY = frozenset({"knock"})   # kinds without the router filter (see the docstring)


@dataclass
class Host:
    """One lab host: where a process runs (``ns``) and how the internet sees it."""
    name: str
    kind: str
    ns: str
    address: str                 # its own address, inside its namespace
    public: str                  # the address others see: itself, or its NAT's WAN address
    router_ns: str | None = None

    @property
    def natted(self) -> bool:
        return self.router_ns is not None


def run(argv: list[str], *, check: bool = True, input: str | None = None,
        timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=input,
                              timeout=timeout, check=False)  # (checked below, with stderr)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} not found: install iproute2 and nftables "
                       f"(`make lab` does it with apt-get)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} took more than {timeout} s") from None
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): "
                       f"{(done.stderr or done.stdout).strip()}")
    return done


def require_root() -> None:
    """Raise LabError saying exactly what is missing (the lab tests fail with it: never a
    silent skip)."""
    if os.geteuid() != 0:
        raise LabError("the NAT lab needs root (network namespaces, nftables): run it as root, "
                       "e.g. `sudo make lab`")
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            raise LabError(f"`{tool}` is missing: apt-get install -y {pkg} (`make lab` does)")
    probe = PREFIX + "probe"
    run(["ip", "netns", "del", probe], check=False)
    made = run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        raise LabError(f"cannot create a network namespace: {made.stderr.strip()}")
    run(["ip", "netns", "del", probe], check=False)


def lab_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX)]


def clean_leftovers() -> list[str]:
    """Remove every ``srplab-*`` namespace (a crashed run's). Deleting a namespace deletes
    its veths, bridge and nftables tables with it; processes still inside one are ours
    (started by a lab runner) and are ended by pid first."""
    gone = []
    for ns in lab_namespaces():
        pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
        run(["ip", "netns", "del", ns], check=False)
        gone.append(ns)
    return gone


@dataclass
class Lab:
    """A topology under construction or running. Use as a context manager: the namespaces
    go on exit, on failure, and (atexit) when the interpreter ends without reaching it."""
    hosts: dict[str, Host] = field(default_factory=dict)
    _made: list[str] = field(default_factory=list)
    _lock: int | None = None
    _public_n: int = 10
    _nat_n: int = 0
    # IPv6: namespaces on the bridge (each needs a route to every site) and the sites'
    # (prefix, firewall wan) routes.
    _bridge6: list[str] = field(default_factory=list)
    _sites6: list[tuple[str, str]] = field(default_factory=list)

    def __enter__(self) -> "Lab":
        require_root()
        self._lock = os.open(LOCK_PATH, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise LabError(f"another lab run holds {LOCK_PATH}; wait for it to finish") from None
        atexit.register(self.close)
        try:
            clean_leftovers()
            self._netns(INTERNET)
            self._ip(INTERNET, "link", "add", "br0", "type", "bridge")
            self._ip(INTERNET, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ns in reversed(self._made):
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:  # only processes this lab started live in its namespaces
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
        self._made.clear()
        self.hosts.clear()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # ------------------------------------------------------------------ building blocks
    def _netns(self, ns: str) -> None:
        run(["ip", "netns", "add", ns])
        self._made.append(ns)
        self._ip(ns, "link", "set", "lo", "up")

    @staticmethod
    def _ip(ns: str, *args: str) -> None:
        run(["ip", "-n", ns, *args])

    @staticmethod
    def exec_argv(ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def _plug(self, ns: str, ifname: str, address: str) -> None:
        """A veth from the bridge to ``ns`` (named ``ifname`` there), with ``address``."""
        outer = f"v{len(self._made)}-{ifname}"[:15]
        self._ip(INTERNET, "link", "add", outer, "type", "veth", "peer", "name", ifname,
                 "netns", ns)
        self._ip(INTERNET, "link", "set", outer, "master", "br0", "up")
        self._ip(ns, "addr", "add", f"{address}/16", "dev", ifname)
        self._ip(ns, "link", "set", ifname, "up")

    def _plug6(self, ns: str, ifname: str, address: str) -> None:
        """A veth from the bridge to ``ns`` with an IPv6 ``address`` in 2001:2::/64 (no DAD:
        the lab assigns every address once), routed to every site built so far."""
        outer = f"v{len(self._made)}-{ifname}"[:15]
        self._ip(INTERNET, "link", "add", outer, "type", "veth", "peer", "name", ifname,
                 "netns", ns)
        self._ip(INTERNET, "link", "set", outer, "master", "br0", "up")
        run(self.exec_argv(ns, ["sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0"]))
        self._ip(ns, "-6", "addr", "add", f"{address}/64", "dev", ifname, "nodad")
        self._ip(ns, "link", "set", ifname, "up")
        for prefix, via in self._sites6:
            self._ip(ns, "-6", "route", "add", prefix, "via", via)
        self._bridge6.append(ns)

    def _site6(self, name: str, ns: str) -> Host:
        """Kind ``fw6``: a firewall (no NAT) on the bridge and one host behind it."""
        self._nat_n += 1
        n = self._nat_n
        router = ns + "-fw"
        wan, lan = f"{PUBLIC6}1:{n}", SITE6.format(n=n)
        gw, inner = lan + "1", lan + "2"
        self._netns(router)
        self._plug6(router, "wan", wan)
        self._netns(ns)
        self._ip(router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0",
                 "netns", ns)
        self._ip(router, "-6", "addr", "add", f"{gw}/64", "dev", "lan", "nodad")
        self._ip(router, "link", "set", "lan", "up")
        run(self.exec_argv(ns, ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"]))
        self._ip(ns, "-6", "addr", "add", f"{inner}/64", "dev", "eth0", "nodad")
        self._ip(ns, "link", "set", "eth0", "up")
        self._ip(ns, "-6", "route", "add", "default", "via", gw)
        run(self.exec_argv(router, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]))
        run(self.exec_argv(router, ["nft", "-f", "-"]), input=nft_rules6())
        prefix = f"{lan}/64"
        for other in self._bridge6:
            if other != router:
                self._ip(other, "-6", "route", "add", prefix, "via", wan)
        self._sites6.append((prefix, wan))
        host = Host(name, "fw6", ns, inner, inner, router)
        self.hosts[name] = host
        return host

    def _cgn(self, cgn: str, wan: str, net: str, customer: str) -> None:
        """A carrier-grade NAT ``cgn`` on the bridge at ``wan`` (an ``easy`` router), whose LAN
        ``net``.0/24 (inside 198.19.0.0/16) holds one customer: namespace ``customer``'s
        ``wan`` interface at ``net``.2, routed through the CGN."""
        self._netns(cgn)
        self._plug(cgn, "wan", wan)
        self._ip(cgn, "link", "add", "lan", "type", "veth", "peer", "name", "wan", "netns",
                 customer)
        self._ip(cgn, "addr", "add", f"{net}.1/24", "dev", "lan")
        self._ip(cgn, "link", "set", "lan", "up")
        self._ip(customer, "addr", "add", f"{net}.2/24", "dev", "wan")
        self._ip(customer, "link", "set", "wan", "up")
        self._ip(customer, "route", "add", "default", "via", f"{net}.1")
        run(self.exec_argv(cgn, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
        run(self.exec_argv(cgn, ["nft", "-f", "-"]), input=nft_rules("easy", f"{net}.2"))

    def _behind_last_easy(self, name: str, ns: str) -> Host:
        """Kind ``samenat``: a host on its own /24 of the last ``easy`` host's router."""
        easy = [h for h in self.hosts.values() if h.kind == "easy"]
        if not easy or easy[-1].router_ns is None:
            raise LabError("a samenat host goes behind an easy host's NAT: add one first")
        router, public = easy[-1].router_ns, easy[-1].public
        self._nat_n += 1
        n = self._nat_n
        gw, inner = f"{PRIVATE_NET}.{n}.1", f"{PRIVATE_NET}.{n}.2"
        self._netns(ns)
        self._ip(router, "link", "add", f"lan{n}", "type", "veth", "peer", "name", "eth0",
                 "netns", ns)
        self._ip(router, "addr", "add", f"{gw}/24", "dev", f"lan{n}")
        self._ip(router, "link", "set", f"lan{n}", "up")
        self._ip(ns, "addr", "add", f"{inner}/24", "dev", "eth0")
        self._ip(ns, "link", "set", "eth0", "up")
        self._ip(ns, "route", "add", "default", "via", gw)
        host = Host(name, "samenat", ns, inner, public, router)
        self.hosts[name] = host
        return host

    def add(self, name: str, kind: str) -> Host:
        """A host of ``kind`` (KINDS) named ``srplab-<name>``; NATed kinds get a router
        ``srplab-<name>-nat``."""
        if kind not in KINDS:
            raise LabError(f"unknown NAT kind {kind!r}: one of {', '.join(KINDS)}")
        if name in self.hosts:
            raise LabError(f"lab host {name!r} exists")
        ns = PREFIX + name
        if kind == "samenat":
            return self._behind_last_easy(name, ns)
        if kind == "fw6":
            return self._site6(name, ns)
        if kind in ("static", "static6"):
            self._public_n += 1
            self._netns(ns)
            if kind == "static6":
                address = f"{PUBLIC6}{self._public_n}"
                self._plug6(ns, "eth0", address)
            else:
                address = f"{PUBLIC_NET}.0.{self._public_n}"
                self._plug(ns, "eth0", address)
            host = Host(name, kind, ns, address, address)
        else:
            self._nat_n += 1
            n = self._nat_n
            router = ns + "-nat"
            wan, gw, inner = f"{PUBLIC_NET}.1.{10 + n}", f"{PRIVATE_NET}.{n}.1", \
                f"{PRIVATE_NET}.{n}.2"
            self._netns(router)
            if kind == "double":  # the home router's wan sits behind a carrier-grade NAT
                self._cgn(ns + "-cgn", wan, f"{PRIVATE_NET}.{100 + n}", router)
            else:
                self._plug(router, "wan", wan)
            self._netns(ns)
            self._ip(router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0",
                     "netns", ns)
            self._ip(router, "addr", "add", f"{gw}/24", "dev", "lan")
            self._ip(router, "link", "set", "lan", "up")
            self._ip(ns, "addr", "add", f"{inner}/24", "dev", "eth0")
            self._ip(ns, "link", "set", "eth0", "up")
            self._ip(ns, "route", "add", "default", "via", gw)
            run(self.exec_argv(router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
            run(self.exec_argv(router, ["nft", "-f", "-"]), input=nft_rules(kind, inner))
            host = Host(name, kind, ns, inner, wan, router)
        self.hosts[name] = host
        return host


def nft_rules6() -> str:
    """An IPv6 site's firewall (kind ``fw6``): no NAT; from wan only packets of flows the
    site started (``ct state established,related``) pass, new ones are dropped, as a home
    router's IPv6 firewall does (RFC 6092's recommended default). ICMPv6 to the router
    itself stays open: neighbour discovery on the wan needs it."""
    return "\n".join([
        "table inet srplab6 {",
        "  chain input { type filter hook input priority filter; policy accept;",
        '    iifname "wan" ct state established,related accept',
        '    iifname "wan" meta l4proto ipv6-icmp accept',
        '    iifname "wan" drop', "  }",
        "  chain forward { type filter hook forward priority filter; policy accept;",
        '    iifname "wan" ct state established,related accept',
        '    iifname "wan" drop', "  }",
        "}"]) + "\n"


def nft_rules(kind: str, inner: str) -> str:
    """The router's whole ruleset: NAT, and (all kinds but ``knock``) a home router's filter
    that drops from wan what is not part of a flow the LAN started (or a dnat-ed one). A
    dropped packet's conntrack entry is never confirmed: no knock (module docstring)."""
    rules = ["table ip srplab {",
             "  chain post { type nat hook postrouting priority srcnat; policy accept;",
             f"    {_NFT_RULES[kind]}", "  }"]
    if kind == "open":
        rules += ["  chain pre { type nat hook prerouting priority dstnat; policy accept;",
                  f'    iifname "wan" udp dport 1024-65535 dnat to {inner}', "  }"]
    if kind == "address":
        # (remote address, our public port) for every datagram out, seen after masquerade
        # (priority srcnat + 10: the header is translated); inbound from that address to that
        # port, from any of its ports, goes to the host on the same port.
        rules += ["  set sent { type ipv4_addr . inet_service; flags timeout; timeout 120s; }",
                  "  chain learn { type filter hook postrouting priority srcnat + 10; "
                  "policy accept;",
                  '    oifname "wan" meta l4proto udp update @sent { ip daddr . udp sport }',
                  "  }",
                  "  chain pre { type nat hook prerouting priority dstnat; policy accept;",
                  f'    iifname "wan" ip saddr . udp dport @sent dnat to {inner}', "  }"]
    if kind not in NAT_ONLY:
        rules += ["  chain input { type filter hook input priority filter; policy accept;",
                  '    iifname "wan" ct state established,related accept',
                  '    iifname "wan" drop', "  }",
                  "  chain forward { type filter hook forward priority filter; policy accept;",
                  '    iifname "wan" ct state established,related accept',
                  '    iifname "wan" ct status dnat accept',
                  '    iifname "wan" drop', "  }"]
    rules.append("}")
    return "\n".join(rules) + "\n"
