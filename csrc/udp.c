/* Fast UDP I/O: sockets, sendmmsg batches, UDP GSO, BDP spray and the BDP socket pool (the
 * receive side, recvmmsg and GRO, is csrc/udp_recv.c). See udp.h for the contracts and
 * docs/NET.md for the design. */
#include "udp.h"
#include "bigalloc.h"
#include "udp_errno.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* ---- sockets ------------------------------------------------------------------------ */

socklen_t srp_udp_addr_len(const srp_sockaddr *a)
{
    if (a->sa.sa_family == AF_INET) return (socklen_t)sizeof(struct sockaddr_in);
    if (a->sa.sa_family == AF_INET6) return (socklen_t)sizeof(struct sockaddr_in6);
    return 0;
}

static void set_buffer(int fd, int force_opt, int opt, int size)
{
    if (size <= 0) return;
    /* FORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN; fall back silently. */
    if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof size) == 0) return;
    (void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
}

int srp_udp_set_buffers(int fd, int rcvbuf, int sndbuf)
{
    set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
    set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
    return 0;
}

int srp_udp_open(const srp_sockaddr *bind_addr, int dual_stack, int rcvbuf, int sndbuf)
{
    socklen_t alen = srp_udp_addr_len(bind_addr);
    if (alen == 0) return -EAFNOSUPPORT;
    int fd = socket(bind_addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind_addr->sa.sa_family == AF_INET6) {
        int v6only = dual_stack ? 0 : 1;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    srp_udp_set_buffers(fd, rcvbuf, sndbuf);
    if (bind(fd, &bind_addr->sa, alen) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int srp_udp_filter_frames(int fd, int runs)
{
    /* A UDP socket's filter sees the datagram from its UDP header: the length includes the
     * 8 header bytes and the payload starts at offset 8 (checked by tests/unit/test_udp.py).
     * With GRO on (`runs`), a coalesced read of k frames reaches the filter as ONE skb of
     * 8 + k x 1158 bytes whose first frame starts at offset 8: any whole number of frames
     * passes, and the C validator still checks every frame of it. */
    struct sock_filter exact[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 8 + 4, 3, 0),                  /* BDP probe */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 8 + SRP_UDP_FRAME, 0, 3),      /* else drop */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x53525000u, 0, 1),            /* "SRP\0" */
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_filter whole[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 8 + 4, 5, 0),                  /* BDP probe */
        BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, 8),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, SRP_UDP_FRAME),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),                      /* k frames, else drop */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),  /* (an empty datagram fails this load: dropped) */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x53525000u, 0, 1),            /* "SRP\0" */
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = runs
        ? (struct sock_fprog){ (unsigned short)(sizeof whole / sizeof whole[0]), whole }
        : (struct sock_fprog){ (unsigned short)(sizeof exact / sizeof exact[0]), exact };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) return -errno;
    return 0;
}

long long srp_udp_kernel_drops(int fd)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = (socklen_t)sizeof mem;
    memset(mem, 0, sizeof mem);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return -errno;
    if (len < (socklen_t)((SK_MEMINFO_DROPS + 1) * sizeof mem[0])) return -EINVAL;
    return (long long)mem[SK_MEMINFO_DROPS];
}

int srp_udp_local(int fd, srp_sockaddr *out)
{
    socklen_t len = (socklen_t)sizeof *out;
    memset(out, 0, sizeof *out);
    if (getsockname(fd, &out->sa, &len) != 0) return -errno;
    return 0;
}

int srp_udp_addr_parse(const char *host, uint16_t port, int family, srp_sockaddr *out)
{
    memset(out, 0, sizeof *out);
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        if (family == AF_INET6) {
            /* A v4 peer seen from a dual-stack socket is ::ffff:a.b.c.d. */
            out->in6.sin6_family = AF_INET6;
            out->in6.sin6_port = htons(port);
            out->in6.sin6_addr.s6_addr[10] = 0xff;
            out->in6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&out->in6.sin6_addr.s6_addr[12], &v4, 4);
        } else {
            out->in4.sin_family = AF_INET;
            out->in4.sin_port = htons(port);
            out->in4.sin_addr = v4;
        }
        return 0;
    }
    if (family == AF_INET6 && inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
        out->in6.sin6_family = AF_INET6;
        out->in6.sin6_port = htons(port);
        return 0;
    }
    memset(out, 0, sizeof *out);
    return -EINVAL;
}

static int is_v4_mapped(const struct in6_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->s6_addr, prefix, 12) == 0;
}

int srp_udp_addr_format(const srp_sockaddr *a, char *host, size_t host_len, uint16_t *port)
{
    if (a->sa.sa_family == AF_INET) {
        if (!inet_ntop(AF_INET, &a->in4.sin_addr, host, (socklen_t)host_len)) return -errno;
        *port = ntohs(a->in4.sin_port);
        return 0;
    }
    if (a->sa.sa_family == AF_INET6) {
        const void *src = &a->in6.sin6_addr;
        int fam = AF_INET6;
        if (is_v4_mapped(&a->in6.sin6_addr)) {
            src = &a->in6.sin6_addr.s6_addr[12];
            fam = AF_INET;
        }
        if (!inet_ntop(fam, src, host, (socklen_t)host_len)) return -errno;
        *port = ntohs(a->in6.sin6_port);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* The sender key is a keyed PRF (SipHash-2-4, libsodium's crypto_shorthash) of the
 * canonical address (IPv4 as v4-mapped IPv6, 16 bytes, then the port) under a per-process
 * secret. It names a sender's rate bucket (SPEC 9.6) and cache share (SPEC 7), so nobody may be
 * able to pick a source whose key equals another sender's: an unkeyed mix of an IPv6 address is
 * invertible, and an attacker owning a /64 could choose a colliding source (issue 13). */
static uint8_t key_secret[crypto_shorthash_KEYBYTES];
static int key_seeded;

int srp_udp_key_seed(const uint8_t *secret, size_t len)
{
    if (secret) {
        if (len != sizeof key_secret) return -EINVAL;
        memcpy(key_secret, secret, sizeof key_secret);
    } else {
        size_t got = 0;
        while (got < sizeof key_secret) {
            ssize_t r = getrandom(key_secret + got, sizeof key_secret - got, 0);
            if (r < 0) {
                if (errno == EINTR) continue;
                return -errno;
            }
            got += (size_t)r;
        }
    }
    key_seeded = 1;
    return 0;
}

uint64_t srp_udp_addr_key(const srp_sockaddr *a)
{
    uint8_t canon[18], out[crypto_shorthash_BYTES];
    if (a->sa.sa_family == AF_INET) {
        static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(canon, prefix, 12);
        memcpy(canon + 12, &a->in4.sin_addr.s_addr, 4);
        memcpy(canon + 16, &a->in4.sin_port, 2);
    } else if (a->sa.sa_family == AF_INET6) {
        memcpy(canon, a->in6.sin6_addr.s6_addr, 16);  /* v4-mapped is already canonical */
        memcpy(canon + 16, &a->in6.sin6_port, 2);
    } else {
        return 0;
    }
    if (!key_seeded) srp_udp_key_seed(NULL, 0); /* normally seeded at import (_udp_address.pxi) */
    crypto_shorthash(out, canon, sizeof canon, key_secret);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h ? h : 1; /* 0 means "nobody" to the data plane */
}

/* ---- send --------------------------------------------------------------------------- */

/* Shared sendmmsg loop; addr_step 0 sends everything to addrs[0]. */
static long send_loop(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                      const srp_sockaddr *addrs, size_t addr_step, size_t count,
                      srp_udp_counters *ctr)
{
    struct mmsghdr msgs[SRP_UDP_CHUNK];
    struct iovec iov[SRP_UDP_CHUNK];
    size_t done = 0;
    while (done < count) {
        size_t n = count - done;
        if (n > SRP_UDP_CHUNK) n = SRP_UDP_CHUNK;
        memset(msgs, 0, n * sizeof msgs[0]);
        for (size_t i = 0; i < n; i++) {
            size_t k = done + i;
            const srp_sockaddr *a = &addrs[k * addr_step];
            iov[i].iov_base = (void *)(buf + k * stride);
            iov[i].iov_len = lens ? lens[k] : stride;
            msgs[i].msg_hdr.msg_name = (void *)a;
            msgs[i].msg_hdr.msg_namelen = srp_udp_addr_len(a);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
        long ret; /* (no GSO here: every message is one datagram, never SRP_SEND_PLAIN) */
        if (srp_sendmmsg_result(r, NULL, fd, buf, stride, NULL, NULL, &done, &ret, ctr) ==
            SRP_SEND_STOP)
            return ret;
    }
    return (long)done;
}

long srp_udp_sendmmsg(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                      const srp_sockaddr *addrs, size_t count, srp_udp_counters *ctr)
{
    return send_loop(fd, buf, stride, lens, addrs, 1, count, ctr);
}

long srp_udp_sendmmsg_to(int fd, const uint8_t *buf, size_t stride, const uint32_t *lens,
                         const srp_sockaddr *addr, size_t count, srp_udp_counters *ctr)
{
    return send_loop(fd, buf, stride, lens, addr, 0, count, ctr);
}

/* The datagrams of a send_gso buffer from datagram `done` on, without GSO (the last may be
 * shorter): what was sent in all, or the error if nothing was. */
static long send_plain(int fd, const uint8_t *buf, size_t len, size_t seg,
                       const srp_sockaddr *addr, size_t done, srp_udp_counters *ctr)
{
    size_t whole = len / seg;
    long r = srp_udp_sendmmsg_to(fd, buf + done * seg, seg, NULL, addr, whole - done, ctr);
    if (r < 0) return done ? (long)done : r;
    done += (size_t)r;
    if (done == whole && len % seg) { /* short tail datagram */
        uint32_t tail = (uint32_t)(len % seg);
        long t = srp_udp_sendmmsg_to(fd, buf + done * seg, seg, &tail, addr, 1, ctr);
        if (t > 0) done += (size_t)t;
    }
    return (long)done;
}

long srp_udp_send_gso(int fd, const uint8_t *buf, size_t len, size_t seg,
                      const srp_sockaddr *addr, int *gso_enabled, srp_udp_counters *ctr)
{
    if (seg == 0 || seg > 65507) return -EINVAL;
    size_t total = (len + seg - 1) / seg;
    /* Kernel limits: at most 64 segments (UDP_MAX_SEGMENTS on older kernels) and the
     * super-datagram must fit an IP packet (65507 bytes of UDP payload). */
    size_t per = 65000 / seg;
    if (per > 64) per = 64;
    if (per < 2 || !*gso_enabled)
        return send_plain(fd, buf, len, seg, addr, 0, ctr);

    enum { CMSG_BYTES = CMSG_SPACE(sizeof(uint16_t)) };
    struct mmsghdr msgs[SRP_UDP_CHUNK];
    struct iovec iov[SRP_UDP_CHUNK];
    union { char raw[CMSG_BYTES]; struct cmsghdr align; } ctl[SRP_UDP_CHUNK];
    size_t done = 0; /* datagrams */
    socklen_t alen = srp_udp_addr_len(addr);
    while (done < total) {
        size_t n = 0;
        size_t segs_in[SRP_UDP_CHUNK];
        size_t off = done * seg;
        memset(msgs, 0, sizeof msgs);
        while (n < SRP_UDP_CHUNK && off < len) {
            size_t bytes = len - off;
            if (bytes > per * seg) bytes = per * seg;
            iov[n].iov_base = (void *)(buf + off);
            iov[n].iov_len = bytes;
            struct msghdr *h = &msgs[n].msg_hdr;
            h->msg_name = (void *)addr;
            h->msg_namelen = alen;
            h->msg_iov = &iov[n];
            h->msg_iovlen = 1;
            segs_in[n] = (bytes + seg - 1) / seg;
            if (segs_in[n] > 1)
                srp_gso_control(h, ctl[n].raw, CMSG_BYTES, seg);
            off += bytes;
            n++;
        }
        int r = sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
        long ret;
        switch (srp_sendmmsg_result(r, segs_in, fd, buf, seg, addr, gso_enabled, &done, &ret,
                                    ctr)) {
        case SRP_SEND_STOP: return ret;
        case SRP_SEND_PLAIN: return send_plain(fd, buf, len, seg, addr, done, ctr);
        case SRP_SEND_ON: break;
        }
    }
    return (long)done;
}

/* ---- BDP spray (SPEC 5) -------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t xorshift64s(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int srp_udp_spray_ports(uint64_t seed, uint16_t *out, size_t count)
{
    if (count > SRP_UDP_SPRAY_RANGE) return -EINVAL;
    /* Partial Fisher-Yates: the first `count` draws of a uniform shuffle of 1024..65535 are
     * distinct by construction; 126 KiB of scratch, O(range + count), once per spray plan. */
    uint16_t *perm = malloc(SRP_UDP_SPRAY_RANGE * sizeof *perm);
    if (!perm) return -ENOMEM;
    for (uint32_t i = 0; i < SRP_UDP_SPRAY_RANGE; i++) perm[i] = (uint16_t)(SRP_UDP_SPRAY_LO + i);
    uint64_t sm = seed;
    uint64_t st = splitmix64(&sm);
    if (st == 0) st = 0x9e3779b97f4a7c15ULL; /* xorshift must not start at 0 */
    for (size_t i = 0; i < count; i++) {
        uint64_t left = SRP_UDP_SPRAY_RANGE - i;
        /* Lemire's multiply-shift maps 64 random bits onto [0, left) */
        size_t j = i + (size_t)(((unsigned __int128)xorshift64s(&st) * left) >> 64);
        uint16_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    free(perm);
    return 0;
}

long srp_udp_spray(int fd, const srp_sockaddr *host, const uint16_t *ports, size_t count,
                   const uint8_t *payload, size_t plen, srp_udp_counters *ctr)
{
    srp_sockaddr addrs[SRP_UDP_CHUNK];
    size_t done = 0;
    while (done < count) {
        size_t n = count - done;
        if (n > SRP_UDP_CHUNK) n = SRP_UDP_CHUNK;
        for (size_t i = 0; i < n; i++) {
            addrs[i] = *host;
            uint16_t p = htons(ports[done + i]);
            if (host->sa.sa_family == AF_INET6) addrs[i].in6.sin6_port = p;
            else addrs[i].in4.sin_port = p;
        }
        /* stride 0: every probe is the same payload bytes */
        uint32_t lens[SRP_UDP_CHUNK];
        for (size_t i = 0; i < n; i++) lens[i] = (uint32_t)plen;
        long r = srp_udp_sendmmsg(fd, payload, 0, lens, addrs, n, ctr);
        if (r < 0) return done ? (long)done : r;
        done += (size_t)r;
        if ((size_t)r < n) break; /* EAGAIN: the caller paces and resends the rest */
    }
    return (long)done;
}

/* ---- socket pool --------------------------------------------------------------------- */

int srp_udp_pool_release(srp_udp_pool *p, long keep)
{
    int kept = -1;
    if (p->fds) {
        for (size_t i = 0; i < p->n; i++) {
            if (p->fds[i] < 0) continue;
            if ((long)i == keep) {
                kept = p->fds[i];
                if (p->epfd >= 0) (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, kept, NULL);
            } else {
                close(p->fds[i]);
            }
            p->fds[i] = -1;
        }
        free(p->fds);
        p->fds = NULL;
    }
    if (p->epfd >= 0) close(p->epfd);
    p->epfd = -1;
    p->n = 0;
    return kept;
}

int srp_udp_pool_open(srp_udp_pool *p, size_t n, const srp_sockaddr *bind_addr, int dual_stack)
{
    p->fds = NULL;
    p->n = 0;
    p->epfd = -1;
    if (n == 0 || n > 4096) return -EINVAL;
    p->fds = malloc(n * sizeof *p->fds);
    if (!p->fds) return -ENOMEM;
    for (size_t i = 0; i < n; i++) p->fds[i] = -1;
    p->n = n;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = errno;
        srp_udp_pool_release(p, -1);
        return -e;
    }
    srp_sockaddr any = *bind_addr;
    if (any.sa.sa_family == AF_INET6) any.in6.sin6_port = 0;
    else any.in4.sin_port = 0; /* port 0: the kernel picks a distinct free port per socket */
    for (size_t i = 0; i < n; i++) {
        /* small buffers: a pool socket only ever sees a few probes and one answer */
        int fd = srp_udp_open(&any, dual_stack, 0, 0);
        if (fd < 0) {
            srp_udp_pool_release(p, -1);
            return fd;
        }
        p->fds[i] = fd;
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            int e = errno;
            srp_udp_pool_release(p, -1);
            return -e;
        }
    }
    return 0;
}

long srp_udp_pool_ping_all(srp_udp_pool *p, const uint8_t *data, size_t len,
                           const srp_sockaddr *addr, srp_udp_counters *ctr)
{
    /* sendmmsg batches one socket; n sockets need n sendto calls, still one C loop. */
    socklen_t alen = srp_udp_addr_len(addr);
    long sent = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->fds[i] < 0) continue;
        ssize_t r = sendto(p->fds[i], data, len, MSG_DONTWAIT, &addr->sa, alen);
        if (r >= 0) {
            sent++;
        } else if (ctr) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) ctr->send_eagain++;
            else ctr->send_errors++;
        }
    }
    if (ctr) ctr->sent += (uint64_t)sent;
    return sent;
}

int srp_udp_pool_ready(srp_udp_pool *p, uint32_t *idx, int max)
{
    if (p->epfd < 0) return 0;
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int r;
    do {
        r = epoll_wait(p->epfd, evs, max, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    for (int i = 0; i < r; i++) idx[i] = evs[i].data.u32;
    return r;
}

size_t srp_udp_pool_open_count(const srp_udp_pool *p)
{
    size_t c = p->epfd >= 0 ? 1 : 0;
    if (p->fds)
        for (size_t i = 0; i < p->n; i++) c += p->fds[i] >= 0;
    return c;
}

void srp_prime_malloc(size_t n) {
    /* (volatile: a compiler may drop a malloc whose block is only freed) */
    void *volatile p = malloc(n);
    free(p);
}
