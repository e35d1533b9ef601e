# csrc:
"""Batch decoding of application events (api.py: ``name length (1) ‖ name ‖ kind (1) ‖
value``, or several packed in one message, docs/PROTOCOL.md "Application events") for the
delivery fast path.

A receive batch of up to 64 messages is decoded in one call: no Python bytecode per message,
one bytes object per value (kind 0) or, for JSON (kind 1), an integer parsed here or one
str plus the C JSON scanner, and names are compared in C so a run of messages with one name
costs one dict lookup."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, memcpy

cdef enum:
    KIND_BYTES = 0
    KIND_JSON = 1
    PACKED = 0  # first byte of a packed payload (an event's name length is never 0)


cdef object _json_int(const unsigned char *p, Py_ssize_t size):
    """A JSON integer (``-?(0|[1-9][0-9]*)``, at most 18 digits: within int64) as the int
    json.loads gives, parsed here; None for any other text. Counters, ticks and timestamps
    are common event values, and the str + scanner + (value, end) tuple of the general path
    cost ~250 ns a value (a receive batch of 64 one-int events: ~0.25 us a message)."""
    cdef Py_ssize_t i = 0, digits
    cdef long long v = 0
    cdef bint neg = False
    if size and p[0] == 45:  # '-'
        neg = True
        i = 1
    digits = size - i
    if digits < 1 or digits > 18 or (p[i] == 48 and digits > 1):  # (JSON: no leading 0)
        return None
    while i < size:
        if not 48 <= p[i] <= 57:
            return None
        v = v * 10 + (p[i] - 48)
        i += 1
    return -v if neg else v


cdef object _json(str text, object scan, object loads):
    # The C scanner json.loads ends in; json.loads itself (the same value or the same error)
    # only for text the scanner alone does not take (surrounding whitespace, invalid JSON).
    try:
        value, end = scan(text, 0)
    except StopIteration:
        return loads(text)
    return value if end == len(text) else loads(text)


cdef class _Groups:
    """The decode state of one call: groups by raw name, the last name seen (a run of
    messages with one name costs one dict lookup), the undecodable count."""
    cdef dict groups
    cdef const unsigned char *last
    cdef Py_ssize_t last_n
    cdef list positions, values
    cdef Py_ssize_t bad
    cdef object scan, loads

    cdef int add(self, const unsigned char *p, Py_ssize_t size, Py_ssize_t k) except -1:
        """One event ``n ‖ name ‖ kind ‖ value`` at p (size bytes) of message k."""
        cdef Py_ssize_t n
        cdef unsigned char kind
        cdef object value, raw
        if size < 2:
            self.bad += 1
            return 0
        n = p[0]
        if n == 0 or size < 2 + n:
            self.bad += 1
            return 0
        kind = p[1 + n]
        if kind == KIND_BYTES:
            value = PyBytes_FromStringAndSize(<const char *>p + 2 + n, size - 2 - n)
        elif kind == KIND_JSON:
            value = _json_int(p + 2 + n, size - 2 - n)
            if value is None:
                try:
                    value = _json(PyUnicode_DecodeUTF8(<const char *>p + 2 + n, size - 2 - n,
                                                       NULL), self.scan, self.loads)
                except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
                    self.bad += 1
                    return 0
        else:
            self.bad += 1
            return 0
        if n != self.last_n or memcmp(self.last, p + 1, n) != 0:
            raw = PyBytes_FromStringAndSize(<const char *>p + 1, n)
            group = self.groups.get(raw)
            if group is None:
                group = self.groups[raw] = ([], [])
            self.positions, self.values = group
            self.last_n = n
        self.last = p + 1  # (the payload stays alive in the caller's list: valid pointer)
        self.positions.append(k)
        self.values.append(value)
        return 0


def decode_events(list payloads, object scan, object loads):
    """({raw name: ([positions], [values])}, undecodable count) for a list of payloads, in
    arrival order. ``scan`` is a json scanner's scan_once, ``loads`` json.loads. A packed
    payload (``0x00 ‖ (u32 length ‖ event)+``, events published together) gives each of its
    events in order, all at position k; a length that runs past the end makes the rest of
    that payload one undecodable event."""
    cdef _Groups g = _Groups.__new__(_Groups)
    g.groups = {}
    g.last = NULL
    g.last_n = -1
    g.bad = 0
    g.scan = scan
    g.loads = loads
    cdef Py_ssize_t k, size, at, m
    cdef const unsigned char *p
    cdef object payload
    for k in range(len(payloads)):
        payload = payloads[k]
        if type(payload) is not bytes:
            g.bad += 1
            continue
        p = <const unsigned char *>PyBytes_AS_STRING(payload)
        size = PyBytes_GET_SIZE(payload)
        if size == 0 or p[0] != PACKED:
            g.add(p, size, k)
            continue
        at = 1
        if at == size:  # a packed payload holds at least one event
            g.bad += 1
        while at < size:
            if size - at < 4:
                g.bad += 1
                break
            m = (<Py_ssize_t>p[at] << 24) | (<Py_ssize_t>p[at + 1] << 16) | \
                (<Py_ssize_t>p[at + 2] << 8) | <Py_ssize_t>p[at + 3]
            at += 4
            if m > size - at:
                g.bad += 1
                break
            g.add(p + at, m, k)
            at += m
    return g.groups, g.bad


cdef inline void _put_len(char *out, Py_ssize_t k) noexcept:
    """An event's u32 big-endian length prefix in a packed payload (PROTOCOL.md
    "Application events")."""
    out[0] = <char>((k >> 24) & 0xFF)
    out[1] = <char>((k >> 16) & 0xFF)
    out[2] = <char>((k >> 8) & 0xFF)
    out[3] = <char>(k & 0xFF)


def pack_events(list events, Py_ssize_t limit):
    """wire/envelope.py pack_events, the copying in C: (payloads, payload index per event).
    The same packing as pack_values with an empty head."""
    packed = pack_values(b"", events, limit)
    if packed is None:
        raise TypeError("events must be bytes")
    return packed


def pack_values(bytes head, list values, Py_ssize_t limit):
    """pack_events([head + v for v in values], limit), byte for byte, without building those
    events first (one copy of each value instead of two, no Python per value). Every value
    must be bytes; otherwise None (the caller encodes the events and packs them)."""
    cdef Py_ssize_t i, j, n = len(values), hn = PyBytes_GET_SIZE(head), start = 0, size = 1
    cdef Py_ssize_t m = 0, k, at
    cdef object e
    cdef char *out
    for i in range(n):
        if type(values[i]) is not bytes:
            return None
    cdef list payloads = [], owner = []
    for i in range(n + 1):
        if i < n:
            m = 4 + hn + PyBytes_GET_SIZE(values[i])
            if i == start or size + m <= limit:
                size += m
                owner.append(len(payloads))
                continue
        if i - start == 1:  # an event alone is its own payload: head ‖ value
            payloads.append(head + values[start])
        elif i > start:
            packed = PyBytes_FromStringAndSize(NULL, size)
            out = PyBytes_AS_STRING(packed)
            out[0] = PACKED
            at = 1
            for j in range(start, i):
                e = values[j]
                k = hn + PyBytes_GET_SIZE(e)
                _put_len(out + at, k)
                memcpy(out + at + 4, PyBytes_AS_STRING(head), hn)
                memcpy(out + at + 4 + hn, PyBytes_AS_STRING(e), k - hn)
                at += 4 + k
            payloads.append(packed)
        if i < n:  # values[i] (m = 4 + its event's length) opens the next payload
            start, size = i, 1 + m
            owner.append(len(payloads))
    return payloads, owner
