/* Network: the inet socket semantics Linux programs rely on, over the
 * loopback only (127.0.0.1, ::1 and ::ffff:127.0.0.1: the containers have
 * no other network): socket(2) flags, bind (ephemeral ports, EADDRINUSE,
 * SO_REUSEADDR, IPv4 beside IPv6 with and without IPV6_V6ONLY, v4-mapped
 * addresses), listen/accept/accept4 and the backlog, blocking and
 * non-blocking connect (EINPROGRESS, EALREADY, EISCONN, ECONNREFUSED),
 * socket names, the send and receive calls and their flags, EPIPE and
 * SIGPIPE, shutdown, resets, FIONREAD/SIOCINQ/SIOCOUTQ, poll bits in each
 * state, socket options and IP_PKTINFO, and UDP's connected semantics,
 * checked against socket(7), ip(7), ipv6(7), tcp(7), udp(7), send(2),
 * recv(2) and connect(2). Every wait is bounded: readiness is polled with
 * a timeout before a blocking call. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/time.h>

#define ALLBITS (POLLIN | POLLOUT | POLLHUP | POLLRDHUP | POLLERR)

/* The poll bits of `fd` (of ALLBITS, all asked for) once any of `want`
 * shows, or after `ms` milliseconds. */
static int bits(int fd, int want, int ms) {
    for (int waited = 0;; waited += 10) {
        struct pollfd pf = { fd, POLLIN | POLLOUT | POLLRDHUP, 0 };
        if (poll(&pf, 1, ms ? 10 : 0) < 0) return -1;
        if ((pf.revents & want) || waited >= ms) return pf.revents & ALLBITS;
    }
}

static int readable(int fd, int ms) { return (bits(fd, POLLIN, ms) & POLLIN) != 0; }

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int intopt(int fd, int level, int name) {
    int v = -12345;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

static int setint(int fd, int level, int name, int v) {
    return setsockopt(fd, level, name, &v, sizeof v);
}

static struct sockaddr_in v4(const char *ip, int port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip, int port) {
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A listener of `family` and `type` on its loopback with an ephemeral port
 * (its port through *port). */
static int listener(int family, int *port, int backlog) {
    int l = socket(family, SOCK_STREAM, 0);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = v4("127.0.0.1", 0);
        r = bind(l, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = v6("::1", 0);
        r = bind(l, (struct sockaddr *)&a, sizeof a);
    }
    if (r != 0 || listen(l, backlog) != 0) {
        close(l);
        return -1;
    }
    *port = port_of(l);
    return l;
}

static int dial(int family, int port, int flags) {
    int c = socket(family, SOCK_STREAM | flags, 0);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = v4("127.0.0.1", port);
        r = connect(c, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = v6("::1", port);
        r = connect(c, (struct sockaddr *)&a, sizeof a);
    }
    if (r != 0 && errno != EINPROGRESS) {
        close(c);
        return -1;
    }
    return c;
}

/* A connected TCP pair over loopback: *c the client, *s the accepted end. */
static int tcp_pair(int family, int *c, int *s) {
    int port, l = listener(family, &port, 4);
    *c = *s = -1;
    if (l < 0) return -1;
    *c = dial(family, port, 0);
    *s = (*c >= 0 && readable(l, 3000)) ? accept(l, NULL, NULL) : -1;
    close(l);
    return (*c >= 0 && *s >= 0) ? 0 : -1;
}

/* A UDP socket bound to the loopback of `family` on an ephemeral port. */
static int udp_bound(int family, int *port) {
    int u = socket(family, SOCK_DGRAM, 0);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = v4("127.0.0.1", 0);
        r = bind(u, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = v6("::1", 0);
        r = bind(u, (struct sockaddr *)&a, sizeof a);
    }
    if (r != 0) {
        close(u);
        return -1;
    }
    *port = port_of(u);
    return u;
}

/* ---- socket(2) ---- */

static void socket_checks(void) {
    static const struct { const char *name; int family, type, proto; } kinds[] = {
        { "inet-stream", AF_INET, SOCK_STREAM, IPPROTO_TCP },
        { "inet-dgram", AF_INET, SOCK_DGRAM, IPPROTO_UDP },
        { "inet6-stream", AF_INET6, SOCK_STREAM, IPPROTO_TCP },
        { "inet6-dgram", AF_INET6, SOCK_DGRAM, IPPROTO_UDP },
    };
    char name[64];
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int s = socket(kinds[i].family, kinds[i].type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        snprintf(name, sizeof name, "socket-%s", kinds[i].name);
        CHECK(name, s >= 0, "socket: %s", ename(errno));
        snprintf(name, sizeof name, "socket-%s-nonblock", kinds[i].name);
        EQ(name, fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
        snprintf(name, sizeof name, "socket-%s-cloexec", kinds[i].name);
        EQ(name, fcntl(s, F_GETFD), FD_CLOEXEC);
        snprintf(name, sizeof name, "socket-%s-so-type", kinds[i].name);
        EQ(name, intopt(s, SOL_SOCKET, SO_TYPE), kinds[i].type);
        snprintf(name, sizeof name, "socket-%s-so-domain", kinds[i].name);
        EQ(name, intopt(s, SOL_SOCKET, SO_DOMAIN), kinds[i].family);
        snprintf(name, sizeof name, "socket-%s-so-protocol", kinds[i].name);
        EQ(name, intopt(s, SOL_SOCKET, SO_PROTOCOL), kinds[i].proto);
        snprintf(name, sizeof name, "socket-%s-so-error-0", kinds[i].name);
        EQ(name, intopt(s, SOL_SOCKET, SO_ERROR), 0);
        close(s);
        s = socket(kinds[i].family, kinds[i].type, kinds[i].proto);
        snprintf(name, sizeof name, "socket-%s-explicit-protocol-blocking", kinds[i].name);
        CHECK(name, s >= 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK) && fcntl(s, F_GETFD) == 0,
              "fd %d: %s", s, ename(errno));
        close(s);
    }
    ERR("socket-stream-udp-eprotonosupport", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    ERR("socket-dgram-tcp-eprotonosupport", socket(AF_INET6, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
    ERR("socket-bad-flags-einval", socket(AF_INET, SOCK_STREAM | 0x1000000, 0), EINVAL);
    int sv[2];
    ERR("socketpair-inet6-eopnotsupp", socketpair(AF_INET6, SOCK_STREAM, 0, sv), EOPNOTSUPP);
}

/* ---- bind ---- */

static void bind_checks(void) {
    int lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    CHECK("ip-local-port-range-readable", f && fscanf(f, "%d %d", &lo, &hi) == 2, "fopen: %s", ename(errno));
    if (f) fclose(f);

    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    OK("bind-tcp-port-0", bind(t, (struct sockaddr *)&a, sizeof a));
    int p = port_of(t);
    CHECK("bind-tcp-ephemeral-in-range", p >= lo && p <= hi, "port %d not in %d..%d", p, lo, hi);
    ERR("bind-twice-einval", bind(t, (struct sockaddr *)&a, sizeof a), EINVAL);
    int t2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in same = v4("127.0.0.1", p);
    ERR("bind-tcp-same-port-eaddrinuse", bind(t2, (struct sockaddr *)&same, sizeof same), EADDRINUSE);
    struct sockaddr_in any = v4("0.0.0.0", p);
    ERR("bind-tcp-any-same-port-eaddrinuse", bind(t2, (struct sockaddr *)&any, sizeof any), EADDRINUSE);
    close(t2);
    close(t);

    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a6 = v6("::1", 0);
    OK("bind-udp6-port-0", bind(u, (struct sockaddr *)&a6, sizeof a6));
    p = port_of(u);
    CHECK("bind-udp6-ephemeral-in-range", p >= lo && p <= hi, "port %d not in %d..%d", p, lo, hi);
    close(u);

    t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in far = v4("192.0.2.1", 0);
    ERR("bind-foreign-address-eaddrnotavail", bind(t, (struct sockaddr *)&far, sizeof far), EADDRNOTAVAIL);
    ERR("bind-short-address-einval", bind(t, (struct sockaddr *)&a, 8), EINVAL);
    struct sockaddr_in wrong = a;
    wrong.sin_family = AF_INET6;
    ERR("bind-wrong-family-eafnosupport", bind(t, (struct sockaddr *)&wrong, sizeof wrong), EAFNOSUPPORT);
    close(t);
    t = socket(AF_INET6, SOCK_STREAM, 0);
    ERR("bind6-v4-address-einval", bind(t, (struct sockaddr *)&a, sizeof a), EINVAL);
    close(t);

    /* Rebinding a port a closed connection used: SO_REUSEADDR lets it. */
    int port, c, s;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setint(l, SOL_SOCKET, SO_REUSEADDR, 1);
    struct sockaddr_in lo0 = v4("127.0.0.1", 0);
    bind(l, (struct sockaddr *)&lo0, sizeof lo0);
    listen(l, 4);
    port = port_of(l);
    c = dial(AF_INET, port, 0);
    s = readable(l, 3000) ? accept(l, NULL, NULL) : -1;
    close(s);
    readable(c, 1000);
    close(c);
    close(l);
    l = socket(AF_INET, SOCK_STREAM, 0);
    setint(l, SOL_SOCKET, SO_REUSEADDR, 1);
    EQ("so-reuseaddr-get", intopt(l, SOL_SOCKET, SO_REUSEADDR), 1);
    struct sockaddr_in again = v4("127.0.0.1", port);
    OK("so-reuseaddr-rebind-after-close", bind(l, (struct sockaddr *)&again, sizeof again));
    OK("so-reuseaddr-relisten", listen(l, 4));
    t = socket(AF_INET, SOCK_STREAM, 0);
    setint(t, SOL_SOCKET, SO_REUSEADDR, 1);
    ERR("so-reuseaddr-listener-still-eaddrinuse", bind(t, (struct sockaddr *)&again, sizeof again), EADDRINUSE);
    close(t);
    close(l);

    /* 0.0.0.0:P and [::]:P: together only with IPV6_V6ONLY. */
    int four = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any0 = v4("0.0.0.0", 0);
    bind(four, (struct sockaddr *)&any0, sizeof any0);
    p = port_of(four);
    int six = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any6 = v6("::", p);
    ERR("bind-dual-beside-v4-eaddrinuse", bind(six, (struct sockaddr *)&any6, sizeof any6), EADDRINUSE);
    close(six);
    six = socket(AF_INET6, SOCK_STREAM, 0);
    OK("ipv6-v6only-set", setint(six, IPPROTO_IPV6, IPV6_V6ONLY, 1));
    OK("bind-v6only-beside-v4", bind(six, (struct sockaddr *)&any6, sizeof any6));
    ERR("ipv6-v6only-after-bind-einval", setint(six, IPPROTO_IPV6, IPV6_V6ONLY, 0), EINVAL);
    close(six);
    close(four);
    six = socket(AF_INET6, SOCK_STREAM, 0);
    any6 = v6("::", 0);
    bind(six, (struct sockaddr *)&any6, sizeof any6);
    p = port_of(six);
    four = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in anyp = v4("0.0.0.0", p);
    ERR("bind-v4-beside-dual-eaddrinuse", bind(four, (struct sockaddr *)&anyp, sizeof anyp), EADDRINUSE);
    close(four);
    close(six);

    /* v4-mapped addresses on a dual-stack socket. */
    six = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 mapped = v6("::ffff:127.0.0.1", 0);
    OK("bind-v4-mapped", bind(six, (struct sockaddr *)&mapped, sizeof mapped));
    struct sockaddr_in6 got;
    socklen_t len = sizeof got;
    getsockname(six, (struct sockaddr *)&got, &len);
    char txt[64] = "";
    inet_ntop(AF_INET6, &got.sin6_addr, txt, sizeof txt);
    CHECK("getsockname-v4-mapped", len == sizeof got && got.sin6_family == AF_INET6 && !strcmp(txt, "::ffff:127.0.0.1"),
          "len %u family %d addr %s", len, got.sin6_family, txt);
    listen(six, 4);
    port = port_of(six);
    c = dial(AF_INET, port, 0);
    s = (c >= 0 && readable(six, 3000)) ? accept(six, (struct sockaddr *)&got, &len) : -1;
    CHECK("v4-mapped-listener-accepts-v4", s >= 0, "connect or accept failed: %s", ename(errno));
    inet_ntop(AF_INET6, &got.sin6_addr, txt, sizeof txt);
    CHECK("v4-mapped-accept-peer", s >= 0 && got.sin6_family == AF_INET6 && !strcmp(txt, "::ffff:127.0.0.1") && ntohs(got.sin6_port) == port_of(c),
          "family %d addr %s port %d (client %d)", got.sin6_family, txt, ntohs(got.sin6_port), port_of(c));
    close(s);
    close(c);
    close(six);
    six = socket(AF_INET6, SOCK_STREAM, 0);
    setint(six, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    ERR("bind-v4-mapped-v6only-einval", bind(six, (struct sockaddr *)&mapped, sizeof mapped), EINVAL);
    close(six);

    /* A dual-stack client reaches an IPv4 listener through a mapped address. */
    l = listener(AF_INET, &port, 4);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 to = v6("::ffff:127.0.0.1", port);
    OK("connect-v4-mapped-to-v4-listener", connect(c, (struct sockaddr *)&to, sizeof to));
    len = sizeof got;
    getsockname(c, (struct sockaddr *)&got, &len);
    inet_ntop(AF_INET6, &got.sin6_addr, txt, sizeof txt);
    CHECK("connect-v4-mapped-local-name", got.sin6_family == AF_INET6 && !strcmp(txt, "::ffff:127.0.0.1"),
          "family %d addr %s", got.sin6_family, txt);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    s = readable(l, 3000) ? accept(l, (struct sockaddr *)&peer, &plen) : -1;
    CHECK("v4-listener-sees-v4-peer", s >= 0 && plen == sizeof peer && peer.sin_family == AF_INET && ntohs(peer.sin_port) == port_of(c),
          "fd %d len %u family %d", s, plen, peer.sin_family);
    close(s);
    close(c);
    close(l);
}

/* ---- listen, accept, connect, names ---- */

static void connect_checks(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    EQ("so-acceptconn-before-listen", intopt(l, SOL_SOCKET, SO_ACCEPTCONN), 0);
    OK("listen-unbound-autobinds", listen(l, 4));
    EQ("so-acceptconn-listening", intopt(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &len);
    CHECK("listen-unbound-name", got.sin_addr.s_addr == htonl(INADDR_ANY) && ntohs(got.sin_port) != 0,
          "addr %#x port %d", ntohl(got.sin_addr.s_addr), ntohs(got.sin_port));
    EQ("poll-listener-empty", bits(l, POLLIN | POLLOUT, 0), 0);
    fcntl(l, F_SETFL, O_NONBLOCK);
    ERR("accept-empty-nonblock-eagain", accept(l, NULL, NULL), EAGAIN);
    int port = ntohs(got.sin_port);
    int c = dial(AF_INET, port, 0);
    CHECK("connect-blocking", c >= 0, "connect: %s", ename(errno));
    EQ("poll-listener-pending", bits(l, POLLIN, 3000), POLLIN);
    ERR("accept4-bad-flags-einval", accept4(l, NULL, NULL, O_APPEND), EINVAL);
    struct sockaddr_in peer = {0};
    socklen_t plen = sizeof peer;
    int s = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK("accept4", s >= 0, "accept4: %s", ename(errno));
    EQ("accept4-nonblock", fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    EQ("accept4-cloexec", fcntl(s, F_GETFD), FD_CLOEXEC);
    CHECK("accept-peer-address", plen == sizeof peer && peer.sin_family == AF_INET && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(peer.sin_port) == port_of(c),
          "len %u family %d addr %#x port %d (client %d)", plen, peer.sin_family, ntohl(peer.sin_addr.s_addr), ntohs(peer.sin_port), port_of(c));
    len = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &len);
    CHECK("accepted-local-name", got.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(got.sin_port) == port,
          "addr %#x port %d", ntohl(got.sin_addr.s_addr), ntohs(got.sin_port));
    len = sizeof got;
    OK("getpeername-client", getpeername(c, (struct sockaddr *)&got, &len));
    CHECK("getpeername-client-value", len == sizeof got && got.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(got.sin_port) == port,
          "len %u addr %#x port %d", len, ntohl(got.sin_addr.s_addr), ntohs(got.sin_port));
    len = sizeof got;
    getsockname(c, (struct sockaddr *)&got, &len);
    CHECK("getsockname-client-loopback", got.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(got.sin_port) != 0,
          "addr %#x port %d", ntohl(got.sin_addr.s_addr), ntohs(got.sin_port));
    ERR("connect-again-eisconn", connect(c, (struct sockaddr *)&got, len), EISCONN);
    ERR("accept-not-listening-einval", accept(c, NULL, NULL), EINVAL);
    ERR("listen-connected-einval", listen(c, 4), EINVAL);
    close(s);
    /* accept(2) does not pass the listener's O_NONBLOCK on. */
    int c2 = dial(AF_INET, port, 0);
    s = readable(l, 3000) ? accept(l, NULL, NULL) : -1;
    EQ("accept-no-inherit-nonblock", fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    close(s);
    close(c2);
    close(c);

    /* Non-blocking connect: EINPROGRESS, then writable and SO_ERROR 0. */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in dst = v4("127.0.0.1", port);
    ERR("connect-nonblock-einprogress", connect(c, (struct sockaddr *)&dst, sizeof dst), EINPROGRESS);
    EQ("connect-nonblock-pollout", bits(c, POLLOUT, 3000), POLLOUT);
    EQ("connect-nonblock-so-error-0", intopt(c, SOL_SOCKET, SO_ERROR), 0);
    /* The call after EINPROGRESS reports the outcome: 0; the next, EISCONN. */
    OK("connect-nonblock-done-0", connect(c, (struct sockaddr *)&dst, sizeof dst));
    ERR("connect-nonblock-done-eisconn", connect(c, (struct sockaddr *)&dst, sizeof dst), EISCONN);
    close(c);
    close(l);

    /* The port is closed now: refused, blocking and via SO_ERROR. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    ERR("connect-closed-port-econnrefused", connect(c, (struct sockaddr *)&dst, sizeof dst), ECONNREFUSED);
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ERR("connect-nonblock-closed-port-einprogress", connect(c, (struct sockaddr *)&dst, sizeof dst), EINPROGRESS);
    int b = bits(c, POLLOUT, 3000);
    CHECK("connect-refused-poll", (b & (POLLOUT | POLLERR | POLLHUP)) == (POLLOUT | POLLERR | POLLHUP), "revents %#x", b);
    EQ("connect-refused-so-error", intopt(c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    EQ("connect-refused-so-error-cleared", intopt(c, SOL_SOCKET, SO_ERROR), 0);
    close(c);

    /* IPv6 names. */
    int l6 = listener(AF_INET6, &port, 4);
    c = dial(AF_INET6, port, 0);
    struct sockaddr_in6 g6;
    len = sizeof g6;
    OK("getpeername6", getpeername(c, (struct sockaddr *)&g6, &len));
    CHECK("getpeername6-value", len == sizeof g6 && g6.sin6_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&g6.sin6_addr) && ntohs(g6.sin6_port) == port,
          "len %u family %d port %d", len, g6.sin6_family, ntohs(g6.sin6_port));
    len = sizeof g6;
    getsockname(c, (struct sockaddr *)&g6, &len);
    CHECK("getsockname6-client", len == sizeof g6 && IN6_IS_ADDR_LOOPBACK(&g6.sin6_addr) && ntohs(g6.sin6_port) != 0,
          "len %u port %d", len, ntohs(g6.sin6_port));
    struct sockaddr_in6 p6;
    socklen_t p6len = sizeof p6;
    s = readable(l6, 3000) ? accept(l6, (struct sockaddr *)&p6, &p6len) : -1;
    CHECK("accept6-peer", s >= 0 && p6len == sizeof p6 && IN6_IS_ADDR_LOOPBACK(&p6.sin6_addr) && p6.sin6_port == g6.sin6_port,
          "fd %d len %u", s, p6len);
    close(s);
    close(c);
    close(l6);
    int u = socket(AF_INET6, SOCK_STREAM, 0);
    len = sizeof g6;
    memset(&g6, 0xff, sizeof g6);
    getsockname(u, (struct sockaddr *)&g6, &len);
    CHECK("getsockname6-unbound", len == sizeof g6 && g6.sin6_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&g6.sin6_addr) && g6.sin6_port == 0,
          "len %u family %d port %d", len, g6.sin6_family, ntohs(g6.sin6_port));
    ERR("getpeername-unconnected-enotconn", getpeername(u, (struct sockaddr *)&g6, &len), ENOTCONN);
    close(u);
    u = socket(AF_INET, SOCK_DGRAM, 0);
    len = sizeof got;
    getsockname(u, (struct sockaddr *)&got, &len);
    CHECK("getsockname-unbound-udp", len == sizeof got && got.sin_family == AF_INET && got.sin_addr.s_addr == 0 && got.sin_port == 0,
          "len %u family %d", len, got.sin_family);
    close(u);
}

/* The backlog: listen(l, 1) queues two connections; a third waits in its
 * handshake (EINPROGRESS, EALREADY), and completes once one is accepted. */
static void backlog_checks(void) {
    int port, l = listener(AF_INET, &port, 1);
    int c1 = dial(AF_INET, port, 0), c2 = dial(AF_INET, port, 0);
    CHECK("backlog-1-queues-two", c1 >= 0 && c2 >= 0, "connect: %s", ename(errno));
    int c3 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in dst = v4("127.0.0.1", port);
    ERR("backlog-full-connect-einprogress", connect(c3, (struct sockaddr *)&dst, sizeof dst), EINPROGRESS);
    EQ("backlog-full-not-writable", bits(c3, POLLOUT, 200), 0);
    ERR("connect-in-progress-ealready", connect(c3, (struct sockaddr *)&dst, sizeof dst), EALREADY);
    int s1 = accept(l, NULL, NULL);
    CHECK("backlog-accept-one", s1 >= 0, "accept: %s", ename(errno));
    EQ("backlog-waiting-connect-completes", bits(c3, POLLOUT, 4000), POLLOUT);
    EQ("backlog-waiting-connect-so-error", intopt(c3, SOL_SOCKET, SO_ERROR), 0);
    int s2 = readable(l, 1000) ? accept(l, NULL, NULL) : -1;
    int s3 = readable(l, 1000) ? accept(l, NULL, NULL) : -1;
    CHECK("backlog-accept-rest", s2 >= 0 && s3 >= 0, "accept: %s", ename(errno));
    EQ("backlog-third-carries-data", (send(c3, "3", 1, 0), readable(s3, 2000) ? recv(s3, (char[4]){0}, 4, 0) : -1), 1);
    close(s1);
    close(s2);
    close(s3);
    close(c1);
    close(c2);
    close(c3);
    close(l);
}

/* ---- data transfer ---- */

static int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static void data_checks(void) {
    int c, s;
    char buf[256];
    CHECK("tcp-pair", tcp_pair(AF_INET, &c, &s) == 0, "%s", ename(errno));
    EQ("poll-connected-idle", bits(c, POLLIN | POLLOUT, 0), POLLOUT);
    EQ("send", send(c, "hello", 5, 0), 5);
    EQ("poll-readable", bits(s, POLLIN, 2000), POLLIN | POLLOUT);
    int n = -1;
    ioctl(s, FIONREAD, &n);
    EQ("fionread-tcp", n, 5);
    n = -1;
    ioctl(s, SIOCINQ, &n);
    EQ("siocinq-tcp", n, 5);
    memset(buf, 0, sizeof buf);
    EQ("recv-msg-peek", recv(s, buf, sizeof buf, MSG_PEEK), 5);
    EQ("recv-after-peek", recv(s, buf, 3, 0), 3);
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    EQ("recvfrom-tcp", recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 2);
    EQ("recvfrom-tcp-no-address", flen, 0);
    ERR("recv-dontwait-eagain", recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    /* SIOCOUTQ: loopback acknowledges at once. */
    int out = -1;
    for (int i = 0; i < 100; i++) {
        if (ioctl(c, SIOCOUTQ, &out) != 0 || out == 0) break;
        sleep_ms(5);
    }
    EQ("siocoutq-acked", out, 0);

    /* Scatter and gather. */
    struct iovec iov[2] = { { "ab", 2 }, { "cdef", 4 } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    EQ("sendmsg-iovecs", sendmsg(c, &mh, 0), 6);
    char x[3] = {0}, y[8] = {0};
    struct iovec riov[2] = { { x, 3 }, { y, sizeof y } };
    struct msghdr rm = { .msg_iov = riov, .msg_iovlen = 2 };
    EQ("recvmsg-iovecs", readable(s, 2000) ? recvmsg(s, &rm, 0) : -1, 6);
    CHECK("recvmsg-iovecs-data", !memcmp(x, "abc", 3) && !memcmp(y, "def", 3), "%.3s|%.3s", x, y);
    EQ("recvmsg-tcp-flags", rm.msg_flags, 0);

    /* MSG_WAITALL: gathers two writes that arrive apart. */
    pid_t pid = fork();
    if (pid == 0) {
        send(c, "wa", 2, 0);
        sleep_ms(100);
        send(c, "it", 2, 0);
        _exit(0);
    }
    memset(buf, 0, sizeof buf);
    EQ("recv-waitall", recv(s, buf, 4, MSG_WAITALL), 4);
    waitpid(pid, NULL, 0);

    /* SO_RCVTIMEO: a blocking recv gives EAGAIN after the timeout. */
    struct timeval tv = { 0, 100000 }, tg = {0};
    OK("so-rcvtimeo-set", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    socklen_t tl = sizeof tg;
    getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tg, &tl);
    CHECK("so-rcvtimeo-get", tg.tv_sec == 0 && tg.tv_usec == 100000, "%ld.%06ld", (long)tg.tv_sec, (long)tg.tv_usec);
    ERR("so-rcvtimeo-short-einval", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 4), EINVAL);
    fcntl(s, F_SETFL, 0);
    long t0 = now_ms();
    ERR("so-rcvtimeo-eagain", recv(s, buf, sizeof buf, 0), EAGAIN);
    long took = now_ms() - t0;
    CHECK("so-rcvtimeo-waited", took >= 80 && took < 3000, "took %ld ms", took);

    /* SO_SNDTIMEO: a full send buffer gives EAGAIN after the timeout. */
    int small = 4096;
    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    fcntl(c, F_SETFL, O_NONBLOCK);
    static char junk[65536];
    long sent = 0;
    int full = 0;
    /* Full: EAGAIN, and no room comes back within 200 ms. */
    for (int i = 0; i < 2000 && !full; i++) {
        ssize_t w = send(c, junk, sizeof junk, 0);
        if (w > 0) sent += w;
        else if (errno != EAGAIN) break;
        else full = !(bits(c, POLLOUT, 200) & POLLOUT);
    }
    CHECK("send-fills-nonblock-eagain", full && sent > 0, "sent %ld, %s", sent, ename(errno));
    EQ("poll-send-full", bits(c, POLLOUT, 0) & POLLOUT, 0);
    fcntl(c, F_SETFL, 0);
    OK("so-sndtimeo-set", setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    t0 = now_ms();
    ERR("so-sndtimeo-eagain", send(c, junk, sizeof junk, 0), EAGAIN);
    took = now_ms() - t0;
    CHECK("so-sndtimeo-waited", took >= 80 && took < 3000, "took %ld ms", took);
    close(c);
    close(s);

    /* Orderly close: EOF; POLLIN|POLLRDHUP, no POLLHUP. */
    tcp_pair(AF_INET, &c, &s);
    close(s);
    EQ("poll-peer-closed", bits(c, POLLIN, 2000), POLLIN | POLLOUT | POLLRDHUP);
    EQ("recv-eof-after-close", recv(c, buf, sizeof buf, 0), 0);
    EQ("recv-eof-again", recv(c, buf, sizeof buf, MSG_DONTWAIT), 0);
    /* Writing to a closed peer: the first send goes (the peer answers with
     * a reset), later ones fail EPIPE and raise SIGPIPE. */
    signal(SIGPIPE, on_sigpipe);
    EQ("send-to-closed-peer-first-succeeds", send(c, "x", 1, 0), 1);
    int e = 0;
    for (int i = 0; i < 10 && !e; i++) {
        if (send(c, "x", 1, MSG_NOSIGNAL) < 0) e = errno;
        else sleep_ms(20);
    }
    EQ("send-after-reset-epipe-nosignal", e, EPIPE);
    EQ("msg-nosignal-no-sigpipe", sigpipes, 0);
    ERR("send-epipe", send(c, "x", 1, 0), EPIPE);
    EQ("sigpipe-raised", sigpipes, 1);
    signal(SIGPIPE, SIG_IGN);
    ERR("write-epipe-ignored", write(c, "x", 1), EPIPE);
    close(c);

    /* Closing with unread data resets the connection. */
    tcp_pair(AF_INET, &c, &s);
    send(c, "unread", 6, 0);
    readable(s, 2000);
    close(s);
    int rb = bits(c, POLLIN, 2000);
    CHECK("poll-reset", (rb & (POLLERR | POLLHUP | POLLIN)) == (POLLERR | POLLHUP | POLLIN), "revents %#x", rb);
    ERR("recv-econnreset", recv(c, buf, sizeof buf, 0), ECONNRESET);
    EQ("recv-after-reset-eof", recv(c, buf, sizeof buf, MSG_DONTWAIT), 0);
    close(c);

    /* Half-close: SHUT_WR gives the peer EOF, the other way still works. */
    tcp_pair(AF_INET6, &c, &s);
    OK("shutdown-wr", shutdown(c, SHUT_WR));
    EQ("poll-after-shut-wr", bits(c, POLLOUT, 0), POLLOUT);
    EQ("poll-peer-of-shut-wr", bits(s, POLLIN, 2000), POLLIN | POLLOUT | POLLRDHUP);
    EQ("shut-wr-peer-eof", recv(s, buf, sizeof buf, 0), 0);
    EQ("shut-wr-peer-sends-back", send(s, "back", 4, 0), 4);
    EQ("shut-wr-reads-reply", readable(c, 2000) ? recv(c, buf, sizeof buf, 0) : -1, 4);
    ERR("send-after-shut-wr-epipe", send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
    OK("shutdown-rd", shutdown(c, SHUT_RD));
    EQ("poll-after-shut-rdwr", bits(c, POLLIN, 0), POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
    EQ("recv-after-shut-rd-eof", recv(c, buf, sizeof buf, 0), 0);
    ERR("shutdown-bad-how-einval", shutdown(c, 7), EINVAL);
    close(c);
    close(s);
    int u = socket(AF_INET, SOCK_STREAM, 0);
    EQ("poll-fresh-tcp", bits(u, POLLOUT, 0), POLLOUT | POLLHUP);
    ERR("send-unconnected-epipe", send(u, "x", 1, MSG_NOSIGNAL), EPIPE);
    ERR("recv-unconnected-enotconn", recv(u, buf, sizeof buf, MSG_DONTWAIT), ENOTCONN);
    ERR("shutdown-unconnected-enotconn", shutdown(u, SHUT_RDWR), ENOTCONN);
    close(u);
    u = socket(AF_INET, SOCK_STREAM, 0);
    n = -1;
    listen(u, 1);
    ERR("fionread-listener-einval", ioctl(u, FIONREAD, &n), EINVAL);
    close(u);
}

/* ---- UDP ---- */

static void udp_checks(void) {
    int p1, p2;
    int a = udp_bound(AF_INET, &p1), b = udp_bound(AF_INET, &p2);
    char buf[64];
    EQ("poll-udp-idle", bits(a, POLLIN | POLLOUT, 0), POLLOUT);
    struct sockaddr_in to = v4("127.0.0.1", p2);
    EQ("udp-sendto", sendto(a, "dgram", 5, 0, (struct sockaddr *)&to, sizeof to), 5);
    EQ("poll-udp-readable", bits(b, POLLIN, 2000), POLLIN | POLLOUT);
    int n = -1;
    ioctl(b, FIONREAD, &n);
    EQ("fionread-udp-next-datagram", n, 5);
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    EQ("udp-recvfrom", recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 5);
    CHECK("udp-recvfrom-address", flen == sizeof from && from.sin_family == AF_INET && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(from.sin_port) == p1,
          "len %u family %d addr %#x port %d", flen, from.sin_family, ntohl(from.sin_addr.s_addr), ntohs(from.sin_port));
    sendto(a, "truncated", 9, 0, (struct sockaddr *)&to, sizeof to);
    readable(b, 2000);
    EQ("udp-msg-trunc-real-length", recv(b, buf, 3, MSG_TRUNC | MSG_PEEK), 9);
    struct iovec iov = { buf, 3 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EQ("udp-recvmsg-truncated", recvmsg(b, &mh, 0), 3);
    EQ("udp-recvmsg-msg-trunc-flag", mh.msg_flags & MSG_TRUNC, MSG_TRUNC);
    sendto(a, "", 0, 0, (struct sockaddr *)&to, sizeof to);
    EQ("udp-empty-datagram", readable(b, 2000) ? recv(b, buf, sizeof buf, 0) : -1, 0);
    ERR("udp-recv-dontwait-eagain", recv(b, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    ERR("udp-send-unconnected-edestaddrreq", send(c, "x", 1, 0), EDESTADDRREQ);
    struct sockaddr_in6 wrong = v6("::1", p2);
    ERR("udp-sendto-wrong-family-eafnosupport", sendto(c, "x", 1, 0, (struct sockaddr *)&wrong, sizeof wrong), EAFNOSUPPORT);
    close(c);

    /* sendmmsg and recvmmsg. */
    struct mmsghdr ms[3];
    struct iovec sv[3] = { { "one", 3 }, { "three", 5 }, { "seventeen", 9 } };
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 3; i++) {
        ms[i].msg_hdr.msg_iov = &sv[i];
        ms[i].msg_hdr.msg_iovlen = 1;
        ms[i].msg_hdr.msg_name = &to;
        ms[i].msg_hdr.msg_namelen = sizeof to;
    }
    EQ("sendmmsg", sendmmsg(a, ms, 3, 0), 3);
    CHECK("sendmmsg-lengths", ms[0].msg_len == 3 && ms[1].msg_len == 5 && ms[2].msg_len == 9, "%u %u %u", ms[0].msg_len, ms[1].msg_len, ms[2].msg_len);
    struct mmsghdr mr[4];
    char rb[4][16];
    struct iovec rv[4];
    struct sockaddr_in names[4];
    memset(mr, 0, sizeof mr);
    for (int i = 0; i < 4; i++) {
        rv[i] = (struct iovec){ rb[i], sizeof rb[i] };
        mr[i].msg_hdr.msg_iov = &rv[i];
        mr[i].msg_hdr.msg_iovlen = 1;
        mr[i].msg_hdr.msg_name = &names[i];
        mr[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    readable(b, 2000);
    EQ("recvmmsg", recvmmsg(b, mr, 4, MSG_DONTWAIT, NULL), 3);
    CHECK("recvmmsg-lengths", mr[0].msg_len == 3 && mr[1].msg_len == 5 && mr[2].msg_len == 9, "%u %u %u", mr[0].msg_len, mr[1].msg_len, mr[2].msg_len);
    CHECK("recvmmsg-names", mr[2].msg_hdr.msg_namelen == sizeof to && ntohs(names[2].sin_port) == p1,
          "namelen %u port %d", mr[2].msg_hdr.msg_namelen, ntohs(names[2].sin_port));

    /* A connected UDP socket takes only its peer's datagrams. */
    OK("udp-connect", connect(b, (struct sockaddr *)&(struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(p1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, sizeof to));
    struct sockaddr_in pn;
    socklen_t pl = sizeof pn;
    OK("udp-getpeername", getpeername(b, (struct sockaddr *)&pn, &pl));
    EQ("udp-getpeername-port", ntohs(pn.sin_port), p1);
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in bto = v4("127.0.0.1", p2);
    sendto(other, "stranger", 8, 0, (struct sockaddr *)&bto, sizeof bto);
    sendto(a, "friend", 6, 0, (struct sockaddr *)&bto, sizeof bto);
    memset(buf, 0, sizeof buf);
    CHECK("udp-connected-filters-strangers", readable(b, 2000) && recv(b, buf, sizeof buf, 0) == 6 && !memcmp(buf, "friend", 6), "got %s", buf);
    ERR("udp-connected-nothing-else", recv(b, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    EQ("udp-connected-send", send(b, "reply", 5, 0), 5);
    EQ("udp-connected-write", write(b, "write", 5), 5);
    EQ("udp-peer-gets-both", (readable(a, 2000), recv(a, buf, sizeof buf, 0) + recv(a, buf, sizeof buf, MSG_DONTWAIT)), 10);
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    OK("udp-connect-unspec", connect(b, &unspec, sizeof unspec));
    pl = sizeof pn;
    ERR("udp-unspec-getpeername-enotconn", getpeername(b, (struct sockaddr *)&pn, &pl), ENOTCONN);
    ERR("udp-unspec-send-edestaddrreq", send(b, "x", 1, 0), EDESTADDRREQ);
    close(other);

    /* A datagram to a port nobody holds is dropped; a connected socket
     * then learns ECONNREFUSED (once) from its next call. */
    int gone = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in g = v4("127.0.0.1", 0);
    bind(gone, (struct sockaddr *)&g, sizeof g);
    int pg = port_of(gone);
    close(gone);
    struct sockaddr_in dead = v4("127.0.0.1", pg);
    EQ("udp-sendto-closed-port-succeeds", sendto(a, "lost", 4, 0, (struct sockaddr *)&dead, sizeof dead), 4);
    EQ("udp-unconnected-no-error", bits(a, POLLIN, 100), POLLOUT);
    ERR("udp-unconnected-recv-eagain", recv(a, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    OK("udp-connect-closed-port", connect(c, (struct sockaddr *)&dead, sizeof dead));
    EQ("udp-connected-closed-port-send", send(c, "lost", 4, 0), 4);
    int eb = bits(c, POLLIN, 1000);
    EQ("udp-connected-closed-port-pollerr", eb & POLLERR, POLLERR);
    ERR("udp-connected-closed-port-recv-econnrefused", recv(c, buf, sizeof buf, MSG_DONTWAIT), ECONNREFUSED);
    ERR("udp-connected-error-reported-once", recv(c, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    send(c, "lost", 4, 0);
    bits(c, POLLIN, 1000);
    ERR("udp-connected-closed-port-send-econnrefused", send(c, "lost", 4, 0), ECONNREFUSED);
    send(c, "lost", 4, 0);
    bits(c, POLLIN, 1000);
    EQ("udp-connected-closed-port-so-error", intopt(c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    close(c);
    close(a);
    close(b);

    /* IPv6, and IPv4 arriving at a dual-stack socket. */
    int a6 = udp_bound(AF_INET6, &p1), d6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 any6 = v6("::", 0);
    bind(d6, (struct sockaddr *)&any6, sizeof any6);
    p2 = port_of(d6);
    struct sockaddr_in6 to6 = v6("::1", p2);
    EQ("udp6-sendto", sendto(a6, "six", 3, 0, (struct sockaddr *)&to6, sizeof to6), 3);
    struct sockaddr_in6 f6;
    flen = sizeof f6;
    char t6[64] = "";
    EQ("udp6-recvfrom", readable(d6, 2000) ? recvfrom(d6, buf, sizeof buf, 0, (struct sockaddr *)&f6, &flen) : -1, 3);
    inet_ntop(AF_INET6, &f6.sin6_addr, t6, sizeof t6);
    CHECK("udp6-recvfrom-address", flen == sizeof f6 && f6.sin6_family == AF_INET6 && !strcmp(t6, "::1") && ntohs(f6.sin6_port) == p1,
          "len %u family %d addr %s port %d", flen, f6.sin6_family, t6, ntohs(f6.sin6_port));
    int a4 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to4 = v4("127.0.0.1", p2);
    EQ("udp-v4-to-dual", sendto(a4, "four", 4, 0, (struct sockaddr *)&to4, sizeof to4), 4);
    flen = sizeof f6;
    EQ("udp-dual-recv-v4", readable(d6, 2000) ? recvfrom(d6, buf, sizeof buf, 0, (struct sockaddr *)&f6, &flen) : -1, 4);
    inet_ntop(AF_INET6, &f6.sin6_addr, t6, sizeof t6);
    CHECK("udp-dual-recv-v4-mapped-address", flen == sizeof f6 && f6.sin6_family == AF_INET6 && !strcmp(t6, "::ffff:127.0.0.1") && ntohs(f6.sin6_port) == port_of(a4),
          "len %u family %d addr %s", flen, f6.sin6_family, t6);
    close(a4);
    close(a6);
    close(d6);
}

/* ---- socket options ---- */

static void option_checks(void) {
    int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
    int t6 = socket(AF_INET6, SOCK_STREAM, 0);
    EQ("so-keepalive-default", intopt(t, SOL_SOCKET, SO_KEEPALIVE), 0);
    setint(t, SOL_SOCKET, SO_KEEPALIVE, 1);
    EQ("so-keepalive-set", intopt(t, SOL_SOCKET, SO_KEEPALIVE), 1);
    struct linger lg = { 1, 5 }, lgot = { -1, -1 };
    socklen_t len = sizeof lgot;
    getsockopt(t, SOL_SOCKET, SO_LINGER, &lgot, &len);
    CHECK("so-linger-default", lgot.l_onoff == 0 && lgot.l_linger == 0 && len == sizeof lgot, "%d %d", lgot.l_onoff, lgot.l_linger);
    OK("so-linger-set", setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    len = sizeof lgot;
    getsockopt(t, SOL_SOCKET, SO_LINGER, &lgot, &len);
    CHECK("so-linger-get", lgot.l_onoff == 1 && lgot.l_linger == 5, "%d %d", lgot.l_onoff, lgot.l_linger);
    ERR("so-linger-short-einval", setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, 4), EINVAL);
    setint(t, SOL_SOCKET, SO_RCVBUF, 8192);
    EQ("so-rcvbuf-doubled", intopt(t, SOL_SOCKET, SO_RCVBUF), 16384);
    setint(u, SOL_SOCKET, SO_SNDBUF, 8192);
    EQ("so-sndbuf-doubled", intopt(u, SOL_SOCKET, SO_SNDBUF), 16384);
    CHECK("so-rcvbuf-default-positive", intopt(u, SOL_SOCKET, SO_RCVBUF) > 0, "%d", intopt(u, SOL_SOCKET, SO_RCVBUF));
    ERR("so-unknown-enoprotoopt", setint(t, SOL_SOCKET, 9999, 1), ENOPROTOOPT);
    int v = 0;
    len = sizeof v;
    ERR("getsockopt-unknown-enoprotoopt", getsockopt(t, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);

    EQ("tcp-nodelay-default", intopt(t, IPPROTO_TCP, TCP_NODELAY), 0);
    setint(t, IPPROTO_TCP, TCP_NODELAY, 1);
    EQ("tcp-nodelay-set", intopt(t, IPPROTO_TCP, TCP_NODELAY), 1);
    EQ("tcp-keepidle-default", intopt(t, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
    EQ("tcp-keepintvl-default", intopt(t, IPPROTO_TCP, TCP_KEEPINTVL), 75);
    EQ("tcp-keepcnt-default", intopt(t, IPPROTO_TCP, TCP_KEEPCNT), 9);
    setint(t, IPPROTO_TCP, TCP_KEEPIDLE, 30);
    setint(t, IPPROTO_TCP, TCP_KEEPINTVL, 5);
    setint(t, IPPROTO_TCP, TCP_KEEPCNT, 3);
    CHECK("tcp-keepalive-tuning-set", intopt(t, IPPROTO_TCP, TCP_KEEPIDLE) == 30 && intopt(t, IPPROTO_TCP, TCP_KEEPINTVL) == 5 && intopt(t, IPPROTO_TCP, TCP_KEEPCNT) == 3,
          "%d %d %d", intopt(t, IPPROTO_TCP, TCP_KEEPIDLE), intopt(t, IPPROTO_TCP, TCP_KEEPINTVL), intopt(t, IPPROTO_TCP, TCP_KEEPCNT));
    ERR("tcp-keepidle-0-einval", setint(t, IPPROTO_TCP, TCP_KEEPIDLE, 0), EINVAL);
    ERR("tcp-keepcnt-0-einval", setint(t, IPPROTO_TCP, TCP_KEEPCNT, 0), EINVAL);
    ERR("tcp-unknown-enoprotoopt", setint(t, IPPROTO_TCP, 9999, 1), ENOPROTOOPT);
    ERR("tcp-option-on-udp-enoprotoopt", setint(u, IPPROTO_TCP, TCP_NODELAY, 1), ENOPROTOOPT);

    EQ("ip-ttl-default", intopt(t, IPPROTO_IP, IP_TTL), 64);
    setint(t, IPPROTO_IP, IP_TTL, 32);
    EQ("ip-ttl-set", intopt(t, IPPROTO_IP, IP_TTL), 32);
    ERR("ip-ttl-0-einval", setint(t, IPPROTO_IP, IP_TTL, 0), EINVAL);
    ERR("ip-ttl-256-einval", setint(t, IPPROTO_IP, IP_TTL, 256), EINVAL);
    setint(t, IPPROTO_IP, IP_TTL, -1);
    EQ("ip-ttl-minus-1-default", intopt(t, IPPROTO_IP, IP_TTL), 64);
    EQ("ip-tos-default", intopt(u, IPPROTO_IP, IP_TOS), 0);
    setint(u, IPPROTO_IP, IP_TOS, 0x10);
    EQ("ip-tos-set", intopt(u, IPPROTO_IP, IP_TOS), 0x10);
    EQ("ip-pktinfo-default", intopt(u, IPPROTO_IP, IP_PKTINFO), 0);
    EQ("ipv6-v6only-default", intopt(t6, IPPROTO_IPV6, IPV6_V6ONLY), 0);
    setint(t6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    EQ("ipv6-v6only-get", intopt(t6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    ERR("ipv6-option-on-inet-enoprotoopt", setint(t, IPPROTO_IPV6, IPV6_V6ONLY, 1), ENOPROTOOPT);
    EQ("ipv6-unicast-hops-default", intopt(t6, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
    close(t);
    close(u);
    close(t6);

    /* SO_RCVTIMEO bounds accept too. */
    int port, l = listener(AF_INET, &port, 1);
    struct timeval tv = { 0, 100000 };
    setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    long t0 = now_ms();
    ERR("accept-rcvtimeo-eagain", accept(l, NULL, NULL), EAGAIN);
    long took = now_ms() - t0;
    CHECK("accept-rcvtimeo-waited", took >= 80 && took < 3000, "took %ld ms", took);
    close(l);

    /* An accepted connection inherits the listener's options. */
    l = listener(AF_INET, &port, 1);
    setint(l, IPPROTO_IP, IP_TTL, 42);
    setint(l, IPPROTO_TCP, TCP_NODELAY, 1);
    int ic = dial(AF_INET, port, 0);
    int is = (ic >= 0 && readable(l, 2000)) ? accept(l, NULL, NULL) : -1;
    CHECK("accepted-inherits-options", intopt(is, IPPROTO_IP, IP_TTL) == 42 && intopt(is, IPPROTO_TCP, TCP_NODELAY) == 1,
          "IP_TTL %d TCP_NODELAY %d", intopt(is, IPPROTO_IP, IP_TTL), intopt(is, IPPROTO_TCP, TCP_NODELAY));
    close(is);
    close(ic);
    close(l);

    /* IP_PKTINFO: where a datagram arrived. */
    int p1, p2;
    int a = udp_bound(AF_INET, &p1);
    int b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = v4("0.0.0.0", 0);
    bind(b, (struct sockaddr *)&any, sizeof any);
    p2 = port_of(b);
    OK("ip-pktinfo-set", setint(b, IPPROTO_IP, IP_PKTINFO, 1));
    EQ("ip-pktinfo-get", intopt(b, IPPROTO_IP, IP_PKTINFO), 1);
    struct sockaddr_in to = v4("127.0.0.1", p2);
    sendto(a, "pi", 2, 0, (struct sockaddr *)&to, sizeof to);
    char data[8];
    struct iovec iov = { data, sizeof data };
    union { struct cmsghdr h; char buf[256]; } cu;
    memset(&cu, 0, sizeof cu);
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    EQ("ip-pktinfo-recvmsg", readable(b, 2000) ? recvmsg(b, &mh, 0) : -1, 2);
    struct in_pktinfo pi = {0};
    int found = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO && cm->cmsg_len == CMSG_LEN(sizeof pi)) {
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            found = 1;
        }
    }
    CHECK("ip-pktinfo-cmsg", found && pi.ipi_ifindex == 1 && pi.ipi_addr.s_addr == htonl(INADDR_LOOPBACK) && pi.ipi_spec_dst.s_addr == htonl(INADDR_LOOPBACK),
          "found %d ifindex %d addr %#x spec_dst %#x controllen %zu", found, pi.ipi_ifindex, ntohl(pi.ipi_addr.s_addr), ntohl(pi.ipi_spec_dst.s_addr), (size_t)mh.msg_controllen);
    /* Sending with IP_PKTINFO picks the source; loopback delivers it. */
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(struct in_pktinfo))]; } su;
    memset(&su, 0, sizeof su);
    struct iovec siov = { "sp", 2 };
    struct sockaddr_in back = v4("127.0.0.1", p1);
    struct msghdr sm = { .msg_name = &back, .msg_namelen = sizeof back, .msg_iov = &siov, .msg_iovlen = 1, .msg_control = su.buf, .msg_controllen = sizeof su.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&sm);
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo spi = { .ipi_ifindex = 0 };
    spi.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK);
    memcpy(CMSG_DATA(cm), &spi, sizeof spi);
    EQ("ip-pktinfo-sendmsg", sendmsg(b, &sm, 0), 2);
    EQ("ip-pktinfo-sendmsg-arrives", readable(a, 2000) ? recv(a, data, sizeof data, 0) : -1, 2);
    EQ("no-pktinfo-without-option", (sendto(b, "np", 2, 0, (struct sockaddr *)&back, sizeof back), readable(a, 2000),
        mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf },
        recvmsg(a, &mh, 0), (long)mh.msg_controllen), 0);
    close(a);
    close(b);
}

/* ---- TCP_INFO (tcp(7)): Linux's struct tcp_info, read at its offsets
 * (glibc's <netinet/tcp.h> has only the first 104 bytes). ---- */
#define TI_ROOM 512

static int tcpi(int fd, unsigned char *b, socklen_t *len) {
    memset(b, 0xee, TI_ROOM);
    *len = TI_ROOM;
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, b, len);
}

static unsigned long long tcpi_u64(const unsigned char *b, int off) {
    unsigned long long v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

static unsigned tcpi_u32(const unsigned char *b, int off) {
    unsigned v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

/* The tcpi_state of fd once it is `want`, or after `ms` milliseconds. */
static int tcpi_state_within(int fd, int want, int ms) {
    unsigned char b[TI_ROOM];
    socklen_t len;
    for (int waited = 0;; waited += 10) {
        if (tcpi(fd, b, &len) != 0) return -1;
        if (b[0] == want || waited >= ms) return b[0];
        sleep_ms(10);
    }
}

enum { TI_ESTABLISHED = 1, TI_FIN_WAIT2 = 5, TI_CLOSE = 7, TI_CLOSE_WAIT = 8, TI_LISTEN = 10 };

static void tcp_info_checks(void) {
    unsigned char b[TI_ROOM];
    socklen_t len;
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    EQ("tcp-info-unconnected-close", tcpi(fresh, b, &len) == 0 ? b[0] : -1, TI_CLOSE);
    close(fresh);
    /* Not TCP: IPv4 refuses the level, IPv6 the option. */
    int u4 = socket(AF_INET, SOCK_DGRAM, 0), u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    ERR("tcp-info-udp-eopnotsupp", tcpi(u4, b, &len), EOPNOTSUPP);
    ERR("tcp-info-udp6-enoprotoopt", tcpi(u6, b, &len), ENOPROTOOPT);
    close(u4);
    close(u6);
    int port, l = listener(AF_INET, &port, 4);
    EQ("tcp-info-listen", tcpi(l, b, &len) == 0 ? b[0] : -1, TI_LISTEN);
    /* Linux copies min(len, sizeof) and says how much. */
    CHECK("tcp-info-full-length", len >= 232 && len < TI_ROOM && b[len] == 0xee, "len %u", (unsigned)len);
    memset(b, 0xee, sizeof b);
    socklen_t shortlen = 8;
    int r = getsockopt(l, IPPROTO_TCP, TCP_INFO, b, &shortlen);
    CHECK("tcp-info-short-length", r == 0 && shortlen == 8 && b[0] == TI_LISTEN && b[8] == 0xee,
          "r %d len %u state %d b[8] %#x", r, (unsigned)shortlen, b[0], b[8]);
    close(l);

    int c, s;
    if (tcp_pair(AF_INET, &c, &s) != 0) {
        fail("tcp-info-pair", "no connection");
        return;
    }
    EQ("tcp-info-established-client", tcpi(c, b, &len) == 0 ? b[0] : -1, TI_ESTABLISHED);
    EQ("tcp-info-established-server", tcpi(s, b, &len) == 0 ? b[0] : -1, TI_ESTABLISHED);
    CHECK("tcp-info-mss", tcpi(c, b, &len) == 0 && tcpi_u32(b, 16) > 0 && tcpi_u32(b, 16) < 65536 && tcpi_u32(b, 84) > 0 && tcpi_u32(b, 84) < 65536,
          "snd_mss %u advmss %u", tcpi_u32(b, 16), tcpi_u32(b, 84));
    char buf[3000];
    memset(buf, 'i', sizeof buf);
    EQ("tcp-info-write", write(c, buf, sizeof buf), (long)sizeof buf);
    int got = 0;
    while (got < (int)sizeof buf && readable(s, 2000)) {
        ssize_t n = read(s, buf, sizeof buf - got);
        if (n <= 0) break;
        got += n;
    }
    EQ("tcp-info-read", got, (long)sizeof buf);
    unsigned long long acked = 0;
    for (int waited = 0; waited < 2000; waited += 10) {
        if (tcpi(c, b, &len) == 0 && (acked = tcpi_u64(b, 120)) > sizeof buf) break;
        sleep_ms(10);
    }
    /* Linux counts the SYN's sequence number among the bytes acked. */
    EQ("tcp-info-bytes-acked", acked, (long)sizeof buf + 1);
    EQ("tcp-info-bytes-received", tcpi(s, b, &len) == 0 ? (long long)tcpi_u64(b, 128) : -1, (long)sizeof buf);
    CHECK("tcp-info-data-segs-in", tcpi_u32(b, 152) >= 1 && tcpi_u32(b, 152) < 100 && tcpi_u32(b, 140) >= 1 && tcpi_u32(b, 140) < 100,
          "data_segs_in %u segs_in %u", tcpi_u32(b, 152), tcpi_u32(b, 140));
    CHECK("tcp-info-data-segs-out", tcpi(c, b, &len) == 0 && tcpi_u32(b, 156) >= 1 && tcpi_u32(b, 156) < 100 && tcpi_u32(b, 136) >= 1 && tcpi_u32(b, 136) < 100,
          "data_segs_out %u segs_out %u", tcpi_u32(b, 156), tcpi_u32(b, 136));
    CHECK("tcp-info-nothing-unacked", tcpi_u32(b, 24) == 0, "unacked %u", tcpi_u32(b, 24));
    /* The states follow the goodbye: FIN from the client... */
    shutdown(c, SHUT_WR);
    EQ("tcp-info-close-wait", tcpi_state_within(s, TI_CLOSE_WAIT, 2000), TI_CLOSE_WAIT);
    EQ("tcp-info-fin-wait2", tcpi_state_within(c, TI_FIN_WAIT2, 2000), TI_FIN_WAIT2);
    /* ... then from the server: the client's socket is done (Linux hands
     * TIME_WAIT to a mini socket of its own). */
    close(s);
    EQ("tcp-info-both-fins-close", tcpi_state_within(c, TI_CLOSE, 2000), TI_CLOSE);
    close(c);

    if (tcp_pair(AF_INET6, &c, &s) == 0) {
        EQ("tcp-info-established-v6", tcpi(c, b, &len) == 0 ? b[0] : -1, TI_ESTABLISHED);
        /* A reset ends it: the survivor is CLOSE. */
        struct linger lg = { 1, 0 };
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(s);
        EQ("tcp-info-reset-close", tcpi_state_within(c, TI_CLOSE, 2000), TI_CLOSE);
        close(c);
    } else {
        fail("tcp-info-established-v6", "no connection");
    }
}

/* ---- SO_REUSEPORT (socket(7)): sockets that all set it before bind, of
 * one effective uid, share a port; connections and datagrams are spread
 * among them. ---- */
static int reuse_bound(int type, int reuse, int port) {
    int fd = socket(AF_INET, type, 0);
    if (reuse) setint(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    struct sockaddr_in a = v4("127.0.0.1", port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void reuseport_checks(void) {
    enum { N = 24 };
    int a = reuse_bound(SOCK_STREAM, 1, 0);
    int port = port_of(a);
    EQ("reuseport-get", intopt(a, SOL_SOCKET, SO_REUSEPORT), 1);
    int b = OK("reuseport-tcp-second-bind", reuse_bound(SOCK_STREAM, 1, port));
    ERR("reuseport-tcp-without-option-eaddrinuse", reuse_bound(SOCK_STREAM, 0, port), EADDRINUSE);
    listen(a, N + 4);
    listen(b, N + 4);
    int conns[N], na = 0, nb = 0;
    for (int i = 0; i < N; i++) conns[i] = dial(AF_INET, port, 0);
    for (int i = 0; i < N; i++) {
        if (readable(a, 0)) {
            int x = accept(a, NULL, NULL);
            if (x >= 0) { na++; close(x); }
        }
        if (readable(b, 0)) {
            int x = accept(b, NULL, NULL);
            if (x >= 0) { nb++; close(x); }
        }
    }
    for (int w = 0; na + nb < N && w < 2000; w += 10) {
        if (readable(a, 5)) { int x = accept(a, NULL, NULL); if (x >= 0) { na++; close(x); } }
        if (readable(b, 5)) { int x = accept(b, NULL, NULL); if (x >= 0) { nb++; close(x); } }
    }
    CHECK("reuseport-tcp-spread", na + nb == N && na > 0 && nb > 0, "a accepted %d, b %d of %d", na, nb, N);
    for (int i = 0; i < N; i++) close(conns[i]);
    close(a);
    int d = dial(AF_INET, port, 0);
    int x = (d >= 0 && readable(b, 2000)) ? accept(b, NULL, NULL) : -1;
    CHECK("reuseport-tcp-survivor-serves", x >= 0, "dial %d accept %d", d, x);
    close(x);
    close(d);
    close(b);

    int u1 = reuse_bound(SOCK_DGRAM, 1, 0);
    port = port_of(u1);
    int u2 = OK("reuseport-udp-second-bind", reuse_bound(SOCK_DGRAM, 1, port));
    ERR("reuseport-udp-without-option-eaddrinuse", reuse_bound(SOCK_DGRAM, 0, port), EADDRINUSE);
    struct sockaddr_in to = v4("127.0.0.1", port);
    for (int i = 0; i < N; i++) {
        int snd = socket(AF_INET, SOCK_DGRAM, 0);
        sendto(snd, "r", 1, 0, (struct sockaddr *)&to, sizeof to);
        close(snd);
    }
    int n1 = 0, n2 = 0;
    char ch;
    for (int w = 0; n1 + n2 < N && w < 2000; w += 10) {
        if (readable(u1, 5)) n1 += recv(u1, &ch, 1, 0) == 1;
        if (readable(u2, 5)) n2 += recv(u2, &ch, 1, 0) == 1;
    }
    CHECK("reuseport-udp-spread", n1 + n2 == N && n1 > 0 && n2 > 0, "u1 got %d, u2 %d of %d", n1, n2, N);
    /* A member connected to a sender gets all of that sender's datagrams
     * (four senders, so that the hash alone would rarely agree). */
    n1 = n2 = 0;
    for (int k = 0; k < 4; k++) {
        int peer = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in lo = v4("127.0.0.1", 0);
        bind(peer, (struct sockaddr *)&lo, sizeof lo);
        struct sockaddr_in peer_addr = v4("127.0.0.1", port_of(peer));
        connect(u2, (struct sockaddr *)&peer_addr, sizeof peer_addr);
        for (int i = 0; i < 2; i++) sendto(peer, "c", 1, 0, (struct sockaddr *)&to, sizeof to);
        for (int w = 0; n1 + n2 < 2 * (k + 1) && w < 2000; w += 10) {
            if (readable(u1, 5)) n1 += recv(u1, &ch, 1, 0) == 1;
            if (readable(u2, 5)) n2 += recv(u2, &ch, 1, 0) == 1;
        }
        close(peer);
    }
    CHECK("reuseport-udp-connected-member-wins", n2 == 8 && n1 == 0, "u1 got %d, connected u2 %d of 8", n1, n2);
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    connect(u2, &unspec, sizeof unspec);
    close(u1);
    int snd = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(snd, "s", 1, 0, (struct sockaddr *)&to, sizeof to);
    EQ("reuseport-udp-survivor-receives", readable(u2, 2000) ? recv(u2, &ch, 1, 0) : -1, 1);
    close(snd);
    close(u2);

    /* The first socket must have it too. */
    int plain = reuse_bound(SOCK_DGRAM, 0, 0);
    ERR("reuseport-first-without-option-eaddrinuse", reuse_bound(SOCK_DGRAM, 1, port_of(plain)), EADDRINUSE);
    close(plain);
}

/* ---- Ancillary data on receive (ip(7), ipv6(7)): the TTL, TOS, hop
 * limit and traffic class the sender used, and IPV6_PKTINFO. ---- */
static struct cmsghdr *find_cmsg(struct msghdr *mh, int level, int type) {
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
        if (cm->cmsg_level == level && cm->cmsg_type == type) return cm;
    return NULL;
}

static int cmsg_int(struct cmsghdr *cm) {
    int v;
    memcpy(&v, CMSG_DATA(cm), sizeof v);
    return v;
}

static void recv_cmsg_checks(void) {
    char data[8];
    struct iovec iov = { data, sizeof data };
    union { struct cmsghdr h; char buf[512]; } cu;
    struct msghdr mh;

    int p, r = udp_bound(AF_INET, &p);
    OK("ip-recvttl-set", setint(r, IPPROTO_IP, IP_RECVTTL, 1));
    OK("ip-recvtos-set", setint(r, IPPROTO_IP, IP_RECVTOS, 1));
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    setint(s, IPPROTO_IP, IP_TTL, 33);
    setint(s, IPPROTO_IP, IP_TOS, 0x10);
    struct sockaddr_in to = v4("127.0.0.1", p);
    sendto(s, "tt", 2, 0, (struct sockaddr *)&to, sizeof to);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    EQ("ip-recvttl-recvmsg", readable(r, 2000) ? recvmsg(r, &mh, 0) : -1, 2);
    struct cmsghdr *cm = find_cmsg(&mh, IPPROTO_IP, IP_TTL);
    CHECK("ip-recvttl-cmsg", cm && cm->cmsg_len == CMSG_LEN(sizeof(int)) && cmsg_int(cm) == 33,
          "cmsg %p len %zu ttl %d", (void *)cm, cm ? (size_t)cm->cmsg_len : 0, cm ? cmsg_int(cm) : -1);
    cm = find_cmsg(&mh, IPPROTO_IP, IP_TOS);
    CHECK("ip-recvtos-cmsg", cm && cm->cmsg_len == CMSG_LEN(1) && *CMSG_DATA(cm) == 0x10,
          "cmsg %p len %zu tos %#x", (void *)cm, cm ? (size_t)cm->cmsg_len : 0, cm ? *CMSG_DATA(cm) : 0);
    CHECK("ip-recv-cmsg-no-ctrunc", !(mh.msg_flags & MSG_CTRUNC), "flags %#x", mh.msg_flags);
    /* Room for the TTL only: the TOS is cut off, and MSG_CTRUNC says so. */
    sendto(s, "tt", 2, 0, (struct sockaddr *)&to, sizeof to);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = CMSG_SPACE(sizeof(int)) };
    readable(r, 2000);
    recvmsg(r, &mh, 0);
    CHECK("ip-recv-cmsg-ctrunc", (mh.msg_flags & MSG_CTRUNC) && find_cmsg(&mh, IPPROTO_IP, IP_TTL) && !find_cmsg(&mh, IPPROTO_IP, IP_TOS),
          "flags %#x controllen %zu", mh.msg_flags, (size_t)mh.msg_controllen);
    /* A sender with no options: Linux's defaults. */
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(d, "dd", 2, 0, (struct sockaddr *)&to, sizeof to);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    readable(r, 2000);
    recvmsg(r, &mh, 0);
    cm = find_cmsg(&mh, IPPROTO_IP, IP_TTL);
    CHECK("ip-recvttl-default", cm && cmsg_int(cm) == 64, "ttl %d", cm ? cmsg_int(cm) : -1);
    cm = find_cmsg(&mh, IPPROTO_IP, IP_TOS);
    CHECK("ip-recvtos-default", cm && *CMSG_DATA(cm) == 0, "tos %#x", cm ? *CMSG_DATA(cm) : 0xff);
    close(d);
    close(s);
    close(r);

    r = udp_bound(AF_INET6, &p);
    OK("ipv6-recvpktinfo-set", setint(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1));
    OK("ipv6-recvhoplimit-set", setint(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1));
    OK("ipv6-recvtclass-set", setint(r, IPPROTO_IPV6, IPV6_RECVTCLASS, 1));
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    setint(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 17);
    OK("ipv6-tclass-set", setint(s, IPPROTO_IPV6, IPV6_TCLASS, 0x20));
    EQ("ipv6-tclass-get", intopt(s, IPPROTO_IPV6, IPV6_TCLASS), 0x20);
    struct sockaddr_in6 to6 = v6("::1", p);
    sendto(s, "66", 2, 0, (struct sockaddr *)&to6, sizeof to6);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    EQ("ipv6-recv-cmsg-recvmsg", readable(r, 2000) ? recvmsg(r, &mh, 0) : -1, 2);
    cm = find_cmsg(&mh, IPPROTO_IPV6, IPV6_PKTINFO);
    struct in6_pktinfo pi6 = {0};
    if (cm) memcpy(&pi6, CMSG_DATA(cm), sizeof pi6);
    CHECK("ipv6-pktinfo-cmsg", cm && cm->cmsg_len == CMSG_LEN(sizeof pi6) && IN6_IS_ADDR_LOOPBACK(&pi6.ipi6_addr) && pi6.ipi6_ifindex == 1,
          "cmsg %p len %zu ifindex %d", (void *)cm, cm ? (size_t)cm->cmsg_len : 0, pi6.ipi6_ifindex);
    cm = find_cmsg(&mh, IPPROTO_IPV6, IPV6_HOPLIMIT);
    CHECK("ipv6-hoplimit-cmsg", cm && cm->cmsg_len == CMSG_LEN(sizeof(int)) && cmsg_int(cm) == 17,
          "cmsg %p hoplimit %d", (void *)cm, cm ? cmsg_int(cm) : -1);
    cm = find_cmsg(&mh, IPPROTO_IPV6, IPV6_TCLASS);
    CHECK("ipv6-tclass-cmsg", cm && cm->cmsg_len == CMSG_LEN(sizeof(int)) && cmsg_int(cm) == 0x20,
          "cmsg %p tclass %d", (void *)cm, cm ? cmsg_int(cm) : -1);
    /* Without the options, none of them. */
    setint(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, 0);
    setint(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 0);
    setint(r, IPPROTO_IPV6, IPV6_RECVTCLASS, 0);
    sendto(s, "66", 2, 0, (struct sockaddr *)&to6, sizeof to6);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    readable(r, 2000);
    recvmsg(r, &mh, 0);
    EQ("ipv6-no-cmsg-without-options", (long)mh.msg_controllen, 0);
    close(s);
    close(r);

    /* IPv4 to a dual-stack socket: IPV6_PKTINFO with the v4-mapped
     * address, the IP-level TTL, no hop limit. */
    r = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 any6 = v6("::", 0);
    bind(r, (struct sockaddr *)&any6, sizeof any6);
    int one = 1;
    setsockopt(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    setsockopt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one);
    setsockopt(r, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    to = v4("127.0.0.1", port_of(r));
    sendto(s, "44", 2, 0, (struct sockaddr *)&to, sizeof to);
    memset(&cu, 0, sizeof cu);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cu.buf, .msg_controllen = sizeof cu.buf };
    EQ("dual-recv-cmsg-recvmsg", readable(r, 2000) ? recvmsg(r, &mh, 0) : -1, 2);
    cm = find_cmsg(&mh, IPPROTO_IPV6, IPV6_PKTINFO);
    memset(&pi6, 0, sizeof pi6);
    if (cm) memcpy(&pi6, CMSG_DATA(cm), sizeof pi6);
    CHECK("dual-ipv6-pktinfo-v4-mapped", cm && IN6_IS_ADDR_V4MAPPED(&pi6.ipi6_addr) && pi6.ipi6_addr.s6_addr[15] == 1 && pi6.ipi6_ifindex == 1,
          "cmsg %p ifindex %d", (void *)cm, pi6.ipi6_ifindex);
    cm = find_cmsg(&mh, IPPROTO_IP, IP_TTL);
    CHECK("dual-ip-ttl", cm && cmsg_int(cm) == 64, "cmsg %p ttl %d", (void *)cm, cm ? cmsg_int(cm) : -1);
    CHECK("dual-no-hoplimit", !find_cmsg(&mh, IPPROTO_IPV6, IPV6_HOPLIMIT), "an IPV6_HOPLIMIT for IPv4");
    /* No control buffer at all: the messages are lost, and said to be. */
    sendto(s, "44", 2, 0, (struct sockaddr *)&to, sizeof to);
    mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
    readable(r, 2000);
    recvmsg(r, &mh, 0);
    CHECK("recv-cmsg-null-control-ctrunc", mh.msg_flags & MSG_CTRUNC, "flags %#x", mh.msg_flags);
    close(s);
    close(r);
}

/* Signal-driven I/O: O_ASYNC (F_SETFL or FIOASYNC) and an owner make the
 * owner receive SIGIO, or the F_SETSIG signal with si_fd and si_band, when
 * the descriptor becomes readable (nginx's master and workers use it). */
static volatile sig_atomic_t sigio_count, sigio_fd, sigio_code;
static void on_sigio(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    sigio_count++;
    sigio_fd = si->si_fd;
    sigio_code = si->si_code;
}

static int wait_sigio(int count, long ms) {
    for (long w = 0; w < ms && sigio_count < count; w += 2) sleep_ms(2);
    return sigio_count >= count;
}

static void sigio_checks(void) {
    struct sigaction sa = { .sa_sigaction = on_sigio, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGIO, &sa, NULL);
    sigaction(SIGRTMIN + 1, &sa, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
    OK("sigio-f-setown", fcntl(sv[0], F_SETOWN, getpid()));
    EQ("sigio-f-getown", fcntl(sv[0], F_GETOWN), getpid());
    OK("sigio-f-setfl-async", fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_ASYNC));
    CHECK("sigio-f-getfl-async", fcntl(sv[0], F_GETFL) & O_ASYNC, "O_ASYNC not reported");
    sigio_count = 0;
    (void)!write(sv[1], "x", 1);
    CHECK("sigio-on-readable", wait_sigio(1, 2000), "no SIGIO within 2 s");
    char c;
    (void)!read(sv[0], &c, 1);
    OK("sigio-f-setsig", fcntl(sv[0], F_SETSIG, SIGRTMIN + 1));
    EQ("sigio-f-getsig", fcntl(sv[0], F_GETSIG), SIGRTMIN + 1);
    sigio_count = 0;
    sigio_fd = -1;
    (void)!write(sv[1], "y", 1);
    CHECK("sigio-f-setsig-siginfo", wait_sigio(1, 2000) && sigio_fd == sv[0] && sigio_code == POLL_IN,
          "count %d fd %d (want %d) code %d", (int)sigio_count, (int)sigio_fd, sv[0], (int)sigio_code);
    close(sv[0]);
    close(sv[1]);

    /* FIOASYNC and FIOSETOWN, as nginx sets its channels. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
    int on = 1, pid = getpid(), got = 0;
    OK("sigio-fioasync", ioctl(sv[0], FIOASYNC, &on));
    OK("sigio-fiosetown", ioctl(sv[0], FIOSETOWN, &pid));
    OK("sigio-fiogetown", ioctl(sv[0], FIOGETOWN, &got));
    EQ("sigio-fiogetown-value", got, pid);
    sigio_count = 0;
    (void)!write(sv[1], "z", 1);
    CHECK("sigio-fioasync-signals", wait_sigio(1, 2000), "no SIGIO within 2 s");
    close(sv[0]);
    close(sv[1]);
    signal(SIGIO, SIG_IGN);
    signal(SIGRTMIN + 1, SIG_IGN);
}

/* /proc/net/{tcp,tcp6,udp}: a bound socket shows with its address, port
 * and state in Linux's hex (netstat and psutil read these). */
static int proc_has(const char *file, const char *needle) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) found = 1;
    fclose(f);
    return found;
}

static void proc_net_checks(void) {
    char want[128];
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4) || getsockname(l, (struct sockaddr *)&a, &al)) return;
    snprintf(want, sizeof want, "0100007F:%04X 00000000:0000 0A", ntohs(a.sin_port));
    CHECK("proc-net-tcp-lists-listener", proc_has("/proc/net/tcp", want), "no line with %s", want);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t bl = sizeof b;
    if (u < 0 || bind(u, (struct sockaddr *)&b, sizeof b) || getsockname(u, (struct sockaddr *)&b, &bl)) return;
    snprintf(want, sizeof want, "0100007F:%04X 00000000:0000 07", ntohs(b.sin_port));
    CHECK("proc-net-udp-lists-bound-socket", proc_has("/proc/net/udp", want), "no line with %s", want);
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 c = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    socklen_t cl = sizeof c;
    if (l6 < 0 || bind(l6, (struct sockaddr *)&c, sizeof c) || listen(l6, 4) || getsockname(l6, (struct sockaddr *)&c, &cl)) return;
    snprintf(want, sizeof want, "00000000000000000000000001000000:%04X", ntohs(c.sin6_port));
    CHECK("proc-net-tcp6-lists-listener", proc_has("/proc/net/tcp6", want), "no line with %s", want);
    CHECK("proc-net-sockstat", proc_has("/proc/net/sockstat", "TCP: inuse ") && proc_has("/proc/net/sockstat6", "UDP6: inuse "),
          "no TCP/UDP6 lines");
    CHECK("proc-net-raw-udplite-headers",
          proc_has("/proc/net/raw", "  sl  local_address rem_address   st tx_queue") &&
              proc_has("/proc/net/udplite", "   sl  local_address rem_address   st tx_queue"),
          "no header");
    close(l);
    close(u);
    close(l6);
}

/* One line of /proc/net/unix (unix_seq_show's columns). */
struct unix_line {
    unsigned refs, proto, flags, type, st;
    unsigned long ino;
    char path[128];
};

/* The /proc/net/unix line of the socket with inode `ino`; with `ino` 0,
 * the one with no inode (a connection not yet accepted) named `path`. */
static int unix_line(unsigned long ino, const char *path, struct unix_line *u) {
    FILE *f = fopen("/proc/net/unix", "r");
    if (!f) return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        memset(u, 0, sizeof *u);
        if (sscanf(line, "%*s %x %x %x %x %x %lu %127s", &u->refs, &u->proto, &u->flags, &u->type,
                   &u->st, &u->ino, u->path) < 6)
            continue;
        found = ino ? u->ino == ino : (u->ino == 0 && !strcmp(u->path, path));
    }
    fclose(f);
    return found;
}

static unsigned long inode_of(int fd) {
    struct stat st;
    return fstat(fd, &st) ? 0 : (unsigned long)st.st_ino;
}

/* /proc/net/unix: unix(7) sockets with their flags (__SO_ACCEPTCON
 * 0x10000 for a listener), type, state (SS_UNCONNECTED 1, SS_CONNECTING 2
 * for a connection not yet accepted, SS_CONNECTED 3), the inode fstat
 * shows, and the name (abstract names start with '@', NULs in them print
 * as '@'). */
static void proc_net_unix_checks(void) {
    FILE *f = fopen("/proc/net/unix", "r");
    char head[128] = "";
    if (f) {
        if (!fgets(head, sizeof head, f)) head[0] = 0;
        fclose(f);
    }
    CHECK("proc-net-unix-header", !strcmp(head, "Num       RefCount Protocol Flags    Type St Inode Path\n"),
          "header %s", head);
    unsigned rnd = 0;
    getrandom(&rnd, sizeof rnd, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "/tmp/pnu-%08x.sock", rnd);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) return;
    struct unix_line u;
    int found = unix_line(inode_of(l), "", &u);
    CHECK("proc-net-unix-listener", found && u.flags == 0x10000 && u.type == 1 && u.st == 1 && u.proto == 0 &&
          u.refs == 2 && !strcmp(u.path, a.sun_path),
          "found %d refs %u flags %x type %x st %x path %s", found, u.refs, u.flags, u.type, u.st, u.path);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) return;
    found = unix_line(inode_of(c), "", &u);
    CHECK("proc-net-unix-client-connected", found && u.flags == 0 && u.st == 3 && u.refs == 3 && !u.path[0],
          "found %d refs %u flags %x st %x path %s", found, u.refs, u.flags, u.st, u.path);
    found = unix_line(0, a.sun_path, &u);
    CHECK("proc-net-unix-unaccepted-connecting", found && u.st == 2 && u.type == 1 && u.flags == 0,
          "found %d st %x type %x flags %x", found, u.st, u.type, u.flags);
    int s = accept(l, NULL, NULL);
    found = s >= 0 && unix_line(inode_of(s), "", &u);
    CHECK("proc-net-unix-accepted", found && u.st == 3 && !strcmp(u.path, a.sun_path),
          "found %d st %x path %s", found, u.st, u.path);
    unsigned long gone = inode_of(s);
    close(s);
    CHECK("proc-net-unix-closed-gone", !unix_line(gone, "", &u), "still listed");

    struct sockaddr_un ab = { .sun_family = AF_UNIX };
    int n = snprintf(ab.sun_path + 1, sizeof ab.sun_path - 1, "pnu-%08x", rnd);
    int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (q < 0 || bind(q, (struct sockaddr *)&ab, offsetof(struct sockaddr_un, sun_path) + 1 + n) || listen(q, 1)) return;
    char want[64];
    snprintf(want, sizeof want, "@pnu-%08x", rnd);
    found = unix_line(inode_of(q), "", &u);
    CHECK("proc-net-unix-abstract-seqpacket", found && u.type == 5 && u.flags == 0x10000 && !strcmp(u.path, want),
          "found %d type %x flags %x path %s", found, u.type, u.flags, u.path);
    /* A NUL inside an abstract name prints as '@'. */
    ab.sun_path[4] = 0;
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (d < 0 || bind(d, (struct sockaddr *)&ab, offsetof(struct sockaddr_un, sun_path) + 1 + n)) return;
    want[4] = '@';
    found = unix_line(inode_of(d), "", &u);
    CHECK("proc-net-unix-dgram-nul-in-name", found && u.type == 2 && u.st == 1 && !strcmp(u.path, want),
          "found %d type %x st %x path %s", found, u.type, u.st, u.path);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return;
    found = unix_line(inode_of(sv[0]), "", &u);
    CHECK("proc-net-unix-socketpair", found && u.st == 3 && u.refs == 3 && !u.path[0],
          "found %d st %x refs %u path %s", found, u.st, u.refs, u.path);
    close(sv[0]);
    close(sv[1]);
    close(d);
    close(q);
    close(c);
    close(l);
    unlink(a.sun_path);
}

/* ---- issue 16: waits that must end ---- */

struct later { int fd; long ms; int what; };
enum { LATER_SEND, LATER_CLOSE, LATER_SHUT_WR };

static void *act_later(void *arg) {
    struct later *l = arg;
    sleep_ms(l->ms);
    if (l->what == LATER_SEND) send(l->fd, "late", 4, 0);
    else if (l->what == LATER_CLOSE) close(l->fd);
    else shutdown(l->fd, SHUT_WR);
    return NULL;
}

/* recvmmsg's timeout is looked at after each message (recvmmsg(2), BUGS):
 * a first message that comes after the timeout has passed ends the call
 * with that one message, and the time left (none) is written back. */
static void recvmmsg_timeout_one(const char *kind, int rx, int tx) {
    char name[96], bufs[4][16];
    struct iovec iov[4];
    struct mmsghdr mv[4];
    memset(mv, 0, sizeof mv);
    for (int i = 0; i < 4; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        mv[i].msg_hdr.msg_iov = &iov[i];
        mv[i].msg_hdr.msg_iovlen = 1;
    }
    struct later l = { tx, 150, LATER_SEND };
    pthread_t t;
    pthread_create(&t, NULL, act_later, &l);
    struct timespec to = { 0, 20 * 1000000 };
    long start = now_ms();
    interrupt_after(5);
    long n = recvmmsg(rx, mv, 4, 0, &to);
    int e = errno;
    alarm(0);
    long took = now_ms() - start;
    pthread_join(t, NULL);
    snprintf(name, sizeof name, "recvmmsg-timeout-%s-first-late", kind);
    CHECK(name, n == 1 && took < 2000, "recvmmsg = %ld (%s) after %ld ms, wanted 1 at the first message", n, n < 0 ? ename(e) : "-", took);
    snprintf(name, sizeof name, "recvmmsg-timeout-%s-left-written", kind);
    CHECK(name, to.tv_sec == 0 && to.tv_nsec == 0, "timeout left {%ld, %ld}", (long)to.tv_sec, to.tv_nsec);

    /* A zero timeout with one message queued: that message, at once. */
    send(tx, "now", 3, 0);
    readable(rx, 2000);
    struct timespec zero = { 0, 0 };
    start = now_ms();
    interrupt_after(5);
    n = recvmmsg(rx, mv, 4, 0, &zero);
    e = errno;
    alarm(0);
    took = now_ms() - start;
    snprintf(name, sizeof name, "recvmmsg-zero-timeout-%s-queued", kind);
    CHECK(name, n == 1 && took < 2000, "recvmmsg = %ld (%s) after %ld ms, wanted 1 at once", n, n < 0 ? ename(e) : "-", took);
    struct timespec bad = { 0, 1000000000 };
    snprintf(name, sizeof name, "recvmmsg-bad-timeout-%s-einval", kind);
    ERR(name, recvmmsg(rx, mv, 4, 0, &bad), EINVAL);
}

static void recvmmsg_timeout_checks(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    recvmmsg_timeout_one("unix-dgram", sv[0], sv[1]);
    close(sv[0]);
    close(sv[1]);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    recvmmsg_timeout_one("unix-stream", sv[0], sv[1]);
    close(sv[0]);
    close(sv[1]);
    int c, s;
    if (tcp_pair(AF_INET, &c, &s) == 0) recvmmsg_timeout_one("tcp", c, s);
    else fail("recvmmsg-timeout-tcp-pair", "no TCP pair: %s", ename(errno));
    close(c);
    close(s);
    int p1, p2, a = udp_bound(AF_INET, &p1), b = udp_bound(AF_INET, &p2);
    struct sockaddr_in to = v4("127.0.0.1", p2), back = v4("127.0.0.1", p1);
    connect(a, (struct sockaddr *)&to, sizeof to);
    connect(b, (struct sockaddr *)&back, sizeof back);
    recvmmsg_timeout_one("udp", b, a);
    close(a);
    close(b);
}

/* A blocking read of a TCP socket whose peer closed (before the read, or
 * while it waits) returns end of file. */
static void tcp_peer_closed_checks(void) {
    char buf[16];
    int c, s;
    tcp_pair(AF_INET, &c, &s);
    close(s);
    interrupt_after(5);
    EQ("tcp-read-peer-closed-before-eof", read(c, buf, sizeof buf), 0);
    EQ("tcp-read-peer-closed-again-eof", read(c, buf, sizeof buf), 0);
    alarm(0);
    close(c);

    tcp_pair(AF_INET, &c, &s);
    struct later l = { s, 100, LATER_CLOSE };
    pthread_t t;
    pthread_create(&t, NULL, act_later, &l);
    interrupt_after(5);
    EQ("tcp-read-peer-closes-while-blocked-eof", read(c, buf, sizeof buf), 0);
    alarm(0);
    pthread_join(t, NULL);
    close(c);

    tcp_pair(AF_INET6, &c, &s);
    l = (struct later){ s, 100, LATER_SHUT_WR };
    pthread_create(&t, NULL, act_later, &l);
    interrupt_after(5);
    EQ("tcp6-recv-peer-shutdown-while-blocked-eof", recv(c, buf, sizeof buf, 0), 0);
    alarm(0);
    pthread_join(t, NULL);
    close(c);
    close(s);

    /* The accepted side sees its client go the same way. */
    tcp_pair(AF_INET, &c, &s);
    l = (struct later){ c, 100, LATER_CLOSE };
    pthread_create(&t, NULL, act_later, &l);
    interrupt_after(5);
    EQ("tcp-accepted-read-client-closes-eof", read(s, buf, sizeof buf), 0);
    alarm(0);
    pthread_join(t, NULL);
    close(s);
}

/* A connected UDP socket whose datagram met a closed port (ICMP port
 * unreachable, on the loopback at once): a blocking receive fails with
 * ECONNREFUSED, whether the error came before the receive or while it
 * waited; SO_ERROR reads and clears the same error. */
static void udp_refused_checks(void) {
    char buf[16];
    int gone = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in g = v4("127.0.0.1", 0);
    bind(gone, (struct sockaddr *)&g, sizeof g);
    int pg = port_of(gone);
    close(gone);
    struct sockaddr_in dead = v4("127.0.0.1", pg);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    connect(c, (struct sockaddr *)&dead, sizeof dead);
    send(c, "lost", 4, 0);
    interrupt_after(5);
    ERR("udp-refused-blocking-recv-econnrefused", recv(c, buf, sizeof buf, 0), ECONNREFUSED);
    alarm(0);

    send(c, "lost", 4, 0);
    bits(c, POLLERR, 1000);
    EQ("udp-refused-so-error", intopt(c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    EQ("udp-refused-so-error-cleared", intopt(c, SOL_SOCKET, SO_ERROR), 0);
    ERR("udp-refused-after-so-error-eagain", recv(c, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);

    /* The error arrives while a receive waits. */
    struct later l = { c, 100, LATER_SEND };
    pthread_t t;
    pthread_create(&t, NULL, act_later, &l);
    interrupt_after(5);
    ERR("udp-refused-while-blocked-econnrefused", recv(c, buf, sizeof buf, 0), ECONNREFUSED);
    alarm(0);
    pthread_join(t, NULL);

    /* recvmsg and a poll that waits for the error alone. */
    l = (struct later){ c, 100, LATER_SEND };
    pthread_create(&t, NULL, act_later, &l);
    struct pollfd pf = { c, 0, 0 };
    EQ("udp-refused-poll-wakes-pollerr", poll(&pf, 1, 3000) == 1 && (pf.revents & POLLERR), 1);
    pthread_join(t, NULL);
    struct iovec iv = { buf, sizeof buf };
    struct msghdr mh = { .msg_iov = &iv, .msg_iovlen = 1 };
    interrupt_after(5);
    ERR("udp-refused-recvmsg-econnrefused", recvmsg(c, &mh, 0), ECONNREFUSED);
    alarm(0);
    close(c);
}

static void checks(void) {
    group("proc", proc_net_checks, 10000);
    group("proc-unix", proc_net_unix_checks, 10000);
    group("sigio", sigio_checks, 10000);
    group("socket", socket_checks, 10000);
    group("bind", bind_checks, 10000);
    group("connect", connect_checks, 10000);
    group("backlog", backlog_checks, 10000);
    group("data", data_checks, 15000);
    group("udp", udp_checks, 15000);
    group("options", option_checks, 10000);
    group("tcp-info", tcp_info_checks, 15000);
    group("reuseport", reuseport_checks, 15000);
    group("recv-cmsg", recv_cmsg_checks, 10000);
    group("recvmmsg-timeout", recvmmsg_timeout_checks, 15000);
    group("tcp-peer-closed", tcp_peer_closed_checks, 15000);
    group("udp-refused", udp_refused_checks, 15000);
}
