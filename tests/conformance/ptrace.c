/* ptrace between the workload's own processes (issue 16): attach and
 * stop semantics reported through wait, signal-delivery-stops, memory and
 * register access, syscall-stops, events, and who may trace whom. Every
 * tracee is a child (or grandchild) of the check, so the checks hold
 * natively under YAMA's scope 1 as well as without YAMA. */
#include "check.h"
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <x86intrin.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <linux/ptrace.h>
#include <linux/audit.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* A value in read-only data, changed only by a tracer's POKETEXT. */
static const volatile long rodata_word = 0x1111;
static volatile long data_word = 0x1234;
static volatile int got_usr2;

static long pt(long req, pid_t pid, void *addr, void *data) {
    return syscall(SYS_ptrace, req, pid, addr, data);
}

/* A child that asks to be traced, then stops itself with SIGSTOP and
 * runs `after` when the tracer lets it go; returns its pid once the
 * tracer has seen the stop (status in *st). */
static pid_t traced_child(int (*after)(void), int *st) {
    pid_t pid = fork();
    if (pid == 0) {
        if (pt(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(100);
        raise(SIGSTOP);
        _exit(after());
    }
    if (waitpid(pid, st, 0) != pid) return -1;
    return pid;
}

static int exit_seven(void) { return 7; }

static void traceme_and_stop(void) {
    int st = 0;
    pid_t pid = traced_child(exit_seven, &st);
    CHECK("traceme-stop-reported", pid > 0 && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
          "status %s", wstatus(st));
    EQ("traceme-stop-status-word", st & 0xffff, (SIGSTOP << 8) | 0x7f);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    OK("getsiginfo", pt(PTRACE_GETSIGINFO, pid, 0, &si));
    EQ("getsiginfo-signo", si.si_signo, SIGSTOP);
    ERR("traceme-twice-eperm-in-parent", pt(PTRACE_ATTACH, pid, 0, 0), EPERM);
    /* The stop was collected; a new one (the same SIGSTOP, re-raised by
     * the tracer's CONT with it) reads through waitid as CLD_TRAPPED. */
    pt(PTRACE_CONT, pid, 0, (void *)SIGSTOP);
    memset(&si, 0, sizeof si);
    OK("waitid-tracee", waitid(P_PID, pid, &si, WEXITED | WSTOPPED));
    CHECK("waitid-cld-trapped", si.si_code == CLD_TRAPPED && si.si_status == SIGSTOP && si.si_pid == pid,
          "code %d status %d pid %d", si.si_code, si.si_status, si.si_pid);
    OK("cont", pt(PTRACE_CONT, pid, 0, 0));
    waitpid(pid, &st, 0);
    CHECK("cont-runs-to-exit", WIFEXITED(st) && WEXITSTATUS(st) == 7, "%s", wstatus(st));
    ERR("ptrace-of-reaped-esrch", pt(PTRACE_CONT, pid, 0, 0), ESRCH);
}

static int survive_usr1(void) {
    kill(getpid(), SIGUSR1); /* default action: terminate */
    return 0;
}

static void usr2_handler(int s) { (void)s; got_usr2 = 1; }

static int expect_usr2(void) {
    signal(SIGUSR2, usr2_handler);
    kill(getpid(), SIGUSR1);
    return got_usr2 ? 0 : 1;
}

static void signal_delivery(void) {
    int st = 0;
    pid_t pid = traced_child(survive_usr1, &st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("signal-delivery-stop", WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "%s", wstatus(st));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    pt(PTRACE_GETSIGINFO, pid, 0, &si);
    CHECK("signal-siginfo-sender", si.si_signo == SIGUSR1 && si.si_code == SI_USER && si.si_pid == pid,
          "signo %d code %d pid %d", si.si_signo, si.si_code, si.si_pid);
    pt(PTRACE_CONT, pid, 0, 0); /* suppress it */
    waitpid(pid, &st, 0);
    CHECK("signal-suppressed", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));

    pid = traced_child(expect_usr2, &st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    pt(PTRACE_CONT, pid, 0, (void *)SIGUSR2); /* replace it */
    waitpid(pid, &st, 0);
    CHECK("signal-replaced", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));

    pid = traced_child(survive_usr1, &st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    pt(PTRACE_CONT, pid, 0, (void *)SIGUSR1); /* deliver it */
    waitpid(pid, &st, 0);
    CHECK("signal-delivered", WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "%s", wstatus(st));
}

static int check_words(void) {
    return (data_word == 0x5678 ? 0 : 1) | (rodata_word == 0x2222 ? 0 : 2);
}

static void memory(void) {
    int st = 0;
    pid_t pid = traced_child(check_words, &st);
    /* The raw call stores the word at `data`. */
    long word = 0;
    OK("peekdata", pt(PTRACE_PEEKDATA, pid, (void *)&data_word, &word));
    EQ("peekdata-value", word, 0x1234);
    long text = 0;
    OK("peektext-rodata", pt(PTRACE_PEEKTEXT, pid, (void *)&rodata_word, &text));
    EQ("peektext-rodata-value", text, 0x1111);
    OK("pokedata", pt(PTRACE_POKEDATA, pid, (void *)&data_word, (void *)0x5678));
    OK("poketext-read-only", pt(PTRACE_POKETEXT, pid, (void *)&rodata_word, (void *)0x2222));
    ERR("peekdata-unmapped-eio", pt(PTRACE_PEEKDATA, pid, (void *)8, &word), EIO);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("pokes-seen-by-tracee", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
    CHECK("tracer-memory-untouched", data_word == 0x1234 && rodata_word == 0x1111,
          "data %#lx rodata %#lx", data_word, rodata_word);
}

/* /proc/PID/mem of a stopped tracee: what gdb reads and writes. */
static void proc_mem(void) {
    int st = 0;
    pid_t pid = traced_child(check_words, &st);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int fd = open(path, O_RDWR);
    CHECK("proc-mem-open", fd >= 0, "open %s: %s", path, ename(errno));
    long word = 0;
    EQ("proc-mem-pread", pread(fd, &word, sizeof word, (off_t)(long)&data_word), sizeof word);
    EQ("proc-mem-pread-value", word, 0x1234);
    long v = 0x5678, r = 0x2222;
    EQ("proc-mem-pwrite", pwrite(fd, &v, sizeof v, (off_t)(long)&data_word), sizeof v);
    EQ("proc-mem-pwrite-read-only", pwrite(fd, &r, sizeof r, (off_t)(long)&rodata_word), sizeof r);
    errno = 0;
    ERR("proc-mem-unmapped-eio", pread(fd, &word, sizeof word, 8), EIO);
    close(fd);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("proc-mem-writes-seen", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
}

static int rounding_upward(void) {
    return ((_mm_getcsr() >> 13) & 3) == 2 ? 0 : 1;
}

static int set_rounding_then_stop(void) {
    _mm_setcsr(_mm_getcsr() | (3u << 13)); /* round toward zero */
    raise(SIGSTOP);
    return rounding_upward();
}

static void registers(void) {
    int st = 0;
    pid_t pid = traced_child(exit_seven, &st);
    struct user_regs_struct regs;
    OK("getregs", pt(PTRACE_GETREGS, pid, 0, &regs));
    errno = 0;
    long rip = 0;
    OK("peekuser-rip", pt(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rip), &rip));
    EQ("peekuser-rip-matches-getregs", rip, regs.rip);
    long dr7 = -1;
    OK("peekuser-debugreg", pt(PTRACE_PEEKUSER, pid, (void *)(offsetof(struct user, u_debugreg) + 7 * 8), &dr7));
    EQ("peekuser-debugreg-zero", dr7, 0);
    ERR("peekuser-misaligned-eio", pt(PTRACE_PEEKUSER, pid, (void *)3, &rip), EIO);
    OK("setregs-same", pt(PTRACE_SETREGS, pid, 0, &regs));
    struct user_regs_struct rs;
    struct iovec iov = { &rs, sizeof rs };
    OK("getregset-prstatus", pt(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov));
    EQ("getregset-prstatus-len", iov.iov_len, sizeof rs);
    EQ("getregset-prstatus-rip", rs.rip, regs.rip);
    struct user_fpregs_struct fp;
    iov.iov_base = &fp;
    iov.iov_len = sizeof fp;
    OK("getregset-fpreg", pt(PTRACE_GETREGSET, pid, (void *)NT_PRFPREG, &iov));
    EQ("getregset-fpreg-len", iov.iov_len, 512);
    static unsigned char xs[4096];
    iov.iov_base = xs;
    iov.iov_len = sizeof xs;
    OK("getregset-xstate", pt(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov));
    unsigned long long xcr0;
    memcpy(&xcr0, xs + 464, 8);
    CHECK("getregset-xstate-x87-sse", iov.iov_len >= 576 && (xcr0 & 3) == 3,
          "len %zu xcr0 %#llx", iov.iov_len, xcr0);
    ERR("getregset-unknown-einval", pt(PTRACE_GETREGSET, pid, (void *)0x999, &iov), EINVAL);
    pt(PTRACE_KILL, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("kill-kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s", wstatus(st));

    pid = traced_child(set_rounding_then_stop, &st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0); /* its own SIGSTOP, after fesetround */
    OK("getfpregs", pt(PTRACE_GETFPREGS, pid, 0, &fp));
    EQ("getfpregs-mxcsr-rounding", (fp.mxcsr >> 13) & 3, 3);
    fp.mxcsr = (fp.mxcsr & ~(3u << 13)) | (2u << 13);
    OK("setfpregs", pt(PTRACE_SETFPREGS, pid, 0, &fp));
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("setfpregs-seen-by-tracee", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
}

static int getppid_twice(void) {
    long a = syscall(SYS_getppid);
    int e = errno;
    long b = syscall(SYS_getppid);
    if (a != 4242) return 1;
    if (b != -1 || e != 0 || errno != ENOSYS) return 2;
    return 0;
}

/* Resumes with PTRACE_SYSCALL until the entry of `nr`; returns 0 there. */
static int run_to_entry(pid_t pid, long nr, int *st) {
    for (int i = 0; i < 40; i++) {
        pt(PTRACE_SYSCALL, pid, 0, 0);
        if (waitpid(pid, st, 0) != pid || !WIFSTOPPED(*st)) return -1;
        if (WSTOPSIG(*st) != (SIGTRAP | 0x80)) continue;
        struct ptrace_syscall_info info;
        memset(&info, 0, sizeof info);
        pt(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY && (long)info.entry.nr == nr) return 0;
    }
    return -1;
}

static void syscall_stops(void) {
    int st = 0;
    pid_t pid = traced_child(getppid_twice, &st);
    OK("setoptions-sysgood", pt(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACESYSGOOD));
    ERR("setoptions-unknown-einval", pt(PTRACE_SETOPTIONS, pid, 0, (void *)0x40000000L), EINVAL);
    EQ("syscall-entry-stop", run_to_entry(pid, SYS_getppid, &st), 0);
    struct ptrace_syscall_info info;
    memset(&info, 0, sizeof info);
    long n = pt(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
    EQ("syscall-info-entry-size", n, offsetof(struct ptrace_syscall_info, entry.args) + sizeof info.entry.args);
    EQ("syscall-info-arch", info.arch, AUDIT_ARCH_X86_64);
    long msg = -1;
    pt(PTRACE_GETEVENTMSG, pid, 0, &msg);
    EQ("syscall-entry-eventmsg", msg, 1);
    struct user_regs_struct regs;
    pt(PTRACE_GETREGS, pid, 0, &regs);
    EQ("syscall-entry-rax-enosys", (long)regs.rax, -ENOSYS);
    EQ("syscall-entry-orig-rax", regs.orig_rax, SYS_getppid);
    pt(PTRACE_SYSCALL, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("syscall-exit-stop", WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80), "%s", wstatus(st));
    memset(&info, 0, sizeof info);
    n = pt(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
    EQ("syscall-info-exit-size", n, offsetof(struct ptrace_syscall_info, exit.is_error) + 1);
    CHECK("syscall-info-exit-value", info.op == PTRACE_SYSCALL_INFO_EXIT && info.exit.rval == getpid() && !info.exit.is_error,
          "op %d rval %lld err %d", info.op, (long long)info.exit.rval, info.exit.is_error);
    pt(PTRACE_GETREGS, pid, 0, &regs);
    regs.rax = 4242;
    OK("syscall-exit-setregs", pt(PTRACE_SETREGS, pid, 0, &regs));
    /* The second getppid: cancelled at its entry (orig_rax = -1). */
    EQ("syscall-second-entry", run_to_entry(pid, SYS_getppid, &st), 0);
    OK("syscall-cancel-pokeuser", pt(PTRACE_POKEUSER, pid, (void *)offsetof(struct user_regs_struct, orig_rax), (void *)-1L));
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("syscall-result-and-cancel-seen", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
}

static int fork_grandchild(void) {
    pid_t g = fork();
    if (g == 0) _exit(3);
    int st = 0;
    if (waitpid(g, &st, 0) != g) return 10;
    return WIFEXITED(st) && WEXITSTATUS(st) == 3 ? 0 : 11;
}

static int exit_five(void) { exit(5); }

/* Under `option`, runs the stopped tracee `pid` to its `event` and
 * follows the task the event announces: auto-attached (stopped by
 * SIGSTOP), then its exit with `code` reported to the tracer. Checks are
 * named after `what`. */
static void follow_new_task(pid_t pid, long option, int event, const char *what, int code) {
    char name[64];
    int st = 0;
    snprintf(name, sizeof name, "%s-setoptions", what);
    OK(name, pt(PTRACE_SETOPTIONS, pid, 0, (void *)option));
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, __WALL);
    snprintf(name, sizeof name, "%s-event-status", what);
    EQ(name, st >> 8, SIGTRAP | (event << 8));
    unsigned long task = 0;
    pt(PTRACE_GETEVENTMSG, pid, 0, &task);
    int tst = 0;
    pid_t r = waitpid((pid_t)task, &tst, __WALL);
    snprintf(name, sizeof name, "%s-new-task-auto-attached", what);
    CHECK(name, r == (pid_t)task && WIFSTOPPED(tst) && WSTOPSIG(tst) == SIGSTOP,
          "waitpid %d (event msg %lu): %s", r, task, wstatus(tst));
    pt(PTRACE_CONT, task, 0, 0);
    r = waitpid((pid_t)task, &tst, __WALL);
    snprintf(name, sizeof name, "%s-new-task-exit-to-tracer", what);
    CHECK(name, r == (pid_t)task && WIFEXITED(tst) && WEXITSTATUS(tst) == code,
          "waitpid %d: %s", r, wstatus(tst));
}

static void events(void) {
    int st = 0;
    pid_t pid = traced_child(fork_grandchild, &st);
    follow_new_task(pid, PTRACE_O_TRACEFORK, PTRACE_EVENT_FORK, "fork", 3);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    /* The grandchild's SIGCHLD stops its parent on the way. */
    for (int i = 0; i < 5 && WIFSTOPPED(st); i++) {
        pt(PTRACE_CONT, pid, 0, (void *)(long)WSTOPSIG(st));
        waitpid(pid, &st, 0);
    }
    CHECK("fork-child-exit-to-parent", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));

    pid = traced_child(exit_five, &st);
    pt(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACEEXIT);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    EQ("exit-event-status", st >> 8, SIGTRAP | (PTRACE_EVENT_EXIT << 8));
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, pid, 0, &msg);
    EQ("exit-event-msg", msg, 5 << 8);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("exit-after-event", WIFEXITED(st) && WEXITSTATUS(st) == 5, "%s", wstatus(st));
}

static int exec_self(void) {
    char *argv[] = { "ptrace-exec-probe", NULL };
    char *envp[] = { "PTRACE_EXEC_PROBE=1", NULL };
    execve("/proc/self/exe", argv, envp);
    return 20;
}

/* The exec'd copy of this program exits at once with 9. */
__attribute__((constructor)) static void exec_probe(void) {
    if (getenv("PTRACE_EXEC_PROBE")) _exit(9);
}

static void exec_events(void) {
    int st = 0;
    pid_t pid = traced_child(exec_self, &st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("exec-legacy-sigtrap", WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && (st >> 16) == 0, "%s (%#x)", wstatus(st), st);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("exec-legacy-runs", WIFEXITED(st) && WEXITSTATUS(st) == 9, "%s", wstatus(st));

    pid = traced_child(exec_self, &st);
    pt(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACEEXEC);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    EQ("exec-event-status", st >> 8, SIGTRAP | (PTRACE_EVENT_EXEC << 8));
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, pid, 0, &msg);
    EQ("exec-event-former-tid", msg, pid);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("exec-event-runs", WIFEXITED(st) && WEXITSTATUS(st) == 9, "%s", wstatus(st));
}

static void seize_interrupt(void) {
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) pause();
    }
    OK("seize", pt(PTRACE_SEIZE, pid, 0, (void *)PTRACE_O_TRACESYSGOOD));
    int st = 0;
    sleep_ms(20);
    EQ("seize-does-not-stop", waitpid(pid, &st, WNOHANG), 0);
    ERR("cont-running-esrch", pt(PTRACE_CONT, pid, 0, 0), ESRCH);
    OK("interrupt", pt(PTRACE_INTERRUPT, pid, 0, 0));
    pid_t r = waitpid(pid, &st, 0);
    CHECK("interrupt-event-stop", r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && (st >> 16) == PTRACE_EVENT_STOP,
          "%s (%#x)", wstatus(st), st);
    OK("detach", pt(PTRACE_DETACH, pid, 0, 0));
    ERR("detached-esrch", pt(PTRACE_CONT, pid, 0, 0), ESRCH);
    sleep_ms(20);
    EQ("detached-runs-on", waitpid(pid, &st, WNOHANG), 0);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);

    /* PTRACE_ATTACH stops the tracee with SIGSTOP. */
    pid = fork();
    if (pid == 0) {
        for (;;) pause();
    }
    OK("attach", pt(PTRACE_ATTACH, pid, 0, 0));
    r = waitpid(pid, &st, 0);
    CHECK("attach-sigstop", r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "%s", wstatus(st));
    ERR("interrupt-needs-seize-eio", pt(PTRACE_INTERRUPT, pid, 0, 0), EIO);
    pt(PTRACE_DETACH, pid, 0, 0);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

static void permissions(void) {
    ERR("attach-self-eperm", pt(PTRACE_ATTACH, getpid(), 0, 0), EPERM);
    ERR("attach-missing-esrch", pt(PTRACE_ATTACH, 4000000, 0, 0), ESRCH);
    pid_t victim = fork();
    if (victim == 0) {
        for (;;) pause();
    }
    ERR("peek-untraced-esrch", pt(PTRACE_PEEKDATA, victim, (void *)&data_word, 0), ESRCH);
    int p[2];
    if (pipe(p) != 0) return;
    pid_t u = fork();
    if (u == 0) {
        /* An unprivileged tracer: a root process is not its to trace,
         * its own child is. */
        if (setgid(65534) || setuid(65534)) _exit(30);
        /* (Changing uids made it undumpable, which only CAP_SYS_PTRACE
         * overrides; its children would inherit that.) */
        prctl(PR_SET_DUMPABLE, 1);
        int codes[2];
        codes[0] = pt(PTRACE_ATTACH, victim, 0, 0) == -1 ? errno : 0;
        pid_t c = fork();
        if (c == 0) {
            for (;;) pause();
        }
        codes[1] = pt(PTRACE_ATTACH, c, 0, 0) == -1 ? errno : 0;
        int st;
        if (codes[1] == 0) waitpid(c, &st, 0);
        kill(c, SIGKILL);
        pt(PTRACE_DETACH, c, 0, 0);
        waitpid(c, &st, 0);
        write(p[1], codes, sizeof codes);
        _exit(0);
    }
    close(p[1]);
    int codes[2] = { -1, -1 };
    read(p[0], codes, sizeof codes);
    close(p[0]);
    int st;
    waitpid(u, &st, 0);
    EQ("unprivileged-attach-other-uid-eperm", codes[0], EPERM);
    EQ("unprivileged-attach-own-child", codes[1], 0);
    kill(victim, SIGKILL);
    waitpid(victim, &st, 0);
}

static void exitkill(void) {
    int p[2];
    if (pipe(p) != 0) return;
    pid_t tracer = fork();
    if (tracer == 0) {
        pid_t c = fork();
        if (c == 0) {
            close(p[0]);
            for (;;) pause();
        }
        close(p[1]);
        pt(PTRACE_SEIZE, c, 0, (void *)PTRACE_O_EXITKILL);
        _exit(0); /* the tracee dies with its tracer */
    }
    close(p[1]);
    int st;
    waitpid(tracer, &st, 0);
    interrupt_after(5);
    char c;
    ssize_t n = read(p[0], &c, 1);
    alarm(0);
    EQ("exitkill-kills-tracee", n, 0);
    close(p[0]);
}

static void single_step(void) {
    int st = 0;
    pid_t pid = traced_child(exit_seven, &st);
    struct user_regs_struct before, after;
    pt(PTRACE_GETREGS, pid, 0, &before);
    int stopped = 0, moved = 0, tf_shown = 0, code = -1;
    for (int i = 0; i < 5; i++) {
        if (pt(PTRACE_SINGLESTEP, pid, 0, 0) != 0) break;
        if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) break;
        stopped++;
        if (i == 0) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            pt(PTRACE_GETSIGINFO, pid, 0, &si);
            code = si.si_code;
        }
        pt(PTRACE_GETREGS, pid, 0, &after);
        if (after.rip != before.rip) moved++;
        if (after.eflags & 0x100) tf_shown++;
        before = after;
    }
    EQ("singlestep-stops-with-sigtrap", stopped, 5);
    EQ("singlestep-first-si-code-trace", code, TRAP_TRACE);
    EQ("singlestep-moves-rip", moved, 5);
    EQ("singlestep-trap-flag-hidden", tf_shown, 0);
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, 0);
    CHECK("singlestep-then-cont-runs", WIFEXITED(st) && WEXITSTATUS(st) == 7, "%s", wstatus(st));
}

static void group_stops(void) {
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) pause();
    }
    int st = 0;
    pt(PTRACE_SEIZE, pid, 0, 0);
    kill(pid, SIGSTOP);
    waitpid(pid, &st, 0);
    CHECK("seized-sigstop-delivery-stop", WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && (st >> 16) == 0,
          "%s (%#x)", wstatus(st), st);
    pt(PTRACE_CONT, pid, 0, (void *)SIGSTOP);
    waitpid(pid, &st, 0);
    CHECK("seized-group-stop-event", WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && (st >> 16) == PTRACE_EVENT_STOP,
          "%s (%#x)", wstatus(st), st);
    OK("listen", pt(PTRACE_LISTEN, pid, 0, 0));
    sleep_ms(20);
    EQ("listen-stays-stopped", waitpid(pid, &st, WNOHANG), 0);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    CHECK("listen-then-kill", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s", wstatus(st));

    /* Attached without SEIZE: the group-stop is a plain stop; CONT lets
     * the tracee run although its process was stopped. */
    pid = fork();
    if (pid == 0) {
        for (;;) pause();
    }
    pt(PTRACE_ATTACH, pid, 0, 0);
    waitpid(pid, &st, 0);
    pt(PTRACE_CONT, pid, 0, (void *)SIGSTOP);
    waitpid(pid, &st, 0);
    CHECK("attached-group-stop", WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && (st >> 16) == 0,
          "%s (%#x)", wstatus(st), st);
    ERR("listen-needs-seize-eio", pt(PTRACE_LISTEN, pid, 0, 0), EIO);
    pt(PTRACE_CONT, pid, 0, 0);
    kill(pid, SIGUSR1);
    waitpid(pid, &st, 0);
    CHECK("resumed-from-group-stop-runs", WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "%s", wstatus(st));
    pt(PTRACE_CONT, pid, 0, (void *)SIGUSR1);
    waitpid(pid, &st, 0);
    CHECK("resumed-from-group-stop-dies", WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "%s", wstatus(st));
}

static void *thread_body(void *arg) { return arg; }

static int make_thread(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, thread_body, NULL) != 0) return 40;
    pthread_join(th, NULL);
    return 0;
}

static void *exec_from_thread(void *arg) {
    (void)arg;
    exec_self();
    return NULL;
}

static int thread_execs(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, exec_from_thread, NULL) != 0) return 40;
    pthread_join(th, NULL);
    return 41;
}

/* A non-leader thread execs: the tracer hears PTRACE_EVENT_EXEC from the
 * pid, with the thread's former tid as the message. */
static void exec_from_a_thread(void) {
    int st = 0;
    pid_t pid = traced_child(thread_execs, &st);
    pt(PTRACE_SETOPTIONS, pid, 0, (void *)(PTRACE_O_TRACEEXEC | PTRACE_O_TRACECLONE));
    pt(PTRACE_CONT, pid, 0, 0);
    waitpid(pid, &st, __WALL); /* the clone event */
    unsigned long tid = 0;
    pt(PTRACE_GETEVENTMSG, pid, 0, &tid);
    int tst = 0;
    waitpid((pid_t)tid, &tst, __WALL); /* the new thread's first stop */
    pt(PTRACE_CONT, pid, 0, 0);
    pt(PTRACE_CONT, tid, 0, 0);
    int exec_seen = 0, former_ok = 0, exit_ok = 0;
    for (int i = 0; i < 10; i++) {
        pid_t r = waitpid(-1, &st, __WALL);
        if (r < 0) break;
        if (r == pid && WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
            exec_seen = 1;
            unsigned long former = 0;
            pt(PTRACE_GETEVENTMSG, pid, 0, &former);
            former_ok = former == tid;
        }
        if (r == pid && WIFEXITED(st)) {
            exit_ok = WEXITSTATUS(st) == 9;
            break;
        }
        if (WIFSTOPPED(st)) pt(PTRACE_CONT, r, 0, 0);
    }
    EQ("thread-exec-event-from-pid", exec_seen, 1);
    EQ("thread-exec-former-tid", former_ok, 1);
    EQ("thread-exec-runs-new-image", exit_ok, 1);
}

static void clone_events(void) {
    int st = 0;
    pid_t pid = traced_child(make_thread, &st);
    follow_new_task(pid, PTRACE_O_TRACECLONE, PTRACE_EVENT_CLONE, "clone", 0);
    pt(PTRACE_CONT, pid, 0, 0);
    pid_t r = waitpid(pid, &st, __WALL);
    CHECK("clone-process-exit", r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
}

/* /proc/PID/auxv: where debuggers find a PIE's entry (AT_ENTRY). */
static int auxv_entry(const char *path, unsigned long *entry, unsigned long *pagesz) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    unsigned long v[256];
    ssize_t n = read(fd, v, sizeof v);
    close(fd);
    if (n <= 0 || n % 16) return -2;
    int pairs = n / 16;
    *entry = *pagesz = 0;
    for (int i = 0; i < pairs; i++) {
        if (v[2 * i] == AT_ENTRY) *entry = v[2 * i + 1];
        if (v[2 * i] == AT_PAGESZ) *pagesz = v[2 * i + 1];
    }
    return v[2 * (pairs - 1)] == AT_NULL ? 0 : -3;
}

static void auxv(void) {
    unsigned long entry = 0, pagesz = 0;
    EQ("auxv-self-read", auxv_entry("/proc/self/auxv", &entry, &pagesz), 0);
    EQ("auxv-self-entry", entry, getauxval(AT_ENTRY));
    EQ("auxv-self-pagesz", pagesz, 4096);
    int st = 0;
    pid_t pid = traced_child(exit_seven, &st);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/auxv", pid);
    entry = 0;
    EQ("auxv-child-read", auxv_entry(path, &entry, &pagesz), 0);
    EQ("auxv-child-entry-inherited", entry, getauxval(AT_ENTRY));
    pt(PTRACE_KILL, pid, 0, 0);
    waitpid(pid, &st, 0);
}

static void checks(void) {
    group("traceme", traceme_and_stop, 5000);
    group("signals", signal_delivery, 5000);
    group("memory", memory, 5000);
    group("registers", registers, 5000);
    group("syscalls", syscall_stops, 5000);
    group("events", events, 5000);
    group("exec", exec_events, 5000);
    group("seize", seize_interrupt, 5000);
    group("permissions", permissions, 5000);
    group("exitkill", exitkill, 8000);
    group("singlestep", single_step, 5000);
    group("proc-mem", proc_mem, 5000);
    group("group-stops", group_stops, 5000);
    group("clone", clone_events, 5000);
    group("thread-exec", exec_from_a_thread, 5000);
    group("auxv", auxv, 5000);
}
