"""Threat: one member of a subcluster floods it to push everybody else's messages out of the
caches that serve late joiners and queries (issue 13; SPEC 7: no single sender address or
peer may hold more than a fixed share of the cache, Config.cache_source_share).

A member target receives 20 messages each from two honest members, then 3,000 genuine (sealed,
signed: the attacker holds the key) messages from the flooding member's address. The flood
fills only its own share (its oldest entries replaced), every honest message stays cached."""
from __future__ import annotations

import random

from srpfast.config import Config
from srpfast.crypto import create_cluster_id, create_identity, create_shared_key
from srpfast.control.engine import Peer

CLUSTER = create_cluster_id(b"adversarial cache flood")
KEY = create_shared_key(b"adversarial cache flood key")
HONEST = [("10.0.0.11", 1), ("10.0.0.12", 1)]
FLOODER = ("10.0.0.66", 1)


def _member(seed: int, cfg: Config) -> Peer:
    p = Peer(create_identity(bytes([seed]) * 32), cfg, now=0.0, rng=random.Random(seed))
    p.join(CLUSTER, KEY, now=0.0)
    p.datagrams_to_send()
    return p


def _frames(author: Peer, n: int, tag: bytes) -> list[bytes]:
    sub = next(iter(author.membership.subs))
    ids = [author.publish(sub, tag + b" %d" % i, now=0.0) for i in range(n)]
    author.datagrams_to_send()
    return [author.cache.get(i) for i in ids]


def flood(share: float) -> tuple[int, int, int]:
    cfg = Config(strict=True, clock_offset=0.0, cache_bytes=512 * 1024, cache_source_share=share,
                 rate_packets=1e9, rate_burst=1e9)
    target = _member(1, cfg)
    honest = [_frames(_member(10 + k, cfg), 20, b"honest %d" % k) for k in range(2)]
    for frames, src in zip(honest, HONEST):
        for f in frames:
            target.receive(f, src, 1.0)
    mallory = _member(66, cfg)
    for i in range(3000):
        [f] = _frames(mallory, 1, b"flood %d" % i)
        target.receive(f, FLOODER, 2.0 + i * 1e-3)
    kept = sum(f is not None and target.cache.get(_pid(f)) is not None
               for frames in honest for f in frames)
    flood_held = len(target.cache) - kept
    return kept, flood_held, target.cache.share_entries


def _pid(frame: bytes) -> bytes:
    from srpfast.wire.frame import packet_id
    return packet_id(frame)


def test_a_flooding_member_holds_only_its_share() -> None:
    kept, flood_held, share = flood(1 / 8)
    print(f"cache flood: 40/40 honest messages kept -> {kept}; the flooder holds {flood_held} "
          f"entries (its share: {share})")
    assert kept == 40
    assert flood_held <= share


def test_without_the_share_the_flood_evicts_honest_messages() -> None:
    """The control: with the defence off (share 1.0) the same flood evicts them all, so the
    share, not the cache's size, is what protected them above."""
    kept, _, _ = flood(1.0)
    assert kept == 0
