/* Identity and limits: uname, getrandom, user and group ids,
 * capabilities, resource limits and their enforcement, sysinfo and
 * personality, checked against uname(2), getrandom(2), getuid(2),
 * getgroups(2), setresuid(2), capget(2), getrlimit(2), sysinfo(2) and
 * personality(2). The control runs as root, like the container. */
#include "check.h"
#include <fcntl.h>
#include <grp.h>
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

static void checks(void) {
    group("system", system_checks, 10000);
    group("ids", id_checks, 10000);
    group("rlimits", rlimit_checks, 10000);
}
