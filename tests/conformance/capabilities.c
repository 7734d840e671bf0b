/* Capabilities: capget(2)/capset(2) with their versions, prctl(2)'s
 * bounding set, ambient set, keepcaps and securebits options, the effect
 * of uid changes and of execve on the sets (capabilities(7)), the
 * Cap* lines of /proc/PID/status, and privilege checks that follow the
 * effective set rather than the uid (CAP_CHOWN, CAP_FOWNER,
 * CAP_DAC_OVERRIDE, CAP_KILL, CAP_SETUID, CAP_SYS_NICE, CAP_IPC_LOCK,
 * CAP_SYS_RESOURCE).
 *
 * The control runs as root with the host's capabilities, the container
 * with its spec's (Docker's default set): every check only uses
 * capabilities both hold (CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID,
 * SETUID, SETPCAP, MKNOD) and drops what it tests, each group in a child
 * of its own so the drops do not leak. */
#include "check.h"
#include <fcntl.h>
#include <stdint.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define BIT(c) ((uint64_t)1 << (c))

struct sets { uint64_t eff, prm, inh; };

static int caps_get_pid(pid_t pid, struct sets *s) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    s->eff = d[0].effective | (uint64_t)d[1].effective << 32;
    s->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    s->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    return 0;
}

static struct sets caps_get(void) {
    struct sets s = {0, 0, 0};
    caps_get_pid(0, &s);
    return s;
}

static long caps_set(struct sets s) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)s.eff, (uint32_t)s.prm, (uint32_t)s.inh },
        { (uint32_t)(s.eff >> 32), (uint32_t)(s.prm >> 32), (uint32_t)(s.inh >> 32) },
    };
    return syscall(SYS_capset, &h, d);
}

/* A hex field of /proc/<pid>/status ("CapEff"), or ~0 when missing. */
static uint64_t status_hex(pid_t pid, const char *key) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ~(uint64_t)0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return ~(uint64_t)0;
    buf[n] = 0;
    char want[32];
    snprintf(want, sizeof want, "\n%s:", key);
    char *p = strstr(buf, want);
    if (!p) return ~(uint64_t)0;
    return strtoull(p + strlen(want), NULL, 16);
}

/* A fresh root-owned file for the permission checks. */
static const char *scratch(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/caps-%d", getpid());
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd >= 0) close(fd);
    return path;
}

/* Runs before main in the re-executed program: reports its capability
 * sets as an exit status (bit 0: effective == permitted == the expected
 * set named in CONF_CAPS_PROBE; bit 1: the uid is the expected one). */
__attribute__((constructor)) static void caps_probe(void) {
    const char *want = getenv("CONF_CAPS_PROBE");
    const char *uid = getenv("CONF_CAPS_PROBE_UID");
    if (!want || !uid) return;
    struct sets s = caps_get();
    uint64_t w = strtoull(want, NULL, 16);
    int bad = 0;
    if (s.eff != w || s.prm != w) bad |= 1;
    if (getuid() != (uid_t)atoi(uid)) bad |= 2;
    _exit(bad);
}

/* Re-executes this program as a probe expecting `want`; the exit status. */
static int run_probe(uint64_t want, uid_t uid) {
    char w[32], u[16];
    snprintf(w, sizeof w, "%llx", (unsigned long long)want);
    snprintf(u, sizeof u, "%d", uid);
    setenv("CONF_CAPS_PROBE", w, 1);
    setenv("CONF_CAPS_PROBE_UID", u, 1);
    char self[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *argv[] = { self, NULL };
    execv(self, argv);
    return -1;
}

static void capget_checks(void) {
    struct sets s = caps_get();
    CHECK("capget-effective-has-chown-kill-setuid", (s.eff & BIT(CAP_CHOWN)) && (s.eff & BIT(CAP_KILL)) && (s.prm & BIT(CAP_SETUID)),
          "effective %#llx permitted %#llx", (unsigned long long)s.eff, (unsigned long long)s.prm);
    CHECK("status-capeff-matches-capget", status_hex(getpid(), "CapEff") == s.eff, "CapEff %#llx capget %#llx",
          (unsigned long long)status_hex(getpid(), "CapEff"), (unsigned long long)s.eff);
    EQ("status-capprm-matches-capget", status_hex(getpid(), "CapPrm"), s.prm);
    EQ("status-capinh-matches-capget", status_hex(getpid(), "CapInh"), s.inh);
    EQ("status-capamb-empty", status_hex(getpid(), "CapAmb"), 0);
    uint64_t bnd = 0;
    for (int c = 0; c < 64; c++) {
        int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (r == 1) bnd |= BIT(c);
        if (r < 0) break;
    }
    EQ("status-capbnd-matches-capbset-read", status_hex(getpid(), "CapBnd"), bnd);

    /* Version 1 reads the low 32 bits only. */
    struct __user_cap_header_struct h1 = { _LINUX_CAPABILITY_VERSION_1, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0xa5, sizeof d);
    OK("capget-v1", syscall(SYS_capget, &h1, d));
    CHECK("capget-v1-one-struct", d[0].effective == (uint32_t)s.eff && d[1].effective == 0xa5a5a5a5,
          "d[0].effective %#x d[1].effective %#x", d[0].effective, d[1].effective);
    struct __user_cap_header_struct h2 = { _LINUX_CAPABILITY_VERSION_2, 0 };
    memset(d, 0, sizeof d);
    OK("capget-v2", syscall(SYS_capget, &h2, d));
    EQ("capget-v2-two-structs", d[0].permitted | (uint64_t)d[1].permitted << 32, s.prm);

    struct __user_cap_header_struct bad = { 0x12345678, 0 };
    ERR("capget-bad-version-einval", syscall(SYS_capget, &bad, d), EINVAL);
    EQ("capget-bad-version-writes-v3", bad.version, _LINUX_CAPABILITY_VERSION_3);
    struct __user_cap_header_struct sbad = { 0x12345678, 0 };
    ERR("capset-bad-version-einval", syscall(SYS_capset, &sbad, d), EINVAL);
    EQ("capset-bad-version-writes-v3", sbad.version, _LINUX_CAPABILITY_VERSION_3);

    struct sets other;
    OK("capget-own-pid", caps_get_pid(getpid(), &other));
    EQ("capget-own-pid-same", other.eff, s.eff);
    OK("capget-parent-pid", caps_get_pid(getppid(), &other));
    ERR("capget-missing-pid-esrch", caps_get_pid(999999, &other), ESRCH);
    ERR("capget-negative-pid-einval", caps_get_pid(-5, &other), EINVAL);
    struct __user_cap_header_struct hp = { _LINUX_CAPABILITY_VERSION_3, getppid() };
    memset(d, 0, sizeof d);
    syscall(SYS_capget, &hp, d);
    ERR("capset-other-pid-eperm", syscall(SYS_capset, &hp, d), EPERM);
}

static void capset_checks(void) {
    struct sets s = caps_get();
    const char *f = scratch();
    /* Dropping CAP_CHOWN from the effective set only: chown to another
     * owner fails, and the capability can be made effective again. */
    struct sets noeff = s;
    noeff.eff &= ~BIT(CAP_CHOWN);
    OK("capset-drop-effective", caps_set(noeff));
    EQ("capset-drop-effective-seen", caps_get().eff, noeff.eff);
    EQ("capset-drop-effective-status", status_hex(getpid(), "CapEff"), noeff.eff);
    ERR("chown-without-cap-chown-eperm", chown(f, 1, 1), EPERM);
    /* The owner may still "change" to its own uid and one of its groups. */
    OK("chown-own-ids-without-cap-chown", chown(f, 0, 0));
    OK("capset-reraise-effective", caps_set(s));
    OK("chown-with-cap-chown", chown(f, 1, 1));

    /* Effective beyond permitted, permitted beyond what is held. */
    struct sets beyond = s;
    beyond.prm &= ~BIT(CAP_CHOWN);
    ERR("capset-effective-beyond-permitted-eperm", caps_set(beyond), EPERM);
    beyond.eff &= ~BIT(CAP_CHOWN);
    OK("capset-drop-permitted", caps_set(beyond));
    EQ("capset-drop-permitted-seen", caps_get().prm, beyond.prm);
    ERR("capset-raise-permitted-eperm", caps_set(s), EPERM);
    struct sets inh = beyond;
    inh.inh |= BIT(CAP_KILL);
    OK("capset-inheritable-from-permitted", caps_set(inh));
    inh.inh |= BIT(CAP_CHOWN);
    /* CAP_SETPCAP allows inheritable bits beyond permitted, within the
     * bounding set. */
    OK("capset-inheritable-setpcap", caps_set(inh));
    EQ("status-capinh-after-capset", status_hex(getpid(), "CapInh"), inh.inh);
    OK("capbset-drop-mknod", prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
    inh.inh |= BIT(CAP_MKNOD);
    ERR("capset-inheritable-beyond-bounding-eperm", caps_set(inh), EPERM);
    unlink(f);
}

static void bounding_checks(void) {
    EQ("capbset-read-chown", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0), 1);
    ERR("capbset-read-bad-einval", prctl(PR_CAPBSET_READ, 200, 0, 0, 0), EINVAL);
    OK("capbset-drop-chown", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0));
    EQ("capbset-read-dropped", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0), 0);
    CHECK("status-capbnd-after-drop", !(status_hex(getpid(), "CapBnd") & BIT(CAP_CHOWN)), "CapBnd %#llx",
          (unsigned long long)status_hex(getpid(), "CapBnd"));
    /* The bounding set limits exec, not the sets held now. */
    EQ("capbset-drop-keeps-effective", !!(caps_get().eff & BIT(CAP_CHOWN)), 1);
    ERR("capbset-drop-bad-einval", prctl(PR_CAPBSET_DROP, 200, 0, 0, 0), EINVAL);
    struct sets s = caps_get();
    s.eff &= ~BIT(CAP_SETPCAP);
    caps_set(s);
    ERR("capbset-drop-without-setpcap-eperm", prctl(PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0), EPERM);
}

static void ambient_checks(void) {
    EQ("ambient-is-set-initially-0", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0), 0);
    ERR("ambient-raise-not-inheritable-eperm", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0), EPERM);
    struct sets s = caps_get();
    s.inh |= BIT(CAP_CHOWN) | BIT(CAP_KILL);
    OK("ambient-capset-inheritable", caps_set(s));
    OK("ambient-raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0));
    EQ("ambient-is-set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0), 1);
    EQ("status-capamb", status_hex(getpid(), "CapAmb"), BIT(CAP_CHOWN));
    OK("ambient-lower", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_CHOWN, 0, 0));
    EQ("ambient-lowered", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0), 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
    OK("ambient-clear-all", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    EQ("ambient-cleared", status_hex(getpid(), "CapAmb"), 0);
    ERR("ambient-clear-all-extra-arg-einval", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0), EINVAL);
    ERR("ambient-bad-cap-einval", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 200, 0, 0), EINVAL);
    ERR("ambient-bad-op-einval", prctl(PR_CAP_AMBIENT, 99, CAP_CHOWN, 0, 0), EINVAL);
    /* Dropping a capability from inheritable drops it from ambient. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
    s.inh &= ~BIT(CAP_KILL);
    caps_set(s);
    EQ("ambient-follows-inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0), 0);
}

/* Child helpers for the uid-change checks: each returns a failure bitmask. */
static int keepcaps_child(void) {
    int bad = 0;
    if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0) bad |= 1;
    if (prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0) != -1 || errno != EINVAL) bad |= 2;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 1) bad |= 4;
    if (!(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) & (1 << 4))) bad |= 8;
    struct sets before = caps_get();
    if (setresuid(1000, 1000, 1000) != 0) return bad | 16;
    struct sets after = caps_get();
    /* Permitted survives, effective is cleared. */
    if (after.prm != before.prm || after.eff != 0) bad |= 32;
    after.eff = BIT(CAP_CHOWN);
    if (caps_set(after) != 0) bad |= 64;
    const char *f = "/etc/passwd";
    struct stat st;
    stat(f, &st);
    if (chown(f, st.st_uid, st.st_gid) != 0) bad |= 128;
    return bad;
}

static int seteuid_child(void) {
    int bad = 0;
    struct sets before = caps_get();
    if (setresuid(-1, 1000, -1) != 0) return 1;
    struct sets s = caps_get();
    if (s.eff != 0 || s.prm != before.prm) bad |= 2;
    if (setresuid(-1, 0, -1) != 0) return bad | 4;
    s = caps_get();
    if (s.eff != before.prm) bad |= 8;
    return bad;
}

static int wait_child(pid_t pid) {
    int st = 0;
    if (pid < 0 || wait_bounded(pid, &st, 5000) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void uid_change_checks(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(keepcaps_child());
    int r = wait_child(pid);
    EQ("keepcaps-get-set", r == -1 ? -1 : r & 15, 0);
    EQ("keepcaps-setresuid-keeps-permitted", r == -1 ? -1 : r & 48, 0);
    EQ("keepcaps-raise-effective-as-user", r == -1 ? -1 : r & 64, 0);
    EQ("keepcaps-chown-as-user-with-cap", r == -1 ? -1 : r & 128, 0);

    pid = fork();
    if (pid == 0) _exit(seteuid_child());
    r = wait_child(pid);
    EQ("seteuid-nonroot-clears-effective", r == -1 ? -1 : r & 3, 0);
    EQ("seteuid-root-restores-effective", r == -1 ? -1 : r & 12, 0);

    /* Without keepcaps, leaving root clears permitted too. */
    pid = fork();
    if (pid == 0) {
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        struct sets s = caps_get();
        _exit(s.eff == 0 && s.prm == 0 ? 0 : 2);
    }
    EQ("setresuid-clears-permitted", wait_child(pid), 0);

    /* Without CAP_SETUID, root cannot change its uid. */
    pid = fork();
    if (pid == 0) {
        struct sets s = caps_get();
        s.eff &= ~BIT(CAP_SETUID);
        if (caps_set(s) != 0) _exit(1);
        _exit(setuid(1000) == -1 && errno == EPERM ? 0 : 2);
    }
    EQ("setuid-without-cap-setuid-eperm", wait_child(pid), 0);
}

static void exec_checks(void) {
    /* A user with an ambient capability keeps exactly that across exec. */
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) _exit(10);
        struct sets s = caps_get();
        s.inh = BIT(CAP_CHOWN);
        if (caps_set(s) != 0) _exit(11);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0) != 0) _exit(12);
        _exit(run_probe(BIT(CAP_CHOWN), 1000));
    }
    EQ("exec-user-keeps-ambient-only", wait_child(pid), 0);

    /* Without an ambient set, a user's exec leaves nothing. */
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        if (setresuid(1000, 1000, 1000) != 0) _exit(10);
        _exit(run_probe(0, 1000));
    }
    EQ("exec-user-without-ambient-no-caps", wait_child(pid), 0);

    /* Root's exec makes permitted effective; under no_new_privs it gains
     * nothing it had dropped. */
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        struct sets s = caps_get();
        s.prm &= ~BIT(CAP_CHOWN);
        s.eff = BIT(CAP_KILL);
        if (caps_set(s) != 0) _exit(10);
        _exit(run_probe(s.prm, 0));
    }
    EQ("exec-root-effective-is-permitted", wait_child(pid), 0);
}

static void privilege_checks(void) {
    const char *f = scratch();
    struct sets full = caps_get();

    /* CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH) decide root's access. */
    chmod(f, 0);
    int fd = open(f, O_RDWR);
    CHECK("dac-override-opens-mode-0", fd >= 0, "open: %s", ename(errno));
    if (fd >= 0) close(fd);
    struct sets s = full;
    s.eff &= ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH));
    caps_set(s);
    ERR("no-dac-override-mode-0-eacces", open(f, O_RDONLY), EACCES);
    /* The open that creates a file may use it whatever the mode gives
     * (how git writes its 0444 objects); a later open may not. */
    char nf[512];
    snprintf(nf, sizeof nf, "%s-new", f);
    unlink(nf);
    int cfd = open(nf, O_CREAT | O_EXCL | O_RDWR, 0444);
    CHECK("create-read-only-mode-opens-rdwr", cfd >= 0 && write(cfd, "ab", 2) == 2, "open: %s", ename(errno));
    if (cfd >= 0) close(cfd);
    ERR("reopen-read-only-mode-rdwr-eacces", open(nf, O_RDWR), EACCES);
    caps_set(full);
    unlink(nf);

    /* Search permission: a path through a directory without execute
     * permission is refused (EACCES), whatever the file's own mode, unless
     * CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH waives it. */
    char d[512], df[600];
    snprintf(d, sizeof d, "%s-dir", f);
    snprintf(df, sizeof df, "%s/file", d);
    mkdir(d, 0755);
    int dfd = open(df, O_CREAT | O_WRONLY, 0644);
    if (dfd >= 0) close(dfd);
    chmod(d, 0600);
    struct stat dst;
    OK("dac-read-search-walks-unsearchable-dir", stat(df, &dst));
    s = full;
    s.eff &= ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH));
    caps_set(s);
    ERR("no-search-permission-open-eacces", open(df, O_RDONLY), EACCES);
    ERR("no-search-permission-stat-eacces", stat(df, &dst), EACCES);
    ERR("no-search-permission-chdir-eacces", chdir(d), EACCES);
    caps_set(full);
    unlink(df);
    rmdir(d);

    /* CAP_FOWNER: chmod of a file someone else owns. */
    chown(f, 4321, 4321);
    OK("fowner-chmod-others-file", chmod(f, 0644));
    s = full;
    s.eff &= ~BIT(CAP_FOWNER);
    caps_set(s);
    ERR("no-fowner-chmod-others-file-eperm", chmod(f, 0600), EPERM);
    caps_set(full);
    unlink(f);

    /* CAP_KILL: signalling a process of another user. */
    int ready[2];
    if (pipe(ready) != 0) ready[0] = ready[1] = -1;
    pid_t victim = fork();
    if (victim == 0) {
        setresuid(2000, 2000, 2000);
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) say("# the victim did not start");
    OK("kill-other-user-with-cap-kill", kill(victim, 0));
    s = full;
    s.eff &= ~BIT(CAP_KILL);
    caps_set(s);
    ERR("kill-other-user-without-cap-kill-eperm", kill(victim, 0), EPERM);
    caps_set(full);
    /* CAP_SYS_NICE (which Docker's set lacks): renicing another user's
     * process. */
    s = full;
    s.eff &= ~BIT(CAP_SYS_NICE);
    caps_set(s);
    ERR("setpriority-other-user-without-cap-sys-nice-eperm", setpriority(PRIO_PROCESS, victim, 6), EPERM);
    caps_set(full);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);

    /* CAP_IPC_LOCK: without it, RLIMIT_MEMLOCK binds root too. */
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct rlimit zero = { 0, 0 };
    s = full;
    s.eff &= ~BIT(CAP_IPC_LOCK);
    caps_set(s);
    setrlimit(RLIMIT_MEMLOCK, &zero);
    ERR("mlock-without-ipc-lock-zero-limit-eperm", mlock(p, 4096), EPERM);

    /* CAP_SYS_RESOURCE: without it, root cannot raise a hard limit. */
    s.eff &= ~BIT(CAP_SYS_RESOURCE);
    caps_set(s);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit lower = { rl.rlim_cur / 2, rl.rlim_max / 2 };
    OK("setrlimit-lower-hard", setrlimit(RLIMIT_NOFILE, &lower));
    ERR("setrlimit-raise-hard-without-sys-resource-eperm", setrlimit(RLIMIT_NOFILE, &rl), EPERM);
}

/* Changing a directory's names needs write and search permission on it
 * (and on both directories for rename): root gets them from
 * CAP_DAC_OVERRIDE, so without it a directory someone else owns, mode
 * 0755, refuses rename, symlink and link into it (EACCES). In a sticky
 * directory (mode 1777, as /tmp) only the owner of a file or of the
 * directory, or CAP_FOWNER, may unlink or rename it away (EPERM). With
 * fs.protected_hardlinks (Linux's default), a hard link to a file one
 * does not own needs read and write access to it, or CAP_FOWNER (EPERM).
 * Each refusal has its control: the same call with the capabilities. */
static void directory_write_checks(void) {
    struct sets full = caps_get();
    char d[64], in[96], own[64], sticky[64], theirs[96], away[96], tmp[96];
    snprintf(d, sizeof d, "/tmp/caps-dw-%d", getpid());
    snprintf(in, sizeof in, "%s/file", d);
    snprintf(own, sizeof own, "/tmp/caps-own-%d", getpid());
    snprintf(sticky, sizeof sticky, "/tmp/caps-sticky-%d", getpid());
    snprintf(theirs, sizeof theirs, "%s/theirs", sticky);
    snprintf(away, sizeof away, "%s/moved", sticky);
    snprintf(tmp, sizeof tmp, "%s/tmp", d);
    mkdir(d, 0755);
    close(open(in, O_CREAT | O_WRONLY, 0644));
    close(open(own, O_CREAT | O_WRONLY, 0644));
    chown(d, 1234, 1234);
    mkdir(sticky, 01777);
    chown(sticky, 1234, 1234);
    chmod(sticky, 01777);
    close(open(theirs, O_CREAT | O_WRONLY, 0644));
    chown(theirs, 4321, 4321);
    char other[96];
    snprintf(other, sizeof other, "%s/secret", sticky);
    close(open(other, O_CREAT | O_WRONLY, 0600));
    chown(other, 4321, 4321);

    struct sets s = full;
    s.eff &= ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_FOWNER));
    caps_set(s);
    ERR("no-dac-override-rename-in-others-dir-eacces", rename(in, tmp), EACCES);
    ERR("no-dac-override-rename-out-of-others-dir-eacces", rename(in, "/tmp/caps-out"), EACCES);
    ERR("no-dac-override-rename-into-others-dir-eacces", rename(own, tmp), EACCES);
    ERR("no-dac-override-symlink-in-others-dir-eacces", symlink("x", tmp), EACCES);
    ERR("no-dac-override-link-into-others-dir-eacces", link(own, tmp), EACCES);
    ERR("no-fowner-sticky-unlink-others-file-eperm", unlink(theirs), EPERM);
    ERR("no-fowner-sticky-rename-others-file-eperm", rename(theirs, away), EPERM);
    char hl[96];
    snprintf(hl, sizeof hl, "%s/hardlink", sticky);
    ERR("no-fowner-protected-hardlink-eperm", link(other, hl), EPERM);
    caps_set(full);

    OK("dac-override-rename-in-others-dir", rename(in, tmp));
    OK("dac-override-symlink-in-others-dir", symlink("x", in));
    OK("fowner-sticky-rename-others-file", rename(theirs, away));
    OK("fowner-protected-hardlink", link(other, hl));
    OK("fowner-sticky-unlink-others-file", unlink(away));
    unlink(hl);
    unlink(other);
    unlink(in);
    unlink(tmp);
    unlink(own);
    rmdir(d);
    rmdir(sticky);
}

static void checks(void) {
    group("capget", capget_checks, 10000);
    group("capset", capset_checks, 10000);
    group("bounding", bounding_checks, 10000);
    group("ambient", ambient_checks, 10000);
    group("uid-change", uid_change_checks, 10000);
    group("exec", exec_checks, 10000);
    group("privilege", privilege_checks, 10000);
    group("directory-write", directory_write_checks, 10000);
}
