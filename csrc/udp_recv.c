/* Fast UDP I/O, the receive side: recvmmsg batches and UDP GRO reads cut back into
 * datagrams (csrc/udp.c has the rest). See udp.h for the contracts and docs/NET.md ("GRO")
 * for the design. */
#include "udp.h"
#include "bigalloc.h"

#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* ---- receive ------------------------------------------------------------------------ */

enum { OWN_BUF = 1, OWN_LENS = 2, OWN_ADDRS = 4, OWN_KEYS = 8, OWN_WAITS = 16 };

/* One read's control buffer: room for the UDP_GRO segment size and the receive stamp. */
union srp_udp_ctl {
    char raw[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec))];
    struct cmsghdr align;
};

/* The microseconds between a read's SCM_TIMESTAMPNS stamp and `now` (CLOCK_REALTIME, as the
 * stamp), saturated to 0..UINT32_MAX; 0 when the read carries no stamp. */
static uint32_t stamp_wait(const struct cmsghdr *c, const struct timespec *now)
{
    struct timespec ts;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    int64_t ns = ((int64_t)now->tv_sec - (int64_t)ts.tv_sec) * 1000000000 +
                 ((int64_t)now->tv_nsec - (int64_t)ts.tv_nsec);
    if (ns <= 0) return 0; /* (the wall clock stepped back between the two) */
    int64_t us = ns / 1000;
    return us > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int is_stamp(const struct cmsghdr *c)
{
    return c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
           c->cmsg_len >= CMSG_LEN(sizeof(struct timespec));
}

static uint32_t read_wait(struct msghdr *h, const struct timespec *now)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (is_stamp(c)) return stamp_wait(c, now);
    return 0;
}

/* The GRO landing area: recvmmsg reads whole (possibly coalesced) datagrams here; srp_udp_recv
 * cuts them into the caller's fixed slots. `next`/`off` say where the cutting stopped when the
 * batch filled, so a coalesced read is handed out over several calls and never dropped. */
typedef struct srp_udp_gro {
    size_t entries;
    uint8_t *land;            /* entries * SRP_UDP_GRO_BYTES */
    struct mmsghdr *msgs;
    struct iovec *iov;
    srp_sockaddr *addrs;
    uint64_t *keys;
    uint32_t *seg;            /* datagram size inside each read (the UDP_GRO cmsg, else its length) */
    uint32_t *wait;           /* us each read waited in the queue (rx->waits: stamps on) */
    union srp_udp_ctl *ctl;
    size_t have, next, off;   /* reads in the landing area, the one being cut, bytes cut of it */
} srp_udp_gro;

static void gro_free(srp_udp_gro *g)
{
    if (!g) return;
    srp_big_free(g->land, g->entries, SRP_UDP_GRO_BYTES);
    free(g->msgs);
    free(g->iov);
    free(g->addrs);
    free(g->keys);
    free(g->seg);
    free(g->wait);
    free(g->ctl);
    free(g);
}

int srp_udp_rx_enable_gro(int fd, srp_udp_rx *rx, size_t entries)
{
    if (entries == 0 || entries > 1024) return -EINVAL;
    if (rx->gro) return 0;
    srp_udp_gro *g = calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    g->entries = entries;
    /* Mapped pages (csrc/bigalloc.h), not malloc: untouched pages of the 64 KiB entries
     * (single-frame reads use one or two) never become resident, and that stays true after
     * other sockets have closed (on glibc's heap a new area reuses resident holes). */
    g->land = srp_big_calloc(entries, SRP_UDP_GRO_BYTES);
    g->msgs = calloc(entries, sizeof *g->msgs);
    g->iov = calloc(entries, sizeof *g->iov);
    g->addrs = calloc(entries, sizeof *g->addrs);
    g->keys = calloc(entries, sizeof *g->keys);
    g->seg = calloc(entries, sizeof *g->seg);
    g->wait = calloc(entries, sizeof *g->wait);
    g->ctl = calloc(entries, sizeof *g->ctl);
    if (!g->land || !g->msgs || !g->iov || !g->addrs || !g->keys || !g->seg || !g->wait ||
        !g->ctl) {
        gro_free(g);
        return -ENOMEM;
    }
    int on = 1;
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
        int e = errno;
        gro_free(g);
        return -e;
    }
    for (size_t i = 0; i < entries; i++) {
        g->iov[i].iov_base = g->land + i * SRP_UDP_GRO_BYTES;
        g->iov[i].iov_len = SRP_UDP_GRO_BYTES;
    }
    rx->gro = g;
    return 0;
}

size_t srp_udp_rx_pending(const srp_udp_rx *rx)
{
    const srp_udp_gro *g = rx->gro;
    if (!g) return 0;
    size_t n = 0;
    for (size_t i = g->next; i < g->have; i++) {
        size_t total = g->msgs[i].msg_len, seg = g->seg[i];
        size_t from = i == g->next ? g->off : 0;
        n += total == 0 ? 1 : (total - from + seg - 1) / seg;
    }
    return n;
}

/* Hand out landed datagrams into slots [got, max); returns the new count. */
static size_t gro_cut(srp_udp_rx *rx, size_t got, size_t max, srp_udp_counters *ctr)
{
    srp_udp_gro *g = rx->gro;
    while (got < max && g->next < g->have) {
        size_t i = g->next, total = g->msgs[i].msg_len, seg = g->seg[i];
        const uint8_t *base = g->land + i * SRP_UDP_GRO_BYTES;
        do { /* an empty datagram is one empty slot */
            size_t n = total - g->off < seg ? total - g->off : seg;
            size_t copy = n < rx->slot ? n : rx->slot;
            if (copy) memcpy(rx->buf + got * rx->slot, base + g->off, copy);
            rx->lens[got] = (uint32_t)n; /* the true length, as with MSG_TRUNC */
            rx->addrs[got] = g->addrs[i];
            rx->keys[got] = g->keys[i];
            if (rx->waits) rx->waits[got] = g->wait[i];
            if (n > rx->slot && ctr) ctr->truncated++;
            g->off += n;
            got++;
        } while (got < max && g->off < total);
        if (g->off >= total) {
            g->next++;
            g->off = 0;
        }
    }
    return got;
}

static long recv_gro(int fd, srp_udp_rx *rx, size_t max, srp_udp_counters *ctr)
{
    srp_udp_gro *g = rx->gro;
    size_t got = gro_cut(rx, 0, max, ctr);
    while (got < max && g->next >= g->have) {
        size_t want = g->entries;
        for (size_t i = 0; i < want; i++) {
            struct msghdr *h = &g->msgs[i].msg_hdr;
            h->msg_name = &g->addrs[i];
            h->msg_namelen = (socklen_t)sizeof g->addrs[i];
            h->msg_iov = &g->iov[i];
            h->msg_iovlen = 1;
            h->msg_control = g->ctl[i].raw;
            h->msg_controllen = sizeof g->ctl[i];
            h->msg_flags = 0;
        }
        int r = recvmmsg(fd, g->msgs, (unsigned)want, MSG_DONTWAIT, NULL);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (ctr) ctr->recv_errors++;
            if (got == 0) {
                if (ctr) ctr->received += got;
                return -errno;
            }
            break;
        }
        if (r == 0) break;
        struct timespec now = {0, 0};
        if (rx->waits) clock_gettime(CLOCK_REALTIME, &now);
        size_t keep = 0;
        for (size_t i = 0; i < (size_t)r; i++) {
            struct msghdr *h = &g->msgs[i].msg_hdr;
            size_t total = g->msgs[i].msg_len;
            size_t seg = total ? total : 1;
            uint32_t wait = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
                    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                    int v;
                    memcpy(&v, CMSG_DATA(c), sizeof v);
                    if (v > 0 && (size_t)v < total) seg = (size_t)v;
                } else if (rx->waits && is_stamp(c)) {
                    wait = stamp_wait(c, &now);
                }
            if (h->msg_flags & MSG_TRUNC) {
                /* Longer than any UDP datagram can be: nothing in it can be trusted to be
                 * cut right. Counted, dropped whole. */
                if (ctr) ctr->truncated++;
                continue;
            }
            if (seg < total && ctr) ctr->gro_reads++;
            if (keep != i) { /* close the gap the dropped read left */
                memmove(g->land + keep * SRP_UDP_GRO_BYTES, g->land + i * SRP_UDP_GRO_BYTES,
                        total);
                g->msgs[keep].msg_len = g->msgs[i].msg_len;
                g->addrs[keep] = g->addrs[i];
            }
            g->seg[keep] = (uint32_t)seg;
            g->wait[keep] = wait;
            g->keys[keep] = srp_udp_addr_key(&g->addrs[keep]);
            keep++;
        }
        g->have = keep;
        g->next = 0;
        g->off = 0;
        got = gro_cut(rx, got, max, ctr);
        if ((size_t)r < want) break; /* the queue ran dry */
    }
    if (ctr) ctr->received += got;
    return (long)got;
}

void srp_udp_rx_free(srp_udp_rx *rx)
{
    size_t n = rx->batch; /* (batch, slot): the sizes srp_udp_rx_init allocated */
    gro_free(rx->gro);
    if (rx->owned & OWN_BUF) srp_big_free(rx->buf, n, rx->slot);
    if (rx->owned & OWN_LENS) srp_big_free(rx->lens, n, sizeof *rx->lens);
    if (rx->owned & OWN_ADDRS) srp_big_free(rx->addrs, n, sizeof *rx->addrs);
    if (rx->owned & OWN_KEYS) srp_big_free(rx->keys, n, sizeof *rx->keys);
    srp_big_free(rx->msgs, n, sizeof *rx->msgs);
    srp_big_free(rx->iov, n, sizeof *rx->iov);
    if (rx->owned & OWN_WAITS) free(rx->waits);
    free(rx->ctl);
    memset(rx, 0, sizeof *rx);
}

int srp_udp_rx_init(srp_udp_rx *rx, size_t batch, size_t slot, uint8_t *buf, uint32_t *lens,
                    srp_sockaddr *addrs, uint64_t *keys)
{
    memset(rx, 0, sizeof *rx);
    if (batch == 0 || slot == 0 || batch > 65536 || slot > 65536) return -EINVAL;
    rx->batch = batch;
    rx->slot = slot;
    if (!buf) { buf = srp_big_calloc(batch, slot); rx->owned |= OWN_BUF; }
    if (!lens) { lens = srp_big_calloc(batch, sizeof *lens); rx->owned |= OWN_LENS; }
    if (!addrs) { addrs = srp_big_calloc(batch, sizeof *addrs); rx->owned |= OWN_ADDRS; }
    if (!keys) { keys = srp_big_calloc(batch, sizeof *keys); rx->owned |= OWN_KEYS; }
    rx->buf = buf;
    rx->lens = lens;
    rx->addrs = addrs;
    rx->keys = keys;
    rx->msgs = srp_big_calloc(batch, sizeof *rx->msgs);
    rx->iov = srp_big_calloc(batch, sizeof *rx->iov);
    if (!rx->buf || !rx->lens || !rx->addrs || !rx->keys || !rx->msgs || !rx->iov) {
        srp_udp_rx_free(rx);
        return -ENOMEM;
    }
    for (size_t i = 0; i < batch; i++) {
        rx->iov[i].iov_base = rx->buf + i * slot;
        rx->iov[i].iov_len = slot;
    }
    return 0;
}

int srp_udp_rx_enable_stamps(int fd, srp_udp_rx *rx, uint32_t *waits)
{
    if (rx->waits) return 0;
    int own = waits == NULL;
    if (own) waits = calloc(rx->batch, sizeof *waits);
    union srp_udp_ctl *ctl = calloc(rx->batch, sizeof *ctl);
    int on = 1, e = ENOMEM;
    if (waits && ctl && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0) {
        rx->waits = waits;
        rx->ctl = ctl;
        if (own) rx->owned |= OWN_WAITS;
        return 0;
    }
    if (waits && ctl) e = errno;
    if (own) free(waits);
    free(ctl);
    return -e;
}

long srp_udp_recv(int fd, srp_udp_rx *rx, size_t max, srp_udp_counters *ctr)
{
    if (max > rx->batch) max = rx->batch;
    if (rx->gro) return recv_gro(fd, rx, max, ctr);
    size_t got = 0;
    while (got < max) {
        size_t want = max - got;
        for (size_t i = got; i < max; i++) {
            struct msghdr *h = &rx->msgs[i].msg_hdr;
            h->msg_name = &rx->addrs[i];
            h->msg_namelen = (socklen_t)sizeof rx->addrs[i];
            h->msg_iov = &rx->iov[i];
            h->msg_iovlen = 1;
            h->msg_control = rx->ctl ? rx->ctl[i].raw : NULL;
            h->msg_controllen = rx->ctl ? sizeof rx->ctl[i] : 0;
            h->msg_flags = 0;
        }
        /* MSG_TRUNC makes msg_len the TRUE datagram length, so a caller sees "size != 1158"
         * even for an oversized datagram cut to the slot (SPEC 2 size check). */
        int r = recvmmsg(fd, &rx->msgs[got], (unsigned)want, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (ctr) ctr->recv_errors++;
            if (got == 0) return -errno;
            break;
        }
        if (r == 0) break;
        struct timespec now = {0, 0};
        if (rx->waits) clock_gettime(CLOCK_REALTIME, &now);
        for (size_t i = got; i < got + (size_t)r; i++) {
            if (rx->waits) rx->waits[i] = read_wait(&rx->msgs[i].msg_hdr, &now);
            rx->lens[i] = rx->msgs[i].msg_len;
            rx->keys[i] = srp_udp_addr_key(&rx->addrs[i]);
            if ((rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || rx->lens[i] > rx->slot)
                if (ctr) ctr->truncated++;
        }
        got += (size_t)r;
        if ((size_t)r < want) break; /* the queue ran dry: one more call would only say EAGAIN */
    }
    if (ctr) ctr->received += got;
    return (long)got;
}
