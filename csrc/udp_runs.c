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
        if (sent > 0) {
            size_t d = srp_sent_datagrams(segs, sent);
            done += d;
            if (ctr) ctr->sent += d;
            continue;
        }
        int e = sent < 0 ? errno : EAGAIN;
        if (e == EINTR) continue;
        if (is_socket_error(e)) return done ? (long)done : -e;
        if (!is_hard_error(e)) { /* a full send buffer: the caller queues the rest */
            if (ctr) ctr->send_eagain++;
            return (long)done;
        }
        if (gso_refused(e) && segs[0] > 1 &&
            sendto(fd, buf + done * seg, seg, MSG_DONTWAIT, &addrs[done].sa,
                   srp_udp_addr_len(&addrs[done])) >= 0) {
            /* The same bytes go out without UDP_SEGMENT, so GSO itself was refused (not the
             * destination): this socket sends plain datagrams from now on. */
            *gso_enabled = 0;
            if (ctr) ctr->sent++;
            done++;
            continue;
        }
        /* Any other hard error refuses this message: count its datagrams, go on. */
        if (ctr) ctr->send_errors += segs[0];
        done += segs[0];
    }
    return (long)done;
}
