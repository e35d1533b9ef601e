"""The one error hierarchy of srpfast.

Remote input never raises into the event loop: the engine turns it into a counted drop.
These exceptions are what a *caller* sees: at the API boundary (``frame.decode`` of bytes the
caller handed in) or for local misuse. Every message says what to do.
"""
from __future__ import annotations


class SRPError(Exception):
    """Base of every error srpfast raises on purpose."""


class MalformedPacket(SRPError, ValueError):
    """A datagram or body that does not follow docs/PROTOCOL.md §2/§3.

    ``reason`` is a short stable code (the same names the drop counters use, e.g.
    ``"size"``, ``"magic"``, ``"padding"``, ``"body"``).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"malformed packet ({reason})" + (f": {detail}" if detail else ""))


class ArgumentError(SRPError, ValueError):
    """A caller passed a value outside its documented range; the message says which."""


class ArgumentTypeError(ArgumentError, TypeError):
    """A caller passed a value of the wrong type (e.g. ``port="9000"``); the message names the
    argument and the type it takes. Also a TypeError, for code that catches that."""


class FragmentError(MalformedPacket):
    """A fragment that does not belong to its chain (wrong id, too many, wrong index)."""


class CryptoError(SRPError, ValueError):
    """Something sealed failed to open or verify (wrong key, tampered, forged, replayed)."""


class IdentityError(SRPError, ValueError):
    """A key file or key that cannot be used (missing, corrupt, wrong permissions)."""


class ConfigError(SRPError, ValueError):
    """A configuration value outside its documented range."""


class CapacityError(SRPError):
    """A bounded resource is full and the caller asked for more (e.g. message too large)."""


class ClosedError(SRPError, RuntimeError):
    """The network or peer was closed; create a new one."""


class DeliveryError(SRPError):
    """A direct message (``RemotePeer.send``) was dropped before it reached the network: no
    path to the peer appeared within ``Config.stream_queue_age``. Check that the peer is still
    online, or raise the bound."""


class NotReadyError(SRPError):
    """``Network.wait_ready`` gave up: the peer is not ready (no proven peer yet, or NAT
    classification not finished). The network keeps running and retrying."""


class BootstrapError(NotReadyError):
    """No bootstrap entry could be used: none answered within the bound (``wait_ready``), or
    none resolved to an address the socket can reach (``start``). The message names the
    entries and what to check (address, port, firewall, a peer running there)."""


class LabError(SRPError, RuntimeError):
    """The NAT lab (``srp lab``, srpfast/lab) cannot build or run a topology: not root, no
    network namespaces, nftables missing, or a NAT that does not behave as it claims. The
    message says what is missing and how to install or enable it."""
