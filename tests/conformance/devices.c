/* Conformance: the container's /dev (issue 3): null, zero, full, random,
 * urandom, tty, ptmx with /dev/pts, shm, fd and stdin/stdout/stderr, as
 * runc sets them up and Linux's drivers behave.
 *
 * The native control gets the same /dev: a tmpfs with the host's device
 * nodes bound in, a new devpts instance and the usual symlinks. */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void is_chr(const char *name, const char *path, unsigned maj, unsigned min) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fail(name, "stat %s: %s", path, ename(errno));
        return;
    }
    CHECK(name, S_ISCHR(st.st_mode) && major(st.st_rdev) == maj && minor(st.st_rdev) == min,
          "%s: mode %o rdev %u:%u, wanted a character device %u:%u", path, st.st_mode,
          major(st.st_rdev), minor(st.st_rdev), maj, min);
}

static int all_zero(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void null_zero_full(void) {
    is_chr("null-is-chr-1-3", "/dev/null", 1, 3);
    is_chr("zero-is-chr-1-5", "/dev/zero", 1, 5);
    is_chr("full-is-chr-1-7", "/dev/full", 1, 7);
    is_chr("random-is-chr-1-8", "/dev/random", 1, 8);
    is_chr("urandom-is-chr-1-9", "/dev/urandom", 1, 9);
    is_chr("tty-is-chr-5-0", "/dev/tty", 5, 0);

    unsigned char buf[4096];
    int fd = open("/dev/null", O_RDWR);
    EQ("null-write-swallows", write(fd, "abc", 3), 3);
    EQ("null-read-eof", read(fd, buf, sizeof buf), 0);
    EQ("null-lseek-zero", lseek(fd, 100, SEEK_SET), 0);
    close(fd);

    fd = open("/dev/zero", O_RDWR);
    memset(buf, 0xaa, sizeof buf);
    EQ("zero-read-full", read(fd, buf, sizeof buf), sizeof buf);
    CHECK("zero-read-zeros", all_zero(buf, sizeof buf), "non-zero byte read");
    EQ("zero-write-swallows", write(fd, "abc", 3), 3);
    unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK("zero-mmap-private", m != MAP_FAILED && all_zero(m, 8192), "mmap: %s", ename(errno));
    if (m != MAP_FAILED) {
        m[0] = 1;
        CHECK("zero-mmap-writable", m[0] == 1, "write did not stick");
        munmap(m, 8192);
    }
    close(fd);

    fd = open("/dev/full", O_RDWR);
    ERR("full-write-enospc", write(fd, "abc", 3), ENOSPC);
    memset(buf, 0xaa, 64);
    EQ("full-read-zeros-count", read(fd, buf, 64), 64);
    CHECK("full-read-zeros", all_zero(buf, 64), "non-zero byte read");
    close(fd);
}

static void randomness(void) {
    const char *paths[] = {"/dev/random", "/dev/urandom"};
    const char *names[] = {"random", "urandom"};
    for (int i = 0; i < 2; i++) {
        unsigned char a[64], b[64];
        char n[64];
        int fd = open(paths[i], O_RDONLY);
        snprintf(n, sizeof n, "%s-read", names[i]);
        EQ(n, read(fd, a, sizeof a), sizeof a);
        read(fd, b, sizeof b);
        snprintf(n, sizeof n, "%s-differs", names[i]);
        CHECK(n, memcmp(a, b, sizeof a) != 0 && !all_zero(a, sizeof a), "two reads gave the same bytes");
        struct pollfd p = {fd, POLLIN, 0};
        snprintf(n, sizeof n, "%s-poll-readable", names[i]);
        CHECK(n, poll(&p, 1, 0) == 1 && (p.revents & POLLIN), "poll revents %#x", p.revents);
        close(fd);
    }
}

/* /dev/tty with no controlling terminal: ENXIO (the group runs setsid). */
static void no_ctty(void) {
    if (setsid() < 0) {
        fail("setsid", "%s", ename(errno));
        return;
    }
    ERR("tty-without-ctty-enxio", open("/dev/tty", O_RDWR), ENXIO);
}

static void ptys(void) {
    struct stat st;
    CHECK("pts-is-dir", stat("/dev/pts", &st) == 0 && S_ISDIR(st.st_mode), "stat: %s", ename(errno));
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        fail("posix-openpt", "%s", ename(errno));
        return;
    }
    pass("posix-openpt");
    OK("grantpt", grantpt(m));
    OK("unlockpt", unlockpt(m));
    const char *name = ptsname(m);
    CHECK("ptsname-under-dev-pts", name && !strncmp(name, "/dev/pts/", 9), "ptsname %s", name ? name : "(null)");
    if (!name) return;
    CHECK("pts-node-exists", stat(name, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 136,
          "stat %s: %s mode %o rdev %u:%u", name, ename(errno), st.st_mode, major(st.st_rdev), minor(st.st_rdev));
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s < 0) {
        fail("open-pts", "%s: %s", name, ename(errno));
        return;
    }
    pass("open-pts");
    CHECK("isatty-slave", isatty(s) == 1, "isatty: %s", ename(errno));
    CHECK("isatty-master", isatty(m) == 1, "isatty: %s", ename(errno));
    ERR("isatty-null", isatty(open("/dev/null", O_RDONLY)) ? 0 : -1, ENOTTY);
    struct termios t;
    CHECK("tcgetattr-canonical-echo", tcgetattr(s, &t) == 0 && (t.c_lflag & ICANON) && (t.c_lflag & ECHO),
          "lflag %#x: %s", t.c_lflag, ename(errno));
    /* Canonical input: a line typed on the master reaches the slave. */
    t.c_lflag &= ~ECHO;
    tcsetattr(s, TCSANOW, &t);
    EQ("master-write", write(m, "hello\n", 6), 6);
    char buf[64] = {0};
    EQ("slave-read-line", read(s, buf, sizeof buf), 6);
    CHECK("slave-read-data", !memcmp(buf, "hello\n", 6), "read %.6s", buf);
    /* Output post-processing: ONLCR turns \n into \r\n. */
    EQ("slave-write", write(s, "out\n", 4), 4);
    struct pollfd p = {m, POLLIN, 0};
    poll(&p, 1, 2000);
    memset(buf, 0, sizeof buf);
    ssize_t n = read(m, buf, sizeof buf);
    CHECK("master-read-onlcr", n == 5 && !memcmp(buf, "out\r\n", 5), "read %zd '%s'", n, buf);
    struct winsize ws = {.ws_row = 33, .ws_col = 99}, got = {0};
    OK("tiocswinsz", ioctl(m, TIOCSWINSZ, &ws));
    CHECK("tiocgwinsz-slave", ioctl(s, TIOCGWINSZ, &got) == 0 && got.ws_row == 33 && got.ws_col == 99,
          "rows %d cols %d", got.ws_row, got.ws_col);
    int num = -1;
    CHECK("tiocgptn", ioctl(m, TIOCGPTN, &num) == 0 && num == atoi(name + 9), "ptn %d name %s", num, name);
    close(s);
    close(m);
}

/* waitpid(pid, WUNTRACED) for at most 3 s; -2 on a timeout. */
static pid_t wait_stopped(pid_t pid, int *st) {
    for (int i = 0; i < 600; i++) {
        pid_t r = waitpid(pid, st, WNOHANG | WUNTRACED);
        if (r != 0) return r;
        sleep_ms(5);
    }
    return -2;
}

/* Job control on a pty that is the session's controlling terminal: a
 * background group may not read it (SIGTTIN; EIO with SIGTTIN ignored),
 * may write it unless TOSTOP is set (then SIGTTOU). */
static void job_control(void) {
    if (setsid() < 0) {
        fail("jc-setsid", "%s", ename(errno));
        return;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m) || !ptsname(m)) {
        fail("jc-openpt", "%s", ename(errno));
        return;
    }
    int s = open(ptsname(m), O_RDWR);
    if (s < 0) {
        fail("jc-open-slave", "%s", ename(errno));
        return;
    }
    EQ("jc-ctty-acquired-by-open", tcgetsid(s), getpid());
    EQ("jc-foreground-is-leader", tcgetpgrp(s), getpid());
    int st = 0;
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        char b;
        read(s, &b, 1);
        _exit(7);
    }
    setpgid(c, c);
    pid_t r = wait_stopped(c, &st);
    CHECK("jc-background-read-stops-sigttin", r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTIN,
          "wait %d: %s", r, wstatus(st));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);

    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        signal(SIGTTIN, SIG_IGN);
        char b;
        ssize_t n = read(s, &b, 1);
        _exit(n == -1 && errno == EIO ? 0 : 1);
    }
    setpgid(c, c);
    r = wait_stopped(c, &st);
    CHECK("jc-background-read-ignored-eio", r == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "wait %d: %s", r, wstatus(st));
    if (r == -2) kill(c, SIGKILL), waitpid(c, &st, 0);

    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        _exit(write(s, "x", 1) == 1 ? 0 : 1);
    }
    setpgid(c, c);
    r = wait_stopped(c, &st);
    CHECK("jc-background-write-without-tostop", r == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "wait %d: %s", r, wstatus(st));
    if (r == -2) kill(c, SIGKILL), waitpid(c, &st, 0);

    struct termios t;
    tcgetattr(s, &t);
    t.c_lflag |= TOSTOP;
    tcsetattr(s, TCSANOW, &t);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        _exit(write(s, "y", 1) == 1 ? 0 : 1);
    }
    setpgid(c, c);
    r = wait_stopped(c, &st);
    CHECK("jc-background-write-tostop-sigttou", r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTOU,
          "wait %d: %s", r, wstatus(st));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);

    /* The foreground group reads as ever. */
    write(m, "ok\n", 3);
    char buf[8] = {0};
    EQ("jc-foreground-read", read(s, buf, sizeof buf), 3);
}

static void fd_links(void) {
    char l[64];
    ssize_t n = readlink("/dev/fd", l, sizeof l - 1);
    CHECK("dev-fd-link", n > 0 && (l[n] = 0, !strcmp(l, "/proc/self/fd")), "readlink %zd %s", n, n > 0 ? l : ename(errno));
    const char *std[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr"};
    for (int i = 0; i < 3; i++) {
        char want[32], name[32];
        snprintf(want, sizeof want, "/proc/self/fd/%d", i);
        snprintf(name, sizeof name, "dev-std-link-%d", i);
        n = readlink(std[i], l, sizeof l - 1);
        CHECK(name, n > 0 && (l[n] = 0, !strcmp(l, want)), "readlink %s: %s", std[i], n > 0 ? l : ename(errno));
    }
    int p[2];
    pipe(p);
    char path[32];
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    CHECK("dev-fd-reopen-pipe", w >= 0, "open %s: %s", path, ename(errno));
    if (w >= 0) {
        write(w, "x", 1);
        char c = 0;
        EQ("dev-fd-reopen-same-pipe", read(p[0], &c, 1) == 1 && c == 'x', 1);
        close(w);
    }
    close(p[0]);
    close(p[1]);
    n = readlink("/dev/ptmx", l, sizeof l - 1);
    struct stat st;
    CHECK("ptmx-exists", (n > 0 && (l[n] = 0, !strcmp(l, "pts/ptmx"))) ||
                             (stat("/dev/ptmx", &st) == 0 && S_ISCHR(st.st_mode)),
          "readlink %s", n > 0 ? l : ename(errno));
}

static void shm_dir(void) {
    struct stat st;
    CHECK("shm-sticky-world-writable", stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 01777,
          "mode %o: %s", st.st_mode, ename(errno));
    int fd = open("/dev/shm/devices-test", O_CREAT | O_RDWR | O_EXCL, 0600);
    CHECK("shm-create", fd >= 0, "%s", ename(errno));
    if (fd >= 0) {
        EQ("shm-write", write(fd, "data", 4), 4);
        close(fd);
        unlink("/dev/shm/devices-test");
    }
    ERR("dev-null-o-excl-eexist", open("/dev/null", O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST);
}

static void checks(void) {
    group("null-zero-full", null_zero_full, 10000);
    group("random", randomness, 10000);
    group("no-ctty", no_ctty, 10000);
    group("ptys", ptys, 10000);
    group("job-control", job_control, 20000);
    group("fd-links", fd_links, 10000);
    group("shm", shm_dir, 10000);
}
