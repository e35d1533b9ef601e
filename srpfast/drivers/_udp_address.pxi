# Included by _udp.pyx (one module, srpfast.drivers._udp): numeric addresses <-> sockaddr
# (no DNS in the packet path) and the keyed 64-bit sender keys (SPEC 9.6, docs/NET.md
# "Receive"), shared by UDPSocket, SocketPool and callers without a socket.

cdef int _family_of(str host):
    return _socket.AF_INET6 if ":" in host else _socket.AF_INET


KEY_SECRET_BYTES = 16


def set_key_secret(secret=None) -> None:
    """Set the per-process secret of the sender keys (``address_key``, RecvBatch.keys), or
    draw a fresh random one (``None``, as at import). Keys are a keyed PRF of the address, so
    no sender can pick a source whose key equals another's (SPEC 9.6, docs/SECURITY.md).
    Inject one only to reproduce keys across processes; every key computed before changes."""
    cdef const uint8_t[::1] view
    cdef int r
    if secret is None:
        r = srp_udp_key_seed(NULL, 0)
    else:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != KEY_SECRET_BYTES:
            raise ArgumentError(f"the key secret must be {KEY_SECRET_BYTES} bytes")
        view = bytes(secret)
        r = srp_udp_key_seed(&view[0], KEY_SECRET_BYTES)
    if r < 0:
        _raise_errno(r, "seeding the sender key")


set_key_secret()  # random per process, before any key is computed


def address_key(address) -> int:
    """The 64-bit source key RecvBatch.keys reports for datagrams from (host, port): the one
    definition (srp_udp_addr_key, keyed by the process secret: set_key_secret), for data
    planes and for drivers without a socket. An IPv4 host parses as v4-mapped IPv6, whose key
    equals the plain IPv4 key."""
    cdef srp_sockaddr a
    _parse(address, _socket.AF_INET6, &a)
    return srp_udp_addr_key(&a)


cdef int _parse(object address, int family, srp_sockaddr *out) except -1:
    """(host, port[, flow, scope]) with a numeric host -> sockaddr for a `family` socket."""
    if not isinstance(address, (tuple, list)) or len(address) < 2:
        raise TypeError(f"address must be a (host, port) tuple, got {address!r}")
    host, port = address[0], address[1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise TypeError(f"address must be (str host, int port 0..65535), got {address!r}")
    hb = host.encode()
    if srp_udp_addr_parse(hb, <uint16_t>port, family, out) != 0:
        if family == _socket.AF_INET and ":" in host:
            raise ValueError(f"IPv6 address {host!r} on an IPv4 socket: bind the socket to '::'")
        raise ValueError(f"{host!r} is not a numeric IPv4/IPv6 address; resolve names first")
    return 0


cdef tuple _format(const srp_sockaddr *a):
    cdef char host[64]
    cdef uint16_t port = 0
    if srp_udp_addr_format(a, host, sizeof(host), &port) != 0:
        return ("", 0)
    return ((<bytes>host).decode(), port)
