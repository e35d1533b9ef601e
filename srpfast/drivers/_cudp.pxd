# Cython declarations of csrc/udp.h (the socket layer's C API, docs/NET.md), cimported by
# srpfast/drivers/_udp.pyx and open to any extension that links udp.c (its `# csrc:` line).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "udp.h" nogil:
    ctypedef struct srp_sockaddr:
        pass
    ctypedef struct srp_udp_counters:
        uint64_t received, sent, send_eagain, send_errors, truncated, recv_errors, gro_reads
    ctypedef struct srp_udp_rx:
        size_t batch, slot
        uint8_t *buf
        uint32_t *lens
        srp_sockaddr *addrs
        uint64_t *keys
    ctypedef struct srp_udp_pool:
        int *fds
        size_t n
        int epfd
    enum:
        SRP_UDP_FRAME
        SRP_UDP_SPRAY_RANGE
    int srp_udp_open(const srp_sockaddr *bind_addr, int dual_stack, int rcvbuf, int sndbuf)
    int srp_udp_set_buffers(int fd, int rcvbuf, int sndbuf)
    int srp_udp_filter_frames(int fd, int runs)
    long long srp_udp_kernel_drops(int fd)
    int srp_udp_local(int fd, srp_sockaddr *out)
    int srp_udp_addr_parse(const char *host, uint16_t port, int family, srp_sockaddr *out)
    int srp_udp_addr_format(const srp_sockaddr *a, char *host, size_t host_len, uint16_t *port)
    uint64_t srp_udp_addr_key(const srp_sockaddr *a)
    int srp_udp_key_seed(const uint8_t *secret, size_t len)
    int srp_udp_rx_init(srp_udp_rx *rx, size_t batch, size_t slot, uint8_t *buf,
                        uint32_t *lens, srp_sockaddr *addrs, uint64_t *keys)
    void srp_udp_rx_free(srp_udp_rx *rx)
    long srp_udp_recv(int fd, srp_udp_rx *rx, size_t max, srp_udp_counters *ctr)
    int srp_udp_rx_enable_gro(int fd, srp_udp_rx *rx, size_t entries)
    int srp_udp_rx_enable_stamps(int fd, srp_udp_rx *rx, uint32_t *waits)
    size_t srp_udp_rx_pending(const srp_udp_rx *rx)
    long srp_udp_sendmmsg(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                          const srp_sockaddr *addrs, size_t count, srp_udp_counters *ctr)
    long srp_udp_sendmmsg_to(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                             const srp_sockaddr *addr, size_t count, srp_udp_counters *ctr)
    long srp_udp_send_gso(int fd, const uint8_t *buf, size_t len, size_t seg,
                          const srp_sockaddr *addr, int *gso_enabled, srp_udp_counters *ctr)
    long srp_udp_send_runs(int fd, const uint8_t *buf, size_t seg, size_t count,
                           const srp_sockaddr *addrs, const uint32_t *runs, size_t nruns,
                           int *gso_enabled, srp_udp_counters *ctr)
    int srp_udp_spray_ports(uint64_t seed, uint16_t *out, size_t count)
    long srp_udp_spray(int fd, const srp_sockaddr *host, const uint16_t *ports, size_t count,
                       const uint8_t *payload, size_t plen, srp_udp_counters *ctr)
    int srp_udp_pool_open(srp_udp_pool *p, size_t n, const srp_sockaddr *bind_addr,
                          int dual_stack)
    long srp_udp_pool_ping_all(srp_udp_pool *p, const uint8_t *data, size_t len,
                               const srp_sockaddr *addr, srp_udp_counters *ctr)
    int srp_udp_pool_ready(srp_udp_pool *p, uint32_t *idx, int max)
    int srp_udp_pool_release(srp_udp_pool *p, long keep)
    size_t srp_udp_pool_open_count(const srp_udp_pool *p)
    void srp_prime_malloc(size_t n)
