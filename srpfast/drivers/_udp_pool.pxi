# Included by _udp.pyx (one module, srpfast.drivers._udp): the BDP Hard side's socket pool
# (SPEC 5, docs/NET.md "BDP spray"); a winning socket leaves it as a UDPSocket (_adopt).

cdef UDPSocket _adopt(int fd, int family, int batch):
    global _open
    cdef UDPSocket s = UDPSocket.__new__(UDPSocket)
    s.fd = fd
    _open += 1
    s._setup(family, batch, SRP_UDP_FRAME)
    return s


cdef class SocketPool:
    """BDP Hard side (SPEC 5): n extra UDP sockets on kernel-chosen distinct ports, one epoll
    over all of them. keep(i) detaches the winner; close() (or __del__) releases the rest."""
    cdef srp_udp_pool pool
    cdef readonly int family
    cdef srp_udp_counters ctr
    cdef srp_udp_rx rx
    cdef int _held

    def __cinit__(self):
        self.pool.fds = NULL
        self.pool.n = 0
        self.pool.epfd = -1
        memset(&self.rx, 0, sizeof(self.rx))
        memset(&self.ctr, 0, sizeof(self.ctr))

    def __init__(self, int n=256, str host="0.0.0.0", *, bint dual_stack=True) -> None:
        global _open
        if not 1 <= n <= 4096:
            raise ValueError("pool size must be 1..4096 sockets")
        self.family = _family_of(host)
        cdef srp_sockaddr bind_addr
        _parse((host, 0), self.family, &bind_addr)
        if srp_udp_rx_init(&self.rx, 16, 2048, NULL, NULL, NULL, NULL) != 0:
            raise MemoryError()
        r = srp_udp_pool_open(&self.pool, n, &bind_addr, dual_stack)
        if r != 0:
            _raise_errno(r, f"cannot open a pool of {n} UDP sockets")
        self._held = <int>srp_udp_pool_open_count(&self.pool)
        _open += self._held

    cdef _release(self, long keep):
        global _open
        kept = srp_udp_pool_release(&self.pool, keep)
        _open -= self._held
        self._held = 0
        return kept

    def __dealloc__(self):
        self._release(-1)
        srp_udp_rx_free(&self.rx)

    cdef int _check(self, long i) except -1:
        if self.pool.fds == NULL:
            raise ClosedError("SocketPool is closed; open a new one")
        if not 0 <= i < <long>self.pool.n:
            raise IndexError(f"pool socket index {i} outside 0..{self.pool.n - 1}")
        return 0

    @property
    def fds(self) -> tuple:
        if self.pool.fds == NULL:
            return ()
        return tuple(self.pool.fds[i] for i in range(self.pool.n))

    def __len__(self) -> int:
        return self.pool.n

    def local_address(self, long i) -> tuple:
        self._check(i)
        cdef srp_sockaddr a
        r = srp_udp_local(self.pool.fds[i], &a)
        if r != 0:
            _raise_errno(r, "getsockname")
        return _format(&a)

    def counters(self) -> dict:
        return {"received": self.ctr.received, "sent": self.ctr.sent,
                "send_eagain": self.ctr.send_eagain, "send_errors": self.ctr.send_errors,
                "truncated": self.ctr.truncated, "recv_errors": self.ctr.recv_errors}

    def send_from(self, long i, const uint8_t[::1] data, address) -> bool:
        """One datagram from pool socket i. False if the send buffer was full (counted)."""
        self._check(i)
        cdef srp_sockaddr dest
        _parse(address, self.family, &dest)
        cdef uint32_t ln = data.shape[0]
        cdef const uint8_t *p = &data[0] if ln else <const uint8_t *>b""
        cdef uint64_t errors_before = self.ctr.send_errors
        r = srp_udp_sendmmsg_to(self.pool.fds[i], p, ln, &ln, &dest, 1, &self.ctr)
        if r < 0:
            _raise_errno(r, "sendto")
        return r == 1 and self.ctr.send_errors == errors_before

    def ping_all(self, const uint8_t[::1] data, address) -> int:
        """One datagram from every pool socket to `address`, in one C loop. Returns sent."""
        if self.pool.fds == NULL:
            raise ClosedError("SocketPool is closed; open a new one")
        cdef srp_sockaddr dest
        _parse(address, self.family, &dest)
        cdef const uint8_t *p = &data[0] if data.shape[0] else <const uint8_t *>b""
        cdef long r
        with nogil:
            r = srp_udp_pool_ping_all(&self.pool, p, data.shape[0], &dest, &self.ctr)
        return r

    def poll(self) -> list:
        """Whatever arrived on any pool socket, without waiting: [(index, data, (host, port))]."""
        if self.pool.fds == NULL:
            raise ClosedError("SocketPool is closed; open a new one")
        cdef uint32_t idx[64]
        cdef int nready, j
        cdef long r, k
        out = []
        while True:
            nready = srp_udp_pool_ready(&self.pool, idx, 64)
            if nready < 0:
                _raise_errno(nready, "epoll_wait")
            if nready == 0:
                return out
            for j in range(nready):
                r = srp_udp_recv(self.pool.fds[idx[j]], &self.rx, self.rx.batch, &self.ctr)
                for k in range(max(r, 0)):
                    n = min(self.rx.lens[k], self.rx.slot)
                    out.append((idx[j], (<char *>self.rx.buf + k * self.rx.slot)[:n],
                                _format(&self.rx.addrs[k])))
            if len(out) >= 4096:   # bounded per call; the rest waits for the next poll
                return out

    def keep(self, long i, *, int batch=64) -> UDPSocket:
        """Detach pool socket i as a standalone UDPSocket (4 MiB buffers) and close the rest."""
        self._check(i)
        family = self.family
        fd = self._release(i)
        srp_udp_set_buffers(fd, 4 * MiB, 4 * MiB)
        return _adopt(fd, family, batch)

    def close(self) -> None:
        self._release(-1)

    @property
    def closed(self) -> bool:
        return self.pool.fds == NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
