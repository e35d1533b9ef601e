"""Where a process's memory is (for the soak, tools/soak.py): Python objects (pymalloc blocks
in use, and with tracemalloc on, the bytes it traces) and the C heap as glibc's allocator sees
it (mallinfo2: bytes in use, free bytes kept in the arenas, mmapped chunks), so that growth of
live data can be told apart from allocator fragmentation (free bytes the arenas keep, which
``malloc_trim`` hands back to the kernel)."""
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


def trim() -> bool:
    """Hand the arenas' free memory back to the kernel (glibc malloc_trim(0))."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))
