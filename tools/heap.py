"""Where a process's memory is (for the soak, tools/soak.py): Python objects (pymalloc blocks
in use, and with tracemalloc on, the bytes it traces) and the C heap as glibc's allocator sees
it (mallinfo2: bytes in use, free bytes kept in the arenas, mmapped chunks), so that growth of
live data can be told apart from allocator fragmentation (free bytes the arenas keep, which
``malloc_trim`` hands back to the kernel); and the kernel's view (/proc/self/smaps): what is
resident in the brk heap and in anonymous mappings, where the C core's large tables live
(csrc/bigalloc.h) beside pymalloc's arenas and glibc's mmapped chunks."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
import tracemalloc


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc >= 2.33
        return None


_LIBC = _libc()


def heap_stats() -> dict[str, int]:
    """py_blocks: pymalloc blocks in use; traced: tracemalloc's bytes (0 when off);
    c_used / c_free / c_mmap: glibc heap bytes in use, free in the arenas, in mmapped chunks."""
    out = {"py_blocks": sys.getallocatedblocks(),
           "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0}
    if _LIBC is not None:
        m = _LIBC.mallinfo2()
        out.update(c_used=m.uordblks, c_free=m.fordblks, c_mmap=m.hblkhd, c_arena=m.arena)
    return out


def mappings() -> dict[str, int]:
    """heap_rss: resident bytes of the brk heap; anon_rss / anon_size: resident and mapped bytes
    of the unnamed anonymous mappings (C tables, pymalloc arenas, glibc's mmapped chunks);
    rss: the whole (all three 0 where /proc/self/smaps does not exist)."""
    out = {"heap_rss": 0, "anon_rss": 0, "anon_size": 0, "rss": 0}
    try:
        with open("/proc/self/smaps") as f:
            kind = ""
            for line in f:
                head = line.split(None, 6)
                if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                    kind = ("anon" if len(head) == 5 else
                            "heap" if head[5].strip() == "[heap]" else "other")
                elif head[0] == "Rss:":
                    kb = int(head[1]) * 1024
                    out["rss"] += kb
                    if kind != "other":
                        out[f"{kind}_rss"] += kb
                elif head[0] == "Size:" and kind == "anon":
                    out["anon_size"] += int(head[1]) * 1024
    except OSError:
        pass
    return out


def trim() -> bool:
    """Hand the arenas' free memory back to the kernel (glibc malloc_trim(0))."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))
