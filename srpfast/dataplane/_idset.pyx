# csrc: idset.c seen.c
"""IdSet: a member's delivered-message ids in C (csrc/idset.h), the FifoSet of
control/bounded.py over 32-byte ids (same rules: at most ``capacity`` ids, the oldest added
goes first, a repeat does not refresh it) without a Python set entry per id.

Its reason to exist is ``add_ready``: the delivery path's per-batch test (is any of these
delivered before or repeated; must any wait for an undelivered predecessor, SPEC 6) and the
insertion of the whole batch in one C loop, where the Python set cost ~0.3 us per message
(Replication.on_messages, docs/ENGINE.md)."""
import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport uint8_t, uint64_t

from srpfast.errors import ArgumentError, ArgumentTypeError

cdef extern from "idset.h" nogil:
    ctypedef struct srp_ids:
        pass
    srp_ids *srp_ids_new(size_t capacity, uint64_t seed)
    void srp_ids_free(srp_ids *s)
    size_t srp_ids_len(const srp_ids *s)
    size_t srp_ids_capacity(const srp_ids *s)
    size_t srp_ids_memory_bytes(const srp_ids *s)
    int srp_ids_has(const srp_ids *s, const uint8_t *id)
    int srp_ids_add(srp_ids *s, const uint8_t *id)
    int srp_ids_add_fresh(srp_ids *s, const uint8_t **ids, size_t n, uint64_t *scratch)
    int srp_ids_add_ready(srp_ids *s, const uint8_t **ids, const uint8_t **prevs, size_t n,
                          int ordering, uint64_t *scratch)


cdef inline const uint8_t *_id_of(object key) except NULL:
    """The 32 bytes of an id (bytes; add and __contains__ turn a bytearray or memoryview into
    bytes first). The seed of the index's hash is random: it changes the layout, never a
    result (the ids are compared whole), so a seeded simulation stays reproducible."""
    if PyBytes_Check(key):
        if PyBytes_GET_SIZE(key) != 32:
            raise ArgumentError(f"ids are 32 bytes, got {PyBytes_GET_SIZE(key)}")
        return <const uint8_t *>PyBytes_AS_STRING(key)
    raise ArgumentTypeError(f"ids are bytes, got {type(key).__name__}")


cdef inline bint _checked(int r) except -1:
    if r < 0:
        raise MemoryError("the delivered-id set could not grow its index")
    return r != 0


cdef class IdSet:
    cdef srp_ids *s
    cdef const uint8_t **_ptrs   # scratch: 2 pointers and 2 hashes per id of the last call
    cdef uint64_t *_scratch
    cdef size_t _room

    def __cinit__(self, Py_ssize_t capacity):
        if capacity < 0:
            capacity = 0  # (FifoSet: a negative capacity remembers nothing)
        self.s = srp_ids_new(<size_t>capacity, int.from_bytes(os.urandom(8), "little"))
        if self.s == NULL:
            raise MemoryError("cannot allocate the delivered-id set")

    def __dealloc__(self):
        srp_ids_free(self.s)
        PyMem_Free(self._ptrs)
        PyMem_Free(self._scratch)

    @property
    def capacity(self) -> int:
        return srp_ids_capacity(self.s)

    @property
    def memory_bytes(self) -> int:
        return srp_ids_memory_bytes(self.s)

    def __len__(self) -> int:
        return srp_ids_len(self.s)

    def __contains__(self, key) -> bool:
        if not PyBytes_Check(key):
            key = bytes(key) if isinstance(key, (bytearray, memoryview)) else None
        if key is None or PyBytes_GET_SIZE(key) != 32:
            return False  # (never added: add takes 32-byte ids only)
        return srp_ids_has(self.s, <const uint8_t *>PyBytes_AS_STRING(key)) != 0

    def add(self, key) -> bool:
        """True when key is new (and now remembered)."""
        if not PyBytes_Check(key) and isinstance(key, (bytearray, memoryview)):
            key = bytes(key)
        return _checked(srp_ids_add(self.s, _id_of(key)))

    def update(self, keys) -> None:
        for key in keys:
            self.add(key)

    cdef int _grow(self, size_t n) except -1:
        if n <= self._room:
            return 0
        ptrs = <const uint8_t **>PyMem_Realloc(self._ptrs, 2 * n * sizeof(uint8_t *))
        if ptrs == NULL:
            raise MemoryError()
        self._ptrs = ptrs
        scratch = <uint64_t *>PyMem_Realloc(self._scratch, 2 * n * sizeof(uint64_t))
        if scratch == NULL:
            raise MemoryError()
        self._scratch = scratch
        self._room = n
        return 0

    cdef size_t _fill(self, list keys, size_t at) except? 0:
        cdef Py_ssize_t k, n = PyList_GET_SIZE(keys)
        for k in range(n):
            self._ptrs[at + k] = _id_of(<object>PyList_GET_ITEM(keys, k))
        return <size_t>n

    def add_fresh(self, list keys not None) -> bool:
        """Add every key of ``keys`` when none is present and none repeats (True); otherwise
        change nothing (False). One C loop: no Python per key."""
        cdef size_t n = <size_t>PyList_GET_SIZE(keys)
        self._grow(n)
        self._fill(keys, 0)
        return _checked(srp_ids_add_fresh(self.s, self._ptrs, n, self._scratch))

    def add_ready(self, list ids not None, list prevs not None, bint ordering) -> bool:
        """The delivery path's common case (Replication.on_messages): with ``ordering`` set,
        each message's previous id (prevs[k]) must be zero, present, or an id earlier in
        ``ids`` (delivered first: the columns go out in order), else False; then
        ``add_fresh(ids)``. Either every id is added (True) or nothing changes (False)."""
        cdef size_t n = <size_t>PyList_GET_SIZE(ids)
        if <size_t>PyList_GET_SIZE(prevs) != n:
            raise ArgumentError("one previous id per id")
        self._grow(n)
        self._fill(ids, 0)
        self._fill(prevs, n)
        return _checked(srp_ids_add_ready(self.s, self._ptrs, self._ptrs + n, n, ordering,
                                          self._scratch))
