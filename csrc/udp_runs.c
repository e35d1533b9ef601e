/* A relay's output in one go: the data plane's batch of frames grouped by next hop
 * (csrc/dataplane.h, runs) sent with as few syscalls as the kernel allows: each run as UDP
 * GSO super-datagrams and every other frame as a plain datagram, all in the same sendmmsg
 * calls (docs/NET.md, "Relayed output"). See udp.h. */
#include "udp.h"
#include "udp_errno.h"

#include <netinet/udp.h>
#include <string.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

long srp_udp_send_runs(int fd, const uint8_t *buf, size_t seg, size_t count,
                       const srp_sockaddr *addrs, const uint32_t *runs, size_t nruns,
                       int *gso_enabled, srp_udp_counters *ctr)
{
    if (seg == 0 || seg > 65507) return -EINVAL;
    /* Kernel limits, as srp_udp_send_gso: at most 64 segments and 65507 bytes of payload. */
    size_t per = 65000 / seg;
    if (per > 64) per = 64;
    enum { CMSG_BYTES = CMSG_SPACE(sizeof(uint16_t)) };
    struct mmsghdr msgs[SRP_UDP_CHUNK];
    struct iovec iov[SRP_UDP_CHUNK];
    union { char raw[CMSG_BYTES]; struct cmsghdr align; } ctl[SRP_UDP_CHUNK];
    size_t segs[SRP_UDP_CHUNK];
    size_t done = 0, ri = 0; /* datagrams consumed; the run at or after `done` */
    while (done < count) {
        size_t n = 0, at = done, r = ri;
        memset(msgs, 0, sizeof msgs);
        while (n < SRP_UDP_CHUNK && at < count) {
            while (r < nruns && (size_t)runs[2 * r] + runs[2 * r + 1] <= at) r++;
            size_t k = 1; /* frames in this message */
            if (r < nruns && runs[2 * r] <= at && *gso_enabled && per >= 2) {
                k = (size_t)runs[2 * r] + runs[2 * r + 1] - at;
                if (k > per) k = per;
                if (k > count - at) k = count - at;
            }
            iov[n].iov_base = (void *)(buf + at * seg);
            iov[n].iov_len = k * seg;
            struct msghdr *h = &msgs[n].msg_hdr;
            h->msg_name = (void *)&addrs[at]; /* a run's frames share their next hop */
            h->msg_namelen = srp_udp_addr_len(&addrs[at]);
            h->msg_iov = &iov[n];
            h->msg_iovlen = 1;
            if (k > 1)
                srp_gso_control(h, ctl[n].raw, CMSG_BYTES, seg);
            segs[n++] = k;
            at += k;
        }
        int sent = sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
        long ret; /* (after SRP_SEND_PLAIN, *gso_enabled is 0: the rest goes one by one) */
        if (srp_sendmmsg_result(sent, segs, fd, buf, seg, &addrs[done], gso_enabled, &done,
                                &ret, ctr) == SRP_SEND_STOP)
            return ret;
    }
    return (long)done;
}
