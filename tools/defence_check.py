"""Each attack test fails when its defence is removed (issue 13's acceptance; docs/SECURITY.md,
"Checked to fail without the defence").

For every defence of docs/SECURITY.md: apply a small patch that disables it (in this working
tree), rebuild the extensions if C changed, run its adversarial test, record whether the test
FAILED (as it must), restore the file and rebuild. Prints a Markdown table.

Usage: .venv/bin/python tools/defence_check.py [--dry] [NAME ...]   (no name: every defence;
--dry: only check that every patch still applies, e.g. after code moved).
Never run it beside other tests of the same tree: it edits sources while it runs."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
ADV = "tests/adversarial/"


@dataclass
class Defence:
    name: str
    path: str
    old: str
    new: str
    test: str
    how: str  # what the patch does, for the table


DEFENCES = [
    Defence("INTRO proof (§1)", "srpfast/control/traversal.py",
            "        raw = body.proof\n        if raw == NO_PROOF:",
            "        raw = body.proof\n        return decode_body(C.JOIN, raw) if raw != NO_PROOF else None  # type: ignore\n        if raw == NO_PROOF:",
            ADV + "test_intro_amplification.py",
            "`_proof` returns the carried JOIN unchecked"),
    Defence("INTRO proof vouches for the address (§1)", "srpfast/control/traversal.py",
            "        if ask is None or ask.address is None or ask.address[0] != address[0]:",
            "        if ask is None:",
            ADV + "test_intro_amplification.py",
            "`_vouched` ignores the proof's address"),
    Defence("BDP gates: one per host per window (§1)", "srpfast/control/traversal.py",
            "        if host in self.bdp_hosts:",
            "        if False:",
            ADV + "test_intro_amplification.py::test_colluding_keys_stay_within_the_bdp_gates",
            "`_bdp_allowed` skips the per-host gate"),
    Defence("keyed sender keys (§2)", "csrc/udp.c",
            "    crypto_shorthash(out, canon, sizeof canon, key_secret);\n    uint64_t h;\n    memcpy(&h, out, sizeof h);",
            "    uint64_t h, hi, lo; (void)out;\n    memcpy(&hi, canon, 8); memcpy(&lo, canon + 8, 8);\n"
            "    if (a->sa.sa_family == AF_INET6 && !(hi == 0 && (lo & 0xffffffffull) == 0xffff0000ull)) {\n"
            "        uint16_t port = ntohs(a->in6.sin6_port);\n"
            "        uint64_t z = lo ^ ((uint64_t)port << 1);\n"
            "        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; z ^= z >> 31;\n"
            "        z ^= hi; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; z ^= z >> 31;\n"
            "        return z | (1ull << 63);\n    }\n"
            "    crypto_shorthash(out, canon, sizeof canon, key_secret);\n    memcpy(&h, out, sizeof h);",
            ADV + "test_sender_keys.py",
            "IPv6 keys: the old unkeyed mix again (csrc/udp.c)"),
    Defence("over-limit sender dropped in C, batch stays (§3)", "srpfast/control/dataplane.py",
            "            if over:\n                drop = bytearray(count)",
            "            if over:\n                return False",
            ADV + "test_rate_cliff.py",
            "an over-limit sender demotes the batch (the old cliff)"),
    Defence("hop rule in C (§4)", "csrc/dataplane.c",
            "if (d[SRP_OFF_HOPS] > dp->max_hops) {",
            "if (0 && d[SRP_OFF_HOPS] > dp->max_hops) {",
            ADV + "test_hop_limit.py",
            "C caches frames past max_hops"),
    Defence("HAVE pulls charged to the SYNC budget (§5)", "srpfast/control/announce.py",
            "if pid not in self.pulls and not p.sync.spend(peer, now):",
            "if False:",
            ADV + "test_sync_query_storms.py",
            "`on_have` pulls without spending"),
    Defence("SYNC tag (§6)", "srpfast/control/sync.py",
            "        if not hmac.compare_digest(_sodium.generichash(raw, rx, SYNC_TAG_BYTES), body.tag):",
            "        if False:",
            ADV + "test_reflection.py",
            "the tag is not checked"),
    Defence("one challenge PONG for an unproven PING (§6, 9.2)", "srpfast/control/handshake.py",
            "        if known is not None and (known.address, known.pool) == (address, pool):",
            "        if True:",
            ADV + "test_peer_id_hijack.py",
            "a signed PING admits its sender at once"),
    Defence("no route for a stranger's QUERY (§6)", "srpfast/control/replication.py",
            "        sender = p.table.at(address)\n        if sender is None:",
            "        sender = p.table.at(address)\n        if False:",
            "tests/integration/test_engine_hostile.py::"
            "test_a_strangers_query_is_answered_from_cache_but_never_routed",
            "strangers' QUERYs get routes"),
    Defence("rate table bound (§7)", "srpfast/control/bounded.py",
            "        self._b: LruDict[Hashable, list[float]] = LruDict(capacity)",
            "        self._b: LruDict[Hashable, list[float]] = LruDict(1 << 30)",
            ADV + "test_table_floods.py",
            "`RateLimiter` unbounded"),
    Defence("full table evicts only the silent (§7)", "srpfast/control/peers.py",
            "        if now - oldest.last_seen <= self.keep_alive:",
            "        if False:",
            ADV + "test_table_takeover.py",
            "a full table evicts its oldest entry"),
    Defence("the kernel's frame filter (§8, 12)", "srpfast/drivers/base.py",
            "UDPSocket(host, port, filter_frames=True, gro=True)",
            "UDPSocket(host, port, filter_frames=False, gro=True)",
            ADV + "test_garbage_flood.py",
            "the engine's main socket takes every datagram into its buffer"),
    Defence("garbage dies in the C validator (§8)", "csrc/dataplane.c",
            "            if (v != SRP_OK) continue;",
            "            if (v != SRP_OK) { state[j] = ST_CONTROL; continue; }",
            ADV + "test_garbage_flood.py",
            "C hands invalid frames up (Python drops them)"),
    Defence("malformed input never raises (§8, 9.5)", "srpfast/control/engine.py",
            "        except MalformedPacket:\n            self.count(\"drop.body\")\n            return\n",
            "        except MalformedPacket:\n            raise\n",
            ADV + "test_garbage_flood.py",
            "a hostile control body's error is raised (`drop.internal`)"),
    Defence("seal's additional data (§8)", "csrc/seal.c",
            "    memcpy(ad + 11, frame + SRP_OFF_CLUSTER, 112);       /* cluster, to, previousId, nextId */",
            "    memset(ad, 0, SRP_SEAL_AD_BYTES); (void)frame;",
            ADV + "test_tampered_sealed.py",
            "the AD is zeroed (header not authenticated)"),
    Defence("variants are not duplicates (9.1)", "srpfast/control/replication.py",
            "    return pid + datagram[4:6] + datagram[7:16] + datagram[22:70]",
            "    return pid",
            ADV + "test_forged_ids.py",
            "copies keyed by packetId only (the reference)"),
    Defence("PONG signature (9.2)", "srpfast/control/handshake.py",
            "        if not verify_proof(body.peer_id, signed_bytes(C.PONG, f.cluster, body.unsigned()),\n                            body.signature):",
            "        if False:",
            ADV + "test_peer_id_hijack.py",
            "PONG signatures not checked"),
    Defence("members rate-limited (9.6)", "srpfast/control/bounded.py",
            "        granted = min(want, max(0, int(tokens)))",
            "        granted = want",
            ADV + "test_member_rate_limit.py",
            "`RateLimiter.take` grants all"),
    Defence("a forged head takes no fragment away (9.7)", "srpfast/wire/fragments.py",
            "            self._unwait(pending.wanted, head.packet_id)\n            pending.chain.append(frame)",
            "            self._unwait(pending.wanted, head.packet_id)\n            self._held.pop(pending.wanted, None)\n            pending.chain.append(frame)",
            ADV + "test_concurrent_fragments.py",
            "a fragment is used up by the first head that follows it"),
    Defence("an inconsistent head is dropped, not the fragment (9.7)", "srpfast/wire/fragments.py",
            "                self._drop(head.packet_id)\n                return None\n            if len(pending.chain)",
            "                self._forget_held(pending.wanted)\n                return None\n            if len(pending.chain)",
            ADV + "test_concurrent_fragments.py",
            "the fragment is forgotten instead (the old rule)"),
    Defence("one fragment completes every head of its chain (9.7)", "srpfast/wire/fragments.py",
            "                done.append(message)",
            "                done[:] = [message]",
            ADV + "test_concurrent_fragments.py",
            "only the last completed head is returned (the old `add`)"),
    Defence("no cap on heads waiting for one id (9.7)", "srpfast/wire/fragments.py",
            "            pending = _Pending(frame, [frame], now, frame.next_id)",
            "            if len(self._waiting.get(frame.next_id, ())) >= 4: return []\n            pending = _Pending(frame, [frame], now, frame.next_id)",
            ADV + "test_concurrent_fragments.py",
            "a fifth head naming one id is refused (the old HEADS_PER_ID)"),
    Defence("SYNC budget", "srpfast/control/sync.py",
            "        if entry[0] + n > self.p.config.sync_budget:",
            "        if False:",
            ADV + "test_sync_query_storms.py",
            "`spend` always grants"),
    Defence("QUERY dedup", "srpfast/control/replication.py",
            "        if not self.queries_seen.add(body.query_id):",
            "        if not self.queries_seen.add(body.query_id) and False:",
            ADV + "test_sync_query_storms.py",
            "replayed query ids answered again"),
    Defence("per-source cache share (§7 of PROTOCOL)", "csrc/cache.c",
            "    if (s != NIL && c->srcs[s].count >= c->share_slots && c->share_slots < c->slots) {",
            "    if (0 && s != NIL && c->srcs[s].count >= c->share_slots && c->share_slots < c->slots) {",
            ADV + "test_cache_flooding.py",
            "the share is never enforced in C"),
    Defence("seen-ids dedup of re-broadcasts", "csrc/dataplane.c",
            "            if (seen_has(dp, ck) && !srp_cache_contains(dp->cache, ids + 32 * i)) {",
            "            if (0 && seen_has(dp, ck) && !srp_cache_contains(dp->cache, ids + 32 * i)) {",
            ADV + "test_expiry_loops.py",
            "C forgets the copies it saw once they leave its cache"),
    Defence("relay budget", "srpfast/control/streams.py",
            "        if used[0] >= p.config.relay_budget_packets:",
            "        if False:",
            ADV + "test_relay_budget.py",
            "the Hard<->Hard relay budget is not charged"),
]


def _build() -> None:
    subprocess.run([PY, "setup.py", "-q", "build_ext", "--inplace", "-j", "2"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_dirty = False  # the built extensions do not match the sources (a C patch was just undone)


def check(d: Defence) -> tuple[bool, str, float]:
    global _dirty
    path = os.path.join(ROOT, d.path)
    with open(path) as f:
        original = f.read()
    if original.count(d.old) != 1:
        return False, f"patch does not apply ({original.count(d.old)} matches)", 0.0
    native = d.path.startswith("csrc/")
    try:
        with open(path, "w") as f:
            f.write(original.replace(d.old, d.new))
        if native or _dirty:  # (one build: undoing the last C patch and making this one)
            _build()
            _dirty = native
        t0 = time.monotonic()
        r = subprocess.run([PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", d.test],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        dt = time.monotonic() - t0
        out = (r.stdout + r.stderr).strip().splitlines() or ["(no output)"]
        lines = [ln for ln in out if ln.startswith(("E ", "FAILED"))]
        why = (lines[0] if lines else out[-1])[:150]
        return r.returncode != 0, why, dt
    finally:
        with open(path, "w") as f:
            f.write(original)
        if native:
            os.utime(path)


def main(names: list[str]) -> int:
    if names[:1] == ["--dry"]:
        stale = [d.name for d in DEFENCES
                 if open(os.path.join(ROOT, d.path)).read().count(d.old) != 1]
        print("every patch applies" if not stale else f"patches that do not apply: {stale}")
        return 1 if stale else 0
    todo = [d for d in DEFENCES if not names or any(n in d.name for n in names)]
    todo.sort(key=lambda d: d.path.startswith("csrc/"))  # C last: one build per C patch
    print("| defence | how disabled | test | failed as expected | first failure |")
    print("|---|---|---|---|---|")
    bad = 0
    for d in todo:
        failed, why, dt = check(d)
        bad += not failed
        test = d.test.removeprefix(ADV)
        print(f"| {d.name} | {d.how} | `{test}` | {'yes' if failed else '**NO**'} "
              f"({dt:.0f} s) | {why.replace('|', '/')} |", flush=True)
    if _dirty:
        _build()  # the sources as they were
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
