# csrc: udp.c udp_recv.c udp_runs.c
"""Fast UDP I/O for the real-network driver: recvmmsg/sendmmsg batches, UDP GSO, the BDP
spray and the BDP socket pool (SPEC 5). Thin Cython over csrc/udp.c; see docs/NET.md.

Readiness comes from the caller's event loop (``loop.add_reader(sock.fileno(), cb)``); every
call here is non-blocking and moves a whole batch per crossing into C.
"""
# One extension module in four files: this one (the module's state, UDPSocket and its
# RecvBatch), _cudp.pxd (the C declarations of csrc/udp.h), _udp_address.pxi (addresses and
# sender keys) and _udp_pool.pxi (SocketPool), the .pxi files included textually below.
# UDPSocket stays whole here: Cython allows no include inside a class body.
from cpython.bytearray cimport PyByteArray_AS_STRING
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import errno as _errno
import os as _os
import socket as _socket
from array import array as _array

from srpfast.drivers._cudp cimport *
from srpfast.errors import ArgumentError, ClosedError

cdef extern from "<unistd.h>" nogil:
    int close(int fd)

FRAME_BYTES = SRP_UDP_FRAME
SOCKADDR_BYTES = sizeof(srp_sockaddr)
MiB = 1 << 20
cdef size_t ADDR = sizeof(srp_sockaddr)
# Coalesced reads per recvmmsg with GRO on: 8 x 64 KiB of landing space (mapped; a read makes
# resident only the pages it fills, and they stay so: 512 KiB a socket at most, docs/NET.md),
# up to 8 x 56 frames per call. Single datagrams from many senders then take 8 recvmmsg
# calls per 64-slot batch instead of 1: ~0.05 us a datagram next to the ~1 us the kernel
# spends receiving it. (32 reads cost the soak's 30 peers ~45 MiB resident: SECURITY.md 11.)
cdef size_t GRO_READS = 8
cdef int _open = 0          # fds opened through this module and not yet closed (tests)
cdef bytes _SPRAY_PAYLOAD = b"\x00" * 4


def open_fds() -> int:
    """How many fds UDPSocket and SocketPool objects hold right now (epoll fds included)."""
    return _open


def prime_malloc(size_t size) -> None:
    """Allocate and free ``size`` bytes with the C allocator, touching none of them: with
    glibc, raises malloc's mmap threshold to ``size`` and its trim threshold to twice that,
    by glibc's own rule (mallopt(3)). Why, and what it costs: docs/NET.md, "The heap"."""
    srp_prime_malloc(size)


cdef int _raise_errno(long r, str what) except -1:
    e = <int>-r
    raise OSError(e, f"{what}: {_os.strerror(e)}")


include "_udp_address.pxi"


cdef class RecvBatch:
    """One recv_batch result. Its views point into the socket's reusable buffers, valid until
    the next recv_batch on that socket: copy what must outlive it, or hand it straight to C."""
    cdef readonly int count
    cdef readonly int slot
    cdef UDPSocket _sock

    @property
    def data(self) -> memoryview:
        """The whole buffer, `slot` bytes per datagram; slot i holds min(lens[i], slot) bytes."""
        return memoryview(self._sock._buf)[: self.count * self.slot]

    @property
    def lens(self) -> memoryview:
        """uint32 TRUE length of each datagram (MSG_TRUNC); != 1158 means drop (SPEC 2)."""
        return memoryview(self._sock._lens).cast("I")[: self.count]

    @property
    def waits(self):
        """uint32 microseconds each datagram waited in the socket's queue before this read
        (kernel receive stamps: UDPSocket(stamps=True)), or None when stamps are off."""
        if self._sock._waits is None:
            return None
        return memoryview(self._sock._waits).cast("I")[: self.count]

    @property
    def keys(self) -> memoryview:
        """uint64 sender key per datagram (address_key of its source: keyed, nonzero)."""
        return memoryview(self._sock._keys).cast("Q")[: self.count]

    @property
    def sockaddrs(self) -> memoryview:
        """Raw senders, SOCKADDR_BYTES each: pass to send_prepared to answer without parsing."""
        return memoryview(self._sock._addrs)[: self.count * ADDR]

    def address(self, int i) -> tuple:
        """(host, port) of datagram i, built on demand; v4-mapped senders come out as IPv4."""
        if not 0 <= i < self.count:
            raise IndexError(f"datagram index {i} outside 0..{self.count - 1}")
        return _format(<srp_sockaddr *>(PyByteArray_AS_STRING(self._sock._addrs) + i * ADDR))

    def frame(self, int i) -> bytes:
        """A copy of datagram i (at most `slot` bytes)."""
        if not 0 <= i < self.count:
            raise IndexError(f"datagram index {i} outside 0..{self.count - 1}")
        cdef uint32_t n = (<uint32_t *>PyByteArray_AS_STRING(self._sock._lens))[i]
        if n > <uint32_t>self.slot:
            n = self.slot
        cdef char *p = PyByteArray_AS_STRING(self._sock._buf) + i * self.slot
        return p[:n]

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for i in range(self.count):
            yield self.frame(i), self.address(i)


cdef class UDPSocket:
    """A non-blocking UDP socket with batch I/O. Numeric addresses only (no DNS here)."""
    cdef int fd
    cdef readonly int family
    cdef readonly int batch
    cdef readonly int slot
    cdef int _gso
    cdef srp_udp_rx rx
    cdef srp_udp_counters ctr
    cdef bytearray _buf, _lens, _keys, _addrs
    cdef object _waits  # bytearray (stamps on) or None
    cdef dict _addr_cache
    cdef bint _filtered
    cdef bint _gro
    cdef uint8_t *_tx_buf
    cdef srp_sockaddr *_tx_addrs
    cdef size_t _tx_cap, _tx_addr_cap

    def __cinit__(self):
        self.fd = -1
        self._gso = 1
        self._addr_cache = {}
        memset(&self.rx, 0, sizeof(self.rx))
        memset(&self.ctr, 0, sizeof(self.ctr))

    def __init__(self, str host="127.0.0.1", int port=0, *, family=None, bint dual_stack=True,
                 int rcvbuf=4 * MiB, int sndbuf=4 * MiB, int batch=64,
                 int slot=SRP_UDP_FRAME, bint filter_frames=False, bint gro=False,
                 bint stamps=False) -> None:
        global _open
        if self.fd >= 0:
            raise RuntimeError("UDPSocket is already open")
        fam = _family_of(host) if family is None else int(family)
        if fam not in (_socket.AF_INET, _socket.AF_INET6):
            raise ValueError("family must be socket.AF_INET or socket.AF_INET6")
        if not 1 <= batch <= 4096 or not 1 <= slot <= 65536:
            raise ValueError("batch must be 1..4096 and slot 1..65536 bytes")
        cdef srp_sockaddr bind_addr
        _parse((host, port), fam, &bind_addr)
        fd = srp_udp_open(&bind_addr, dual_stack, rcvbuf, sndbuf)
        if fd < 0:
            _raise_errno(fd, f"cannot bind UDP {host}:{port}")
        self.fd = fd
        _open += 1
        self._setup(fam, batch, slot)
        # Only SRP frames and BDP probes past the kernel (the engine's main socket: see
        # srp_udp_filter_frames); a kernel that refuses keeps the C validator as the gate.
        # GRO (gro=True, the engine's main socket): a sender's run of frames arrives as one
        # read, cut back into frames here (srp_udp_rx_enable_gro). A kernel that refuses
        # keeps plain recvmmsg. Set before the filter, which must then pass whole runs.
        self._gro = gro and slot == SRP_UDP_FRAME and srp_udp_rx_enable_gro(fd, &self.rx, GRO_READS) == 0
        self._filtered = filter_frames and srp_udp_filter_frames(fd, self._gro) == 0
        # Kernel receive stamps (stamps=True, the engine's main socket): each batch says how
        # long its datagrams waited in the queue (RecvBatch.waits), so a busy process can
        # take its own delay out of a ping's round trip (docs/NET.md, "Receive timestamps").
        # A kernel that refuses leaves waits None: the engine then times as before.
        if stamps:
            waits = bytearray(4 * batch)
            if srp_udp_rx_enable_stamps(fd, &self.rx,
                                        <uint32_t *>PyByteArray_AS_STRING(waits)) == 0:
                self._waits = waits

    @property
    def stamps(self) -> bool:
        """Kernel receive stamps are on (RecvBatch.waits)."""
        return self._waits is not None

    cdef _setup(self, int family, int batch, int slot):
        self.family = family
        self.batch = batch
        self.slot = slot
        self._waits = None  # (a socket opened again starts without stamps)
        self._buf = bytearray(batch * slot)
        self._lens = bytearray(4 * batch)
        self._keys = bytearray(8 * batch)
        self._addrs = bytearray(ADDR * batch)
        r = srp_udp_rx_init(&self.rx, batch, slot, <uint8_t *>PyByteArray_AS_STRING(self._buf),
                            <uint32_t *>PyByteArray_AS_STRING(self._lens),
                            <srp_sockaddr *>PyByteArray_AS_STRING(self._addrs),
                            <uint64_t *>PyByteArray_AS_STRING(self._keys))
        if r != 0:
            self.close()
            raise MemoryError("cannot allocate the receive batch")

    def __dealloc__(self):
        global _open
        if self.fd >= 0:     # last resort: a socket must never leak (close() is the way)
            close(self.fd)
            self.fd = -1
            _open -= 1
        srp_udp_rx_free(&self.rx)
        free(self._tx_buf)
        free(self._tx_addrs)

    cdef int _check(self) except -1:
        if self.fd < 0:
            raise ClosedError("UDPSocket is closed; open a new one")
        return 0

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self.fd < 0

    @property
    def local_address(self) -> tuple:
        self._check()
        cdef srp_sockaddr a
        r = srp_udp_local(self.fd, &a)
        if r != 0:
            _raise_errno(r, "getsockname")
        return _format(&a)

    @property
    def gso_enabled(self) -> bool:
        """UDP GSO in use; cleared once the kernel refuses it (set False to force sendmmsg)."""
        return self._gso != 0

    @gso_enabled.setter
    def gso_enabled(self, bint on) -> None:
        self._gso = on

    def close(self) -> None:
        global _open
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
            _open -= 1
            # The C side of the receive batch (the GRO landing area, its headers) goes now,
            # not when the object is collected; the bytearrays RecvBatch views point into
            # are Python's and stay valid. recv_batch refuses from here on (_check).
            srp_udp_rx_free(&self.rx)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def gro(self) -> bool:
        """UDP GRO is on: runs of frames from one sender arrive as one read."""
        return self._gro

    @property
    def pending(self) -> int:
        """Datagrams already read from the kernel that the next recv_batch hands out first
        (a GRO read larger than the batch): call recv_batch again even if the socket is not
        readable."""
        return <int>srp_udp_rx_pending(&self.rx)

    @property
    def frame_filter(self) -> bool:
        """The kernel drops every datagram that is not an SRP frame or a BDP probe."""
        return self._filtered

    def counters(self) -> dict:
        """Datagram counters; ``kernel_drops``: what the kernel dropped for this socket (the
        frame filter's drops and datagrams that found the receive buffer full)."""
        drops = srp_udp_kernel_drops(self.fd) if self.fd >= 0 else 0
        return {"received": self.ctr.received, "sent": self.ctr.sent,
                "send_eagain": self.ctr.send_eagain, "send_errors": self.ctr.send_errors,
                "truncated": self.ctr.truncated, "recv_errors": self.ctr.recv_errors,
                "gro_reads": self.ctr.gro_reads, "kernel_drops": max(0, drops)}

    # ---- addresses --------------------------------------------------------------------

    cdef int _resolve(self, object address, srp_sockaddr *out) except -1:
        key = address if type(address) is tuple else tuple(address)
        cached = self._addr_cache.get(key)
        if cached is not None:
            memcpy(out, <const char *>(<bytes>cached), ADDR)
            return 0
        _parse(key, self.family, out)
        if len(self._addr_cache) >= 65536:   # bounded: a spray target set never grows it forever
            self._addr_cache.clear()
        self._addr_cache[key] = (<char *>out)[:ADDR]
        return 0

    def resolve(self, address) -> bytes:
        """(host, port) -> raw sockaddr bytes (SOCKADDR_BYTES) for send_prepared."""
        cdef srp_sockaddr a
        self._resolve(address, &a)
        return (<char *>&a)[:ADDR]

    def key(self, address) -> int:
        """The 64-bit source key recv_batch reports for datagrams from `address`."""
        return address_key(address)

    # ---- receive ----------------------------------------------------------------------

    def recv_batch(self, int max=0) -> RecvBatch:
        """Drain up to `max` (default: batch) waiting datagrams with recvmmsg; never blocks."""
        self._check()
        cdef size_t want = self.batch if max <= 0 or max > self.batch else max
        cdef long r
        with nogil:
            r = srp_udp_recv(self.fd, &self.rx, want, &self.ctr)
        if r < 0:
            _raise_errno(r, "recvmmsg")
        cdef RecvBatch b = RecvBatch.__new__(RecvBatch)
        b.count = <int>r
        b.slot = self.slot
        b._sock = self
        return b

    # ---- send -------------------------------------------------------------------------

    cdef int _grow(self, size_t nbytes, size_t naddrs) except -1:
        cdef void *p
        if nbytes > self._tx_cap:
            p = realloc(self._tx_buf, nbytes)
            if p == NULL:
                raise MemoryError()
            self._tx_buf = <uint8_t *>p
            self._tx_cap = nbytes
        if naddrs > self._tx_addr_cap:
            p = realloc(self._tx_addrs, naddrs * ADDR)
            if p == NULL:
                raise MemoryError()
            self._tx_addrs = <srp_sockaddr *>p
            self._tx_addr_cap = naddrs
        return 0

    def send_batch(self, frames, addresses, *, int stride=SRP_UDP_FRAME, lens=None) -> int:
        """Send frames with sendmmsg. `frames`: a contiguous buffer of N x stride bytes or a
        list of bytes; `addresses`: one (host, port) per frame, or one tuple for all.
        Returns how many were consumed from the front (sent, or refused and counted in
        send_errors); on a full send buffer the rest are NOT sent: keep them queued."""
        self._check()
        cdef const uint8_t[::1] view
        cdef const uint32_t[::1] lv
        cdef const uint8_t *data
        cdef const uint32_t *lp = NULL
        cdef size_t n, i, k
        cdef bint one = isinstance(addresses, tuple)
        cdef long r
        if isinstance(frames, (list, tuple)):
            n = len(frames)
            stride = 0
            for f in frames:
                k = len(f)
                if k > <size_t>stride:
                    stride = <int>k
            self._grow(n * stride + 1, 0 if one else n)
            lv = _array("I", [len(f) for f in frames]) if n else _array("I", [0])
            lp = &lv[0]
            for i in range(n):
                view = frames[i]
                if view.shape[0]:
                    memcpy(self._tx_buf + i * stride, &view[0], view.shape[0])
            data = self._tx_buf
        else:
            view = frames
            if stride <= 0:
                raise ValueError("stride must be positive")
            n = view.shape[0] // stride if lens is None else len(lens)
            if lens is None and view.shape[0] % stride:
                raise ValueError(f"frames buffer is {view.shape[0]} bytes, not a multiple of "
                                 f"stride {stride}; pass lens= for variable-length datagrams")
            if n == 0:
                return 0
            if lens is not None:
                lv = lens if isinstance(lens, _array) else _array("I", lens)
                if max(lv) > <uint32_t>stride or \
                        <size_t>view.shape[0] < (n - 1) * stride + lv[n - 1]:
                    raise ValueError("each length must be <= stride and inside the buffer")
                lp = &lv[0]
            data = &view[0]
            self._grow(0, 0 if one else n)
        if n == 0:
            return 0
        cdef srp_sockaddr dest
        if one:
            self._resolve(addresses, &dest)
            with nogil:
                r = srp_udp_sendmmsg_to(self.fd, data, stride, lp, &dest, n, &self.ctr)
        else:
            if len(addresses) != n:
                raise ValueError(f"{n} frames but {len(addresses)} addresses; give one per "
                                 f"frame or a single (host, port) tuple for all")
            for i in range(n):
                self._resolve(addresses[i], &self._tx_addrs[i])
            with nogil:
                r = srp_udp_sendmmsg(self.fd, data, stride, lp, self._tx_addrs, n, &self.ctr)
        if r < 0:
            _raise_errno(r, "sendmmsg")
        return r

    def send_prepared(self, const uint8_t[::1] frames, const uint8_t[::1] sockaddrs, *,
                      int stride=SRP_UDP_FRAME, const uint32_t[::1] lens=None) -> int:
        """send_batch with pre-resolved addresses (SOCKADDR_BYTES each, e.g. a RecvBatch's
        sockaddrs or resolve() output joined): the path for C consumers, no parsing."""
        self._check()
        cdef size_t n = sockaddrs.shape[0] // ADDR
        if sockaddrs.shape[0] % ADDR:
            raise ValueError(f"sockaddrs must be a multiple of {ADDR} bytes")
        if n == 0:
            return 0
        if lens is not None and <size_t>lens.shape[0] < n:
            raise ValueError("lens must have one length per address")
        for i in range(n):
            if <size_t>frames.shape[0] < i * stride + (lens[i] if lens is not None else stride):
                raise ValueError("frames buffer shorter than count x stride")
        cdef long r
        with nogil:
            r = srp_udp_sendmmsg(self.fd, &frames[0], stride,
                                 &lens[0] if lens is not None else NULL,
                                 <const srp_sockaddr *>&sockaddrs[0], n, &self.ctr)
        if r < 0:
            _raise_errno(r, "sendmmsg")
        return r

    def send_gso(self, const uint8_t[::1] buffer, int segment_size, address) -> int:
        """Send `buffer` as segment_size-byte datagrams (last may be shorter) to one address
        with UDP GSO, or sendmmsg once GSO proved unsupported. Returns datagrams consumed.
        `address` is (host, port) or a packed sockaddr from resolve()."""
        self._check()
        if not 1 <= segment_size <= 65507:
            raise ValueError("segment_size must be 1..65507 bytes")
        if buffer.shape[0] == 0:
            return 0
        cdef srp_sockaddr dest
        cdef const unsigned char[::1] packed
        if isinstance(address, (bytes, bytearray)):
            if len(address) != ADDR:
                raise ValueError(f"a packed sockaddr is {ADDR} bytes (from resolve())")
            packed = address
            memcpy(&dest, &packed[0], ADDR)
        else:
            self._resolve(address, &dest)
        cdef long r
        with nogil:
            r = srp_udp_send_gso(self.fd, &buffer[0], buffer.shape[0], segment_size, &dest,
                                 &self._gso, &self.ctr)
        if r < 0:
            _raise_errno(r, "send_gso")
        return r

    def send_runs(self, const uint8_t[::1] frames, const uint8_t[::1] sockaddrs,
                  runs) -> int:
        """A relay's batch as the data plane hands it out (DataPlane.out_frames, out_addrs,
        runs()): frame i (1158 bytes) to sockaddrs[i]; ``runs``, (start, count) pairs in
        order, name groups of frames to one next hop, each sent as UDP GSO super-datagrams
        (plain datagrams once GSO proved unsupported), the other frames one by one, all in
        shared sendmmsg calls: one syscall for a relay's batch instead of one per next hop
        (docs/NET.md). Returns frames consumed from the front (the rest stays the caller's,
        in order, as with send_prepared)."""
        self._check()
        cdef size_t n = sockaddrs.shape[0] // ADDR, nruns = len(runs), j = 0, end = 0
        if sockaddrs.shape[0] % ADDR:
            raise ValueError(f"sockaddrs must be a multiple of {ADDR} bytes")
        if <size_t>frames.shape[0] < n * SRP_UDP_FRAME:
            raise ValueError("frames buffer shorter than one frame per address")
        if n == 0:
            return 0
        cdef uint32_t stack[128]
        cdef uint32_t *rv = stack
        if nruns > 64:
            rv = <uint32_t *>malloc(2 * nruns * sizeof(uint32_t))
            if rv == NULL:
                raise MemoryError()
        cdef long r
        cdef long start, count
        try:
            for start, count in runs:
                if start < <long>end or count < 1 or <size_t>(start + count) > n:
                    raise ValueError("runs must be in order, non-empty and within the frames")
                rv[2 * j] = <uint32_t>start
                rv[2 * j + 1] = <uint32_t>count
                end = <size_t>(start + count)
                j += 1
            with nogil:
                r = srp_udp_send_runs(self.fd, &frames[0], SRP_UDP_FRAME, n,
                                      <const srp_sockaddr *>&sockaddrs[0], rv, nruns,
                                      &self._gso, &self.ctr)
        finally:
            if rv != stack:
                free(rv)
        if r < 0:
            _raise_errno(r, "send_runs")
        return r

    # ---- BDP spray, Easy side (SPEC 5) ------------------------------------------------

    def spray(self, str host, count=None, *, seed=0, bytes payload=_SPRAY_PAYLOAD,
              ports=None) -> int:
        """Send one short probe (not an SRP frame) to each of `count` distinct random ports
        1024..65535 of `host` (deterministic per seed: any int, as spray_ports), or to the
        given `ports`. Returns probes sent; on a full send buffer the rest are left for the
        caller's next tick."""
        self._check()
        cdef const uint16_t[::1] pv
        if ports is None:
            if count is None:
                raise TypeError("spray needs count or ports")
            pv = spray_ports(seed, count)
        else:
            pv = ports if isinstance(ports, _array) and ports.typecode == "H" \
                else _array("H", ports)
        cdef size_t n = pv.shape[0] if count is None else min(<size_t>count, <size_t>pv.shape[0])
        if n == 0:
            return 0
        cdef srp_sockaddr dest
        _parse((host, 0), self.family, &dest)
        cdef const uint8_t *pp = <const uint8_t *>(<char *>payload)
        cdef size_t plen = len(payload)
        cdef long r
        with nogil:
            r = srp_udp_spray(self.fd, &dest, &pv[0], n, pp, plen, &self.ctr)
        if r < 0:
            _raise_errno(r, "spray")
        return r


def spray_ports(seed: int, count: int) -> _array:
    """`count` distinct ports in 1024..65535, a pure function of `seed` (array('H'))."""
    if not 0 <= count <= SRP_UDP_SPRAY_RANGE:
        raise ValueError(f"count must be 0..{SRP_UDP_SPRAY_RANGE}")
    out = _array("H", bytes(2 * count))
    cdef uint16_t[::1] ov = out
    if count and srp_udp_spray_ports(<uint64_t>(seed & 0xFFFFFFFFFFFFFFFF), &ov[0], count):
        raise MemoryError()
    return out


include "_udp_pool.pxi"
