/* Socket options over the network (not loopback), for tests/network.rs:
 *
 *   sockopts serve PORT CONNS DGRAMS HOST HOSTPORT
 *
 * Two SO_REUSEPORT TCP listeners and two SO_REUSEPORT UDP sockets (with
 * IP_RECVTTL and IP_RECVTOS) on 0.0.0.0:PORT; prints "listening", then
 * accepts CONNS connections across both listeners, reads each to EOF and
 * prints its TCP_INFO state and bytes received, then receives DGRAMS
 * datagrams across both UDP sockets and prints the TTL and TOS the
 * first one carried, then sends one datagram with IP_TTL 7 to
 * HOST:HOSTPORT. Last line: "tcp A B udp C D". Bounded: gives up after
 * 60 s without progress. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

/* Errors go to stdout, which the test shows. */
static void oops(const char *what) { printf("%s: %s\n", what, strerror(errno)); fflush(stdout); }

static int bound(int type, int port) {
    int fd = socket(AF_INET, type, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (void *)&a, sizeof a) != 0) { oops("bind"); exit(1); }
    if (type == SOCK_STREAM && listen(fd, 64) != 0) { oops("listen"); exit(1); }
    if (type == SOCK_DGRAM) {
        setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
        setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
    }
    return fd;
}

/* Which of the two descriptors is readable within 60 s (-1: neither). */
static int ready(int a, int b) {
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(p, 2, 60000) <= 0) return -1;
    return (p[0].revents & POLLIN) ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 7 || strcmp(argv[1], "serve")) { fprintf(stderr, "usage\n"); return 2; }
    int port = atoi(argv[2]), conns = atoi(argv[3]), dgrams = atoi(argv[4]);
    int l[2] = {bound(SOCK_STREAM, port), bound(SOCK_STREAM, port)};
    int u[2] = {bound(SOCK_DGRAM, port), bound(SOCK_DGRAM, port)};
    printf("listening\n");
    fflush(stdout);
    int nt[2] = {0, 0}, nu[2] = {0, 0};
    for (int i = 0; i < conns; i++) {
        int w = ready(l[0], l[1]);
        if (w < 0) { printf("accept timed out\n"); return 1; }
        int c = accept(l[w], 0, 0);
        if (c < 0) { oops("accept"); return 1; }
        nt[w]++;
        char buf[4096];
        while (read(c, buf, sizeof buf) > 0) {}
        unsigned char ti[512];
        socklen_t len = sizeof ti;
        memset(ti, 0, sizeof ti);
        getsockopt(c, IPPROTO_TCP, TCP_INFO, ti, &len);
        unsigned long long received;
        memcpy(&received, ti + 128, sizeof received);
        printf("conn state %d received %llu\n", ti[0], received);
        close(c);
    }
    for (int i = 0; i < dgrams; i++) {
        int w = ready(u[0], u[1]);
        if (w < 0) { printf("recv timed out\n"); return 1; }
        char data[64];
        union { struct cmsghdr h; char buf[256]; } cu;
        struct iovec iov = {data, sizeof data};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf};
        if (recvmsg(u[w], &mh, 0) < 0) { oops("recvmsg"); return 1; }
        nu[w]++;
        int ttl = -1, tos = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) memcpy(&ttl, CMSG_DATA(cm), sizeof ttl);
            if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS) tos = *CMSG_DATA(cm);
        }
        if (i == 0) printf("dgram ttl %d tos %d\n", ttl, tos);
    }
    int t = socket(AF_INET, SOCK_DGRAM, 0), ttl = 7;
    setsockopt(t, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    struct sockaddr_in h = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[6]))};
    inet_pton(AF_INET, argv[5], &h.sin_addr);
    if (sendto(t, "t", 1, 0, (void *)&h, sizeof h) != 1) oops("sendto");
    printf("tcp %d %d udp %d %d\n", nt[0], nt[1], nu[0], nu[1]);
    return 0;
}
