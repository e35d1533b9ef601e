/* The UDP socket layer's two ceilings (bench/bench_udp.py, bench_network.py, blast.py "zeros"),
 * moved here from the runtime extension _udp.pyx (issue 17: ceilings are bench code). Plain C
 * loops over srpfast's own socket I/O (csrc/udp.c, udp_recv.c): no Python between syscalls.
 * Built with the other ceilings by bench/ceilings.py and called through ctypes, which releases
 * the GIL for the call. Times are CLOCK_MONOTONIC seconds, as time.monotonic's. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "udp.h"

/* What a loop did: datagrams moved, elapsed seconds (send: start to the last call; receive:
 * first read to last read), and the socket layer's counters over the loop. */
typedef struct {
    long count;
    double elapsed;
    srp_udp_counters ctr;
} srp_ceiling_udp;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* sendmmsg of `batch` 1158-byte zero frames to one address (`dest`, a packed srp_sockaddr as
 * UDPSocket.resolve gives it), one call after another for `seconds` or until the socket
 * fails. Returns the datagrams sent, -1 on bad arguments or no memory. */
long srp_ceiling_send_loop(int fd, const uint8_t *dest, double seconds, long batch,
                           srp_ceiling_udp *st) {
    memset(st, 0, sizeof *st);
    if (batch < 1 || batch > 4096) return -1;
    uint8_t *buf = calloc((size_t)batch, SRP_UDP_FRAME);
    if (!buf) return -1;
    const srp_sockaddr *to = (const srp_sockaddr *)dest;
    double t0 = mono_s(), t;
    for (;;) {
        long r = srp_udp_sendmmsg_to(fd, buf, SRP_UDP_FRAME, NULL, to, (size_t)batch, &st->ctr);
        if (r > 0) st->count += r;
        t = mono_s() - t0;
        if (t >= seconds || r < 0) break;
    }
    st->elapsed = t;
    free(buf);
    return st->count;
}

/* recvmmsg drain of `fd`, `batch` slots of `slot` bytes a call (with `gro_entries` > 0 over a
 * GRO landing area of that many 64 KiB reads, as UDPSocket(gro=True) sets up: 8), polling
 * 10 ms between empty calls, for `seconds` or until `idle` seconds pass with nothing read.
 * Returns the datagrams received; -1 on bad arguments or no memory, -2 if the kernel refuses
 * UDP GRO. st->elapsed is from the start of the first read that returned data to the end of
 * the last. */
long srp_ceiling_recv_loop(int fd, long batch, long slot, long gro_entries, double seconds,
                           double idle, srp_ceiling_udp *st) {
    srp_udp_rx rx;
    memset(st, 0, sizeof *st);
    if (batch < 1 || batch > 4096 || slot < 1 || slot > 65536 || gro_entries < 0) return -1;
    if (srp_udp_rx_init(&rx, (size_t)batch, (size_t)slot, NULL, NULL, NULL, NULL)) return -1;
    if (gro_entries && srp_udp_rx_enable_gro(fd, &rx, (size_t)gro_entries) != 0) {
        srp_udp_rx_free(&rx);
        return -2;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    double t0 = mono_s(), last = t0, first = -1.0, t;
    for (;;) {
        /* From before the first read that returns data: its frames count, so its work does
         * too (from after it, one batch holding a whole run gave an elapsed time of ~0). */
        double before = mono_s();
        long r = srp_udp_recv(fd, &rx, rx.batch, &st->ctr);
        t = mono_s();
        if (r > 0) {
            if (first < 0) first = before;
            st->count += r;
            last = t;
        } else if (r == 0) {
            if (t - last >= idle || t - t0 >= seconds) break;
            poll(&pfd, 1, 10);
        } else {
            break;
        }
        if (t - t0 >= seconds) break;
    }
    st->elapsed = first >= 0 ? last - first : 0.0;
    srp_udp_rx_free(&rx);
    return st->count;
}
