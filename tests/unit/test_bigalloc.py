"""The C core's large tables come from mmap (csrc/bigalloc.h, issue 13): their pages are
resident only once touched and go back to the kernel when the table is freed, whatever state
glibc's allocator is in. The state that mattered in the soak (docs/SECURITY.md section 11) is
the one after a first peer closed: freeing a large mmapped chunk raised glibc's mmap threshold,
so the next peer's tables came from the brk heap, where calloc clears, so touches, every page."""
from __future__ import annotations

import ctypes
import gc
import struct

from srpfast.dataplane._dataplane import DataPlane
from srpfast.dataplane.cache import Cache

MiB = 2**20


def anon_mapped() -> int:
    """Bytes in the process's unnamed anonymous mappings (not [heap], not files)."""
    total = 0
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 5:  # no pathname
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                total += hi - lo
    return total


def rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def raise_glibc_mmap_threshold() -> None:
    """Free a 30 MiB mmapped chunk: glibc then serves anything smaller from its heap
    (mallopt(3), M_MMAP_THRESHOLD: the dynamic threshold follows the largest freed chunk)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(30 * MiB))


def test_tables_are_mapped_untouched_and_unmapped_on_free():
    raise_glibc_mmap_threshold()
    gc.collect()
    mapped0, rss0 = anon_mapped(), rss_anon()
    cache = Cache(16 * MiB)
    dp = DataPlane(cache, delivered_ids=1 << 20)  # tree nodes: 2.3 MiB
    mapped, rss = anon_mapped() - mapped0, rss_anon() - rss0
    # frames 13.9 MiB + nodes and indices: own mappings, even below the raised threshold
    # (the delivered-id and root tables start at 4 KiB and grow to their bound as they fill,
    # csrc/keyset.h, csrc/deliver_impl.h) ...
    assert mapped >= 16 * MiB, mapped / MiB
    # ... resident only where initialised (the cache's free lists, ~1.8 MiB; the data plane's
    # scratch buffers are Python's): not the frames, not the empty id tables.
    assert rss < 6 * MiB, rss / MiB
    del dp, cache
    gc.collect()
    assert anon_mapped() - mapped0 < 2 * MiB, (anon_mapped() - mapped0) / MiB
    assert rss_anon() - rss0 < 2 * MiB, (rss_anon() - rss0) / MiB


def frame(i: int) -> bytes:
    """A valid 1158-byte PUBLISH (SPEC 2): header, an 8-byte message, zero padding."""
    body = i.to_bytes(8, "big")
    head = (b"SRP\x00" + bytes([5, 1, 0, 0]) + struct.pack(">IHHI", 0, 0, len(body), 100)
            + bytes([8, 0]) + bytes(16) + bytes(96))
    return head + body + bytes(1024 - len(body))


def test_a_filled_cache_is_resident_and_all_of_it_goes_back_on_free():
    raise_glibc_mmap_threshold()
    gc.collect()
    rss0 = rss_anon()
    cache = Cache(16 * MiB, source_share=1.0)
    for i in range(cache.capacity_entries):
        cache.insert(frame(i), source=("10.0.0.1", 4000), now=0.0)
    assert len(cache) == cache.capacity_entries
    full = rss_anon() - rss0
    assert full >= 12 * MiB, full / MiB  # the frames (13.9 MiB), written
    del cache
    gc.collect()
    # munmap, not a free chunk kept resident in the middle of the heap
    assert rss_anon() - rss0 < 2 * MiB, (rss_anon() - rss0) / MiB


def test_a_gro_socket_maps_its_landing_area_untouched_and_unmaps_it_on_close():
    from srpfast.drivers._udp import UDPSocket
    raise_glibc_mmap_threshold()
    gc.collect()
    mapped0, rss0 = anon_mapped(), rss_anon()
    socks = [UDPSocket("127.0.0.1", 0, gro=True) for _ in range(8)]
    if not all(s.gro for s in socks):
        raise AssertionError("this kernel refused UDP_GRO: the landing area is never made")
    mapped, rss = anon_mapped() - mapped0, rss_anon() - rss0
    assert mapped >= 8 * MiB // 2, mapped / MiB  # 8 reads x 64 KiB each, a mapping apiece
    assert rss < 2 * MiB, rss / MiB             # nothing landed yet: nothing resident
    for sock in socks:
        sock.close()
    del socks, sock  # (the landing area goes with the object, as the receive batch)
    gc.collect()
    assert anon_mapped() - mapped0 < 1 * MiB, (anon_mapped() - mapped0) / MiB
