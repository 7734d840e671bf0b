/* Sockets: socketpair (stream, datagram, seqpacket), Unix sockets on a
 * path and in the abstract namespace, descriptor passing, peer
 * credentials, shutdown, MSG_PEEK and MSG_TRUNC, EPIPE, ECONNREFUSED, and
 * TCP/UDP on the loopback, checked against unix(7), socket(2),
 * socketpair(2), send(2), recv(2), shutdown(2), tcp(7) and udp(7). Every
 * wait is bounded or preceded by readiness. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

static int readable(int fd, int ms) {
    struct pollfd pf = { fd, POLLIN, 0 };
    return poll(&pf, 1, ms) == 1;
}

static void pair_checks(void) {
    int sv[2] = { -1, -1 };
    OK("socketpair-stream", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    EQ("socketpair-cloexec", fcntl(sv[0], F_GETFD), FD_CLOEXEC);
    EQ("stream-write", write(sv[0], "ping", 4), 4);
    char buf[64] = {0};
    EQ("stream-read", read(sv[1], buf, sizeof buf), 4);
    EQ("stream-other-way", (write(sv[1], "pong", 4), read(sv[0], buf, sizeof buf)), 4);
    send(sv[0], "peek", 4, 0);
    memset(buf, 0, sizeof buf);
    EQ("msg-peek", recv(sv[1], buf, sizeof buf, MSG_PEEK), 4);
    EQ("msg-peek-leaves-data", recv(sv[1], buf, sizeof buf, 0), 4);
    ERR("stream-empty-dontwait-eagain", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    int type = 0;
    socklen_t len = sizeof type;
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len);
    EQ("so-type", type, SOCK_STREAM);
    struct ucred cr;
    len = sizeof cr;
    OK("so-peercred-pair", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &len));
    CHECK("so-peercred-pair-values", cr.pid == getpid() && cr.uid == getuid() && cr.gid == getgid(), "pid %d uid %d gid %d", cr.pid, cr.uid, cr.gid);

    OK("shutdown-wr", shutdown(sv[0], SHUT_WR));
    EQ("shutdown-peer-eof", read(sv[1], buf, sizeof buf), 0);
    signal(SIGPIPE, SIG_IGN);
    ERR("write-after-shutdown-epipe", write(sv[0], "x", 1), EPIPE);
    EQ("shutdown-other-direction-works", (write(sv[1], "y", 1), read(sv[0], buf, 1)), 1);
    close(sv[1]);
    ERR("write-peer-closed-epipe", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    close(sv[0]);
    ERR("shutdown-bad-fd-ebadf", shutdown(100, SHUT_RD), EBADF);
    int p[2];
    pipe(p);
    ERR("shutdown-pipe-enotsock", shutdown(p[0], SHUT_RD), ENOTSOCK);
    close(p[0]);
    close(p[1]);

    OK("socketpair-dgram", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    send(sv[0], "ab", 2, 0);
    send(sv[0], "cde", 3, 0);
    send(sv[0], "fghij", 5, 0);
    EQ("dgram-boundary-1", recv(sv[1], buf, sizeof buf, 0), 2);
    EQ("dgram-boundary-2", recv(sv[1], buf, sizeof buf, 0), 3);
    EQ("dgram-msg-trunc-returns-real-length", recv(sv[1], buf, 2, MSG_TRUNC), 5);
    ERR("dgram-empty-dontwait-eagain", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    close(sv[0]);
    close(sv[1]);

    OK("socketpair-seqpacket", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    send(sv[0], "one", 3, 0);
    send(sv[0], "three", 5, 0);
    EQ("seqpacket-boundary-1", recv(sv[1], buf, sizeof buf, 0), 3);
    struct iovec iov = { buf, 2 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EQ("seqpacket-truncated", recvmsg(sv[1], &mh, 0), 2);
    EQ("seqpacket-msg-trunc-flag", mh.msg_flags & MSG_TRUNC, MSG_TRUNC);
    close(sv[0]);
    EQ("seqpacket-eof", recv(sv[1], buf, sizeof buf, 0), 0);
    close(sv[1]);
    ERR("socketpair-inet-eopnotsupp", socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    ERR("socket-bad-family-eafnosupport", socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
}

static void scm_rights_checks(void) {
    /* If the descriptor is not passed, writing to the pipe with no reader
     * must fail its check, not kill the group. */
    signal(SIGPIPE, SIG_IGN);
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    char byte = 'R';
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    EQ("scm-rights-send", sendmsg(sv[0], &mh, 0), 1);
    close(p[0]);
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } r;
    memset(&r, 0, sizeof r);
    char got = 0;
    struct iovec riov = { &got, 1 };
    struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = r.buf, .msg_controllen = sizeof r.buf };
    EQ("scm-rights-recv", recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC), 1);
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rm);
    int fd = -1;
    if (rc && rc->cmsg_level == SOL_SOCKET && rc->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(rc), sizeof fd);
    CHECK("scm-rights-cmsg", fd >= 0 && got == 'R', "fd %d byte %c", fd, got);
    EQ("scm-rights-cloexec", fcntl(fd, F_GETFD), FD_CLOEXEC);
    write(p[1], "via", 3);
    char buf[8] = {0};
    EQ("scm-rights-fd-works", read(fd, buf, sizeof buf), 3);
    close(fd);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void listen_checks(void) {
    unsigned rnd = 0;
    getrandom(&rnd, sizeof rnd, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/conf-%08x.sock", rnd);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    OK("bind-path", bind(l, (struct sockaddr *)&addr, sizeof addr));
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR("bind-path-eaddrinuse", bind(l2, (struct sockaddr *)&addr, sizeof addr), EADDRINUSE);
    ERR("connect-not-listening-econnrefused", connect(l2, (struct sockaddr *)&addr, sizeof addr), ECONNREFUSED);
    close(l2);
    OK("listen", listen(l, 8));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    OK("connect-path", connect(c, (struct sockaddr *)&addr, sizeof addr));
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECK("accept4", a >= 0, "accept4: %s", ename(errno));
    EQ("accept4-cloexec", fcntl(a, F_GETFD), FD_CLOEXEC);
    EQ("accepted-stream", (write(c, "hi", 2), read(a, (char[4]){0}, 4)), 2);
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    OK("getsockname", getsockname(l, (struct sockaddr *)&got, &len));
    CHECK("getsockname-path", !strcmp(got.sun_path, addr.sun_path), "path %s", got.sun_path);
    len = sizeof got;
    OK("getpeername", getpeername(c, (struct sockaddr *)&got, &len));
    CHECK("getpeername-path", !strcmp(got.sun_path, addr.sun_path), "path %s", got.sun_path);
    struct ucred cr;
    len = sizeof cr;
    OK("so-peercred-accepted", getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &len));
    EQ("so-peercred-accepted-pid", cr.pid, getpid());
    fcntl(l, F_SETFL, O_NONBLOCK);
    ERR("accept-nonblock-eagain", accept(l, NULL, NULL), EAGAIN);
    ERR("connect-enoent", (addr.sun_path[5] = 'X', connect(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&addr, sizeof addr)), ENOENT);
    addr.sun_path[5] = 'c';
    ERR("accept-not-listening-einval", accept(c, NULL, NULL), EINVAL);
    ERR("getpeername-unconnected-enotconn", getpeername(l, (struct sockaddr *)&got, &len), ENOTCONN);
    close(a);
    close(c);
    close(l);
    unlink(addr.sun_path);

    /* The abstract namespace: a name starting with a NUL byte, no file. */
    struct sockaddr_un ab = { .sun_family = AF_UNIX };
    int n = snprintf(ab.sun_path + 1, sizeof ab.sun_path - 1, "conf-abstract-%08x", rnd);
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    OK("bind-abstract", bind(l, (struct sockaddr *)&ab, alen));
    listen(l, 1);
    pid_t pid = fork();
    if (pid == 0) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&ab, alen) != 0) _exit(1);
        write(s, "abs", 3);
        _exit(0);
    }
    a = readable(l, 3000) ? accept(l, NULL, NULL) : -1;
    char buf[4] = {0};
    EQ("abstract-connect-accept", a >= 0 ? read(a, buf, 3) : -1, 3);
    if (a >= 0) {
        len = sizeof cr;
        getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &len);
        EQ("so-peercred-other-process", cr.pid, pid);
    } else {
        say("FAIL so-peercred-other-process: no connection");
        check_failures++;
    }
    waitpid(pid, NULL, 0);
    close(a);
    close(l);

    /* Datagrams to a bound path. */
    snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/conf-%08x.dgram", rnd);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(d, (struct sockaddr *)&addr, sizeof addr);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    EQ("dgram-sendto-path", sendto(s, "dg", 2, 0, (struct sockaddr *)&addr, sizeof addr), 2);
    EQ("dgram-recv-path", recv(d, buf, sizeof buf, MSG_DONTWAIT), 2);
    close(d);
    ERR("dgram-sendto-closed-econnrefused", sendto(s, "dg", 2, 0, (struct sockaddr *)&addr, sizeof addr), ECONNREFUSED);
    close(s);
    unlink(addr.sun_path);
}

static void inet_checks(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK("inet-socket", l >= 0, "socket: %s", ename(errno));
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    OK("inet-bind-loopback", bind(l, (struct sockaddr *)&sin, sizeof sin));
    socklen_t len = sizeof sin;
    getsockname(l, (struct sockaddr *)&sin, &len);
    CHECK("inet-ephemeral-port", ntohs(sin.sin_port) > 0, "port %d", ntohs(sin.sin_port));
    OK("inet-listen", listen(l, 4));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    OK("tcp-connect-loopback", connect(c, (struct sockaddr *)&sin, sizeof sin));
    int a = readable(l, 3000) ? accept(l, NULL, NULL) : -1;
    char buf[8] = {0};
    EQ("tcp-data", a >= 0 ? (write(c, "tcp", 3), read(a, buf, sizeof buf)) : -1, 3);
    close(a);
    close(c);
    close(l);
    /* The port is closed now: connecting is refused. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    ERR("tcp-econnrefused", connect(c, (struct sockaddr *)&sin, sizeof sin), ECONNREFUSED);
    close(c);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in us = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(u, (struct sockaddr *)&us, sizeof us);
    len = sizeof us;
    getsockname(u, (struct sockaddr *)&us, &len);
    int v = socket(AF_INET, SOCK_DGRAM, 0);
    EQ("udp-sendto", sendto(v, "udp!", 4, 0, (struct sockaddr *)&us, sizeof us), 4);
    EQ("udp-recv", readable(u, 3000) ? recv(u, buf, sizeof buf, 0) : -1, 4);
    close(u);
    close(v);
}

/* Issue 16: Unix sockets' options at unknown levels and names, and binds
 * to bad names and families. */
static void unix_option_checks(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int v = 0;
    socklen_t len = sizeof v;
    ERR("unix-getsockopt-bad-name-enoprotoopt", getsockopt(s, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
    ERR("unix-setsockopt-bad-name-enoprotoopt", setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v), ENOPROTOOPT);
    ERR("unix-getsockopt-tcp-level-eopnotsupp", getsockopt(s, IPPROTO_TCP, 1, &v, &len), EOPNOTSUPP);
    ERR("unix-setsockopt-ip-level-eopnotsupp", setsockopt(s, IPPROTO_IP, 1, &v, sizeof v), EOPNOTSUPP);
    ERR("unix-setsockopt-short-einval", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, 2), EINVAL);

    struct sockaddr_in in = { .sin_family = AF_INET };
    ERR("unix-bind-inet-family-einval", bind(s, (struct sockaddr *)&in, sizeof in), EINVAL);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    ERR("unix-bind-short-len-einval", bind(s, (struct sockaddr *)&un, 1), EINVAL);
    ERR("unix-bind-long-len-einval", bind(s, (struct sockaddr *)&un, sizeof un + 1), EINVAL);
    strcpy(un.sun_path, "/nonexistent-dir/sock");
    ERR("unix-bind-missing-dir-enoent", bind(s, (struct sockaddr *)&un, sizeof un), ENOENT);
    strcpy(un.sun_path, "/tmp/bind-twice");
    unlink(un.sun_path);
    OK("unix-bind-path", bind(s, (struct sockaddr *)&un, sizeof un));
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR("unix-bind-existing-eaddrinuse", bind(s2, (struct sockaddr *)&un, sizeof un), EADDRINUSE);
    strcpy(un.sun_path, "/tmp/bind-other");
    ERR("unix-bind-bound-socket-einval", bind(s, (struct sockaddr *)&un, sizeof un), EINVAL);
    unlink("/tmp/bind-twice");
    close(s);
    close(s2);
}

static void checks(void) {
    group("pairs", pair_checks, 10000);
    group("scm-rights", scm_rights_checks, 10000);
    group("listen", listen_checks, 10000);
    group("inet", inet_checks, 10000);
    group("unix-options", unix_option_checks, 10000);
}
