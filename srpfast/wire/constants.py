"""Protocol constants (SPEC section 8). Defaults; the engine's config can override most."""
from __future__ import annotations

from typing import Final

MAGIC: Final = b"SRP\x00"
VERSION: Final = 1
PACKET_BYTES: Final = 1158
HEADER_BYTES: Final = 134
MESSAGE_BYTES: Final = 1024

# Packet types (SPEC 2)
PING: Final = 1
PONG: Final = 2
INTRO: Final = 3
JOIN: Final = 4
PUBLISH: Final = 5
STREAM: Final = 6
SYNC: Final = 7
QUERY: Final = 8
ANSWER: Final = 9
TYPE_NAMES: Final = {
    PING: "PING", PONG: "PONG", INTRO: "INTRO", JOIN: "JOIN", PUBLISH: "PUBLISH",
    STREAM: "STREAM", SYNC: "SYNC", QUERY: "QUERY", ANSWER: "ANSWER",
}

# Flags (SPEC 2)
FLAG_MORE: Final = 0x01
FLAG_SEALED: Final = 0x02
FLAGS_KNOWN: Final = FLAG_MORE | FLAG_SEALED

ZERO16: Final = bytes(16)
ZERO32: Final = bytes(32)

MAX_HOPS: Final = 16
FANOUT: Final = 3
CACHE_TTL: Final = 6 * 3600
POSTAGE: Final = 8
CACHE_BYTES: Final = 16 * 2**20
KEEP_ALIVE: Final = 30.0
BDP_SOCKETS: Final = 256
BDP_PROBES: Final = 1000
# The Easy side first sprays this many at once (the reference: 1024 at once), then BDP_PROBES
# more, paced (the seed): PROTOCOL.md §5 "The birthday-paradox port search".
BDP_BURST: Final = 1024
BDP_INTERVAL: Final = 0.010

# Fragmentation bound (SPEC 2: "bound the number of fragments per message"):
# 1024 fragments x 1024 bytes = 1 MiB of sealed message at most.
MAX_FRAGMENTS: Final = 1024
