# csrc:
"""Batch decoding of application events (api.py: ``name length (1) ‖ name ‖ kind (1) ‖
value``, docs/PROTOCOL.md "Application events") for the delivery fast path.

A receive batch of up to 64 messages is decoded in one call: no Python bytecode per message,
one bytes object per value (kind 0) or one str plus the C JSON scanner (kind 1), and names
are compared in C so a run of messages with one name costs one dict lookup."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp

cdef enum:
    KIND_BYTES = 0
    KIND_JSON = 1


cdef object _json(str text, object scan, object loads):
    # The C scanner json.loads ends in; json.loads itself (the same value or the same error)
    # only for text the scanner alone does not take (surrounding whitespace, invalid JSON).
    try:
        value, end = scan(text, 0)
    except StopIteration:
        return loads(text)
    return value if end == len(text) else loads(text)


def decode_events(list payloads, object scan, object loads):
    """({raw name: ([positions], [values])}, undecodable count) for a list of payloads, in
    arrival order. ``scan`` is a json scanner's scan_once, ``loads`` json.loads."""
    cdef dict groups = {}
    cdef Py_ssize_t k, size, n, bad = 0
    cdef const unsigned char *p
    cdef const unsigned char *last = NULL
    cdef Py_ssize_t last_n = -1
    cdef unsigned char kind
    cdef object payload, value, raw
    cdef list positions = None, values = None
    for k in range(len(payloads)):
        payload = payloads[k]
        if type(payload) is not bytes:
            bad += 1
            continue
        p = <const unsigned char *>PyBytes_AS_STRING(payload)
        size = PyBytes_GET_SIZE(payload)
        if size < 2:
            bad += 1
            continue
        n = p[0]
        if n == 0 or size < 2 + n:
            bad += 1
            continue
        kind = p[1 + n]
        if kind == KIND_BYTES:
            value = PyBytes_FromStringAndSize(<const char *>p + 2 + n, size - 2 - n)
        elif kind == KIND_JSON:
            try:
                value = _json(PyUnicode_DecodeUTF8(<const char *>p + 2 + n, size - 2 - n, NULL),
                              scan, loads)
            except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
                bad += 1
                continue
        else:
            bad += 1
            continue
        if n != last_n or memcmp(last, p + 1, n) != 0:
            raw = PyBytes_FromStringAndSize(<const char *>p + 1, n)
            group = groups.get(raw)
            if group is None:
                group = groups[raw] = ([], [])
            positions, values = group
            last_n = n
        last = p + 1  # (payload stays alive in the list: the pointer is valid)
        positions.append(k)
        values.append(value)
    return groups, bad
