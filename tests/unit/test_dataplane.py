"""The C relay data plane: dedup, caching, fan-out with hops+1, exclusion rules, hand-up."""
import array
import os
import random

import pytest

from srpfast.wire import frame
from srpfast.dataplane._dataplane import ADDR_BYTES, UP_CONTROL, UP_DELIVER, DataPlane
from srpfast.drivers._udp import UDPSocket
from srpfast.dataplane.cache import Cache
from srpfast.wire.constants import MAX_HOPS
from srpfast.errors import ArgumentError

TAG = b"T" * 16
SUB = b"S" * 32


def addr(i: int) -> bytes:
    return i.to_bytes(4, "big") * (ADDR_BYTES // 4)


def make(peers: int = 8, hard=None, **kw) -> DataPlane:
    dp = DataPlane(Cache(4 * 2**20), seed=7, **kw)
    dp.set_peers(b"".join(addr(i) for i in range(peers)),
                 array.array("Q", range(1, peers + 1)), array.array("d", [1.0] * peers),
                 bytes(hard or [0] * peers))
    return dp


def publish(message: bytes, hops: int = 0, to: bytes = bytes(32), cluster: bytes = TAG) -> bytes:
    return frame.encode(type=5, message=message, hops=hops, to=to, cluster=cluster)


def test_new_publish_is_cached_and_forwarded_to_three_with_hops_plus_one():
    dp = make()
    d = publish(b"hello", hops=2)
    n = dp.process(d, 1, keys=array.array("Q", [3]), now=1.0)
    assert n == 3
    out = bytes(dp.out_frames)
    addrs = bytes(dp.out_addrs)
    dests = {addrs[i * ADDR_BYTES:(i + 1) * ADDR_BYTES] for i in range(3)}
    assert len(dests) == 3 and addr(2) not in dests  # never back to the sender (key 3)
    for i in range(3):
        f = frame.decode(out[i * 1158:(i + 1) * 1158])
        assert f.hops == 3 and f.packet_id == frame.packet_id(d)
    assert frame.packet_id(d) in dp.cache
    assert dp.packet_id(0) == frame.packet_id(d)


def test_duplicates_are_dropped_before_forwarding():
    dp = make()
    d = publish(b"dup")
    assert dp.process(d, 1, now=1.0) == 3
    again = bytearray(d)
    again[6] = 5  # a later copy with more hops is still the same packet
    assert dp.process(bytes(again) + d, 2, now=2.0) == 0
    assert dp.counters()["duplicate"] == 2


def test_hop_limit_caches_but_does_not_forward():
    dp = make()
    assert dp.process(publish(b"far", hops=MAX_HOPS), 1, now=1.0) == 0
    c = dp.counters()
    assert c["hop_limit"] == 1 and c["cached"] == 1


def test_hard_peer_never_picks_hard_peers():
    dp = make(peers=6, hard=[1, 1, 1, 0, 0, 0])
    dp.set_self_hard(True)
    for i in range(30):
        n = dp.process(publish(os.urandom(20)), 1, now=float(i))
        dests = {bytes(dp.out_addrs[j * ADDR_BYTES:(j + 1) * ADDR_BYTES]) for j in range(n)}
        assert dests <= {addr(3), addr(4), addr(5)}


def test_control_and_deliveries_are_handed_up_malformed_counted():
    dp = make()
    dp.set_membership([TAG], [SUB])
    ping = frame.encode(type=1, message=b"p")
    mine = publish(b"for me", to=SUB)
    other = publish(b"other subcluster", to=b"O" * 32)
    bad = b"\x00" * 1158
    batch = ping + mine + other + bad
    dp.process(batch, 4, now=1.0)
    ups = [dp.up(j) for j in range(dp.n_up)]
    assert ups == [(0, UP_CONTROL), (1, UP_DELIVER)]
    c = dp.counters()
    assert c["magic"] == 1 and c["cached"] == 2 and c["up_deliver"] == 1


def test_weights_bias_choice():
    dp = DataPlane(Cache(2**20), seed=1)
    dp.set_peers(b"".join(addr(i) for i in range(4)), array.array("Q", [1, 2, 3, 4]),
                 array.array("d", [100.0, 1.0, 1.0, 1.0]), bytes(4))
    counts = [0] * 4
    for _ in range(2000):
        for i in dp.choose(0, 1):
            counts[i] += 1
    assert counts[0] > 5 * max(counts[1:])


def test_alias_sampling_follows_weights():
    dp = DataPlane(Cache(2**20), seed=9)
    weights = [1.0, 2.0, 3.0, 4.0, 0.0]  # a zero weight is never picked
    dp.set_peers(b"".join(addr(i) for i in range(5)), array.array("Q", [1, 2, 3, 4, 5]),
                 array.array("d", weights), bytes(5))
    counts = [0] * 5
    draws = 20000
    for _ in range(draws):
        counts[dp.choose(0, 1)[0]] += 1
    assert counts[4] == 0
    for i in range(4):
        expected = draws * weights[i] / 10
        assert abs(counts[i] - expected) < 5 * expected ** 0.5  # ~5 sigma


def test_no_peers_counts_and_argument_errors():
    dp = DataPlane(Cache(2**20))
    assert dp.process(publish(b"alone"), 1, now=0.0) == 0
    assert dp.counters()["no_peers"] == 1
    with pytest.raises(ArgumentError):
        dp.process(b"", 65)
    with pytest.raises(ArgumentError):  # count * stride must not overflow the size check
        dp.process(bytes(1158), 5, stride=2**62)
    with pytest.raises(ArgumentError):
        dp.set_peers(addr(0), array.array("Q", [1, 2]), array.array("d", [1.0]), b"\x00")


def test_forwarded_frames_leave_through_send_prepared():
    with UDPSocket("127.0.0.1") as a, UDPSocket("127.0.0.1") as b:
        dp = DataPlane(Cache(2**20), fanout=1)
        dp.set_peers(a.resolve(b.local_address), array.array("Q", [1]), array.array("d", [1.0]),
                     b"\x00")
        payloads = [publish(os.urandom(30)) for _ in range(10)]
        n = dp.process(b"".join(payloads), 10, now=0.0)
        assert n == 10
        assert a.send_prepared(dp.out_frames, dp.out_addrs) == 10
        got = []
        for _ in range(200):
            got += [d for d, _ in b.recv_batch()]
            if len(got) == 10:
                break
        assert sorted(frame.packet_id(d) for d in got) == sorted(map(frame.packet_id, payloads))
        assert all(frame.decode(d).hops == 1 for d in got)


def test_random_batches_never_forward_a_packet_twice():
    dp = make(peers=16)
    rnd = random.Random(5)
    pool = [publish(rnd.randbytes(40)) for _ in range(50)]
    forwarded = {}
    for step in range(40):
        batch = [rnd.choice(pool) for _ in range(32)]
        n = dp.process(b"".join(batch), 32, now=float(step))
        out = bytes(dp.out_frames)
        for i in range(n):
            pid = frame.packet_id(out[i * 1158:(i + 1) * 1158])
            forwarded[pid] = forwarded.get(pid, 0) + 1
    assert set(forwarded.values()) == {3}


def test_a_relay_altered_copy_does_not_stop_the_real_one():
    """SPEC 9.1: clock/index/type/cluster/to are not in the packetId. A relay cannot tell an
    altered copy from the real one, so a copy with the same id and another header (a variant)
    is forwarded too, once, and handed up to members to open; it is not cached."""
    from srpfast.dataplane._dataplane import UP_VARIANT
    dp = make()
    dp.set_membership([TAG], [SUB])
    real = publish(b"real", to=SUB)
    forged = bytearray(real)
    forged[8:12] = (12345).to_bytes(4, "big")  # the clock: outside the packetId
    forged = bytes(forged)
    assert dp.process(forged, 1, now=1.0) == 3  # the forgery came first: cached, forwarded
    assert dp.process(real, 1, now=1.0) == 3    # the real copy still goes on
    assert [dp.up(j)[1] for j in range(dp.n_up)] == [UP_VARIANT]
    assert dp.counters()["variant"] == 1 and dp.cache.get(frame.packet_id(real)) == forged
    for copy in (real, forged):  # each copy once: no circulation of variants
        assert dp.process(copy, 1, now=2.0) == 0
    assert dp.counters()["duplicate"] == 2


def test_forwarded_frames_come_out_grouped_by_next_hop_with_runs():
    """Output grouped by destination, arrival order kept within each group, groups of at
    least RUN_MIN first and named by runs(), smaller groups packed after them."""
    from srpfast.dataplane._dataplane import RUN_MIN
    dp = make(peers=3)
    batch = b"".join(publish(b"g%d" % k) for k in range(20))
    n = dp.process(batch, 20, now=1.0)
    assert n == 60  # fan-out 3 over 3 peers: every peer gets every frame
    out, addrs = bytes(dp.out_frames), bytes(dp.out_addrs)
    assert dp.runs() == [(0, 20), (20, 20), (40, 20)]
    for start, count in dp.runs():
        dests = {addrs[i * ADDR_BYTES:(i + 1) * ADDR_BYTES] for i in range(start, start + count)}
        assert len(dests) == 1
        msgs = [frame.decode(out[i * 1158:(i + 1) * 1158]).message
                for i in range(start, start + count)]
        assert msgs == [b"g%d" % k for k in range(20)]
    small = make(peers=8)
    small.process(publish(b"one"), 1, now=1.0)
    assert small.n_out == 3 and small.runs() == [] and RUN_MIN > 1


def test_an_expired_or_evicted_copy_that_comes_again_is_not_relayed_again() -> None:
    """SPEC 6: a relay drops what it has seen, beyond its cache. An expiry re-broadcast or a
    copy the control plane evicted used to be new again to C: cached and relayed anew, so it
    circulated until its hops ran out (found by the adversarial expiry-loop test)."""
    from srpfast.dataplane._dataplane import DataPlane
    from srpfast.dataplane.cache import Cache
    from srpfast.wire.frame import encode, packet_id
    cache = Cache(1 << 20)
    dp = DataPlane(cache, fanout=2, max_hops=16, seed=3, max_batch=8)
    dp.set_peers(bytes(2 * 28), __import__("array").array("Q", [1, 2]),
                 __import__("array").array("d", [1.0, 1.0]), bytes(2))
    frame = encode(type=5, message=b"once", cluster=bytes(16), ttl=1)
    assert dp.process(frame, 1, now=1.0) == 2  # new: cached and relayed
    cache.remove(packet_id(frame))
    assert dp.process(frame, 1, now=2.0) == 0  # gone from the cache, still known
    assert dp.counters()["seen"] == 1 and packet_id(frame) not in cache
    altered = bytearray(frame)
    altered[8] ^= 1  # another copy (a variant): it must still get through (SPEC 9.1)
    assert dp.process(bytes(altered), 1, now=3.0) == 2


def test_replication_policies_flood_and_spray():
    # Config.replication, a simulation knob (docs/SIMULATION.md): flood = every peer but the
    # sender; spray = 2 next hops while hops + 1 < depth, then the copy waits (cached).
    flood = make(peers=12, fanout=16)
    flood.set_policy(1)
    assert flood.process(publish(b"flood"), 1, keys=array.array("Q", [5]), now=1.0) == 11
    addrs = bytes(flood.out_addrs)
    assert addr(4) not in {addrs[i * ADDR_BYTES:(i + 1) * ADDR_BYTES] for i in range(11)}
    spray = make(peers=12)
    spray.set_policy(2, 3)  # 14 copies: depth 3
    assert spray.process(publish(b"spray 0", hops=0), 1, now=1.0) == 2
    assert spray.process(publish(b"spray 1", hops=1), 1, now=1.0) == 2
    assert spray.process(publish(b"spray 2", hops=2), 1, now=1.0) == 0
    c = spray.counters()
    assert c["spray_wait"] == 1 and c["cached"] == 3
    spray.set_policy(0)  # back to weighted FANOUT
    assert spray.process(publish(b"weighted", hops=2), 1, now=1.0) == 3


def test_packet_ids_paired_by_length_match_hashlib() -> None:
    """Pass 2 pairs frames that hash the same number of SHA-256 blocks (frame.c
    srp_frame_packet_ids): lengths in every block class, odd counts per class, frames that
    are not hashed (duplicates, control) between them; every id is still SHA-256 of
    previousId ‖ message ‖ nextId."""
    rnd = random.Random(11)
    lengths = [1024, 440, 1024, 440, 0, 1, 55, 56, 119, 120, 700, 1024, 983] + \
        [rnd.randrange(1025) for _ in range(40)]
    frames = [frame.encode(type=5, message=rnd.randbytes(n), previous_id=rnd.randbytes(32),
                           next_id=rnd.randbytes(32), cluster=TAG) for n in lengths]
    frames.insert(5, frames[2])  # a duplicate: dropped before any SHA-256
    frames.insert(9, frame.encode(type=1, message=b"ctl"))  # control: not hashed here
    dp = make(max_batch=len(frames))
    dp.process(b"".join(frames), len(frames), now=1.0)
    for i, d in enumerate(frames):
        if i not in (5, 9):
            assert dp.packet_id(i) == frame.packet_id(d), (i, lengths)


def test_the_copy_filter_grows_and_forgets_no_copy_below_its_bound():
    """The seen filter (copies handled before, beyond the cache) starts at 4 KiB and doubles
    as copies come (csrc/keyset.h, the copy filter in csrc/dataplane.c): 3,000 packets through a cache that keeps ~60
    of them make it grow six times, and every evicted one sent again is still recognised."""
    cache = Cache(200 * 1024)
    dp = DataPlane(cache, seed=7)  # seen_copies 65,536: 3,000 stay below the bound
    dp.set_peers(b"".join(addr(i) for i in range(8)), array.array("Q", range(1, 9)),
                 array.array("d", [1.0] * 8), bytes(8))
    frames = [publish(b"copy %d" % k) for k in range(3000)]
    for k in range(0, 3000, 50):
        assert dp.process(b"".join(frames[k:k + 50]), 50, now=1.0) == 150
    held = sum(frame.packet_id(f) in cache for f in frames)
    assert held < 200
    for k in range(0, 3000, 50):
        assert dp.process(b"".join(frames[k:k + 50]), 50, now=2.0) == 0
    c = dp.counters()
    assert c["seen"] == 3000 - held and c["duplicate"] == held, c
