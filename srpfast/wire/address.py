"""The one address type of the engine and its drivers: (numeric host, port).

IPv4 or IPv6 text as the socket layer gives it ("198.18.0.11", "::1"); never a hostname:
names are resolved before the sans-I/O engine sees them (srpfast/addresses.py).
"""
Address = tuple[str, int]

__all__ = ["Address"]
