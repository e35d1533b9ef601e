"""Threat: forging another sender's key (issue 13, item 2; SPEC 9.6, SPEC 7 cache share).

The sender key names a sender's rate bucket and its cache share. It used to be an unkeyed,
invertible mix of the IPv6 address: an attacker owning a /64 could solve for a source in its
own prefix whose key equals a victim's, then drain the victim's bucket. The key is now a
keyed PRF (SipHash-2-4 under a per-process secret) of every address family."""
from __future__ import annotations

import ipaddress

from srpfast.drivers import _udp
from srpfast.config import Config
from srpfast.control.dataplane import udp_address_key
from srpfast.crypto import create_identity
from srpfast.control.engine import Peer

M64 = (1 << 64) - 1


def _mix64(z: int) -> int:  # the old, unkeyed mixer (splitmix64 finaliser)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _unxorshift(z: int, s: int) -> int:
    x = z
    for _ in range(64 // s + 1):
        x = z ^ (x >> s)
    return x


def _unmix64(z: int) -> int:
    z = _unxorshift(z, 31)
    z = _unxorshift((z * pow(0x94D049BB133111EB, -1, 1 << 64)) & M64, 27)
    return _unxorshift((z * pow(0xBF58476D1CE4E5B9, -1, 1 << 64)) & M64, 30)


def _old_key(host: str, port: int) -> int:
    raw = ipaddress.IPv6Address(host).packed
    hi, lo = int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")
    return _mix64(hi ^ _mix64(lo ^ (port << 1))) | (1 << 63)


def _forge(victim: tuple[str, int], prefix: bytes, port: int) -> tuple[str, int]:
    """A source in the attacker's own /64 whose OLD key equals the victim's (the attack)."""
    target = _old_key(*victim) & ~(1 << 63)
    hi = int.from_bytes(prefix, "little")
    inner = _unmix64(target) ^ hi      # = mix64(lo ^ port << 1), for each victim key bit
    lo = _unmix64(inner) ^ (port << 1)  # (bit 63 of the victim's key is forced either way)
    host = str(ipaddress.IPv6Address(prefix + lo.to_bytes(8, "little")))
    return host, port


VICTIM = ("2001:db8:1::1", 5000)
ATTACKER_PREFIX = ipaddress.IPv6Address("2001:db8:66::").packed[:8]


def test_the_forgery_would_have_matched_the_old_key() -> None:
    """Self-check of the attack: the solved source collides under the old function."""
    forged = _forge(VICTIM, ATTACKER_PREFIX, 40000)
    assert forged[0].startswith("2001:db8:66:")
    assert _old_key(*forged) == _old_key(*VICTIM)


def test_a_forged_source_does_not_share_the_victims_key() -> None:
    forged = _forge(VICTIM, ATTACKER_PREFIX, 40000)
    assert udp_address_key(forged) != udp_address_key(VICTIM)
    # Many forgeries (one per attacker port): none lands on the victim's key.
    keys = {udp_address_key(_forge(VICTIM, ATTACKER_PREFIX, p)) for p in range(1000, 1256)}
    assert udp_address_key(VICTIM) not in keys and len(keys) == 256


def test_a_forged_source_cannot_drain_the_victims_rate_bucket() -> None:
    """The attack on a peer: flood from the forged source until its bucket is empty; the
    victim's next datagram is still admitted (counted as a malformed drop, not a rate drop)."""
    cfg = Config(strict=True, clock_offset=0.0, rate_packets=1.0, rate_burst=10.0)
    peer = Peer(create_identity(b"\x05" * 32), cfg, now=0.0)
    forged = _forge(VICTIM, ATTACKER_PREFIX, 40000)
    for _ in range(50):
        peer.receive(b"junk", forged, 0.0)
    assert peer.counters()["drop.rate"] == 40  # the attacker drained only its own bucket
    peer.receive(b"junk", VICTIM, 0.0)
    assert peer.counters()["drop.rate"] == 40
    assert peer.counters()["drop.malformed.size"] == 11


def test_keys_are_keyed_for_every_family_and_stay_consistent() -> None:
    """IPv4 keys are no longer the plain (ip << 16 | port), a v4 host and its v4-mapped form
    share one key, and another secret gives other keys (so a key says nothing outside this
    process)."""
    v4 = ("127.0.0.9", 4242)
    k4, k6 = udp_address_key(v4), udp_address_key(VICTIM)
    assert k4 != (0x7F000009 << 16) | 4242
    assert udp_address_key(("::ffff:127.0.0.9", 4242)) == k4
    try:
        _udp.set_key_secret(bytes(range(16)))
        fixed = (udp_address_key(v4), udp_address_key(VICTIM))
        _udp.set_key_secret(bytes(range(16)))
        assert (udp_address_key(v4), udp_address_key(VICTIM)) == fixed  # injectable
        _udp.set_key_secret(bytes(range(1, 17)))
        assert udp_address_key(v4) != fixed[0] and udp_address_key(VICTIM) != fixed[1]
    finally:
        _udp.set_key_secret()  # a fresh random secret again
    assert (udp_address_key(v4), udp_address_key(VICTIM)) != (k4, k6)
