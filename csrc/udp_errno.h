/* What the send paths of csrc/udp.c and csrc/udp_runs.c share (private): how they read a
 * send error, the UDP_SEGMENT control of a GSO message, what a sendmmsg call sent. */
#ifndef SRP_UDP_ERRNO_H
#define SRP_UDP_ERRNO_H
#include <errno.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

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
#endif
