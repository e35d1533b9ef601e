"""`srp demo`: a live local network of N peers on loopback (issue 6).

Every peer is a full srpfast peer on its own UDP socket (all in one event loop): they reflect,
join, introduce, relay and cache for each other. Three sealed subclusters carry published
messages; one pair exchanges a direct sealed stream. The demo shows who joined, delivery
counts and latency, and the drop counters, then exits non-zero if a member missed a message.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any, Callable

import srpfast
from srpfast.api import Meta, Network, RemotePeer, Subcluster

TOPICS = ("greetings", "weather", "chat")


def _say(args: Any, text: str) -> None:
    if not args.json:
        print(text, flush=True)


async def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def run_demo(args: Any) -> int:
    n = max(3, args.peers)
    cluster_id = srpfast.create_cluster_id(b"srpfast demo")
    keys = {t: srpfast.create_shared_key(f"srpfast demo {t}".encode()) for t in TOPICS}
    _say(args, f"starting {n} peers on 127.0.0.1 ...")
    nets: list[Network] = []
    first = srpfast.network(cluster_id=cluster_id, host="127.0.0.1", port=0)
    await first.start()
    nets.append(first)
    seeds = [f"127.0.0.1:{first.address[1]}"]
    for i in range(1, n):
        net = srpfast.network(cluster_id=cluster_id, host="127.0.0.1", port=0,
                              bootstrap=seeds[:2])
        await net.start()
        nets.append(net)
        if i < 3:
            seeds.append(f"127.0.0.1:{net.address[1]}")
    # Membership: peer i joins topic i % 3 and, for every other peer, a second one.
    members: dict[str, list[int]] = {t: [] for t in TOPICS}
    subs: dict[tuple[int, str], Subcluster] = {}
    joins: list[tuple[int, str, str]] = []
    received: dict[tuple[int, str], list[float]] = {}
    for i, net in enumerate(nets):
        topics = {TOPICS[i % 3]} | ({TOPICS[(i + 1) % 3]} if i % 2 else set())
        for topic in sorted(topics):
            sub = await net.subcluster(shared_key=keys[topic])
            subs[(i, topic)] = sub
            members[topic].append(i)
            received[(i, topic)] = []

            def on_msg(value: dict[str, Any], meta: Meta, i: int = i, topic: str = topic) -> None:
                received[(i, topic)].append(time.monotonic() - value["sent"])

            def on_join(remote: RemotePeer, i: int = i, topic: str = topic) -> None:
                joins.append((i, topic, remote.peer_id.hex()[:8]))

            sub.on("note", on_msg)
            sub.on("#join", on_join)
    ok = await _wait_until(lambda: all(net.ready.is_set() for net in nets), args.timeout / 3)
    nat = {net.info().get("nat", "?") for net in nets}
    _say(args, f"{sum(net.ready.is_set() for net in nets)}/{n} peers ready "
               f"(NAT seen: {', '.join(sorted(map(str, nat)))}); waiting for joins ...")
    expected_pairs = sum(len(m) * (len(m) - 1) for m in members.values())
    await _wait_until(lambda: len(joins) >= expected_pairs, args.timeout / 3)
    _say(args, f"{len(joins)}/{expected_pairs} #join events (member pairs that found each other)")

    # Publish: the first member of each topic sends `messages` notes.
    sent = 0
    for topic, idx in members.items():
        publisher = subs[(idx[0], topic)]
        for k in range(args.messages):
            publisher.emit("note", {"sent": time.monotonic(), "k": k, "topic": topic})
            sent += 1
            await asyncio.sleep(0)
    want = {key: args.messages for key in received if key[0] != members[key[1]][0]}
    await _wait_until(lambda: all(len(received[k]) >= v for k, v in want.items()),
                      args.timeout / 3)

    # A direct sealed stream between two members of the first topic.
    a, b = members[TOPICS[0]][0], members[TOPICS[0]][1]
    stream_got: list[Any] = []
    sub_b = subs[(b, TOPICS[0])]
    for remote in list(sub_b.peers.values()):
        remote.on("direct", lambda value, meta: stream_got.append(value))
    remote_b = subs[(a, TOPICS[0])].peers.get(nets[b].identity.peer_id)
    if remote_b is not None:
        remote_b.emit("direct", {"hello": "from peer %d" % a})
        await _wait_until(lambda: bool(stream_got), 3.0)

    latencies = [x for v in received.values() for x in v]
    delivered = sum(min(len(received[k]), v) for k, v in want.items())
    total_wanted = sum(want.values())
    metrics = [net.metrics() for net in nets]
    drops: dict[str, int] = {}
    for m in metrics:
        for name, count in m.items():
            if name.startswith("drop.") and count:
                drops[name] = drops.get(name, 0) + count
    summary = {
        "peers": n, "ready": sum(net.ready.is_set() for net in nets),
        "join_events": len(joins), "member_pairs": expected_pairs,
        "published": sent, "deliveries": delivered, "deliveries_wanted": total_wanted,
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p99": round(1000 * sorted(latencies)[int(0.99 * (len(latencies) - 1))], 2)
        if latencies else None,
        "latency_ms_max": round(1000 * max(latencies), 2) if latencies else None,
        "stream_delivered": bool(stream_got), "drops": drops,
        "relayed_by_dataplane": sum(m.get("dataplane.forwarded", 0) for m in metrics),
        "duplicates_dropped": sum(m.get("dataplane.duplicate", 0) for m in metrics),
        "nat": sorted({str(net.info().get("nat")) for net in nets}),
        "members": {t: len(m) for t, m in members.items()},
    }
    for net in nets:
        await net.close()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("\nsubcluster members: " + ", ".join(f"{t}={len(m)}" for t, m in members.items()))
        print(f"published {sent} sealed messages; delivered {delivered}/{total_wanted} "
              f"to members; latency p50 {summary['latency_ms_p50']} ms, "
              f"p99 {summary['latency_ms_p99']} ms, max {summary['latency_ms_max']} ms")
        print(f"direct sealed stream {a} -> {b}: "
              f"{'delivered ' + json.dumps(stream_got[0]) if stream_got else 'NOT delivered'}")
        print(f"relays: {summary['relayed_by_dataplane']} frames forwarded by the C data plane, "
              f"{summary['duplicates_dropped']} gossip duplicates dropped")
        print("drops by reason (all peers): " + (json.dumps(drops) if drops else "none"))
    healthy = ok and delivered == total_wanted and bool(stream_got)
    if not healthy and not args.json:
        print("demo: some deliveries are missing (see above)", file=sys.stderr)
    return 0 if healthy else 1
