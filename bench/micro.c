/* The micro-benchmarks of bench/run.sh: one workload per invocation, timed
 * from inside the container (so the container's start-up is not in the
 * figure), its results checked (a wrong result exits non-zero, so the short
 * mode of the bench catches a broken workload; timings are never judged).
 *
 * Usage: micro WORKLOAD ARGS...
 *   getpid N            N getpid calls                   -> ns per call
 *   open N              N open+read+close of /etc/passwd -> us per op
 *   stat N              N stat of /etc/passwd            -> us per op
 *   pipe N              N round trips of 1 MiB through two pipes between
 *                       a parent and its child           -> ms per round trip
 *   fork N              N fork + child _exit + wait      -> us per op
 *   exec N              N fork + exec /bin/true + wait   -> us per op
 *   io DIR MIB          write then read a MIB MiB file in DIR, 1 MiB at a
 *                       time                             -> MiB/s each way
 *   mmap MIB N          N times: mmap MIB MiB anonymous, write every page,
 *                       munmap                           -> ms per cycle
 *   spawn N PROG ARGS.. N fork + exec PROG + wait, PROG must exit 0
 *                                                        -> ms per run
 *
 * Output: one line per figure, "result NAME VALUE UNIT". Built static (gcc
 * -O2 -static) so it runs in a busybox root filesystem. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "micro: %s: %s\n", what, strerror(errno));
    return 1;
}

static long count_arg(int argc, char **argv, int i) {
    long n = argc > i ? atol(argv[i]) : 0;
    return n > 0 ? n : 1;
}

/* Waits for pid and checks it exited with `want`. */
static int reap(pid_t pid, int want, const char *what) {
    int st;
    if (pid < 0) return fail(what);
    if (waitpid(pid, &st, 0) != pid) return fail("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != want) {
        fprintf(stderr, "micro: %s: child status %#x, want exit %d\n", what, st, want);
        return 1;
    }
    return 0;
}

static int bench_getpid(long n) {
    pid_t want = getpid();
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        /* The raw system call: glibc does not cache getpid, but be sure. */
        if (syscall(SYS_getpid) != want) {
            fprintf(stderr, "micro: getpid changed\n");
            return 1;
        }
    }
    printf("result getpid %.1f ns\n", (now_ns() - t) / n);
    return 0;
}

/* clock_gettime through glibc: the vDSO when there is one (no trap). */
static int bench_clock(long n) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    double t = now_ns();
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &b);
    double per = (now_ns() - t) / n;
    if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec)) {
        fprintf(stderr, "micro: CLOCK_MONOTONIC went back\n");
        return 1;
    }
    printf("result clock_gettime %.1f ns\n", per);
    return 0;
}

static int bench_open(long n) {
    char buf[64];
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open("/etc/passwd", O_RDONLY);
        if (fd < 0) return fail("open /etc/passwd");
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 5 || memcmp(buf, "root:", 5) != 0) return fail("read /etc/passwd");
        if (close(fd) != 0) return fail("close");
    }
    printf("result open+read+close %.2f us\n", (now_ns() - t) / n / 1e3);
    return 0;
}

static int bench_stat(long n) {
    struct stat st;
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        if (stat("/etc/passwd", &st) != 0) return fail("stat /etc/passwd");
        if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
            fprintf(stderr, "micro: stat /etc/passwd: not a non-empty file\n");
            return 1;
        }
    }
    printf("result stat %.2f us\n", (now_ns() - t) / n / 1e3);
    return 0;
}

static int full_io(int fd, char *buf, size_t len, int writing) {
    size_t done = 0;
    while (done < len) {
        ssize_t r = writing ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

static int bench_pipe(long n) {
    int down[2], up[2];
    char *buf = malloc(MIB);
    if (!buf) return fail("malloc");
    if (pipe(down) != 0 || pipe(up) != 0) return fail("pipe");
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        /* The child echoes every MiB back. */
        close(down[1]);
        close(up[0]);
        for (long i = 0; i < n; i++) {
            if (full_io(down[0], buf, MIB, 0) || full_io(up[1], buf, MIB, 1)) _exit(2);
        }
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        memset(buf, (int)(i & 0xff), MIB);
        if (full_io(down[1], buf, MIB, 1)) return fail("pipe write");
        memset(buf, 0xee, MIB);
        if (full_io(up[0], buf, MIB, 0)) return fail("pipe read");
        if (buf[0] != (char)(i & 0xff) || buf[MIB - 1] != (char)(i & 0xff)) {
            fprintf(stderr, "micro: pipe: the echoed MiB differs\n");
            return 1;
        }
    }
    double dt = now_ns() - t;
    if (reap(pid, 0, "pipe child")) return 1;
    printf("result pipe-1MiB-roundtrip %.3f ms\n", dt / n / 1e6);
    return 0;
}

static int bench_fork(long n) {
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(7);
        if (reap(pid, 7, "fork")) return 1;
    }
    printf("result fork+wait %.1f us\n", (now_ns() - t) / n / 1e3);
    return 0;
}

static int bench_exec(long n) {
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)0);
            _exit(127);
        }
        if (reap(pid, 0, "fork+exec /bin/true")) return 1;
    }
    printf("result fork+exec %.1f us\n", (now_ns() - t) / n / 1e3);
    return 0;
}

/* Chunk i carries i in its first and last 8 bytes: enough to catch a
 * misplaced, lost or short chunk without comparing every byte. */
static void mark(char *buf, uint64_t i) {
    memcpy(buf, &i, sizeof i);
    memcpy(buf + MIB - sizeof i, &i, sizeof i);
}
static int marked(const char *buf, uint64_t i) {
    return memcmp(buf, &i, sizeof i) == 0 && memcmp(buf + MIB - sizeof i, &i, sizeof i) == 0;
}

static int bench_io(const char *dir, long mib) {
    char path[4096];
    snprintf(path, sizeof path, "%s/micro-io.%d", dir, getpid());
    char *buf = malloc(MIB);
    if (!buf) return fail("malloc");
    memset(buf, 0x5a, MIB);

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return fail(path);
    double t = now_ns();
    for (long i = 0; i < mib; i++) {
        mark(buf, (uint64_t)i);
        if (full_io(fd, buf, MIB, 1)) return fail("write");
    }
    if (close(fd) != 0) return fail("close after write");
    double wt = now_ns() - t;

    fd = open(path, O_RDONLY);
    if (fd < 0) return fail(path);
    t = now_ns();
    for (long i = 0; i < mib; i++) {
        if (full_io(fd, buf, MIB, 0)) return fail("read");
        if (!marked(buf, (uint64_t)i)) {
            fprintf(stderr, "micro: io: MiB %ld of %s reads back wrong\n", i, path);
            return 1;
        }
    }
    char extra;
    if (read(fd, &extra, 1) != 0) {
        fprintf(stderr, "micro: io: %s is longer than written\n", path);
        return 1;
    }
    double rt = now_ns() - t;
    close(fd);
    if (unlink(path) != 0) return fail("unlink");
    printf("result write %.1f MiB/s\n", mib / (wt / 1e9));
    printf("result read %.1f MiB/s\n", mib / (rt / 1e9));
    return 0;
}

static int bench_mmap(long mib, long n) {
    size_t len = (size_t)mib * MIB;
    long page = sysconf(_SC_PAGESIZE);
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return fail("mmap");
        for (size_t off = 0; off < len; off += (size_t)page) p[off] = (char)(off / (size_t)page);
        /* Read back a few pages: a fault that lost a write shows here. */
        for (size_t off = 0; off < len; off += len / 8) {
            if (p[off] != (char)(off / (size_t)page)) {
                fprintf(stderr, "micro: mmap: page at %zu lost its write\n", off);
                return 1;
            }
        }
        if (munmap(p, len) != 0) return fail("munmap");
    }
    printf("result mmap+touch+munmap %.2f ms\n", (now_ns() - t) / n / 1e6);
    return 0;
}

static int bench_spawn(long n, char **argv) {
    double t = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[0], argv);
            fprintf(stderr, "micro: exec %s: %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        if (reap(pid, 0, argv[0])) return 1;
    }
    printf("result spawn %.2f ms\n", (now_ns() - t) / n / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: micro WORKLOAD ARGS... (see bench/micro.c)\n");
        return 2;
    }
    const char *w = argv[1];
    int rc;
    if (!strcmp(w, "getpid")) rc = bench_getpid(count_arg(argc, argv, 2));
    else if (!strcmp(w, "clock")) rc = bench_clock(count_arg(argc, argv, 2));
    else if (!strcmp(w, "open")) rc = bench_open(count_arg(argc, argv, 2));
    else if (!strcmp(w, "stat")) rc = bench_stat(count_arg(argc, argv, 2));
    else if (!strcmp(w, "pipe")) rc = bench_pipe(count_arg(argc, argv, 2));
    else if (!strcmp(w, "fork")) rc = bench_fork(count_arg(argc, argv, 2));
    else if (!strcmp(w, "exec")) rc = bench_exec(count_arg(argc, argv, 2));
    else if (!strcmp(w, "io") && argc == 4) rc = bench_io(argv[2], count_arg(argc, argv, 3));
    else if (!strcmp(w, "mmap")) rc = bench_mmap(count_arg(argc, argv, 2), count_arg(argc, argv, 3));
    else if (!strcmp(w, "spawn") && argc >= 4) rc = bench_spawn(count_arg(argc, argv, 2), argv + 3);
    else {
        fprintf(stderr, "micro: unknown workload or wrong arguments: %s\n", w);
        return 2;
    }
    fflush(stdout);
    return rc;
}
