/* What the network sysctls change, seen by a program: whether port-0
 * binds (TCP and UDP, IPv4 and IPv6) and an unbound client's connect get
 * ports in [LOW, HIGH] (net.ipv4.ip_local_port_range), and how many of
 * four non-blocking connects a Unix listener asked for a backlog of 100
 * takes before EAGAIN (net.core.somaxconn caps the backlog; Linux queues
 * backlog + 1). Usage: portprobe LOW HIGH. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int low, high;

static const char *in_range(int fd) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l)) return "getsockname failed";
    int port = a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
                                      : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return port >= low && port <= high ? "in range" : "OUT OF RANGE";
}

static int bound(int family, int type) {
    int fd = socket(family, type, 0);
    if (family == AF_INET) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(fd, (struct sockaddr *)&a, sizeof a)) return -1;
    } else {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        if (bind(fd, (struct sockaddr *)&a, sizeof a)) return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    low = atoi(argv[1]);
    high = atoi(argv[2]);
    int t4 = bound(AF_INET, SOCK_STREAM), u4 = bound(AF_INET, SOCK_DGRAM);
    int t6 = bound(AF_INET6, SOCK_STREAM), u6 = bound(AF_INET6, SOCK_DGRAM);
    if (t4 < 0 || u4 < 0 || t6 < 0 || u6 < 0) {
        printf("bind failed: %s\n", strerror(errno));
        return 1;
    }
    printf("tcp bind: %s\nudp bind: %s\n", in_range(t4), in_range(u4));
    printf("tcp6 bind: %s\nudp6 bind: %s\n", in_range(t6), in_range(u6));
    listen(t4, 4);
    struct sockaddr_in to;
    socklen_t tl = sizeof to;
    getsockname(t4, (struct sockaddr *)&to, &tl);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&to, sizeof to)) printf("connect: %s\n", strerror(errno));
    else printf("tcp connect: %s\n", in_range(c));

    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int n = snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "portprobe-%d", getpid());
    socklen_t ul = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&un, ul) || listen(l, 100)) return 1;
    int taken = 0;
    for (int i = 0; i < 4; i++) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(s, (struct sockaddr *)&un, ul) == 0) taken++;
        else if (errno != EAGAIN) printf("unix connect: %s\n", strerror(errno));
    }
    printf("unix backlog 100 queues %d of 4\n", taken);
    return 0;
}
