"""Readiness and bootstrap through the public API, on real UDP sockets (loopback only):
a lone first node is ready, names and single strings bootstrap, an unanswered bootstrap is an
#error within Config.bootstrap_timeout and wait_ready raises BootstrapError, and network
events carry typed objects (srpfast/api_events.py)."""
import asyncio
import socket
import time

import pytest

import srpfast
from srpfast import addresses
from srpfast.drivers import _udp
from srpfast.config import Config

from loopback import wait_for

pytestmark = pytest.mark.slow
CLUSTER = srpfast.create_cluster_id(b"srpfast bootstrap tests")


def _dead_port() -> int:
    """A loopback UDP port nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _net(**kw):
    return srpfast.network(cluster_id=CLUSTER, host="127.0.0.1", **kw)


def test_lone_peer_is_ready_at_once_as_the_first_node(run):
    async def scenario():
        async with _net() as a:
            got = []
            a.on("#ready", got.append)  # registered after start: still sees #ready
            assert a.ready.is_set()
            info = await a.wait_ready(timeout=0.5)
            assert info == srpfast.ReadyEvent(a.identity.peer_id, a.address, None, "unknown",
                                              "unknown", True)
            assert await wait_for(lambda: got, 2) and got == [info]
            await asyncio.sleep(0.2)
            assert got == [info]  # exactly once
    run(scenario(), timeout=20)


def test_lone_peer_gets_typed_connection_and_network_change_when_peers_arrive(run):
    async def scenario():
        async with _net() as a:
            changes, conns = [], []
            a.on("#network-change", changes.append)
            a.on("#connection", conns.append)
            boot = [a.address]
            async with _net(bootstrap=boot) as b, _net(bootstrap=boot) as c:
                assert await wait_for(lambda: any(e.nat == "static" for e in changes), 15)
                # (a public peer can know it is Static at its first PONG: issue 12)
                assert changes[0].nat in ("unknown", "static")
                assert await wait_for(lambda: len({e.peer_id for e in conns}) == 2, 15)
                assert all(isinstance(e, srpfast.NetworkChangeEvent) for e in changes)
                assert changes[-1].public_address == a.address
                assert {e.peer_id for e in conns} == {b.identity.peer_id, c.identity.peer_id}
                assert all(isinstance(e, srpfast.ConnectionEvent) and e.address[0] == "127.0.0.1"
                           for e in conns)
            assert (await a.wait_ready(0)).alone  # what it was when it became ready
    run(scenario(), timeout=30)


def test_disconnection_event_is_typed(run):
    async def scenario():
        cfg = Config(keep_alive=0.3)  # a silent peer expires after 3 x 0.3 s
        async with _net(config=cfg) as a:
            gone = []
            a.on("#disconnection", gone.append)
            b = await _net(bootstrap=a.address, config=cfg)  # one (host, port) pair
            try:
                assert await wait_for(lambda: b.identity.peer_id in a.peer.table, 5)
            finally:
                await b.close()
            assert await wait_for(lambda: gone, 10)
            assert gone == [srpfast.DisconnectionEvent(b.identity.peer_id)]
    run(scenario(), timeout=30)


def test_dual_stack_socket_reaches_ipv4_names_and_ipv6_addresses(run):
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")

    async def scenario():
        async with _net() as v4, srpfast.network(cluster_id=CLUSTER, host="::1") as v6:
            both = srpfast.network(cluster_id=CLUSTER, host="::", bootstrap=[
                f"localhost:{v4.address[1]}", f"[::1]:{v6.address[1]}"])
            async with both:
                await both.wait_ready(timeout=5)
                assert await wait_for(lambda: v4.identity.peer_id in both.peer.table
                                      and v6.identity.peer_id in both.peer.table)
    run(scenario(), timeout=20)


def test_single_string_bootstrap_connects(run):
    async def scenario():
        async with _net() as a:
            # A bare string is one entry (the old code iterated it character by character).
            async with _net(bootstrap=f"127.0.0.1:{a.address[1]}") as b:
                info = await b.wait_ready(timeout=5)
                assert not info.alone and info.public_address == b.address
                assert await wait_for(lambda: a.identity.peer_id in b.peer.table)
    run(scenario(), timeout=20)


def test_hostname_bootstrap_resolves_and_connects(run):
    async def scenario():
        async with _net() as a:
            errors = []
            b = _net(bootstrap=[f"localhost:{a.address[1]}"])
            b.on("#error", errors.append)
            async with b:
                await b.wait_ready(timeout=5)
                assert ("127.0.0.1", a.address[1]) in b.peer.bootstrap.addresses
                assert await wait_for(lambda: b.identity.peer_id in a.peer.table)
            assert errors == []  # the IPv6 answer for localhost is simply not used here
    run(scenario(), timeout=20)


def test_unanswered_bootstrap_is_an_error_within_the_bound_and_wait_ready_raises(run):
    async def scenario():
        entry = f"127.0.0.1:{_dead_port()}"
        cfg = Config(bootstrap_timeout=0.5)
        async with _net(bootstrap=[entry], config=cfg) as net:
            errors = []
            net.on("#error", errors.append)
            t0 = time.monotonic()
            with pytest.raises(srpfast.BootstrapError, match=entry):
                await net.wait_ready()  # None: gives up at the bootstrap bound
            took = time.monotonic() - t0
            assert 0.3 <= took < 2.0
            assert await wait_for(lambda: errors, 1)
            assert errors[0].code == "bootstrap.unanswered" and entry in errors[0].reason
            assert isinstance(errors[0], srpfast.ErrorInfo)
            with pytest.raises(srpfast.NotReadyError, match="firewall"):
                await net.wait_ready(timeout=0.2)  # BootstrapError is a NotReadyError
            await asyncio.sleep(1.5)
            assert len(errors) == 1 and net.metrics()["bootstrap.unanswered"] == 1
            assert not net.ready.is_set()
    run(scenario(), timeout=20)


def test_wait_ready_arguments_and_close(run):
    async def scenario():
        net = _net(bootstrap=[f"127.0.0.1:{_dead_port()}"])
        with pytest.raises(srpfast.ClosedError):
            await net.wait_ready()  # not started
        async with net:
            with pytest.raises(srpfast.ArgumentError, match="timeout"):
                await net.wait_ready(timeout=-1)
            waiters = [asyncio.ensure_future(net.wait_ready(timeout=t))
                       for t in (10, float("inf"), None)]
            await asyncio.sleep(0.1)
        for waiter in waiters:
            with pytest.raises(srpfast.ClosedError):
                await waiter  # closing wakes every waiter at once
    run(scenario(), timeout=20)


def test_unresolvable_name_is_an_error_and_the_other_entries_are_used(run, monkeypatch):
    real = addresses._getaddrinfo

    async def fake(loop, host, port):  # no DNS in tests: this name fails like NXDOMAIN
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(loop, host, port)

    monkeypatch.setattr(addresses, "_getaddrinfo", fake)

    async def scenario():
        async with _net() as a:
            bad = "no-such-host.invalid:9000"
            b = _net(bootstrap=[bad, f"127.0.0.1:{a.address[1]}"])
            errors = []
            b.on("#error", errors.append)
            async with b:
                assert await wait_for(lambda: errors, 2)
                assert errors[0].code == "bootstrap.unresolved" and bad in errors[0].reason
                assert b.metrics()["api.bootstrap_unresolved"] == 1
                await b.wait_ready(timeout=5)
            before = _udp.open_fds()
            only_bad = _net(bootstrap=bad)
            with pytest.raises(srpfast.BootstrapError, match="no-such-host.invalid"):
                await only_bad.start()  # nothing usable at all: raise, socket released
            assert _udp.open_fds() == before
    run(scenario(), timeout=20)


def test_address_of_a_family_the_socket_cannot_reach_is_reported(run):
    async def scenario():
        async with _net() as a:
            b = _net(bootstrap=["[::1]:9000", ("localhost", a.address[1])])
            errors = []
            b.on("#error", errors.append)
            async with b:
                assert await wait_for(lambda: errors, 2)
                assert "[::1]:9000" in errors[0].reason and "IPv4" in errors[0].reason
                await b.wait_ready(timeout=5)
    run(scenario(), timeout=20)


BAD = [
    "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4", "1.2.3.4:", ":9000", "host:port", "::1:9000",
    "[::1]", "[1.2.3.4]:9000", "bad host:9000", "http://example.org:9000", "",
    ("1.2.3.4", 70000), ("1.2.3.4", "x"), ("", 9000), ("1.2.3.4", True), ("1.2.3.4", 1, 2), 9000,
]


@pytest.mark.parametrize("entry", BAD, ids=repr)
def test_bad_bootstrap_entries_raise_argument_error_at_network(entry):
    before = _udp.open_fds()
    with pytest.raises(srpfast.ArgumentError) as err:
        srpfast.network(cluster_id=CLUSTER, bootstrap=[entry])
    assert repr(entry) in str(err.value) and "host:port" in str(err.value)
    if isinstance(entry, str):  # the same entry alone, as a bare string
        with pytest.raises(srpfast.ArgumentError, match="bootstrap"):
            srpfast.network(cluster_id=CLUSTER, bootstrap=entry)
    assert _udp.open_fds() == before  # nothing bound: it failed where it was written


def test_good_bootstrap_forms_parse():
    parse = addresses.parse_bootstrap
    assert [(e.host, e.port) for e in parse("localhost:9000")] == [("localhost", 9000)]
    assert [(e.host, e.port) for e in parse(("10.0.0.1", 7))] == [("10.0.0.1", 7)]
    assert [(e.host, e.port) for e in parse(["[2001:db8::7]:9000", ("::1", 1), "a.b-c_d:5"])] \
        == [("2001:db8::7", 9000), ("::1", 1), ("a.b-c_d", 5)]
    assert parse(None) == [] and parse(()) == []
