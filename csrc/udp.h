/* Fast UDP I/O for the real-network driver (ARCHITECTURE: "driver: uvloop + recvmmsg/sendmmsg").
 *
 * Plain C, no Python.h. Everything here is non-blocking and batch-oriented: one syscall moves
 * many 1158-byte frames (SPEC 2). Nothing allocates per datagram. Errors come back as -errno.
 * Another Cython module can use these entry points by naming `udp.c` in its `# csrc:` line and
 * declaring this header with `cdef extern from "udp.h"`.
 */
#ifndef SRP_UDP_H
#define SRP_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SRP_UDP_FRAME 1158u        /* SPEC 2: every SRP datagram is exactly this long */
#define SRP_UDP_SPRAY_LO 1024u     /* SPEC 5: BDP probes go to ports 1024..65535 */
#define SRP_UDP_SPRAY_HI 65535u
#define SRP_UDP_SPRAY_RANGE (SRP_UDP_SPRAY_HI - SRP_UDP_SPRAY_LO + 1u)
#define SRP_UDP_CHUNK 64u          /* messages per sendmmsg call (stack arrays, no malloc) */

/* One address, v4 or v6, 28 bytes: the unit of every address array here. */
typedef union srp_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} srp_sockaddr;

typedef struct srp_udp_counters {
    uint64_t received;     /* datagrams delivered into a receive batch */
    uint64_t sent;         /* datagrams the kernel accepted */
    uint64_t send_eagain;  /* send calls that stopped on a full send buffer (rest stays queued) */
    uint64_t send_errors;  /* datagrams refused by a hard error (counted, skipped) */
    uint64_t truncated;    /* received datagrams longer than the slot (true length kept) */
    uint64_t recv_errors;  /* recvmmsg failures other than EAGAIN */
    uint64_t gro_reads;    /* coalesced reads that carried more than one datagram */
} srp_udp_counters;

/* ---- sockets ------------------------------------------------------------------------ */

/* Open a non-blocking UDP socket bound to `bind_addr` (its family decides v4/v6). For v6,
 * dual_stack!=0 clears IPV6_V6ONLY. Buffer sizes try SO_*BUFFORCE first (root), then SO_*BUF;
 * a size of 0 leaves the default. Returns the fd or -errno (nothing left open on failure). */
int srp_udp_open(const srp_sockaddr *bind_addr, int dual_stack, int rcvbuf, int sndbuf);
int srp_udp_set_buffers(int fd, int rcvbuf, int sndbuf);
int srp_udp_local(int fd, srp_sockaddr *out);
/* Attach a classic BPF socket filter that keeps only what SRP sends: SRP_UDP_FRAME-byte
 * datagrams starting with the magic "SRP\0", and the 4-byte BDP probes (SPEC 5). Anything
 * else is dropped by the kernel before it takes receive-buffer space, so a garbage flood
 * cannot crowd real frames out of the buffer (docs/SECURITY.md, garbage floods); the kernel
 * counts each such drop in the socket's drop counter (srp_udp_kernel_drops). `runs` != 0 (a
 * socket with GRO on) also keeps a whole number of frames in one read, magic checked on the
 * first. Returns 0 or -errno (a kernel without socket filters: the datagrams reach the C
 * validator instead). */
int srp_udp_filter_frames(int fd, int runs);
/* The socket's kernel drop counter (SO_MEMINFO SK_MEMINFO_DROPS): datagrams the kernel
 * dropped for this socket, by the filter or on a full receive buffer. -errno on failure. */
long long srp_udp_kernel_drops(int fd);

/* Length of the sockaddr for its family (0 if the family is unknown). */
socklen_t srp_udp_addr_len(const srp_sockaddr *a);
/* Numeric host (no DNS) + port -> address. A v4 host for a v6 socket becomes ::ffff:a.b.c.d.
 * Returns 0 or -EINVAL. */
int srp_udp_addr_parse(const char *host, uint16_t port, int family, srp_sockaddr *out);
/* Address -> numeric host text and port; v4-mapped v6 is written as plain IPv4. */
int srp_udp_addr_format(const srp_sockaddr *a, char *host, size_t host_len, uint16_t *port);
/* 64-bit sender key, nonzero for IPv4/IPv6 (0 for an unknown family): SipHash-2-4 of the
 * canonical address (IPv4 as v4-mapped IPv6) and port under a per-process secret, so no sender
 * can choose a source whose key equals another's (SPEC 9.6; docs/SECURITY.md). */
uint64_t srp_udp_addr_key(const srp_sockaddr *a);
/* Set the key secret (crypto_shorthash_KEYBYTES = 16 bytes), or draw a random one when
 * secret is NULL. Returns 0 or -errno. Keys computed before and after a change differ. */
int srp_udp_key_seed(const uint8_t *secret, size_t len);

/* ---- receive ------------------------------------------------------------------------ */

typedef struct srp_udp_rx {
    size_t batch;            /* slots */
    size_t slot;             /* bytes per slot (stride of buf) */
    uint8_t *buf;            /* batch * slot bytes, contiguous */
    uint32_t *lens;          /* TRUE datagram lengths (MSG_TRUNC), may exceed slot */
    srp_sockaddr *addrs;     /* sender of each slot */
    uint64_t *keys;          /* srp_udp_addr_key of each sender */
    struct mmsghdr *msgs;
    struct iovec *iov;
    unsigned owned;          /* bit per array above that rx_init allocated */
    struct srp_udp_gro *gro; /* NULL unless srp_udp_rx_enable_gro succeeded */
    uint32_t *waits;         /* us each datagram waited in the socket's queue (stamps on),
                              * else NULL */
    union srp_udp_ctl *ctl;  /* control buffers of the plain path (stamps on), else NULL */
} srp_udp_rx;

/* Arrays the caller passes (non-NULL) are used in place and never freed here (so Python can
 * own them as bytearrays and hand out memoryviews safely); NULL ones are allocated. */
int srp_udp_rx_init(srp_udp_rx *rx, size_t batch, size_t slot, uint8_t *buf, uint32_t *lens,
                    srp_sockaddr *addrs, uint64_t *keys);
void srp_udp_rx_free(srp_udp_rx *rx);
/* Drain up to min(max, rx->batch) datagrams, repeating recvmmsg until EAGAIN or full.
 * Returns the count (0 when nothing waits) or -errno on a hard error with nothing received.
 * With GRO on, a coalesced read is cut back into its datagrams (one slot each, the sender's
 * address on every one), and what does not fit this batch waits for the next call
 * (srp_udp_rx_pending): it is never dropped. */
long srp_udp_recv(int fd, srp_udp_rx *rx, size_t max, srp_udp_counters *ctr);
/* UDP GRO on the socket (Linux >= 5.0): the kernel hands over a run of same-size datagrams
 * from one sender as ONE read: over loopback a GSO super-datagram is never cut up at all, and
 * a NIC's GRO coalesces a sender's burst. Per datagram the stack then does a fraction of the
 * work on both sides (docs/NET.md). Allocates a landing area of `entries` x
 * SRP_UDP_GRO_BYTES (touched only as reads land). Returns 0, or -errno (the kernel refused
 * UDP_GRO or memory ran out: the socket keeps plain recvmmsg). */
#define SRP_UDP_GRO_BYTES 65536u
int srp_udp_rx_enable_gro(int fd, srp_udp_rx *rx, size_t entries);
/* Kernel receive timestamps (SO_TIMESTAMPNS): from then on srp_udp_recv fills rx->waits,
 * how long each datagram waited in the socket's queue before the read took it (us, from the
 * kernel's arrival stamp to the clock read right after recvmmsg; 0 when a datagram carried
 * no stamp). Lets a busy process tell the path's delay from its own (docs/NET.md, "Receive
 * timestamps"). Call before srp_udp_rx_enable_gro or after: both paths stamp. `waits`: rx->batch
 * entries the caller owns (used in place, never freed here), or NULL to allocate them.
 * Returns 0 or -errno (the kernel refused, or memory ran out: rx->waits stays NULL). */
int srp_udp_rx_enable_stamps(int fd, srp_udp_rx *rx, uint32_t *waits);
/* Datagrams received from the kernel but not yet handed out (GRO leftovers): the caller
 * must call srp_udp_recv again even if the socket is not readable. */
size_t srp_udp_rx_pending(const srp_udp_rx *rx);

/* ---- send --------------------------------------------------------------------------- */

/* sendmmsg `count` datagrams; datagram i is buf[i*stride .. + lens[i]] (lens NULL: stride
 * bytes) to addrs[i]. Returns how many were CONSUMED from the front: sent ones plus ones a
 * hard error refused (counted in send_errors). It stops early only on EAGAIN (counted in
 * send_eagain): the caller keeps datagrams [return, count) queued. -errno only for EBADF-like
 * failures of the socket itself. */
long srp_udp_sendmmsg(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                      const srp_sockaddr *addrs, size_t count, srp_udp_counters *ctr);
/* The same with one destination for every datagram. */
long srp_udp_sendmmsg_to(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                         const srp_sockaddr *addr, size_t count, srp_udp_counters *ctr);
/* UDP GSO: `len` bytes cut into `seg`-byte datagrams (the last may be shorter) to one address,
 * several 64 KiB super-datagrams per sendmmsg. *gso_enabled is cleared the first time the
 * kernel refuses UDP_SEGMENT (EIO/EINVAL/ENOPROTOOPT/EOPNOTSUPP) and the call continues with
 * plain sendmmsg. Returns datagrams consumed (as srp_udp_sendmmsg). */
long srp_udp_send_gso(int fd, const uint8_t *buf, size_t len, size_t seg,
                      const srp_sockaddr *addr, int *gso_enabled, srp_udp_counters *ctr);
/* A relay's grouped output (csrc/udp_runs.c): `count` datagrams of `seg` bytes, datagram i at
 * buf[i*seg] to addrs[i]; `runs` holds `nruns` (start, count) pairs, in order, of frames to
 * one destination: each run leaves as UDP GSO super-datagrams (with *gso_enabled; cleared as
 * srp_udp_send_gso does), every other datagram alone, all of them in shared sendmmsg calls
 * (one for a relay's batch). Returns how many were CONSUMED from the front, as
 * srp_udp_sendmmsg: it stops only on a full send buffer. */
long srp_udp_send_runs(int fd, const uint8_t *buf, size_t seg, size_t count,
                       const srp_sockaddr *addrs, const uint32_t *runs, size_t nruns,
                       int *gso_enabled, srp_udp_counters *ctr);

/* ---- BDP spray (SPEC 5) -------------------------------------------------------------- */

/* `count` (<= SRP_UDP_SPRAY_RANGE) distinct ports in 1024..65535, a deterministic function of
 * `seed`: partial Fisher-Yates over the range driven by xorshift64* seeded with splitmix64. */
int srp_udp_spray_ports(uint64_t seed, uint16_t *out, size_t count);
/* One `plen`-byte probe from fd to each (host, ports[i]) in sendmmsg batches. Returns probes
 * consumed (as srp_udp_sendmmsg). */
long srp_udp_spray(int fd, const srp_sockaddr *host, const uint16_t *ports, size_t count,
                   const uint8_t *payload, size_t plen, srp_udp_counters *ctr);

/* ---- socket pool, the Hard side of BDP ------------------------------------------------ */

typedef struct srp_udp_pool {
    int *fds;        /* n fds, -1 once closed or detached */
    size_t n;
    int epfd;        /* one epoll over the whole pool; event data = index */
} srp_udp_pool;

/* Bind n sockets on kernel-chosen (distinct) ports of bind_addr's host. All-or-nothing:
 * on failure every fd opened so far is closed and -errno returned. */
int srp_udp_pool_open(srp_udp_pool *p, size_t n, const srp_sockaddr *bind_addr, int dual_stack);
/* One datagram from every open pool socket to addr. Returns how many were sent. */
long srp_udp_pool_ping_all(srp_udp_pool *p, const uint8_t *data, size_t len,
                           const srp_sockaddr *addr, srp_udp_counters *ctr);
/* Indexes of pool sockets with data waiting (epoll, no wait). Returns count or -errno. */
int srp_udp_pool_ready(srp_udp_pool *p, uint32_t *idx, int max);
/* Detach fd `keep` (returned, the pool forgets it) and close every other fd and the epoll fd.
 * keep < 0 closes everything and returns -1. Idempotent. */
int srp_udp_pool_release(srp_udp_pool *p, long keep);
/* How many fds the pool still holds (epoll fd included). */
size_t srp_udp_pool_open_count(const srp_udp_pool *p);

/* malloc(n) and free it untouched: with glibc, raises malloc's mmap threshold to n and its
 * trim threshold to 2n (mallopt(3)); docs/NET.md, "The heap". */
void srp_prime_malloc(size_t n);

#endif
