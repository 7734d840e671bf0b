/* A TCP transfer end for the network tests: a deterministic byte stream
 * (xorshift64 from a seed), checksummed with FNV-1a, so both ends can
 * check what crossed without storing it.
 *
 *   tcpxfer recv PORT              accept one connection, read to EOF,
 *                                  print "BYTES CHECKSUM"
 *   tcpxfer send HOST PORT BYTES SEED
 *                                  connect, send BYTES of the stream,
 *                                  half-close, wait for EOF, print the same
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t fnv = 1469598103934665603ULL;
static void sum(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) { fnv ^= p[i]; fnv *= 1099511628211ULL; }
}

int main(int argc, char **argv) {
    static unsigned char buf[1 << 16];
    long long total = 0;
    if (argc == 3 && !strcmp(argv[1], "recv")) {
        int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        if (bind(l, (void *)&a, sizeof a) || listen(l, 1)) { perror("bind/listen"); return 1; }
        printf("listening\n"); fflush(stdout);
        int c = accept(l, 0, 0);
        if (c < 0) { perror("accept"); return 1; }
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r < 0) { perror("read"); return 1; }
            if (r == 0) break;
            sum(buf, r); total += r;
        }
    } else if (argc == 6 && !strcmp(argv[1], "send")) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        if (connect(c, (void *)&a, sizeof a)) { perror("connect"); return 1; }
        long long want = atoll(argv[4]);
        uint64_t x = strtoull(argv[5], 0, 10) | 1;
        while (total < want) {
            size_t n = sizeof buf;
            if ((long long)n > want - total) n = want - total;
            for (size_t i = 0; i < n; i += 8) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
            }
            sum(buf, n);
            for (size_t off = 0; off < n;) {
                ssize_t w = write(c, buf + off, n - off);
                if (w < 0) { perror("write"); return 1; }
                off += w;
            }
            total += n;
        }
        shutdown(c, SHUT_WR);
        while (read(c, buf, sizeof buf) > 0) {}
    } else {
        fprintf(stderr, "usage: tcpxfer recv PORT | send HOST PORT BYTES SEED\n");
        return 2;
    }
    printf("%lld %016llx\n", total, (unsigned long long)fnv);
    return 0;
}
