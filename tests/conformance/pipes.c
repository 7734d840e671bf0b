/* Pipes: atomic writes up to PIPE_BUF, capacity and F_GETPIPE_SZ /
 * F_SETPIPE_SZ, EPIPE and SIGPIPE, non-blocking EAGAIN, pipe2 flags, poll
 * and select readiness, and end of file, checked against pipe(7), pipe(2),
 * fcntl(2), poll(2) and select(2). */
#include "check.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void basic_checks(void) {
    int p[2];
    OK("pipe", pipe(p));
    EQ("pipe-write", write(p[1], "hello", 5), 5);
    char buf[16] = {0};
    EQ("pipe-read", read(p[0], buf, sizeof buf), 5);
    CHECK("pipe-data", !strcmp(buf, "hello"), "got %s", buf);
    ERR("pipe-read-end-write-ebadf", write(p[0], "x", 1), EBADF);
    ERR("pipe-write-end-read-ebadf", read(p[1], buf, 1), EBADF);
    ERR("pipe-lseek-espipe", lseek(p[0], 0, SEEK_SET), ESPIPE);
    ERR("pipe-pread-espipe", pread(p[0], buf, 1, 0), ESPIPE);
    struct stat st;
    fstat(p[0], &st);
    CHECK("pipe-fstat-fifo", S_ISFIFO(st.st_mode), "mode %o", st.st_mode);
    write(p[1], "abc", 3);
    int avail = -1;
    OK("fionread", ioctl(p[0], FIONREAD, &avail));
    EQ("fionread-count", avail, 3);
    close(p[1]);
    EQ("read-rest-after-close", read(p[0], buf, sizeof buf), 3);
    EQ("eof-when-writers-close", read(p[0], buf, sizeof buf), 0);
    close(p[0]);

    OK("pipe2-cloexec-nonblock", pipe2(p, O_CLOEXEC | O_NONBLOCK));
    EQ("pipe2-cloexec", fcntl(p[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ("pipe2-nonblock", fcntl(p[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    EQ("pipe2-access-modes", (fcntl(p[0], F_GETFL) & O_ACCMODE) * 10 + (fcntl(p[1], F_GETFL) & O_ACCMODE), O_RDONLY * 10 + O_WRONLY);
    ERR("nonblock-empty-read-eagain", read(p[0], buf, 1), EAGAIN);
    close(p[0]);
    close(p[1]);
    ERR("pipe2-bad-flags-einval", pipe2(p, O_RDWR | 0x40000000), EINVAL);
}

static void capacity_checks(void) {
    int p[2];
    pipe2(p, O_NONBLOCK);
    EQ("f-getpipe-sz-default", fcntl(p[1], F_GETPIPE_SZ), 65536);
    static char big[1 << 20];
    memset(big, 'c', sizeof big);
    long total = 0, n;
    while ((n = write(p[1], big, 4096)) > 0) total += n;
    int e = errno;
    EQ("nonblock-full-write-eagain", e, EAGAIN);
    EQ("pipe-capacity-64k", total, 65536);
    /* A non-blocking write above PIPE_BUF into a pipe with some room is
     * partial: from 1 to n-1 bytes (pipe(7)). */
    static char tmp[8192];
    EQ("drain-two-pages", read(p[0], tmp, sizeof tmp), 8192);
    n = write(p[1], big, 3 * 4096);
    CHECK("nonblock-partial-write-above-pipe-buf", n >= 1 && n < 3 * 4096, "write = %ld %s", n, ename(errno));
    close(p[0]);
    close(p[1]);

    pipe2(p, O_NONBLOCK);
    long sz = fcntl(p[1], F_SETPIPE_SZ, 5000);
    CHECK("f-setpipe-sz-rounds-up", sz >= 5000 && sz % 4096 == 0, "F_SETPIPE_SZ 5000 = %ld %s", sz, ename(errno));
    EQ("f-setpipe-sz", fcntl(p[1], F_SETPIPE_SZ, 4096 * 4), 16384);
    EQ("f-getpipe-sz-after-set", fcntl(p[0], F_GETPIPE_SZ), 16384);
    total = 0;
    while ((n = write(p[1], big, 1024)) > 0) total += n;
    EQ("pipe-capacity-after-set", total, 16384);
    ERR("f-setpipe-sz-below-content-ebusy", fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
    ERR("f-setpipe-sz-above-2g-einval", fcntl(p[1], F_SETPIPE_SZ, 0x80000001U), EINVAL);
    close(p[0]);
    close(p[1]);
}

static void atomic_checks(void) {
    /* Writers of PIPE_BUF-sized records never interleave. */
    int p[2];
    pipe(p);
    enum { WRITERS = 4, RECORDS = 64 };
    for (int w = 0; w < WRITERS; w++) {
        if (fork() == 0) {
            close(p[0]);
            char rec[PIPE_BUF];
            memset(rec, 'A' + w, sizeof rec);
            for (int i = 0; i < RECORDS; i++)
                if (write(p[1], rec, sizeof rec) != sizeof rec) _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    static char rec[PIPE_BUF];
    long got = 0, torn = 0, short_reads = 0;
    for (;;) {
        long have = 0, n;
        while (have < PIPE_BUF && (n = read(p[0], rec + have, PIPE_BUF - have)) > 0) {
            if (have == 0 && n < PIPE_BUF) short_reads++;
            have += n;
        }
        if (have == 0) break;
        for (int i = 1; i < have; i++)
            if (rec[i] != rec[0]) { torn++; break; }
        got++;
    }
    close(p[0]);
    int st, bad = 0;
    for (int w = 0; w < WRITERS; w++) { wait(&st); bad += !WIFEXITED(st) || WEXITSTATUS(st); }
    EQ("pipe-buf-records-count", got, WRITERS * RECORDS);
    EQ("pipe-buf-writes-atomic", torn, 0);
    EQ("pipe-writers-ok", bad, 0);
    EQ("pipe-buf-value", PIPE_BUF, 4096);
}

static void epipe_checks(void) {
    int p[2];
    pipe(p);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    ERR("write-no-reader-epipe", write(p[1], "x", 1), EPIPE);
    signal(SIGPIPE, SIG_DFL);
    pid_t pid = fork();
    if (pid == 0) { write(p[1], "x", 1); _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    CHECK("write-no-reader-sigpipe", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "%s", wstatus(st));
    /* With SIGPIPE blocked, it is left pending and the write fails EPIPE. */
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, NULL);
    ERR("blocked-sigpipe-epipe", write(p[1], "x", 1), EPIPE);
    sigpending(&pend);
    EQ("blocked-sigpipe-pending", sigismember(&pend, SIGPIPE), 1);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    close(p[1]);

    /* A blocked reader wakes with EOF when the last writer goes. */
    pipe(p);
    pid = fork();
    if (pid == 0) { sleep_ms(100); _exit(0); }
    int w = p[1];
    if ((pid = fork()) == 0) { close(p[0]); sleep_ms(100); close(w); _exit(0); }
    close(p[1]);
    char c;
    EQ("blocked-reader-eof", read(p[0], &c, 1), 0);
    while (wait(NULL) > 0) {}
    close(p[0]);
}

static void poll_checks(void) {
    int p[2];
    pipe(p);
    struct pollfd pf[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
    EQ("poll-empty", poll(pf, 1, 0), 0);
    EQ("poll-writable", poll(&pf[1], 1, 0), 1);
    EQ("poll-writable-revents", pf[1].revents, POLLOUT);
    write(p[1], "x", 1);
    EQ("poll-readable", poll(pf, 1, 0), 1);
    EQ("poll-readable-revents", pf[0].revents, POLLIN);
    struct timespec a, b;
    char c;
    read(p[0], &c, 1);
    clock_gettime(CLOCK_MONOTONIC, &a);
    EQ("poll-timeout", poll(pf, 1, 100), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK("poll-timeout-waits", ms >= 95 && ms < 2000, "waited %ld ms", ms);
    /* A writer in another process wakes a blocked poll. */
    pid_t pid = fork();
    if (pid == 0) { sleep_ms(50); write(p[1], "y", 1); _exit(0); }
    EQ("poll-wakes-on-write", poll(pf, 1, 3000), 1);
    waitpid(pid, NULL, 0);
    read(p[0], &c, 1);

    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    struct timeval tv = { 0, 0 };
    EQ("select-writable-only", select(p[1] + 1, &r, &w, NULL, &tv), 1);
    CHECK("select-sets", !FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w), "readable %d writable %d", FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
    write(p[1], "z", 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv.tv_usec = 0;
    EQ("select-readable", select(p[0] + 1, &r, NULL, NULL, &tv), 1);
    read(p[0], &c, 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 50000;
    EQ("select-timeout", select(p[0] + 1, &r, NULL, NULL, &tv), 0);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec ts = { 0, 0 };
    EQ("pselect-empty", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL), 0);
    FD_ZERO(&r);
    /* A closed descriptor below the descriptor table's size. */
    FD_SET(40, &r);
    ERR("select-ebadf", select(41, &r, NULL, NULL, &tv), EBADF);

    close(p[1]);
    pf[0].events = POLLIN;
    EQ("poll-hup-after-writer-closes", (poll(pf, 1, 0), pf[0].revents & POLLHUP), POLLHUP);
    close(p[0]);
    pipe(p);
    close(p[0]);
    pf[1].fd = p[1];
    pf[1].events = POLLOUT;
    EQ("poll-err-after-reader-closes", (poll(&pf[1], 1, 0), pf[1].revents & POLLERR), POLLERR);
    close(p[1]);
    pf[0].fd = 900;
    pf[0].events = POLLIN;
    EQ("poll-nval", (poll(pf, 1, 0), pf[0].revents), POLLNVAL);
}

/* splice, tee and vmsplice between pipes, files and sockets. */
static void splice_checks(void) {
    char path[] = "/tmp/splice-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    write(fd, "0123456789", 10);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    char buf[32] = {0};

    /* File to pipe at an offset: the offset moves, the file position not. */
    loff_t off = 2;
    EQ("splice-file-to-pipe", splice(fd, &off, p[1], NULL, 5, 0), 5);
    EQ("splice-offset-advanced", off, 7);
    EQ("splice-file-position-kept", lseek(fd, 0, SEEK_CUR), 10);
    EQ("splice-data-in-pipe", read(p[0], buf, sizeof buf), 5);
    CHECK("splice-data-bytes", !memcmp(buf, "23456", 5), "got %.5s", buf);

    /* File position used (and moved) without an offset. */
    lseek(fd, 8, SEEK_SET);
    EQ("splice-file-pos-to-pipe", splice(fd, NULL, p[1], NULL, 100, 0), 2);
    EQ("splice-file-pos-moved", lseek(fd, 0, SEEK_CUR), 10);
    read(p[0], buf, sizeof buf);
    EQ("splice-at-eof-zero", splice(fd, NULL, p[1], NULL, 100, 0), 0);

    /* Pipe to file. */
    write(p[1], "abc", 3);
    off = 20;
    EQ("splice-pipe-to-file", splice(p[0], NULL, fd, &off, 10, 0), 3);
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 3, 20);
    CHECK("splice-pipe-to-file-data", !memcmp(buf, "abc", 3), "got %.3s", buf);

    /* Pipe to pipe. */
    write(p[1], "xyz", 3);
    EQ("splice-pipe-to-pipe", splice(p[0], NULL, q[1], NULL, 10, 0), 3);
    memset(buf, 0, sizeof buf);
    EQ("splice-pipe-to-pipe-read", read(q[0], buf, sizeof buf), 3);

    /* Errors. */
    loff_t o2 = 0;
    ERR("splice-offset-on-pipe-espipe", splice(p[0], &o2, fd, NULL, 1, 0), ESPIPE);
    ERR("splice-no-pipe-einval", splice(fd, NULL, fd, NULL, 1, 0), EINVAL);
    ERR("splice-same-pipe-einval", splice(p[0], NULL, p[1], NULL, 1, 0), EINVAL);
    ERR("splice-bad-flags-einval", splice(p[0], NULL, q[1], NULL, 1, 0x100), EINVAL);
    ERR("splice-bad-fd-ebadf", splice(-1, NULL, p[1], NULL, 1, 0), EBADF);
    ERR("splice-write-end-as-input-ebadf", splice(p[1], NULL, q[1], NULL, 1, 0), EBADF);
    ERR("splice-nonblock-empty-eagain", splice(p[0], NULL, q[1], NULL, 1, SPLICE_F_NONBLOCK), EAGAIN);
    EQ("splice-zero-length", splice(p[0], NULL, q[1], NULL, 0, 0), 0);

    /* Socket to pipe and pipe to socket. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[0], "sock", 4);
    EQ("splice-socket-to-pipe", splice(sv[1], NULL, p[1], NULL, 16, 0), 4);
    EQ("splice-pipe-to-socket", splice(p[0], NULL, sv[1], NULL, 16, 0), 4);
    memset(buf, 0, sizeof buf);
    EQ("splice-socket-roundtrip", read(sv[0], buf, sizeof buf), 4);
    CHECK("splice-socket-roundtrip-data", !memcmp(buf, "sock", 4), "got %.4s", buf);

    /* tee duplicates without consuming. */
    write(p[1], "teed", 4);
    EQ("tee-count", tee(p[0], q[1], 100, 0), 4);
    memset(buf, 0, sizeof buf);
    EQ("tee-source-kept", read(p[0], buf, sizeof buf), 4);
    memset(buf, 0, sizeof buf);
    EQ("tee-copy-read", read(q[0], buf, sizeof buf), 4);
    CHECK("tee-copy-data", !memcmp(buf, "teed", 4), "got %.4s", buf);
    ERR("tee-nonblock-empty-eagain", tee(p[0], q[1], 10, SPLICE_F_NONBLOCK), EAGAIN);
    ERR("tee-same-pipe-einval", tee(p[0], p[1], 10, 0), EINVAL);
    ERR("tee-file-einval", tee(fd, q[1], 10, 0), EINVAL);

    /* vmsplice both ways. */
    char v1[] = "vm", v2[] = "splice";
    struct iovec iv[2] = {{v1, 2}, {v2, 6}};
    EQ("vmsplice-to-pipe", vmsplice(p[1], iv, 2, 0), 8);
    char r1[3] = {0}, r2[6] = {0};
    struct iovec ir[2] = {{r1, 3}, {r2, 5}};
    EQ("vmsplice-from-pipe", vmsplice(p[0], ir, 2, 0), 8);
    CHECK("vmsplice-data", !memcmp(r1, "vms", 3) && !memcmp(r2, "plice", 5), "got %.3s|%.5s", r1, r2);
    ERR("vmsplice-file-ebadf", vmsplice(fd, iv, 1, 0), EBADF);
    ERR("vmsplice-bad-flags-einval", vmsplice(p[1], iv, 1, 0x100), EINVAL);

    /* Into a pipe with no reader: EPIPE (SIGPIPE ignored here). */
    signal(SIGPIPE, SIG_IGN);
    close(q[0]);
    write(p[1], "z", 1);
    ERR("splice-no-reader-epipe", splice(p[0], NULL, q[1], NULL, 1, 0), EPIPE);
    EQ("splice-no-reader-data-kept", read(p[0], buf, 1), 1);
    close(fd);
}

/* Issue 16: a read or write of zero bytes returns 0 at once on a blocking
 * pipe, empty or full, with or without a peer (pipe_read and pipe_write
 * return before they look at the pipe). */
static void zero_length_checks(void) {
    interrupt_after(5);
    int p[2];
    pipe(p);
    char buf[16];
    EQ("zero-read-empty-pipe", read(p[0], buf, 0), 0);
    EQ("zero-write-pipe", write(p[1], buf, 0), 0);
    EQ("zero-write-left-pipe-empty", (fcntl(p[0], F_SETFL, O_NONBLOCK), read(p[0], buf, 1) == -1 && errno == EAGAIN), 1);
    fcntl(p[0], F_SETFL, 0);
    /* Fill the pipe through a non-blocking alias of the write end. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char big[4096];
    while (write(p[1], big, sizeof big) > 0) {}
    fcntl(p[1], F_SETFL, 0);
    EQ("zero-write-full-pipe", write(p[1], buf, 0), 0);
    struct iovec iv = { buf, 0 };
    EQ("zero-writev-full-pipe", writev(p[1], &iv, 1), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    EQ("zero-write-no-reader", write(p[1], buf, 0), 0);
    close(p[1]);
    pipe(p);
    EQ("zero-readv-empty-pipe", readv(p[0], &iv, 1), 0);
    close(p[1]);
    EQ("zero-read-no-writer", read(p[0], buf, 0), 0);
    close(p[0]);
    alarm(0);
}

/* Issue 16: opening a pipe through /proc/self/fd gives another end of the
 * same pipe, at once: unlike a named FIFO, an anonymous pipe's open never
 * waits for a partner (fifo_open), even when the other side is closed. */
static void proc_reopen_checks(void) {
    interrupt_after(5);
    int p[2];
    pipe(p);
    char path[64], buf[8] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r2 = OK("proc-fd-open-read-end", open(path, O_RDONLY));
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    int w2 = OK("proc-fd-open-write-end", open(path, O_WRONLY));
    EQ("proc-fd-write-through-reopened", write(w2, "ab", 2), 2);
    EQ("proc-fd-read-original", read(p[0], buf, 1), 1);
    EQ("proc-fd-read-reopened", read(r2, buf + 1, 1), 1);
    CHECK("proc-fd-same-pipe-data", !memcmp(buf, "ab", 2), "got %.2s", buf);
    /* The reopened write end keeps the pipe open for writing. */
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ERR("proc-fd-reopened-writer-counts", read(p[0], buf, 1), EAGAIN);
    close(w2);
    EQ("proc-fd-eof-after-all-writers", read(r2, buf, 1), 0);
    close(p[0]);
    close(r2);

    /* No writer left: opening the read end does not wait for one. */
    pipe(p);
    close(p[1]);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    r2 = OK("proc-fd-open-read-end-no-writer", open(path, O_RDONLY));
    EQ("proc-fd-reopened-eof", read(r2, buf, 1), 0);
    close(r2);
    close(p[0]);
    /* No reader left: opening the write end neither waits nor fails. */
    pipe(p);
    close(p[0]);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    w2 = OK("proc-fd-open-write-end-no-reader", open(path, O_WRONLY));
    signal(SIGPIPE, SIG_IGN);
    ERR("proc-fd-reopened-epipe", write(w2, "x", 1), EPIPE);
    close(w2);
    close(p[1]);
    /* Read-write open of either end. */
    pipe(p);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int rw = OK("proc-fd-open-rdwr", open(path, O_RDWR));
    EQ("proc-fd-rdwr-write", write(rw, "z", 1), 1);
    EQ("proc-fd-rdwr-read", read(p[0], buf, 1), 1);
    close(rw);
    close(p[0]);
    close(p[1]);
    alarm(0);
}

/* Issue 16: POLLRDNORM and POLLWRNORM asked for alone are reported alone
 * (pipe_poll and the socket polls set them with POLLIN/POLLOUT, and poll
 * masks the result with the events asked for), and a poll that waits for
 * one of them alone wakes when it comes. `events` is never written. */
static void poll_norm_checks(void) {
    interrupt_after(8);
    int p[2];
    pipe(p);
    struct pollfd pf = { p[1], POLLWRNORM, 0 };
    EQ("poll-wrnorm-alone", poll(&pf, 1, 1000), 1);
    EQ("poll-wrnorm-alone-revents", pf.revents, POLLWRNORM);
    EQ("poll-events-unmodified", pf.events, POLLWRNORM);
    pf.fd = p[0];
    pf.events = POLLRDNORM;
    EQ("poll-rdnorm-empty", poll(&pf, 1, 0), 0);
    write(p[1], "x", 1);
    EQ("poll-rdnorm-alone", poll(&pf, 1, 1000), 1);
    EQ("poll-rdnorm-alone-revents", pf.revents, POLLRDNORM);
    pf.events = POLLIN | POLLRDNORM;
    poll(&pf, 1, 0);
    EQ("poll-in-and-rdnorm-revents", pf.revents, POLLIN | POLLRDNORM);
    char c;
    read(p[0], &c, 1);
    /* A writer in another process wakes a poll for POLLRDNORM alone. */
    pid_t pid = fork();
    if (pid == 0) { sleep_ms(50); write(p[1], "y", 1); _exit(0); }
    pf.events = POLLRDNORM;
    EQ("poll-rdnorm-wakes-on-write", poll(&pf, 1, 3000), 1);
    EQ("poll-rdnorm-wakes-revents", pf.revents, POLLRDNORM);
    waitpid(pid, NULL, 0);
    read(p[0], &c, 1);
    /* A reader in another process wakes a poll for POLLWRNORM alone. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char big[4096];
    while (write(p[1], big, sizeof big) > 0) {}
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        static char sink[65536];
        read(p[0], sink, sizeof sink);
        _exit(0);
    }
    pf.fd = p[1];
    pf.events = POLLWRNORM;
    EQ("poll-wrnorm-wakes-on-read", poll(&pf, 1, 3000), 1);
    EQ("poll-wrnorm-wakes-revents", pf.revents, POLLWRNORM);
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(p[1]);

    /* The same on a Unix stream socket. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pf.fd = sv[0];
    pf.events = POLLWRNORM;
    EQ("poll-socket-wrnorm-alone", (poll(&pf, 1, 1000), pf.revents), POLLWRNORM);
    pf.events = POLLRDNORM;
    pid = fork();
    if (pid == 0) { sleep_ms(50); write(sv[1], "s", 1); _exit(0); }
    EQ("poll-socket-rdnorm-wakes", poll(&pf, 1, 3000), 1);
    EQ("poll-socket-rdnorm-revents", pf.revents, POLLRDNORM);
    waitpid(pid, NULL, 0);
    close(sv[0]);
    close(sv[1]);
    alarm(0);
}

/* Issue 16: splice from a pipe into a file at RLIMIT_FSIZE: EFBIG (with
 * SIGXFSZ ignored) at the limit, a short splice below it, as a write gets
 * (generic_write_check_limits); never a loop that makes no progress. */
static void splice_fsize_checks(void) {
    interrupt_after(5);
    char path[] = "/tmp/splice-fsize-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    int p[2];
    pipe(p);
    write(p[1], "0123456789", 10);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = { 4096, 4096 };
    setrlimit(RLIMIT_FSIZE, &rl);
    loff_t off = 4096;
    ERR("splice-at-fsize-limit-efbig", splice(p[0], NULL, fd, &off, 10, 0), EFBIG);
    off = 4090;
    EQ("splice-below-fsize-limit-short", splice(p[0], NULL, fd, &off, 10, 0), 6);
    EQ("splice-below-fsize-limit-offset", off, 4096);
    lseek(fd, 4096, SEEK_SET);
    ERR("splice-at-fsize-limit-position-efbig", splice(p[0], NULL, fd, NULL, 4, 0), EFBIG);
    char rest[8];
    EQ("splice-fsize-data-kept-in-pipe", read(p[0], rest, sizeof rest), 4);
    close(fd);
    close(p[0]);
    close(p[1]);
    alarm(0);
}

/* Issue 16: F_SETPIPE_SZ keeps what the pipe holds; pipe-only commands
 * and calls on other files; a stream under concurrency arrives whole and
 * in order. */
static void pipe_size_checks(void) {
    int p[2];
    pipe(p);
    char data[3000], back[3000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 7);
    write(p[1], data, sizeof data);
    EQ("setpipe-sz-nonempty-grow", fcntl(p[0], F_SETPIPE_SZ, 1 << 20), 1 << 20);
    EQ("setpipe-sz-nonempty-data-kept", read(p[0], back, sizeof back) == (ssize_t)sizeof back && !memcmp(data, back, sizeof data), 1);
    write(p[1], data, sizeof data);
    EQ("setpipe-sz-nonempty-shrink", fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
    EQ("setpipe-sz-shrunk-data-kept", read(p[0], back, sizeof back) == (ssize_t)sizeof back && !memcmp(data, back, sizeof data), 1);
    ERR("setpipe-sz-zero-rounds-to-page", (fcntl(p[1], F_SETPIPE_SZ, 0) == 4096 ? (errno = EINVAL, -1) : 0), EINVAL);
    int fd = open("/dev/null", O_RDONLY);
    ERR("getpipe-sz-not-pipe-ebadf", fcntl(fd, F_GETPIPE_SZ), EBADF);
    ERR("setpipe-sz-not-pipe-ebadf", fcntl(fd, F_SETPIPE_SZ, 8192), EBADF);
    close(fd);
    ERR("pipe-ftruncate-einval", ftruncate(p[1], 0), EINVAL);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    ERR("pipe-truncate-through-proc-einval", truncate(path, 0), EINVAL);
    ERR("pipe-pwrite-espipe", pwrite(p[1], "x", 1, 0), ESPIPE);
    close(p[0]);
    close(p[1]);

    /* A writer child streams 2 MiB in odd-sized writes; the reader reads
     * odd-sized pieces; every byte must arrive, in order. */
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        unsigned char buf[7001];
        unsigned long sent = 0, total = 2 << 20;
        while (sent < total) {
            size_t n = 1 + (sent * 31 + 17) % sizeof buf;
            if (n > total - sent) n = total - sent;
            for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((sent + i) * 13 + ((sent + i) >> 9));
            ssize_t w = write(p[1], buf, n);
            if (w <= 0) _exit(1);
            sent += w;
        }
        _exit(0);
    }
    close(p[1]);
    unsigned char buf[5003];
    unsigned long got = 0, bad = 0;
    for (;;) {
        ssize_t n = read(p[0], buf, 1 + got % sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((got + i) * 13 + ((got + i) >> 9))) bad++;
        got += n;
    }
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    EQ("pipe-stream-all-bytes", got, 2 << 20);
    EQ("pipe-stream-in-order", bad, 0);
    EQ("pipe-stream-writer-exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}

static short revents_of(int fd, short events) {
    struct pollfd pf = { .fd = fd, .events = events };
    if (poll(&pf, 1, 0) < 0) return -1;
    return pf.revents;
}

/* Issue 16: POLLHUP and POLLERR as Linux reports them (whether asked for
 * or not), files that cannot be polled (always ready), negative
 * descriptors, and nfds against RLIMIT_NOFILE. */
static void poll_hup_err_checks(void) {
    int p[2];
    pipe(p);
    write(p[1], "x", 1);
    close(p[1]);
    EQ("poll-hup-with-data", revents_of(p[0], POLLIN), POLLIN | POLLHUP);
    EQ("poll-hup-unasked", revents_of(p[0], 0), POLLHUP);
    char c;
    read(p[0], &c, 1);
    EQ("poll-hup-drained", revents_of(p[0], POLLIN | POLLRDNORM), POLLHUP);
    close(p[0]);
    pipe(p);
    close(p[0]);
    EQ("poll-err-writer-unasked", revents_of(p[1], 0), POLLERR);
    EQ("poll-err-writer-pollout", revents_of(p[1], POLLOUT), POLLOUT | POLLERR);
    close(p[1]);

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    EQ("poll-socket-peer-closed", revents_of(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
    close(sv[0]);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    shutdown(sv[1], SHUT_WR);
    EQ("poll-socket-peer-shut-wr", revents_of(sv[0], POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
    close(sv[0]);
    close(sv[1]);

    int f = open("/tmp/poll-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EQ("poll-regular-file-ready", revents_of(f, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM), POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
    EQ("poll-regular-file-unasked", revents_of(f, 0), 0);
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(f, &r);
    FD_SET(f, &w);
    struct timeval tv = { 0, 0 };
    EQ("select-regular-file-ready", select(f + 1, &r, &w, NULL, &tv), 2);
    close(f);
    unlink("/tmp/poll-file");
    int n = open("/dev/null", O_RDWR);
    EQ("poll-dev-null-ready", revents_of(n, POLLIN | POLLOUT), POLLIN | POLLOUT);
    close(n);

    struct pollfd neg[2] = { { .fd = -1, .events = POLLIN, .revents = 7 }, { .fd = -5, .events = POLLOUT } };
    EQ("poll-negative-fds-ignored", poll(neg, 2, 0), 0);
    EQ("poll-negative-fd-revents-zero", neg[0].revents, 0);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit small = { 64, rl.rlim_max };
    setrlimit(RLIMIT_NOFILE, &small);
    static struct pollfd many[100];
    for (int i = 0; i < 100; i++) many[i].fd = -1;
    ERR("poll-nfds-over-rlimit-einval", poll(many, 65, 0), EINVAL);
    EQ("poll-nfds-at-rlimit", poll(many, 64, 0), 0);
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void checks(void) {
    group("basic", basic_checks, 10000);
    group("capacity", capacity_checks, 10000);
    group("atomic", atomic_checks, 20000);
    group("epipe", epipe_checks, 10000);
    group("poll", poll_checks, 10000);
    group("splice", splice_checks, 10000);
    group("zero-length", zero_length_checks, 10000);
    group("proc-reopen", proc_reopen_checks, 10000);
    group("poll-norm", poll_norm_checks, 10000);
    group("splice-fsize", splice_fsize_checks, 10000);
    group("pipe-size", pipe_size_checks, 20000);
    group("poll-hup-err", poll_hup_err_checks, 10000);
}
