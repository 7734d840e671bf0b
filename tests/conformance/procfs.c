/* /proc and /sys: the files programs read about themselves and the
 * system, and statfs, checked against the values the system calls
 * return (proc(5), sysfs(5), statfs(2)). Every figure must agree with
 * the process's own state: pids, threads, descriptors, limits, mounts. */
#include "check.h"
#include <sys/mman.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

static size_t slurped;

/* The whole content of a file (up to 64 KiB), or "" with errno set; its
 * length is left in `slurped`. */
static const char *slurp(const char *path) {
    static char buf[65536];
    slurped = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) { buf[0] = 0; return buf; }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0) break;
        n += r;
    }
    close(fd);
    buf[n] = 0;
    slurped = n;
    return buf;
}

/* The number after "Key:" in a "Key:\tvalue" file, or -1. */
static long field(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", key);
    const char *p = strstr(text, pat);
    if (!p && !strncmp(text, pat + 1, strlen(pat + 1))) p = text - 1;
    if (!p) return -1;
    return strtol(p + strlen(pat), NULL, 10);
}

/* Field `n` (1-based) of a /proc/PID/stat line, after the comm. */
static long stat_field(const char *text, int n) {
    const char *p = strrchr(text, ')');
    if (!p) return -1;
    p += 2; /* field 3 starts here */
    for (int i = 3; i < n; i++) {
        p = strchr(p, ' ');
        if (!p) return -1;
        p++;
    }
    return strtol(p, NULL, 10);
}

static int count_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int affinity_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) return -1;
    return CPU_COUNT(&set);
}

static volatile int stop_thread;
static void *idle_thread(void *arg) {
    (void)arg;
    while (!stop_thread) sleep_ms(5);
    return NULL;
}

static void self_links(void) {
    char buf[256], want[64];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    EQ("proc-self-is-getpid", atoi(buf), getpid());
    n = readlink("/proc/thread-self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    snprintf(want, sizeof want, "%d/task/%d", getpid(), (int)gettid());
    CHECK("proc-thread-self", !strcmp(buf, want), "thread-self -> %s, wanted %s", buf, want);
    char exe[256] = {0}, cmd[256];
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    snprintf(cmd, sizeof cmd, "%s", slurp("/proc/self/cmdline"));
    CHECK("cmdline-argv0-is-exe", !strcmp(cmd, exe), "cmdline %s exe %s", cmd, exe);
    const char *env = slurp("/proc/self/environ");
    CHECK("environ-has-path", !strncmp(env, "PATH=", 5) || memmem(env, slurped, "\0PATH=", 6) != NULL, "environ starts %.40s", env);
    n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char cwd[256];
    CHECK("cwd-link", getcwd(cwd, sizeof cwd) && !strcmp(buf, cwd), "cwd link %s getcwd %s", buf, cwd);
    char comm[32];
    snprintf(comm, sizeof comm, "%s", slurp("/proc/self/comm"));
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    size_t blen = strlen(base) < 15 ? strlen(base) : 15;
    CHECK("comm-is-exe-name", !strncmp(comm, base, blen) && comm[blen] == '\n', "comm %s exe %s", comm, base);
}

static void status_and_stat(void) {
    const char *s = slurp("/proc/self/status");
    EQ("status-pid", field(s, "Pid"), getpid());
    EQ("status-tgid", field(s, "Tgid"), getpid());
    EQ("status-ppid", field(s, "PPid"), getppid());
    EQ("status-uid", field(s, "Uid"), getuid());
    mode_t um = umask(027);
    s = slurp("/proc/self/status");
    umask(um);
    const char *u = strstr(s, "Umask:\t");
    EQ("status-umask", u ? strtol(u + 7, NULL, 8) : -1, 027);
    EQ("status-threads-one", field(s, "Threads"), 1);
    CHECK("status-fdsize", field(s, "FDSize") >= 64, "FDSize %ld", field(s, "FDSize"));
    CHECK("status-vmrss", field(s, "VmRSS") > 0, "VmRSS %ld", field(s, "VmRSS"));

    char st[1024];
    snprintf(st, sizeof st, "%s", slurp("/proc/self/stat"));
    EQ("stat-pid", atol(st), getpid());
    CHECK("stat-state-running", strstr(st, ") R ") != NULL, "stat %.60s", st);
    EQ("stat-ppid", stat_field(st, 4), getppid());
    EQ("stat-pgrp", stat_field(st, 5), getpgrp());
    EQ("stat-session", stat_field(st, 6), getsid(0));
    EQ("stat-num-threads", stat_field(st, 20), 1);
    CHECK("stat-vsize", stat_field(st, 23) > 0, "vsize %ld", stat_field(st, 23));
    /* starttime (ticks after boot) is before now and after boot. */
    struct timespec bt;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    long start = stat_field(st, 22);
    CHECK("stat-starttime", start > 0 && start <= bt.tv_sec * 100 + bt.tv_nsec / 10000000 + 1,
          "starttime %ld boottime %ld s", start, (long)bt.tv_sec);

    const char *sm = slurp("/proc/self/statm");
    CHECK("statm-size", atol(sm) > 0, "statm %s", sm);
    const char *roll = slurp("/proc/self/smaps_rollup");
    CHECK("smaps-rollup-rss", field(roll, "Rss") > 0, "smaps_rollup %.80s", roll);
    CHECK("maps-has-stack", strstr(slurp("/proc/self/maps"), "[stack]") != NULL, "no [stack] line");

    /* Threads: status, stat and task/ agree. */
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, NULL);
    EQ("status-threads-two", field(slurp("/proc/self/status"), "Threads"), 2);
    snprintf(st, sizeof st, "%s", slurp("/proc/self/stat"));
    EQ("stat-num-threads-two", stat_field(st, 20), 2);
    EQ("task-count", count_entries("/proc/self/task"), 2);
    char path[96];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
    EQ("task-leader-stat-pid", atol(slurp(path)), getpid());
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long other = -1;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && atol(e->d_name) != getpid()) other = atol(e->d_name);
    if (d) closedir(d);
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", other);
    EQ("task-thread-stat-tid", atol(slurp(path)), other);
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", other);
    EQ("task-thread-status-pid", field(slurp(path), "Pid"), other);
    EQ("task-thread-status-tgid", field(slurp(path), "Tgid"), getpid());
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", other);
    CHECK("task-thread-comm", slurp(path)[0] != 0, "comm empty: %s", ename(errno));
    stop_thread = 1;
    pthread_join(t, NULL);

    /* Another process's directory comes and goes with it. */
    pid_t c = fork();
    if (c == 0) { sleep_ms(3000); _exit(0); }
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    EQ("child-stat-ppid", stat_field(slurp(path), 4), getpid());
    kill(c, SIGKILL);
    int wst;
    waitpid(c, &wst, 0);
    struct stat sb;
    snprintf(path, sizeof path, "/proc/%d", c);
    ERR("reaped-child-gone", stat(path, &sb), ENOENT);
}

static void descriptors(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
    /* opendir's own descriptor is listed too. */
    EQ("fd-dir-count", count_entries("/proc/self/fd"), n + 1);

    int fd = open("/tmp/procfs-f", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write(fd, "0123456789", 10);
    lseek(fd, 4, SEEK_SET);
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t r = readlink(path, buf, sizeof buf - 1);
    buf[r > 0 ? r : 0] = 0;
    CHECK("fd-link-path", !strcmp(buf, "/tmp/procfs-f"), "fd link %s", buf);
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    char info[512];
    snprintf(info, sizeof info, "%s", slurp(path));
    EQ("fdinfo-pos", field(info, "pos"), 4);
    const char *fl = strstr(info, "flags:\t");
    long flags = fl ? strtol(fl + 7, NULL, 8) : -1;
    CHECK("fdinfo-flags", flags >= 0 && (flags & O_ACCMODE) == O_RDWR && (flags & O_CLOEXEC), "flags %lo", flags);
    /* A /proc file's mnt_id is the id of the /proc line of mountinfo. */
    int pf = open("/proc/self/status", O_RDONLY);
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pf);
    long mnt = field(slurp(path), "mnt_id");
    close(pf);
    long proc_id = -1;
    const char *mi = slurp("/proc/self/mountinfo");
    for (const char *l = mi; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *end = strchr(l, '\n');
        char line[512];
        snprintf(line, sizeof line, "%.*s", end ? (int)(end - l) : (int)strlen(l), l);
        if (strstr(line, " /proc ") && strstr(line, " - proc ")) proc_id = atol(line);
    }
    CHECK("fdinfo-mnt-id-matches-mountinfo", mnt > 0 && mnt == proc_id, "mnt_id %ld, /proc mount id %ld", mnt, proc_id);

    /* The fd link reaches the open file even once it has no name. */
    unlink("/tmp/procfs-f");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int again = open(path, O_RDONLY);
    CHECK("fd-link-opens-unlinked-file-rootfs", again >= 0 && pread(again, buf, 3, 0) == 3 && !memcmp(buf, "012", 3),
          "reopen: %s", ename(errno));
    close(again);
    close(fd);
    fd = open("/dev/shm/procfs-f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "abc", 3);
    unlink("/dev/shm/procfs-f");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    again = open(path, O_RDONLY);
    CHECK("fd-link-opens-unlinked-file-tmpfs", again >= 0 && pread(again, buf, 3, 0) == 3 && !memcmp(buf, "abc", 3),
          "reopen: %s", ename(errno));
    close(again);
    close(fd);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit lower = { 100, rl.rlim_max };
    setrlimit(RLIMIT_NOFILE, &lower);
    const char *lim = slurp("/proc/self/limits");
    const char *row = strstr(lim, "Max open files");
    CHECK("limits-nofile-soft", row && atol(row + 26) == 100, "row %.60s", row ? row : "(none)");
    CHECK("limits-nofile-hard", row && atol(row + 47) == (long)rl.rlim_max, "row %.60s", row ? row : "(none)");
    setrlimit(RLIMIT_NOFILE, &rl);
    row = strstr(lim, "Max stack size");
    struct rlimit stk;
    getrlimit(RLIMIT_STACK, &stk);
    CHECK("limits-stack-soft", row && atol(row + 26) == (long)stk.rlim_cur, "row %.60s", row ? row : "(none)");
}

static void mounts(void) {
    const char *mi = slurp("/proc/self/mountinfo");
    int lines = 0, separators = 0, proc_line = 0;
    for (const char *l = mi; *l; ) {
        const char *end = strchr(l, '\n');
        if (!end) break;
        lines++;
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(end - l), l);
        separators += strstr(line, " - ") != NULL;
        proc_line |= strstr(line, " /proc ") && strstr(line, " - proc ");
        l = end + 1;
    }
    CHECK("mountinfo-format", lines > 0 && lines == separators, "%d lines, %d with ' - '", lines, separators);
    CHECK("mountinfo-proc", proc_line, "no /proc line");
    CHECK("mounts-proc", strstr(slurp("/proc/mounts"), " /proc proc ") != NULL, "no proc in /proc/mounts");
    const char *cg = slurp("/proc/self/cgroup");
    CHECK("cgroup-format", cg[0] >= '0' && cg[0] <= '9' && strstr(cg, ":/"), "cgroup %.60s", cg);

    struct statfs sf;
    OK("statfs-proc", statfs("/proc", &sf));
    EQ("statfs-proc-magic", sf.f_type, 0x9fa0);
    OK("statfs-sys", statfs("/sys", &sf));
    EQ("statfs-sys-magic", sf.f_type, 0x62656572);
    statfs("/dev/shm", &sf);
    EQ("statfs-tmpfs-magic", sf.f_type, 0x01021994);
    EQ("statfs-tmpfs-size", sf.f_blocks * sf.f_bsize, 65536L * 1024);
    long before = sf.f_bfree;
    int fd = open("/dev/shm/procfs-big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static char meg[1 << 20];
    write(fd, meg, sizeof meg);
    fstatfs(fd, &sf);
    CHECK("statfs-tmpfs-usage", before - (long)sf.f_bfree >= 256 && before - (long)sf.f_bfree <= 260,
          "free blocks %ld -> %ld", before, (long)sf.f_bfree);
    close(fd);
    unlink("/dev/shm/procfs-big");
    struct statfs root, tmp;
    statfs("/", &root);
    OK("statfs-rootfs", statfs("/tmp", &tmp));
    CHECK("statfs-rootfs-same-fs", tmp.f_type == root.f_type && tmp.f_blocks == root.f_blocks && tmp.f_blocks > 0,
          "/tmp type %lx blocks %ld, / type %lx blocks %ld", (long)tmp.f_type, (long)tmp.f_blocks, (long)root.f_type, (long)root.f_blocks);
    int pfd[2];
    pipe(pfd);
    fstatfs(pfd[0], &sf);
    EQ("fstatfs-pipe-magic", sf.f_type, 0x50495045);
    close(pfd[0]);
    close(pfd[1]);
    ERR("statfs-enoent", statfs("/nonexistent", &sf), ENOENT);
}

static void system_files(void) {
    int ncpu = affinity_cpus();
    const char *ci = slurp("/proc/cpuinfo");
    int procs = 0;
    for (const char *p = ci; (p = strstr(p, "processor\t")); p++) procs++;
    EQ("cpuinfo-processors", procs, ncpu);
    CHECK("cpuinfo-flags", strstr(ci, "flags\t\t:") && strstr(ci, " sse2"), "no flags line with sse2");
    const char *on = slurp("/sys/devices/system/cpu/online");
    int last = on[1] == '-' ? atoi(on + 2) : atoi(on);
    EQ("sys-cpu-online", last + 1, ncpu);
    EQ("nprocs-onln", sysconf(_SC_NPROCESSORS_ONLN), ncpu);
    CHECK("sys-cpu-possible", slurp("/sys/devices/system/cpu/possible")[0] == '0', "possible %s", slurp("/sys/devices/system/cpu/possible"));

    struct sysinfo si;
    sysinfo(&si);
    long total = field(slurp("/proc/meminfo"), "MemTotal");
    EQ("meminfo-total", total, (long)(si.totalram * si.mem_unit / 1024));
    double up = atof(slurp("/proc/uptime"));
    struct timespec bt;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    CHECK("uptime-is-boottime", up <= bt.tv_sec + 1 && up >= bt.tv_sec - 1, "uptime %.2f boottime %ld", up, (long)bt.tv_sec);
    const char *st = slurp("/proc/stat");
    CHECK("stat-cpu-line", !strncmp(st, "cpu ", 4), "stat starts %.20s", st);
    const char *b = strstr(st, "\nbtime ");
    long btime = b ? atol(b + 7) : -1;
    long now = time(NULL);
    CHECK("stat-btime", btime > 0 && labs(btime + (long)up - now) <= 2, "btime %ld uptime %.0f now %ld", btime, up, now);
    const char *la = slurp("/proc/loadavg");
    int running = 0, total_tasks = 0, lastpid = 0;
    CHECK("loadavg-format", sscanf(la, "%*f %*f %*f %d/%d %d", &running, &total_tasks, &lastpid) == 3 && running >= 1 && total_tasks >= running && lastpid > 0,
          "loadavg %s", la);

    struct utsname un;
    uname(&un);
    char h[128];
    snprintf(h, sizeof h, "%s\n", un.nodename);
    CHECK("sys-kernel-hostname", !strcmp(slurp("/proc/sys/kernel/hostname"), h), "hostname %s", slurp("/proc/sys/kernel/hostname"));
    snprintf(h, sizeof h, "%s\n", un.release);
    CHECK("sys-kernel-osrelease", !strcmp(slurp("/proc/sys/kernel/osrelease"), h), "osrelease %s", slurp("/proc/sys/kernel/osrelease"));
    CHECK("sys-kernel-pid-max", atol(slurp("/proc/sys/kernel/pid_max")) >= 32768, "pid_max %s", slurp("/proc/sys/kernel/pid_max"));
    char u1[64], u2[64], b1[64];
    snprintf(u1, sizeof u1, "%s", slurp("/proc/sys/kernel/random/uuid"));
    snprintf(u2, sizeof u2, "%s", slurp("/proc/sys/kernel/random/uuid"));
    CHECK("random-uuid", strlen(u1) == 37 && u1[8] == '-' && u1[14] == '4' && strcmp(u1, u2), "uuids %s %s", u1, u2);
    snprintf(b1, sizeof b1, "%s", slurp("/proc/sys/kernel/random/boot_id"));
    CHECK("random-boot-id-stable", strlen(b1) == 37 && !strcmp(b1, slurp("/proc/sys/kernel/random/boot_id")), "boot_id %s", b1);
    CHECK("sys-fs-file-max", atol(slurp("/proc/sys/fs/file-max")) > 0, "file-max %s", slurp("/proc/sys/fs/file-max"));
    long nr_open = atol(slurp("/proc/sys/fs/nr_open"));
    CHECK("sys-fs-nr-open", nr_open >= 1024, "nr_open %ld", nr_open);
    const char *oc = slurp("/proc/sys/vm/overcommit_memory");
    CHECK("sys-vm-overcommit", oc[0] >= '0' && oc[0] <= '2' && oc[1] == '\n', "overcommit_memory %s", oc);
}

/* Another process's memory: its maps, status, statm and smaps_rollup. */
static void other_process_memory(void) {
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        /* Guard pages around it keep Linux from merging it with a neighbour. */
        char *g = mmap(NULL, 5 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *m = g + 4096;
        mprotect(m, 3 * 4096, PROT_READ | PROT_WRITE);
        memset(m, 1, 3 * 4096);
        mlock(m, 4096);
        write(p[1], &m, sizeof m);
        for (;;) sleep_ms(100);
    }
    char *m = NULL;
    read(p[0], &m, sizeof m);
    char path[64], want[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    /* (mlock split the mapping after its first page.) */
    snprintf(want, sizeof want, "\n%lx-%lx rw-p", (unsigned long)m, (unsigned long)m + 4096);
    const char *maps = slurp(path);
    CHECK("other-maps-has-mapping", strstr(maps, want) != NULL, "no \"%s\" in %zu bytes", want, slurped);
    CHECK("other-maps-has-stack", strstr(maps, "[stack]") != NULL, "no [stack] line");
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    const char *s = slurp(path);
    CHECK("other-status-vmsize", field(s, "VmSize") > 12, "VmSize %ld", field(s, "VmSize"));
    CHECK("other-status-vmrss", field(s, "VmRSS") > 0, "VmRSS %ld", field(s, "VmRSS"));
    EQ("other-status-vmlck", field(s, "VmLck"), 4);
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    CHECK("other-statm-size", atol(slurp(path)) > 3, "statm %s", slurp(path));
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    CHECK("other-smaps-rollup-rss", field(slurp(path), "Rss") > 0, "smaps_rollup %.80s", slurp(path));
    /* A zombie has no memory: its maps read empty. */
    kill(pid, SIGKILL);
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    slurp(path);
    EQ("zombie-maps-empty", slurped, 0);
    int st;
    waitpid(pid, &st, 0);
    close(p[0]);
    close(p[1]);
}

static char thread_name_seen[32];
static _Atomic int thread_named, thread_may_go;
static _Atomic long thread_tid;

static void *named_thread(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "worker-x", 0, 0, 0);
    thread_tid = syscall(SYS_gettid);
    thread_named = 1;
    while (!thread_may_go) sleep_ms(5);
    prctl(PR_GET_NAME, thread_name_seen, 0, 0, 0);
    return NULL;
}

/* Issue 16: per-thread names in /proc/PID/task/TID/comm (written there
 * too), /proc/PID/task/TID/children, /proc/PID/io, lseek on /proc files. */
static void thread_files(void) {
    char path[96], own[32];
    snprintf(own, sizeof own, "%s", slurp("/proc/self/comm"));
    pthread_t t;
    pthread_create(&t, NULL, named_thread, NULL);
    while (!thread_named) sleep_ms(5);
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", (long)thread_tid);
    EQ("task-comm-per-thread", strcmp(slurp(path), "worker-x\n"), 0);
    EQ("task-comm-leader-unchanged", strcmp(slurp("/proc/self/comm"), own), 0);
    int fd = open(path, O_WRONLY);
    EQ("task-comm-write-other-thread", write(fd, "renamed-by-main", 15), 15);
    close(fd);
    EQ("task-comm-written", strcmp(slurp(path), "renamed-by-main\n"), 0);
    fd = open(path, O_WRONLY);
    write(fd, "a-name-longer-than-sixteen", 26);
    close(fd);
    EQ("task-comm-write-truncated", strcmp(slurp(path), "a-name-longer-t\n"), 0);
    /* kill(2) of a thread's id reaches its process. */
    EQ("kill-thread-id", kill((pid_t)thread_tid, 0), 0);
    /* Another process may not rename ours. */
    pid_t renamer = fork();
    if (renamer == 0) {
        char p2[96];
        snprintf(p2, sizeof p2, "/proc/%d/comm", getppid());
        int cfd = open(p2, O_WRONLY);
        if (cfd < 0) _exit(100 + errno);
        _exit(write(cfd, "intruder", 8) == -1 ? errno : 0);
    }
    int rst = 0;
    waitpid(renamer, &rst, 0);
    EQ("comm-write-other-process-einval", WIFEXITED(rst) ? WEXITSTATUS(rst) : -1, EINVAL);
    thread_may_go = 1;
    pthread_join(t, NULL);
    EQ("task-comm-thread-sees-name", strcmp(thread_name_seen, "a-name-longer-t"), 0);

    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    snprintf(path, sizeof path, "/proc/self/task/%d/children", getpid());
    char want[32];
    snprintf(want, sizeof want, "%d ", pid);
    CHECK("task-children-lists-child", strstr(slurp(path), want) != NULL, "%s has %s", path, slurp(path));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    const char *io = slurp("/proc/self/io");
    long r0 = field(io, "rchar"), w0 = field(io, "wchar");
    CHECK("io-fields", r0 >= 0 && w0 >= 0 && field(io, "syscr") >= 0 && field(io, "syscw") >= 0 &&
          field(io, "read_bytes") >= 0 && field(io, "write_bytes") >= 0, "%s", io);
    int z = open("/dev/zero", O_RDONLY);
    char buf[4096];
    read(z, buf, sizeof buf);
    close(z);
    int n = open("/dev/null", O_WRONLY);
    write(n, buf, sizeof buf);
    close(n);
    io = slurp("/proc/self/io");
    CHECK("io-rchar-counts-reads", field(io, "rchar") >= r0 + 4096, "rchar %ld -> %ld", r0, field(io, "rchar"));
    CHECK("io-wchar-counts-writes", field(io, "wchar") >= w0 + 4096, "wchar %ld -> %ld", w0, field(io, "wchar"));

    /* lseek on a generated file: SEEK_SET and SEEK_CUR re-read from there;
     * SEEK_END is EINVAL (seq_lseek). */
    char whole[4096];
    fd = open("/proc/self/status", O_RDONLY);
    ssize_t len = read(fd, whole, sizeof whole - 1);
    EQ("proc-lseek-set", lseek(fd, 5, SEEK_SET), 5);
    char part[16] = {0};
    EQ("proc-lseek-read-from-offset", read(fd, part, 10) == 10 && len > 15 && !memcmp(part, whole + 5, 10), 1);
    EQ("proc-lseek-cur", lseek(fd, 0, SEEK_CUR), 15);
    ERR("proc-lseek-end-einval", lseek(fd, 0, SEEK_END), EINVAL);
    EQ("proc-lseek-rewind", lseek(fd, 0, SEEK_SET), 0);
    close(fd);
}

/* Issue 16: more system files programs read. */
static void more_system_files(void) {
    const char *rv = slurp("/proc/sys/kernel/randomize_va_space");
    CHECK("randomize-va-space", slurped == 2 && rv[0] >= '0' && rv[0] <= '2' && rv[1] == '\n', "%s", rv);
    const char *dn = slurp("/proc/sys/kernel/domainname");
    CHECK("domainname", slurped > 1 && dn[slurped - 1] == '\n', "%s", dn);
    const char *mk = slurp("/proc/sys/kernel/keys/maxkeys");
    CHECK("keys-maxkeys", slurped > 1 && atol(mk) > 0, "%s", mk);
    const char *dev = slurp("/proc/devices");
    CHECK("devices-character", strstr(dev, "Character devices:\n") && strstr(dev, "  1 mem\n") && strstr(dev, "  5 /dev/tty\n"), "%s", dev);
    CHECK("devices-block", strstr(dev, "Block devices:\n") != NULL, "%s", dev);
    const char *ci = slurp("/proc/cpuinfo");
    CHECK("cpuinfo-fields", strstr(ci, "vendor_id\t: ") && strstr(ci, "model name\t: ") && strstr(ci, "cpu family\t: ") &&
          strstr(ci, "siblings\t: ") && strstr(ci, "cpu cores\t: ") && strstr(ci, "bogomips\t: "), "%.300s", ci);
    char link[128] = {0};
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    CHECK("ns-pid-link", n > 6 && !strncmp(link, "pid:[", 5) && link[n - 1] == ']', "%s (%s)", link, ename(errno));
    memset(link, 0, sizeof link);
    n = readlink("/proc/self/ns/mnt", link, sizeof link - 1);
    CHECK("ns-mnt-link", n > 6 && !strncmp(link, "mnt:[", 5) && link[n - 1] == ']', "%s (%s)", link, ename(errno));
}

/* Issue 16: an exited, unreaped child is a zombie in stat and status. */
static void zombie_state(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    const char *st = slurp(path);
    const char *paren = strrchr(st, ')');
    CHECK("zombie-stat-state-z", paren && paren[1] == ' ' && paren[2] == 'Z', "%s", st);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    CHECK("zombie-status-state", strstr(slurp(path), "State:\tZ (zombie)\n") != NULL, "%s", slurp(path));
    waitpid(pid, NULL, 0);
    ERR("reaped-proc-dir-gone", access(path, F_OK), ENOENT);
}

/* Issue 16: dumpable, and the ownership of /proc/PID files it decides:
 * the process's effective ids while dumpable, root's once not (a change
 * of credentials clears it, PR_SET_DUMPABLE sets it back). */
static void dumpable_checks(void) {
    pid_t pid = fork();
    if (pid == 0) {
        struct stat sb;
        int bad = 0;
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) bad |= 1;
        if (setgroups(0, NULL) || setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) _exit(99);
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) bad |= 2;
        if (stat("/proc/self/status", &sb) || sb.st_uid != 0 || sb.st_gid != 0) bad |= 4;
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) bad |= 8;
        if (stat("/proc/self/status", &sb) || sb.st_uid != 1000 || sb.st_gid != 1000) bad |= 16;
        if (stat("/proc/self/fd", &sb) || sb.st_uid != 1000) bad |= 32;
        errno = 0;
        if (prctl(PR_SET_DUMPABLE, 2, 0, 0, 0) != -1 || errno != EINVAL) bad |= 64;
        _exit(bad);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int bad = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    EQ("dumpable-initially", bad < 0 ? bad : bad & 1, 0);
    EQ("dumpable-cleared-by-setuid", bad < 0 ? bad : bad & 2, 0);
    EQ("proc-owned-by-root-when-not-dumpable", bad < 0 ? bad : bad & 4, 0);
    EQ("dumpable-set-again", bad < 0 ? bad : bad & 8, 0);
    EQ("proc-owned-by-euid-when-dumpable", bad < 0 ? bad : bad & 16, 0);
    EQ("proc-dir-owned-by-euid", bad < 0 ? bad : bad & 32, 0);
    EQ("dumpable-bad-value-einval", bad < 0 ? bad : bad & 64, 0);
}

static void checks(void) {
    self_links();
    status_and_stat();
    other_process_memory();
    descriptors();
    mounts();
    system_files();
    thread_files();
    more_system_files();
    zombie_state();
    group("dumpable", dumpable_checks, 10000);
}
