"""One engine for every driver (issue 14): multi-peer tests run the engine's own C data plane,
the Python per-frame path stays the reference and agrees with it, and one seed makes a run,
byte for byte, across processes."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from srpfast.wire import constants as C
from srpfast.config import Config
from srpfast.control.batch import ADDR_BYTES, pack_sockaddr, unpack_sockaddr
from srpfast.crypto import create_cluster_id, create_shared_key
from tests.memnet import delivered, mesh

CLUSTER = create_cluster_id(b"one engine")
KEY = create_shared_key(b"one engine subcluster")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scenario(seed: int, dataplane: bool):
    cfg = Config(strict=True, clock_offset=0.0, dataplane=dataplane,
                 dataplane_delivered=1 << 14)
    net, nodes, sub = mesh(seed, CLUSTER, KEY, n=50, members=40, config=cfg)
    authors = [nodes[1], nodes[9], nodes[30]]
    mids = []
    for k, author in enumerate(authors):
        mids += net.call(author, author.peer.publish_many, sub,
                         [b"one engine %d/%d" % (k, i) for i in range(5)], now=net.now)
        mids.append(net.call(author, author.peer.publish, sub, b"long " * 600, now=net.now))
    net.run(10)
    return net, nodes, mids


def test_fifty_peers_relay_and_deliver_in_c_on_every_peer() -> None:
    net, nodes, mids = _scenario(3, dataplane=True)
    members = nodes[:40]
    for x in members:
        for mid in mids:
            assert len(delivered(x, mid)) == 1 or mid in x.peer.replication.delivered
            # (its own messages are delivered by publishing them)
    for x in nodes:
        c = x.peer.counters()
        # all of it through C, but lone control frames (engine.receive_batch: C would only
        # hand them up)
        assert c["dataplane.valid"] + c["rx.lone_control"] == c["rx"] - c.get("drop.rate", 0)
        # C relayed on every peer that cached a new PUBLISH and had someone to relay it to
        # (a leaf whose one neighbour sent it has nobody: C counts that as no_peers)
        if c["dataplane.cached"]:
            assert c["dataplane.forwarded"] > 0 or c["dataplane.no_peers"] > 0, net.index(x)
    assert all(x.peer.counters()["dataplane.forwarded"] > 0 for x in nodes[:40])  # members
    for x in members:
        c = x.peer.counters()
        assert c["dataplane.deliver.ok"] + c["dataplane.deliver.assembled"] > 0, net.index(x)
        # The Python path delivers only what the docs say it does: fragments spread over
        # batches, variants, frames that fail in C. Here: every message went through C or
        # arrived as such a leftover, never as a whole-message frame C could have taken.
        assert c.get("drop.internal", 0) == 0


def test_the_python_path_and_the_c_path_deliver_the_same() -> None:
    """The Python per-frame path is the reference: the same seeded scenario through it and
    through the C data plane gives the same deliveries (who got which message, once)."""
    outcomes = []
    for dataplane in (False, True):
        net, nodes, mids = _scenario(5, dataplane)
        outcomes.append({(i, mid): len(delivered(x, mid))
                         for i, x in enumerate(nodes) for mid in mids})
    py, c = outcomes
    assert py == c
    assert sum(py.values()) >= 39 * len(set(k[1] for k in py))  # every member, once


def test_address_codec_round_trips_and_matches_the_data_plane_layout() -> None:
    from srpfast.dataplane import _dataplane
    assert ADDR_BYTES == _dataplane.ADDR_BYTES
    for address in (("10.0.0.1", 7000), ("198.18.3.4", 1), ("::1", 65535),
                    ("2001:db8::7", 9000)):
        assert unpack_sockaddr(pack_sockaddr(address)) == address


_RUN = """
import sys, hashlib
sys.path.insert(0, {root!r})
from tests.integration.test_one_engine import _scenario
net, nodes, mids = _scenario(11, True)
print(hashlib.sha256(repr(net.log).encode()).hexdigest(), len(net.log))
"""


def test_same_seed_same_event_log_in_two_processes_on_the_c_path() -> None:
    """One seed makes a run: two fresh processes (fresh OS secrets, fresh hash seeds) run the
    same 50-peer scenario through the C data plane and log the same events, byte for byte."""
    outs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=ROOT)
        done = subprocess.run([sys.executable, "-c", _RUN.format(root=ROOT)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(done.stdout.split())
    assert outs[0] == outs[1] and int(outs[0][1]) > 1000
    assert C.PACKET_BYTES == 1158 and hashlib  # (imports used by the subprocess code)
