/* How the send paths of csrc/udp.c and csrc/udp_runs.c read a send error (private). */
#ifndef SRP_UDP_ERRNO_H
#define SRP_UDP_ERRNO_H
#include <errno.h>

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
#endif
