/* Identity and limits: uname, getrandom, user and group ids,
 * capabilities, resource limits and their enforcement, sysinfo and
 * personality, checked against uname(2), getrandom(2), getuid(2),
 * getgroups(2), setresuid(2), capget(2), getrlimit(2), sysinfo(2) and
 * personality(2). The control runs as root, like the container. */
#include "check.h"
#include <fcntl.h>
#include <alloca.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

static void system_checks(void) {
    struct utsname u;
    OK("uname", uname(&u));
    CHECK("uname-sysname", !strcmp(u.sysname, "Linux"), "sysname %s", u.sysname);
    CHECK("uname-machine", !strcmp(u.machine, "x86_64"), "machine %s", u.machine);
    CHECK("uname-release", u.release[0] >= '1' && u.release[0] <= '9' && strchr(u.release, '.'), "release %s", u.release);
    char host[256] = {0};
    OK("gethostname", gethostname(host, sizeof host));
    CHECK("uname-nodename-is-hostname", !strcmp(u.nodename, host) && host[0], "nodename %s hostname %s", u.nodename, host);
    ERR("gethostname-small-enametoolong", gethostname(host, 1), ENAMETOOLONG);

    unsigned char a[32], b[32];
    EQ("getrandom", getrandom(a, sizeof a, 0), 32);
    getrandom(b, sizeof b, GRND_NONBLOCK);
    CHECK("getrandom-differs", memcmp(a, b, sizeof a) != 0, "two draws are equal");
    EQ("getrandom-nonblock", getrandom(b, 8, GRND_NONBLOCK), 8);
    ERR("getrandom-bad-flags-einval", getrandom(b, 8, 0x100), EINVAL);
    ERR("getrandom-efault", syscall(SYS_getrandom, (void *)8, 8, 0), EFAULT);

    struct sysinfo si;
    OK("sysinfo", sysinfo(&si));
    CHECK("sysinfo-fields", si.totalram > 0 && si.freeram <= si.totalram && si.mem_unit >= 1 && si.procs >= 1,
          "total %lu free %lu unit %u procs %u", si.totalram, si.freeram, si.mem_unit, si.procs);
    /* Both count from boot. */
    struct timespec boot;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    CHECK("sysinfo-uptime-is-boottime", labs(si.uptime - boot.tv_sec) <= 1, "uptime %ld, CLOCK_BOOTTIME %ld s", si.uptime, (long)boot.tv_sec);
    int pers = personality(0xffffffff);
    EQ("personality-query", pers & PER_MASK, PER_LINUX);
    EQ("personality-query-unchanged", personality(0xffffffff), pers);
    CHECK("page-size", sysconf(_SC_PAGESIZE) == 4096, "%ld", sysconf(_SC_PAGESIZE));
}

static void id_checks(void) {
    EQ("getuid-root", getuid(), 0);
    EQ("geteuid-root", geteuid(), 0);
    EQ("getgid-root", getgid(), 0);
    EQ("getegid-root", getegid(), 0);
    uid_t r, e, s;
    OK("getresuid", getresuid(&r, &e, &s));
    CHECK("getresuid-values", r == 0 && e == 0 && s == 0, "%d %d %d", r, e, s);
    int n = getgroups(0, NULL);
    CHECK("getgroups-count", n >= 0, "getgroups(0) = %d %s", n, ename(errno));
    gid_t g[64];
    EQ("getgroups-list", getgroups(64, g), n);

    /* Dropping root in a child: the ids change and cannot be regained. */
    pid_t pid = fork();
    if (pid == 0) {
        gid_t one = 1000;
        int bad = 0;
        if (setgroups(1, &one) != 0) bad |= 1;
        if (setresgid(1000, 1000, 1000) != 0) bad |= 2;
        if (setresuid(1000, 1000, 1000) != 0) bad |= 4;
        if (getuid() != 1000 || geteuid() != 1000 || getgid() != 1000) bad |= 8;
        if (setuid(0) != -1 || errno != EPERM) bad |= 16;
        struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct d[2];
        memset(d, 0xff, sizeof d);
        if (syscall(SYS_capget, &h, d) != 0 || d[0].effective != 0) bad |= 32;
        _exit(bad);
    }
    int st;
    waitpid(pid, &st, 0);
    EQ("setresuid-drop-root", WEXITSTATUS(st) & 15, 0);
    EQ("setuid-back-to-root-eperm", WEXITSTATUS(st) & 16, 0);
    EQ("drop-root-clears-effective-caps", WEXITSTATUS(st) & 32, 0);

    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    OK("capget", syscall(SYS_capget, &h, d));
    CHECK("capget-chown-kill-setuid", (d[0].effective & (1u << CAP_CHOWN)) && (d[0].effective & (1u << CAP_KILL)) && (d[0].permitted & (1u << CAP_SETUID)),
          "effective %#x permitted %#x", d[0].effective, d[0].permitted);
    struct __user_cap_header_struct bad = { 0x12345678, 0 };
    ERR("capget-bad-version-einval", syscall(SYS_capget, &bad, d), EINVAL);
    EQ("capget-bad-version-writes-preferred", bad.version, _LINUX_CAPABILITY_VERSION_3);
    struct __user_cap_header_struct probe = { 0x12345678, 0 };
    EQ("capget-null-data-probe", syscall(SYS_capget, &probe, NULL), 0);
    EQ("capbset-read-chown", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0), 1);
    ERR("capbset-read-bad-einval", prctl(PR_CAPBSET_READ, 200, 0, 0, 0), EINVAL);
}

static void rlimit_checks(void) {
    struct rlimit rl, rl2;
    OK("getrlimit-nofile", getrlimit(RLIMIT_NOFILE, &rl));
    CHECK("rlimit-nofile-soft-le-hard", rl.rlim_cur <= rl.rlim_max && rl.rlim_cur >= 64, "cur %lu max %lu", rl.rlim_cur, rl.rlim_max);
    OK("prlimit-get", prlimit(0, RLIMIT_NOFILE, NULL, &rl2));
    CHECK("prlimit-agrees", rl2.rlim_cur == rl.rlim_cur && rl2.rlim_max == rl.rlim_max, "%lu/%lu vs %lu/%lu", rl2.rlim_cur, rl2.rlim_max, rl.rlim_cur, rl.rlim_max);
    struct rlimit up = { rl.rlim_max + 1, rl.rlim_max };
    ERR("setrlimit-soft-above-hard-einval", setrlimit(RLIMIT_NOFILE, &up), EINVAL);
    ERR("getrlimit-bad-resource-einval", getrlimit(99, &rl2), EINVAL);
    ERR("prlimit-esrch", prlimit(99999, RLIMIT_NOFILE, NULL, &rl2), ESRCH);

    struct rlimit ten = { 10, rl.rlim_max };
    OK("setrlimit-nofile", setrlimit(RLIMIT_NOFILE, &ten));
    getrlimit(RLIMIT_NOFILE, &rl2);
    EQ("setrlimit-nofile-read-back", rl2.rlim_cur, 10);
    int fds = 0, last;
    while ((last = open("/", O_RDONLY)) >= 0) fds++;
    ERR("rlimit-nofile-open-emfile", open("/", O_RDONLY), EMFILE);
    CHECK("rlimit-nofile-highest-fd", fds > 0 && fds <= 10, "opened %d descriptors", fds);
    ERR("rlimit-nofile-dup-emfile", dup(0), EMFILE);
    ERR("rlimit-nofile-dupfd-above-einval", fcntl(0, F_DUPFD, 10), EINVAL);
    ERR("rlimit-nofile-dup2-above-ebadf", dup2(0, 10), EBADF);
    int p[2];
    ERR("rlimit-nofile-pipe-emfile", pipe(p), EMFILE);
    for (int fd = 3; fd < 10; fd++) close(fd);
    setrlimit(RLIMIT_NOFILE, &rl);

    /* RLIMIT_FSIZE: a write past the limit is short, then EFBIG (SIGXFSZ ignored). */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit f = { 1000, RLIM_INFINITY };
        setrlimit(RLIMIT_FSIZE, &f);
        int fd = open("/tmp/fsize-file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        static char buf[1500];
        long a = write(fd, buf, sizeof buf);
        errno = 0;
        long b = write(fd, buf, 10);
        int e = errno;
        unlink("/tmp/fsize-file");
        _exit(a == 1000 ? (b == -1 && e == EFBIG ? 0 : 2) : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    EQ("rlimit-fsize-short-write", WIFEXITED(st) ? (WEXITSTATUS(st) & 1) : -1, 0);
    EQ("rlimit-fsize-efbig", WIFEXITED(st) ? (WEXITSTATUS(st) & 2) : -1, 0);

    /* RLIMIT_AS: a mapping that would exceed it fails with ENOMEM. */
    pid = fork();
    if (pid == 0) {
        struct rlimit as = { 256L << 20, RLIM_INFINITY };
        setrlimit(RLIMIT_AS, &as);
        void *m = mmap(NULL, 512L << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        _exit(m == MAP_FAILED && errno == ENOMEM ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    EQ("rlimit-as-enomem", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);

    OK("getrlimit-stack", getrlimit(RLIMIT_STACK, &rl2));
    CHECK("rlimit-stack-sane", rl2.rlim_cur >= (1 << 20), "cur %lu", rl2.rlim_cur);
}

static volatile sig_atomic_t xfsz_seen;
static void on_xfsz(int sig) { (void)sig; xfsz_seen++; }

/* RLIMIT_FSIZE beyond write(2): the signal, pwrite, ftruncate, truncate,
 * fallocate, and the default action of SIGXFSZ. */
static void fsize_checks(void) {
    signal(SIGXFSZ, on_xfsz);
    struct rlimit f = { 4096, RLIM_INFINITY };
    OK("fsize-setrlimit", setrlimit(RLIMIT_FSIZE, &f));
    int fd = open("/tmp/fsize-more", O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char buf[8192];
    EQ("fsize-write-short", write(fd, buf, sizeof buf), 4096);
    EQ("fsize-short-write-no-signal", xfsz_seen, 0);
    ERR("fsize-write-at-limit-efbig", write(fd, buf, 1), EFBIG);
    EQ("fsize-sigxfsz-delivered", xfsz_seen, 1);
    EQ("fsize-write-zero-at-limit", write(fd, buf, 0), 0);
    ERR("fsize-pwrite-beyond-efbig", pwrite(fd, buf, 10, 5000), EFBIG);
    EQ("fsize-pwrite-below-short", pwrite(fd, buf, 100, 4000), 96);
    ERR("fsize-ftruncate-grow-efbig", ftruncate(fd, 4097), EFBIG);
    OK("fsize-ftruncate-shrink", ftruncate(fd, 100));
    ERR("fsize-truncate-grow-efbig", truncate("/tmp/fsize-more", 10000), EFBIG);
    ERR("fsize-fallocate-grow-efbig", fallocate(fd, 0, 0, 8192), EFBIG);
    OK("fsize-fallocate-within", fallocate(fd, 0, 0, 2048));
    int p[2];
    OK("fsize-pipe", pipe(p));
    EQ("fsize-pipe-not-limited", write(p[1], buf, 6000), 6000);
    close(fd);
    unlink("/tmp/fsize-more");

    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_DFL);
        setrlimit(RLIMIT_FSIZE, &f);
        int fd2 = open("/tmp/fsize-kill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        unlink("/tmp/fsize-kill");
        pwrite(fd2, buf, 1, 4096);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK("fsize-sigxfsz-default-kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "%s", wstatus(st));
}

/* RLIMIT_AS for brk and mremap as well as mmap. */
static void as_checks(void) {
    struct rlimit as = { 512L << 20, RLIM_INFINITY };
    OK("as-setrlimit", setrlimit(RLIMIT_AS, &as));
    void *small = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("as-small-mmap-ok", small != MAP_FAILED, "%s", ename(errno));
    errno = 0;
    void *big = mmap(NULL, 600L << 20, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK("as-shared-mmap-enomem", big == MAP_FAILED && errno == ENOMEM, "got %p, %s", big, ename(errno));
    errno = 0;
    void *grown = mremap(small, 1 << 20, 600L << 20, MREMAP_MAYMOVE);
    CHECK("as-mremap-grow-enomem", grown == MAP_FAILED && errno == ENOMEM, "got %p, %s", grown, ename(errno));
    void *cur = sbrk(0);
    errno = 0;
    void *r = sbrk(600L << 20);
    CHECK("as-sbrk-enomem", r == (void *)-1 && errno == ENOMEM && sbrk(0) == cur, "got %p, %s", r, ename(errno));
    /* Replacing a mapping with MAP_FIXED costs only the difference. */
    void *fixed = mmap(small, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK("as-fixed-replace-ok", fixed == small, "got %p, %s", fixed, ename(errno));
    as.rlim_cur = RLIM_INFINITY;
    OK("as-raise-back", setrlimit(RLIMIT_AS, &as));
    big = mmap(NULL, 600L << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("as-unlimited-mmap-ok", big != MAP_FAILED, "%s", ename(errno));
}

static void *idle_thread(void *arg) { return arg; }

/* fork for a check that expects it to fail: a child (the limit did not
 * hold) leaves at once instead of running the parent's checks. */
static pid_t fork_or_exit(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    if (p > 0) waitpid(p, NULL, 0);
    return p;
}

/* RLIMIT_NPROC counts the tasks of the caller's real uid; root is exempt. */
static void nproc_checks(void) {
    struct rlimit one = { 1, 1 };
    OK("nproc-setrlimit", setrlimit(RLIMIT_NPROC, &one));
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    CHECK("nproc-root-exempt", pid > 0, "fork: %s", ename(errno));
    if (pid > 0) waitpid(pid, NULL, 0);
    OK("nproc-setuid", setresuid(12345, 12345, 12345));
    ERR("nproc-fork-eagain", fork_or_exit(), EAGAIN);
    pthread_t th;
    EQ("nproc-thread-eagain", pthread_create(&th, NULL, idle_thread, NULL), EAGAIN);
    struct rlimit more = { 3, 3 };
    ERR("nproc-raise-hard-eperm", setrlimit(RLIMIT_NPROC, &more), EPERM);
}

static void nproc_raise_checks(void) {
    struct rlimit two = { 2, 2 };
    setrlimit(RLIMIT_NPROC, &two);
    setresuid(12345, 12345, 12345);
    pid_t a = fork();
    if (a == 0) { sleep_ms(300); _exit(0); }
    CHECK("nproc-fork-below-limit", a > 0, "fork: %s", ename(errno));
    ERR("nproc-fork-at-limit-eagain", fork_or_exit(), EAGAIN);
    if (a > 0) waitpid(a, NULL, 0);
    pid_t b = fork();
    if (b == 0) _exit(0);
    CHECK("nproc-fork-after-reap", b > 0, "fork: %s", ename(errno));
    if (b > 0) waitpid(b, NULL, 0);
}

/* prlimit on another process of the sandbox. */
static void prlimit_checks(void) {
    int go[2];
    pipe(go);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        read(go[0], &c, 1);
        struct rlimit r;
        getrlimit(RLIMIT_CORE, &r);
        _exit(r.rlim_cur == 12345 ? 0 : 1);
    }
    struct rlimit set = { 12345, RLIM_INFINITY }, old, now;
    OK("prlimit-other-set", prlimit(pid, RLIMIT_CORE, &set, &old));
    OK("prlimit-other-get", prlimit(pid, RLIMIT_CORE, NULL, &now));
    EQ("prlimit-other-read-back", now.rlim_cur, 12345);
    write(go[1], "x", 1);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK("prlimit-other-seen-by-target", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
    pid = fork();
    if (pid == 0) {
        setresuid(12345, 12345, 12345);
        struct rlimit r;
        _exit(prlimit(getppid(), RLIMIT_CORE, NULL, &r) == -1 && errno == EPERM ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    CHECK("prlimit-other-uid-eperm", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
    struct rlimit huge = { 1 << 21, 1 << 21 };
    ERR("prlimit-nofile-above-nr-open-eperm", setrlimit(RLIMIT_NOFILE, &huge), EPERM);
    struct rlimit core = { 0, RLIM_INFINITY }, mem = { 65536, 65536 };
    OK("rlimit-core-accepted", setrlimit(RLIMIT_CORE, &core));
    OK("rlimit-memlock-accepted", setrlimit(RLIMIT_MEMLOCK, &mem));
}

/* RLIMIT_STACK sizes a new program's stack: exec this program again with a
 * probe (see stack_probe) that uses `use_mb` of stack under a limit of
 * `limit_mb`; returns the probe's wait status. */
static int run_stack_probe(long limit_mb, long use_mb) {
    char self[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit r = { limit_mb << 20, RLIM_INFINITY };
        setrlimit(RLIMIT_STACK, &r);
        char env[64];
        snprintf(env, sizeof env, "CONF_STACK_PROBE_MB=%ld", use_mb);
        char *argv[] = { self, NULL };
        char *envp[] = { env, NULL };
        execve(self, argv, envp);
        _exit(127);
    }
    int st = 0;
    if (wait_bounded(pid, &st, 10000) != pid) return -1;
    return st;
}

/* Runs before main in the re-executed program: touch the stack, top down. */
__attribute__((constructor)) static void stack_probe(void) {
    const char *mb = getenv("CONF_STACK_PROBE_MB");
    if (!mb) return;
    long n = atol(mb) << 20;
    volatile char *p = alloca(n);
    for (long i = n - 1; i >= 0; i -= 4096) p[i] = 1;
    _exit(0);
}

static void stack_checks(void) {
    int st = run_stack_probe(64, 40);
    CHECK("rlimit-stack-large-limit-usable", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", st == -1 ? "no probe" : wstatus(st));
    st = run_stack_probe(2, 8);
    CHECK("rlimit-stack-small-limit-segv", st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s", st == -1 ? "no probe" : wstatus(st));
}

static void checks(void) {
    group("system", system_checks, 10000);
    group("ids", id_checks, 10000);
    group("rlimits", rlimit_checks, 10000);
    group("fsize", fsize_checks, 10000);
    group("as", as_checks, 10000);
    group("nproc", nproc_checks, 10000);
    group("nproc-raise", nproc_raise_checks, 10000);
    group("prlimit", prlimit_checks, 10000);
    group("stack", stack_checks, 25000);
}
