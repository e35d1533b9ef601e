"""srpfast: a fast, trustworthy Stream Relay Protocol peer (C data plane, Python control plane).

    identity = srpfast.create_identity()          # or srpfast.load_identity(path)
    cluster_id = srpfast.create_cluster_id(b"my app")
    async with srpfast.network(identity=identity, cluster_id=cluster_id) as net: ...
"""
from typing import TYPE_CHECKING

from srpfast.api_events import (ConnectionEvent, DisconnectionEvent, ErrorInfo, NetworkChangeEvent,
                                ReadyEvent)
from srpfast.crypto import (Identity, create_cluster_id, create_identity, create_keypair,
                            create_shared_key, load_identity, peer_id, save_identity,
                            subcluster_id, subcluster_keypair)
from srpfast.errors import (ArgumentError, ArgumentTypeError, BootstrapError, CapacityError, ClosedError, ConfigError,
                            CryptoError, DeliveryError, FragmentError, IdentityError,
                            MalformedPacket, NotReadyError, SRPError)

from srpfast.config import Config

if TYPE_CHECKING:  # what __getattr__ imports lazily, with its real types for mypy/pyright
    from srpfast.api import Meta, Network, RemotePeer, Subcluster, network
    from srpfast.drivers.memory import MemoryHub

__version__ = "0.1.0"
__all__ = [
    "Identity", "create_cluster_id", "create_identity", "create_keypair", "create_shared_key",
    "load_identity", "peer_id", "save_identity", "subcluster_id", "subcluster_keypair",
    "network", "Network", "Subcluster", "RemotePeer", "Meta", "Config", "MemoryHub",
    "ReadyEvent", "NetworkChangeEvent", "ConnectionEvent", "DisconnectionEvent", "ErrorInfo",
    "ArgumentError", "ArgumentTypeError", "BootstrapError", "CapacityError", "ClosedError", "ConfigError",
    "CryptoError", "DeliveryError", "FragmentError", "IdentityError", "MalformedPacket",
    "NotReadyError", "SRPError", "__version__",
]


def __getattr__(name: str) -> object:
    # The network API pulls in the engine and the socket layer: import it on first use, so
    # `import srpfast` stays cheap for codec/crypto users.
    if name == "MemoryHub":
        from srpfast.drivers.memory import MemoryHub
        return MemoryHub
    if name in ("network", "Network", "Subcluster", "RemotePeer", "Meta"):
        from srpfast import api
        return getattr(api, name)
    raise AttributeError(f"module 'srpfast' has no attribute {name!r}")
