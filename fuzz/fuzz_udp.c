/* Sanitizer fuzz driver for the parsing and packing parts of csrc/udp.c (issue 13): numeric
 * address parsing of hostile strings, formatting, the keyed sender key (SPEC 9.6: one bucket
 * per sender whatever the family), the spray port plan (SPEC 5: distinct, in 1024..65535), and
 * the receive batch on loopback with datagrams of every size 0..2000 (MSG_TRUNC: true lengths
 * kept, a slot never overrun). Built with -fsanitize=address,undefined, linked with libsodium.
 * Loopback only, bounded: at most 64 datagrams per step, sockets closed at the end. */
#include <arpa/inet.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "udp.h"

static void random_host(char *s, size_t cap) {
    static const char alphabet[] = "0123456789abcdefABCDEF.:%[]ffff::-x \t";
    size_t n = fz_below((unsigned)cap);
    int style = (int)fz_below(4);
    if (style == 0) { snprintf(s, cap, "%u.%u.%u.%u", fz_below(300), fz_below(256), fz_below(256), fz_below(300)); return; }
    if (style == 1) { snprintf(s, cap, "::ffff:%u.%u.%u.%u", fz_below(256), fz_below(256), fz_below(256), fz_below(256)); return; }
    for (size_t i = 0; i < n; i++)
        s[i] = style == 2 ? alphabet[fz_below(sizeof alphabet - 1)] : (char)(1 + fz_below(255));
    s[n] = 0;
}

int main(int argc, char **argv) {
    fz_seed("fuzz_udp");
    clock_t end = fz_deadline(argc, argv);
    uint8_t secret[16]; fz_bytes(secret, 16);
    if (srp_udp_key_seed(secret, 16) || srp_udp_key_seed(secret, 15) != -22) abort();
    srp_sockaddr bind4, got;
    if (srp_udp_addr_parse("127.0.0.1", 0, AF_INET, &bind4)) abort();
    int rx_fd = srp_udp_open(&bind4, 0, 1 << 20, 0), tx_fd = srp_udp_open(&bind4, 0, 0, 1 << 20);
    if (rx_fd < 0 || tx_fd < 0) abort();
    srp_sockaddr to; srp_udp_local(rx_fd, &to);
    srp_udp_rx rx;
    if (srp_udp_rx_init(&rx, 64, SRP_UDP_FRAME + 2, NULL, NULL, NULL, NULL)) abort();
    srp_udp_counters ctr = {0};
    /* A GRO socket (udp.h srp_udp_rx_enable_gro): GSO runs of any segment size arrive as
     * coalesced reads that srp_udp_recv cuts back into datagrams, over as many calls as the
     * caller's batch sizes take: every datagram must come out once, in order, whole. */
    int gro_fd = srp_udp_open(&bind4, 0, 8 << 20, 0);
    srp_sockaddr gro_to; srp_udp_local(gro_fd, &gro_to);
    srp_udp_rx grx;
    if (gro_fd < 0 || srp_udp_rx_init(&grx, 64, SRP_UDP_FRAME, NULL, NULL, NULL, NULL)) abort();
    if (srp_udp_rx_enable_gro(gro_fd, &grx, 1 + fz_below(32))) abort();
    static uint8_t grobuf[200000];
    static uint32_t grolens[4096];
    unsigned long gro_datagrams = 0;
    int gso_on = 1;
    static uint8_t txbuf[64 * 2000];
    uint32_t txlens[64];
    static uint16_t ports[4096];
    unsigned long iters = 0, parsed = 0, received = 0, truncated = 0;
    while (fz_running(end)) {
        char host[80], text[INET6_ADDRSTRLEN + 8];
        random_host(host, 64);
        int fam = fz_below(2) ? AF_INET : AF_INET6;
        uint16_t port = (uint16_t)fz_u64(), p2;
        srp_sockaddr a;
        if (srp_udp_addr_parse(host, port, fam, &a) == 0) {
            parsed++;
            if (!srp_udp_addr_len(&a)) abort();
            if (srp_udp_addr_format(&a, text, sizeof text, &p2) || p2 != port) abort();
            srp_sockaddr b;  /* round trip, and one key for v4 and its v4-mapped form */
            if (srp_udp_addr_parse(text, port, AF_INET6, &b)) abort();
            if (srp_udp_addr_key(&a) != srp_udp_addr_key(&b) || !srp_udp_addr_key(&a)) abort();
            srp_udp_addr_format(&a, text, fz_below(8), &p2);  /* too small: an error, no overrun */
        }
        fz_bytes((uint8_t *)&a, sizeof a);  /* any family: a key or an error, never a crash */
        srp_udp_addr_key(&a);
        srp_udp_addr_format(&a, text, sizeof text, &p2);
        if (fz_below(64) == 0) {
            size_t count = fz_below(4097);
            if (srp_udp_spray_ports(fz_u64(), ports, count)) abort();
            for (size_t i = 0; i < count; i++) if (ports[i] < SRP_UDP_SPRAY_LO) abort();
            if (srp_udp_spray_ports(1, ports, SRP_UDP_SPRAY_RANGE + 1) != -22) abort();
        }
        if (fz_below(8) == 0) {  /* a receive batch on loopback */
            size_t n = 1 + fz_below(64);
            for (size_t i = 0; i < n; i++) {
                txlens[i] = fz_below(3) ? SRP_UDP_FRAME : fz_below(2001);
                fz_bytes(txbuf + i * 2000, txlens[i]);
            }
            long s = srp_udp_sendmmsg_to(tx_fd, txbuf, 2000, txlens, &to, n, &ctr);
            long r = s > 0 ? srp_udp_recv(rx_fd, &rx, fz_below(2) ? 64 : 1 + fz_below(64), &ctr) : 0;
            for (long i = 0; i < r; i++) {
                if (rx.lens[i] > 2000) abort();
                if (rx.keys[i] != srp_udp_addr_key(&rx.addrs[i])) abort();
                if (rx.lens[i] > rx.slot) truncated++;
            }
            while (r > 0) { received += (unsigned long)r; r = srp_udp_recv(rx_fd, &rx, 64, &ctr); }
        }
        if (fz_below(16) == 0) {  /* GSO runs into the GRO socket, drained in random bites */
            size_t runs = 1 + fz_below(4), sent = 0, bytes = 0;
            for (size_t k = 0; k < runs; k++) {
                size_t seg = fz_below(4) ? SRP_UDP_FRAME : 1 + fz_below(2000);
                size_t len = fz_below(8) ? seg * (1 + fz_below(60)) : fz_below(seg * 60 + 1);
                if (bytes + len > sizeof grobuf) break;
                fz_bytes(grobuf + bytes, len);
                long r = srp_udp_send_gso(tx_fd, grobuf + bytes, len, seg, &gro_to, &gso_on, &ctr);
                size_t want = len ? (len + seg - 1) / seg : 0;
                if (r != (long)want) abort();  /* loopback with an 8 MiB buffer takes all */
                for (size_t d = 0; d < want; d++)
                    grolens[sent + d] = (uint32_t)(d + 1 < want || len % seg == 0 ? seg : len % seg);
                sent += want;
                bytes += len;
            }
            size_t got = 0, at = 0;
            for (int rounds = 0; got < sent && rounds < 100000; rounds++) {
                long r = srp_udp_recv(gro_fd, &grx, 1 + fz_below(64), &ctr);
                if (r < 0) abort();
                for (long i = 0; i < r; i++, got++) {
                    if (got >= sent || grx.lens[i] != grolens[got]) abort();
                    size_t cmp = grx.lens[i] < grx.slot ? grx.lens[i] : grx.slot;
                    if (memcmp(grx.buf + (size_t)i * grx.slot, grobuf + at, cmp)) abort();
                    if (grx.keys[i] != srp_udp_addr_key(&grx.addrs[i])) abort();
                    at += grx.lens[i];
                }
            }
            if (got != sent || srp_udp_rx_pending(&grx) != 0) abort();
            gro_datagrams += got;
        }
        iters++;
    }
    if (ctr.truncated != truncated && ctr.truncated < truncated) abort();
    printf("fuzz_udp: %lu iterations, %lu addresses parsed, %lu datagrams received "
           "(%llu truncated, counted), %llu recv errors; GRO: %lu datagrams in %llu "
           "coalesced reads, each once in order\n", iters, parsed, received,
           (unsigned long long)ctr.truncated, (unsigned long long)ctr.recv_errors,
           gro_datagrams, (unsigned long long)ctr.gro_reads);
    srp_udp_rx_free(&rx);
    srp_udp_rx_free(&grx);
    close(gro_fd);
    close(rx_fd); close(tx_fd);
    (void)got;
    return 0;
}
