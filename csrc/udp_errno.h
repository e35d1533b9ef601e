/* What the send paths of csrc/udp.c and csrc/udp_runs.c share (private): how they read a
 * send error, the UDP_SEGMENT control of a GSO message, what a sendmmsg call sent and what a
 * send loop does after it (srp_sendmmsg_result: one error policy for every sendmmsg loop). */
#ifndef SRP_UDP_ERRNO_H
#define SRP_UDP_ERRNO_H
#include <errno.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "udp.h"

/* Not a full send buffer or an interruption: the datagram itself was refused. */
static inline int is_hard_error(int e)
{
    return e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ENOBUFS;
}

/* The socket itself is unusable: nothing more can be sent. */
static inline int is_socket_error(int e)
{
    return e == EBADF || e == ENOTSOCK || e == EFAULT;
}

/* What a kernel or device without UDP GSO answers to UDP_SEGMENT. */
static inline int gso_refused(int e)
{
    return e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP;
}

/* Make ``h`` one GSO message of ``seg``-byte segments: its control is ``raw`` (``raw_len``
 * = CMSG_SPACE(sizeof(uint16_t)) bytes, suitably aligned). */
static inline void srp_gso_control(struct msghdr *h, char *raw, size_t raw_len, size_t seg)
{
    memset(raw, 0, raw_len);
    h->msg_control = raw;
    h->msg_controllen = raw_len;
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t s16 = (uint16_t)seg;
    memcpy(CMSG_DATA(c), &s16, sizeof s16);
}

/* Datagrams in the first ``sent`` messages of a sendmmsg call (``segs``: each one's). */
static inline size_t srp_sent_datagrams(const size_t *segs, int sent)
{
    size_t d = 0;
    for (int i = 0; i < sent; i++) d += segs[i];
    return d;
}

/* What a send loop does after one sendmmsg call (srp_sendmmsg_result). */
enum srp_send_next {
    SRP_SEND_ON,    /* send what is left, from *done on */
    SRP_SEND_PLAIN, /* the same, in plain datagrams: GSO was refused (*gso_enabled is 0 now) */
    SRP_SEND_STOP   /* return *ret */
};

/* The outcome of one sendmmsg call that returned ``sent``, for messages of segs[i] datagrams
 * each (segs NULL: one datagram each) whose first is datagram *done, ``seg`` bytes at
 * buf + *done * seg, to ``to``. Counts it in ctr (may be NULL) and moves *done past what went
 * out or was refused (docs/NET.md, "Send": partial sends and errors):
 *   sent > 0: the first ``sent`` messages went out (a partial send retries; the next call
 *     reports why it stopped);
 *   EINTR: nothing happened, call again;
 *   the socket itself is unusable: stop, with what was sent before, or -errno if nothing;
 *   a full send buffer (ENOBUFS is the same on Linux UDP): stop, the caller keeps the rest
 *     queued (send_eagain);
 *   GSO refused: the first message is a super-datagram and its first datagram goes out
 *     alone (sendto, no UDP_SEGMENT), so GSO itself was refused, not the destination: this
 *     socket sends plain datagrams from now on (*gso_enabled = 0, SRP_SEND_PLAIN);
 *   any other hard error (bad address, EMSGSIZE, unreachable): the first message's
 *     datagrams are refused, counted in send_errors and skipped, so one bad destination
 *     cannot stall the whole queue. */
static inline enum srp_send_next srp_sendmmsg_result(int sent, const size_t *segs, int fd,
                                                     const uint8_t *buf, size_t seg,
                                                     const srp_sockaddr *to, int *gso_enabled,
                                                     size_t *done, long *ret,
                                                     srp_udp_counters *ctr)
{
    if (sent > 0) {
        size_t d = segs ? srp_sent_datagrams(segs, sent) : (size_t)sent;
        *done += d;
        if (ctr) ctr->sent += d;
        return SRP_SEND_ON;
    }
    int e = sent < 0 ? errno : EAGAIN;
    if (e == EINTR) return SRP_SEND_ON;
    if (is_socket_error(e)) {
        *ret = *done ? (long)*done : -e;
        return SRP_SEND_STOP;
    }
    if (!is_hard_error(e)) {
        if (ctr) ctr->send_eagain++;
        *ret = (long)*done;
        return SRP_SEND_STOP;
    }
    size_t first = segs ? segs[0] : 1;
    if (gso_refused(e) && first > 1 &&
        sendto(fd, buf + *done * seg, seg, MSG_DONTWAIT, &to->sa, srp_udp_addr_len(to)) >= 0) {
        *gso_enabled = 0;
        if (ctr) ctr->sent++;
        (*done)++;
        return SRP_SEND_PLAIN;
    }
    if (ctr) ctr->send_errors += first;
    *done += first;
    return SRP_SEND_ON;
}
#endif
