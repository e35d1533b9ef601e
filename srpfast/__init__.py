"""srpfast: a fast, trustworthy Stream Relay Protocol peer (C data plane, Python control plane)."""
from srpfast.errors import (ArgumentError, CapacityError, ClosedError, ConfigError, CryptoError,
                            FragmentError, IdentityError, MalformedPacket, SRPError)

__version__ = "0.1.0"
__all__ = [
    "ArgumentError", "CapacityError", "ClosedError", "ConfigError", "CryptoError", "FragmentError",
    "IdentityError", "MalformedPacket", "SRPError", "__version__",
]
