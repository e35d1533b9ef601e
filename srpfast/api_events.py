"""What the network-level events of ``srpfast.network`` carry (docs/EVENTS.md).

Each handler registered with ``net.on(name, handler)`` receives exactly one argument, one of
these frozen dataclasses (``#join`` and ``#leave`` on a Subcluster receive the RemotePeer).
Events that happen while ``start()`` runs (the first node's ``#ready``, an unresolvable
bootstrap name's ``#error``) are handed to handlers on the next turn of the event loop, so
handlers registered right after ``async with srpfast.network(...) as net:`` see them.
"""
from __future__ import annotations

from dataclasses import dataclass

from srpfast.wire.address import Address



@dataclass(frozen=True)
class ReadyEvent:
    """``#ready``: fires once per network, when the peer can usefully publish.

    - with no bootstrap entry and no saved peer: at once, as the first node of its network
      (``alone`` True, ``public_address`` None, ``nat`` "unknown": there is nobody to learn
      them from yet; ``#network-change`` reports them once peers arrive);
    - otherwise after the first NAT classification (two peers reflected our address), or
      after the first proven PONG while fewer than two peers exist to reflect off.

    A peer whose bootstrap entries never answer never fires it (see ``#error`` and
    ``Network.wait_ready``). ``await net.wait_ready()`` returns this object, at once if the
    event has already fired.
    """
    peer_id: bytes                 # our id (32 bytes, the ed25519 public key)
    address: Address               # the local address our UDP socket is bound to
    public_address: Address | None  # how peers see us (None: not known yet)
    nat: str                       # mapping: "static", "easy", "hard" or "unknown"
    filtering: str                 # NAT filtering as far as known ("unknown" until tested)
    alone: bool                    # True: ready as the first node, with no peer yet


@dataclass(frozen=True)
class NetworkChangeEvent:
    """``#network-change``: after ``#ready``, how the network sees us changed: reflection
    classified a different public address or NAT type (a new network, a NAT rebinding), or a
    peer that was ready alone learned its public address / NAT from its first peers."""
    address: Address               # the bound local address
    public_address: Address | None  # the new public address
    nat: str                       # the new mapping class
    filtering: str


@dataclass(frozen=True)
class ConnectionEvent:
    """``#connection``: a peer entered our peer table after a proven round trip (its signed
    PONG answered our ping, or it redeemed our challenge): we can now send to it. Fires once
    per peer until its ``#disconnection``."""
    peer_id: bytes
    address: Address               # where we reach it (its public address as we see it)


@dataclass(frozen=True)
class DisconnectionEvent:
    """``#disconnection``: a connected peer fell out of the table, silent for
    ``Config.peer_expiry_factor`` x ``keep_alive`` seconds (it left, crashed or moved)."""
    peer_id: bytes


@dataclass(frozen=True)
class ErrorInfo:
    """``#error``: something the application should know and may be able to fix; the
    network keeps running. ``reason`` says what happened and what to check; ``code`` is a
    short stable name to match on:

    - ``bootstrap.unresolved``: a bootstrap entry did not resolve at ``start()``, or only to
      addresses of a family the socket cannot reach; the other entries are used;
    - ``bootstrap.unanswered``: no peer answered within ``Config.bootstrap_timeout`` seconds;
      fires once, and the bootstrap entries keep being retried with backoff;
    - ``stream.expired``: a direct message sent with ``RemotePeer.emit`` found no path to its
      peer within ``Config.stream_queue_age`` and was dropped (``send`` raises instead);
    - ``error``: any other engine report without a code of its own.
    """
    reason: str
    code: str


__all__ = ["ReadyEvent", "NetworkChangeEvent", "ConnectionEvent", "DisconnectionEvent",
           "ErrorInfo", "Address"]
