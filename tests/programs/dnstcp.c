/* DNS over TCP, as glibc does it with `options use-vc` or after a
 * truncated UDP answer (RFC 7766: each message after its length in two
 * bytes): two A queries for NAME sent back to back on one connection to
 * SERVER:53, the writing side shut, then both answers read and end of
 * file awaited.
 *
 *   dnstcp SERVER NAME
 *
 * Prints one line per answer: "answer ID rcode R tc T an N ar A first F
 * last L" (F, L: the first and last A record's address), then "eof". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *p, size_t n) {
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A query for `name`, type A, class IN, no OPT record; its length. */
static size_t make_query(unsigned char *q, unsigned id, const char *name) {
    size_t n = 0;
    unsigned char hdr[12] = { id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    memcpy(q, hdr, 12);
    n = 12;
    for (const char *label = name; *label;) {
        const char *dot = strchr(label, '.');
        size_t len = dot ? (size_t)(dot - label) : strlen(label);
        q[n++] = (unsigned char)len;
        memcpy(q + n, label, len);
        n += len;
        label += len + (dot ? 1 : 0);
    }
    q[n++] = 0;
    q[n++] = 0; q[n++] = 1; /* A */
    q[n++] = 0; q[n++] = 1; /* IN */
    return n;
}

static size_t skip_name(const unsigned char *m, size_t at) {
    while (m[at]) {
        if ((m[at] & 0xc0) == 0xc0) return at + 2;
        at += 1 + m[at];
    }
    return at + 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: dnstcp SERVER NAME\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    struct timeval tv = { 20, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        return 1;
    }
    unsigned char out[1024];
    size_t n = 0;
    for (unsigned id = 0x1111; id <= 0x2222; id += 0x1111) {
        size_t len = make_query(out + n + 2, id, argv[2]);
        out[n] = (unsigned char)(len >> 8);
        out[n + 1] = (unsigned char)len;
        n += 2 + len;
    }
    if (write(s, out, n) != (ssize_t)n) {
        perror("write");
        return 1;
    }
    shutdown(s, SHUT_WR);
    static unsigned char m[65536];
    for (int i = 0; i < 2; i++) {
        unsigned char pre[2];
        if (read_full(s, pre, 2) != 0) {
            perror("read length");
            return 1;
        }
        size_t len = (size_t)pre[0] << 8 | pre[1];
        if (len < 12 || read_full(s, m, len) != 0) {
            fprintf(stderr, "short answer (%zu)\n", len);
            return 1;
        }
        unsigned an = m[6] << 8 | m[7], ar = m[10] << 8 | m[11];
        size_t at = skip_name(m, 12) + 4;
        char first[32] = "-", last[32] = "-";
        for (unsigned r = 0; r < an && at < len; r++) {
            at = skip_name(m, at);
            unsigned rdlen = m[at + 8] << 8 | m[at + 9];
            if (rdlen == 4) inet_ntop(AF_INET, m + at + 10, r ? last : first, sizeof first);
            at += 10 + rdlen;
        }
        printf("answer %#x rcode %d tc %d an %u ar %u first %s last %s\n", m[0] << 8 | m[1],
               m[3] & 0xf, (m[2] >> 1) & 1, an, ar, first, last);
    }
    char c;
    ssize_t r = read(s, &c, 1);
    printf(r == 0 ? "eof\n" : "no eof (%zd)\n", r);
    return 0;
}
