"""Bad calls a user can make (issue 16): each raises an srpfast.SRPError subclass whose
message names the argument and says what to do, never a builtin TypeError/ValueError from
deep inside (a socket, json, a comparison) or a confusing internal message."""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, Callable

import pytest

import srpfast
from srpfast import (ArgumentError, ArgumentTypeError, CapacityError, ClosedError, ConfigError,
                     IdentityError, SRPError)

CLUSTER = srpfast.create_cluster_id(b"bad calls")
KEY = srpfast.create_shared_key(b"bad calls")


@dataclass
class Ctx:
    """A started network with one subcluster, and one that was started then closed."""
    net: srpfast.Network
    sub: srpfast.Subcluster
    closed: srpfast.Network
    closed_sub: srpfast.Subcluster


Call = Callable[[Ctx], Any]
# (row id, the call, the error type it must raise, words its message must contain)
ROWS: list[tuple[str, Call, type[SRPError], tuple[str, ...]]] = [
    # -- network(...) arguments ---------------------------------------------------------------
    ("cluster_id short", lambda c: srpfast.network(cluster_id=b"short"),
     ArgumentError, ("cluster_id", "32 bytes", "srpfast.create_cluster_id")),
    ("cluster_id str", lambda c: srpfast.network(cluster_id="x" * 32),  # type: ignore[arg-type]
     ArgumentError, ("cluster_id", "srpfast.create_cluster_id")),
    ("port too large", lambda c: srpfast.network(cluster_id=CLUSTER, port=99999),
     ArgumentError, ("port=99999", "0..65535", "0 picks a free port")),
    ("port negative", lambda c: srpfast.network(cluster_id=CLUSTER, port=-1),
     ArgumentError, ("port=-1", "0..65535")),
    ("port str", lambda c: srpfast.network(cluster_id=CLUSTER, port="9000"),  # type: ignore[arg-type]
     ArgumentTypeError, ("port='9000'", "int 0..65535")),
    ("port bool", lambda c: srpfast.network(cluster_id=CLUSTER, port=True),
     ArgumentTypeError, ("port=True", "int")),
    # a name is not bound to (the socket layer takes numeric addresses): a typed error that
    # says which numeric address to pass, never the socket's ValueError
    ("host name", lambda c: srpfast.network(cluster_id=CLUSTER, host="localhost"),
     ArgumentError, ("host='localhost'", "numeric", "127.0.0.1")),
    ("host bad ip", lambda c: srpfast.network(cluster_id=CLUSTER, host="999.1.1.1"),
     ArgumentError, ("host='999.1.1.1'", "numeric", "0.0.0.0")),
    ("host int", lambda c: srpfast.network(cluster_id=CLUSTER, host=5),  # type: ignore[arg-type]
     ArgumentTypeError, ("host=5", "str", "0.0.0.0")),
    ("bootstrap no port", lambda c: srpfast.network(cluster_id=CLUSTER, bootstrap="10.0.0.1"),
     ArgumentError, ("bootstrap entry '10.0.0.1'", "port is missing", "host:port")),
    ("bootstrap port range",
     lambda c: srpfast.network(cluster_id=CLUSTER, bootstrap=["10.0.0.1:99999"]),
     ArgumentError, ("bootstrap entry '10.0.0.1:99999'", "1..65535", "host:port")),
    ("bootstrap int", lambda c: srpfast.network(cluster_id=CLUSTER, bootstrap=[5]),  # type: ignore[list-item]
     ArgumentError, ("bootstrap entry 5", "(host, port)")),
    ("bootstrap bad pair",
     lambda c: srpfast.network(cluster_id=CLUSTER, bootstrap=[("10.0.0.1", "x")]),  # type: ignore[list-item]
     ArgumentError, ("bootstrap entry ('10.0.0.1', 'x')", "not a number", "host:port")),
    ("identity bytes", lambda c: srpfast.network(cluster_id=CLUSTER, identity=b"x"),  # type: ignore[arg-type]
     ArgumentTypeError, ("identity", "srpfast.create_identity()")),
    ("config dict", lambda c: srpfast.network(cluster_id=CLUSTER, config={"fanout": 3}),  # type: ignore[arg-type]
     ArgumentTypeError, ("config", "srpfast.Config(")),
    # (an int path used to be opened as a file descriptor and closed: the loop's own fd)
    ("peers_file int", lambda c: srpfast.network(cluster_id=CLUSTER, peers_file=5),  # type: ignore[arg-type]
     ArgumentTypeError, ("peers_file=5", "path")),
    # -- Config, identities, keys -------------------------------------------------------------
    ("Config fanout 0", lambda c: srpfast.Config(fanout=0),
     ConfigError, ("Config.fanout=0", "1..16")),
    ("Config fanout str", lambda c: srpfast.Config(fanout="3"),  # type: ignore[arg-type]
     ConfigError, ("Config.fanout='3'", "an int")),
    ("Config unknown field", lambda c: srpfast.Config(fanot=3),  # type: ignore[call-arg]
     ConfigError, ("'fanot'", "did you mean 'fanout'")),
    ("Config.replace unknown field", lambda c: srpfast.Config().replace(keep_alvie=1.0),
     ConfigError, ("'keep_alvie'", "did you mean 'keep_alive'")),
    ("Config replication unknown", lambda c: srpfast.Config(replication="gossip"),
     ConfigError, ("Config.replication='gossip'", "'weighted' or 'flood' or 'spray'")),
    ("Config spray_copies 1", lambda c: srpfast.Config(spray_copies=1),
     ConfigError, ("Config.spray_copies=1", "2..65536")),
    ("Config keep_alive negative", lambda c: srpfast.Config(keep_alive=-1.0),
     ConfigError, ("Config.keep_alive=-1.0", "> 0")),
    ("load_identity missing",
     lambda c: srpfast.load_identity(os.path.join("/nonexistent-dir", "node.key")),
     IdentityError, ("node.key", "save_identity()")),
    ("create_shared_key int", lambda c: srpfast.create_shared_key(5),  # type: ignore[arg-type]
     ArgumentTypeError, ("seed", "bytes, str or None")),
    ("save_identity not identity", lambda c: srpfast.save_identity(b"x", "/tmp/x.key"),  # type: ignore[arg-type]
     ArgumentTypeError, ("identity", "srpfast.create_identity()")),
    # -- subclusters and events ---------------------------------------------------------------
    ("shared_key 9 bytes", lambda c: c.net.subcluster(shared_key=b"x" * 9),
     ArgumentError, ("shared_key", "32 bytes", "9 bytes", "srpfast.create_shared_key")),
    ("shared_key str", lambda c: c.net.subcluster(shared_key="x" * 32),  # type: ignore[arg-type]
     ArgumentTypeError, ("shared_key", "str", "srpfast.create_shared_key")),
    ("on name int", lambda c: c.sub.on(5, print),  # type: ignore[arg-type]
     ArgumentTypeError, ("event name 5", "str")),
    ("on name empty", lambda c: c.sub.on("", print),
     ArgumentError, ("event name ''", "1..255", "non-empty")),
    ("on handler not callable", lambda c: c.sub.on("hello", 5),
     ArgumentTypeError, ("on('hello', handler)", "callable")),
    ("network on name int", lambda c: c.net.on(5, print),  # type: ignore[call-overload]
     ArgumentTypeError, ("event name 5", "str")),
    ("on_batch name empty", lambda c: c.sub.on_batch("", print),
     ArgumentError, ("event name ''", "1..255")),
    ("emit name int", lambda c: c.sub.emit(5, 1),  # type: ignore[arg-type]
     ArgumentTypeError, ("event name 5", "str")),
    ("emit name empty", lambda c: c.sub.emit("", 1),
     ArgumentError, ("event name ''", "non-empty")),
    ("emit name too long", lambda c: c.sub.emit("x" * 300, 1),
     ArgumentError, ("event name 'xxx", "1..255", "300")),
    ("emit_many name int", lambda c: c.sub.emit_many(5, [1]),  # type: ignore[arg-type]
     ArgumentTypeError, ("event name 5",)),
    ("messages name int",
     lambda c: asyncio.wait_for(c.sub.messages(5).__anext__(), 1),  # type: ignore[arg-type]
     ArgumentTypeError, ("event name 5",)),
    ("emit value set", lambda c: c.sub.emit("hello", {1, 2}),
     ArgumentError, ("value of event 'hello'", "JSON-serialisable", "pass bytes")),
    ("emit value too large", lambda c: c.sub.emit("hello", b"x" * 2_000_000),
     CapacityError, ("emit('hello', value)", "send less")),
    ("emit_many value too large", lambda c: c.sub.emit_many("hello", [b"x" * 2_000_000]),
     CapacityError, ("emit_many('hello', values)", "send less")),
    ("wait_ready negative", lambda c: c.net.wait_ready(-1),
     ArgumentError, ("wait_ready(timeout=-1)", "seconds >= 0")),
    # -- a closed network ---------------------------------------------------------------------
    ("emit on closed", lambda c: c.closed_sub.emit("hello", 1),
     ClosedError, ("closed", "srpfast.network()")),
    ("subcluster on closed", lambda c: c.closed.subcluster(shared_key=KEY),
     ClosedError, ("closed", "srpfast.network()")),
    ("wait_ready on closed", lambda c: c.closed.wait_ready(1),
     ClosedError, ("closed", "srpfast.network()")),
    ("start again after close", lambda c: c.closed.start(),
     ClosedError, ("closed", "srpfast.network()")),
    ("subcluster before start",
     lambda c: srpfast.network(cluster_id=CLUSTER).subcluster(shared_key=KEY),
     ClosedError, ("start the network first",)),
    ("address before start", lambda c: srpfast.network(cluster_id=CLUSTER).address,
     ClosedError, ("start the network first",)),
]


async def _run(call: Call) -> None:
    net = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1")
    closed = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1")
    try:
        ctx = Ctx(net, await net.subcluster(shared_key=KEY), closed,
                  await closed.subcluster(shared_key=KEY))
        await closed.close()
        result = call(ctx)
        if asyncio.isfuture(result) or asyncio.iscoroutine(result):
            await result
        elif isinstance(result, srpfast.Network):  # network(...) checks its arguments
            await result.close()
    finally:
        await net.close()
        await closed.close()


@pytest.mark.parametrize("call,error,words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_bad_call_raises_a_typed_error_that_says_what_to_do(
        call: Call, error: type[SRPError], words: tuple[str, ...]) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(_run(call))
    assert isinstance(caught.value, SRPError)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_info_and_metrics_after_close_report_the_last_state() -> None:
    """Not 'UDPSocket is closed': a closed network still answers what it was."""
    async def main() -> None:
        net = await srpfast.network(cluster_id=CLUSTER, host="127.0.0.1")
        bound = net.address
        await net.close()
        assert net.info()["bound"] == bound and net.address == bound
        assert "api.iterator_overflow" in net.metrics()
    asyncio.run(main())
