/* Signals: handlers and siginfo, restart semantics, alternate stacks,
 * handler flags, masks and pending sets, waiting for signals, sending to
 * threads and groups, queued real-time signals, hardware faults, and job
 * control stops, checked against signal(7), sigaction(2), sigprocmask(2),
 * sigaltstack(2), sigsuspend(2), sigtimedwait(2), kill(2), tgkill(2),
 * sigqueue(3) and waitpid(2). Waits are bounded (no timers): a signal that
 * never comes fails its check. */
#include "check.h"
#include <poll.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/resource.h>

static volatile sig_atomic_t got, got_count;
static siginfo_t last_info;
static volatile int last_blocked_self, on_altstack, altstack_flags;
static char altstack[65536] __attribute__((aligned(16)));
static volatile int order[8], order_n;

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got = sig;
    got_count++;
    last_info = *si;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    last_blocked_self = sigismember(&cur, sig);
    int local;
    on_altstack = (char *)&local >= altstack && (char *)&local < altstack + sizeof altstack;
    stack_t ss;
    sigaltstack(NULL, &ss);
    altstack_flags = ss.ss_flags;
    if (order_n < 8) order[order_n++] = sig;
}

static void handle_masked(int sig, int flags, int block_all) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (block_all) sigfillset(&sa.sa_mask);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static void handle(int sig, int flags) { handle_masked(sig, flags, 0); }

static void reset(void) {
    got = 0;
    got_count = 0;
    order_n = 0;
    memset(&last_info, 0, sizeof last_info);
}

/* Waits up to `ms` for the handler to have run `count` times. */
static int wait_got(int count, long ms) {
    for (long w = 0; w < ms && got_count < count; w += 2) sleep_ms(2);
    return got_count >= count;
}

static int waitpid_timeout(pid_t pid, int *st, int flags, long ms) {
    for (long w = 0; w < ms; w += 5) {
        pid_t r = waitpid(pid, st, flags | WNOHANG);
        if (r != 0) return r;
        sleep_ms(5);
    }
    return 0;
}

static void siginfo_checks(void) {
    handle(SIGUSR1, 0);
    reset();
    kill(getpid(), SIGUSR1);
    CHECK("kill-self-delivered-before-return", got == SIGUSR1, "handler saw %d", got);
    CHECK("siginfo-kill", last_info.si_signo == SIGUSR1 && last_info.si_code == SI_USER && last_info.si_pid == getpid() && last_info.si_uid == getuid(),
          "signo %d code %d pid %d uid %d", last_info.si_signo, last_info.si_code, last_info.si_pid, last_info.si_uid);
    CHECK("handler-blocks-own-signal", last_blocked_self == 1, "SIGUSR1 not blocked inside its handler");
    reset();
    raise(SIGUSR1);
    CHECK("siginfo-tkill", got == SIGUSR1 && last_info.si_code == SI_TKILL, "got %d code %d", got, last_info.si_code);
    reset();
    OK("tgkill", syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
    CHECK("tgkill-delivered", got == SIGUSR1 && last_info.si_code == SI_TKILL && last_info.si_pid == getpid(), "got %d code %d", got, last_info.si_code);
    ERR("tgkill-wrong-tgid-esrch", syscall(SYS_tgkill, 99999, gettid(), SIGUSR1), ESRCH);
    ERR("tgkill-bad-signal-einval", syscall(SYS_tgkill, getpid(), gettid(), 99), EINVAL);
    reset();
    union sigval v = { .sival_int = 1234 };
    OK("sigqueue", sigqueue(getpid(), SIGUSR1, v));
    CHECK("sigqueue-siginfo", got == SIGUSR1 && last_info.si_code == SI_QUEUE && last_info.si_value.sival_int == 1234,
          "got %d code %d value %d", got, last_info.si_code, last_info.si_value.sival_int);
    ERR("kill-bad-signal-einval", kill(getpid(), 65), EINVAL);
    ERR("kill-esrch", kill(99999, SIGUSR1), ESRCH);
    OK("kill-signal-0", kill(getpid(), 0));

    /* A signal from another process carries its pid. */
    reset();
    pid_t me = getpid(), child = fork();
    if (child == 0) { kill(me, SIGUSR1); _exit(0); }
    wait_got(1, 2000);
    CHECK("siginfo-other-pid", got == SIGUSR1 && last_info.si_pid == child, "got %d from pid %d, wanted %d", got, last_info.si_pid, child);
    waitpid(child, NULL, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    ERR("sigaction-sigkill-einval", sigaction(SIGKILL, &sa, NULL), EINVAL);
    ERR("sigaction-sigstop-einval", sigaction(SIGSTOP, &sa, NULL), EINVAL);
    ERR("sigaction-bad-signal-einval", sigaction(0, &sa, NULL), EINVAL);
    ERR("rt-sigaction-bad-size-einval", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &sa, 4), EINVAL);
}

static void flags_checks(void) {
    handle(SIGUSR1, SA_NODEFER);
    reset();
    raise(SIGUSR1);
    CHECK("sa-nodefer", got == SIGUSR1 && last_blocked_self == 0, "got %d blocked inside %d", got, last_blocked_self);

    handle(SIGUSR1, SA_RESETHAND);
    reset();
    raise(SIGUSR1);
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    CHECK("sa-resethand", got == SIGUSR1 && old.sa_handler == SIG_DFL, "got %d, handler now %p", got, (void *)old.sa_handler);

    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    OK("sigaltstack", sigaltstack(&ss, NULL));
    stack_t q;
    sigaltstack(NULL, &q);
    CHECK("sigaltstack-query", q.ss_sp == altstack && q.ss_size == sizeof altstack && q.ss_flags == 0, "sp %p size %zu flags %d", q.ss_sp, q.ss_size, q.ss_flags);
    stack_t small = { .ss_sp = altstack, .ss_size = 100, .ss_flags = 0 };
    ERR("sigaltstack-small-enomem", sigaltstack(&small, NULL), ENOMEM);
    handle(SIGUSR2, SA_ONSTACK);
    reset();
    raise(SIGUSR2);
    CHECK("sa-onstack-runs-on-altstack", got == SIGUSR2 && on_altstack, "got %d on the alternate stack %d", got, on_altstack);
    CHECK("sa-onstack-ss-onstack", altstack_flags == SS_ONSTACK, "ss_flags inside %d", altstack_flags);
    handle(SIGUSR2, 0);
    reset();
    raise(SIGUSR2);
    CHECK("no-onstack-runs-on-normal-stack", got == SIGUSR2 && !on_altstack, "got %d on the alternate stack %d", got, on_altstack);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
}

static void restart_checks(void) {
    for (int restart = 1; restart >= 0; restart--) {
        handle(SIGUSR1, restart ? SA_RESTART : 0);
        reset();
        int p[2];
        pipe(p);
        pid_t me = getpid(), child = fork();
        if (child == 0) {
            sleep_ms(100);
            kill(me, SIGUSR1);
            sleep_ms(100);
            write(p[1], "x", 1);
            _exit(0);
        }
        char c;
        errno = 0;
        long n = read(p[0], &c, 1);
        int e = errno;
        if (restart)
            CHECK("sa-restart-read-restarts", n == 1 && got == SIGUSR1, "read = %ld %s, handler %d", n, ename(e), got);
        else
            CHECK("no-sa-restart-read-eintr", n == -1 && e == EINTR && got == SIGUSR1, "read = %ld %s, handler %d", n, ename(e), got);
        waitpid(child, NULL, 0);
        close(p[0]);
        close(p[1]);
    }
    /* nanosleep is never restarted; it reports the time left. */
    handle(SIGUSR1, SA_RESTART);
    pid_t me = getpid(), child = fork();
    if (child == 0) { sleep_ms(100); kill(me, SIGUSR1); _exit(0); }
    struct timespec ts = { 2, 0 }, rem = { 0, 0 };
    errno = 0;
    long r = nanosleep(&ts, &rem);
    int e = errno;
    CHECK("nanosleep-eintr-remaining", r == -1 && e == EINTR && rem.tv_sec >= 1 && rem.tv_sec <= 2,
          "nanosleep = %ld %s, rem %ld.%09ld", r, ename(e), (long)rem.tv_sec, rem.tv_nsec);
    waitpid(child, NULL, 0);
}

static void mask_checks(void) {
    handle(SIGUSR1, 0);
    reset();
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    OK("sigprocmask-block", sigprocmask(SIG_BLOCK, &set, &old));
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    EQ("blocked-not-delivered", got, 0);
    sigpending(&pend);
    EQ("sigpending", sigismember(&pend, SIGUSR1), 1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    CHECK("unblock-delivers-once", got == SIGUSR1 && got_count == 1, "got %d, %d times (standard signals do not queue)", got, got_count);
    sigpending(&pend);
    EQ("sigpending-cleared", sigismember(&pend, SIGUSR1), 0);

    /* Real-time signals queue, and the lowest number comes first. The
     * handlers block everything, so that one runs to completion before the
     * next is delivered (otherwise frames nest and the last runs first). */
    handle_masked(SIGRTMIN, 0, 1);
    handle_masked(SIGRTMIN + 1, 0, 1);
    handle_masked(SIGRTMIN + 2, 0, 1);
    reset();
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigaddset(&set, SIGRTMIN + 1);
    sigaddset(&set, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGRTMIN);
    kill(getpid(), SIGRTMIN);
    kill(getpid(), SIGRTMIN);
    kill(getpid(), SIGRTMIN + 2);
    kill(getpid(), SIGRTMIN + 1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    EQ("rt-signals-queue", got_count, 5);
    CHECK("rt-signals-lowest-first", order_n == 5 && order[0] == SIGRTMIN && order[3] == SIGRTMIN + 1 && order[4] == SIGRTMIN + 2,
          "order %d %d %d %d %d", order[0], order[1], order[2], order[3], order[4]);

    sigset_t all, now;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    sigprocmask(SIG_SETMASK, NULL, &now);
    CHECK("cannot-block-kill-stop", !sigismember(&now, SIGKILL) && !sigismember(&now, SIGSTOP), "SIGKILL or SIGSTOP is in the mask");
    sigprocmask(SIG_SETMASK, &old, NULL);
    ERR("sigprocmask-bad-how-einval", sigprocmask(42, &set, NULL), EINVAL);

    /* fork: the child inherits the mask but not the pending signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t m, p;
        sigprocmask(SIG_BLOCK, NULL, &m);
        sigpending(&p);
        _exit((sigismember(&m, SIGUSR2) ? 1 : 0) | (sigismember(&p, SIGUSR2) ? 2 : 0));
    }
    int st;
    waitpid(pid, &st, 0);
    EQ("fork-inherits-mask", WEXITSTATUS(st) & 1, 1);
    EQ("fork-clears-pending", WEXITSTATUS(st) & 2, 0);
    signal(SIGUSR2, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGUSR2, SIG_DFL);
}

static void wait_checks(void) {
    handle(SIGUSR1, 0);
    reset();
    sigset_t set, empty;
    sigemptyset(&set);
    sigemptyset(&empty);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t me = getpid(), child = fork();
    if (child == 0) { sleep_ms(50); kill(me, SIGUSR1); _exit(0); }
    errno = 0;
    long r = sigsuspend(&empty);
    CHECK("sigsuspend", r == -1 && errno == EINTR && got == SIGUSR1, "sigsuspend = %ld %s, handler %d", r, ename(errno), got);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    EQ("sigsuspend-restores-mask", sigismember(&now, SIGUSR1), 1);
    waitpid(child, NULL, 0);

    struct timespec ts = { 0, 100 * 1000000 };
    siginfo_t si;
    ERR("sigtimedwait-timeout-eagain", sigtimedwait(&set, &si, &ts), EAGAIN);
    raise(SIGUSR1);
    reset();
    memset(&si, 0, sizeof si);
    /* The raw call: glibc's wrapper folds SI_TKILL into SI_USER. */
    EQ("sigtimedwait-pending", syscall(SYS_rt_sigtimedwait, &set, &si, &ts, 8), SIGUSR1);
    CHECK("sigtimedwait-siginfo-no-handler", si.si_signo == SIGUSR1 && si.si_code == SI_TKILL && got == 0, "signo %d code %d handler %d", si.si_signo, si.si_code, got);
    int sig = 0;
    raise(SIGUSR1);
    EQ("sigwait", (sigwait(&set, &sig), sig), SIGUSR1);
    struct timespec bad = { 0, 1000000000 };
    ERR("sigtimedwait-bad-nsec-einval", sigtimedwait(&set, &si, &bad), EINVAL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void group_checks(void) {
    /* kill(0, sig) reaches every process of the caller's group. */
    setpgid(0, 0);
    handle(SIGUSR1, 0);
    reset();
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        write(p[1], "r", 1);
        wait_got(1, 3000);
        char c = got == SIGUSR1 ? 'y' : 'n';
        write(p[1], &c, 1);
        _exit(0);
    }
    close(p[1]);
    char c = 0;
    read(p[0], &c, 1);
    OK("kill-0-group", kill(0, SIGUSR1));
    c = 0;
    read(p[0], &c, 1);
    CHECK("kill-0-reaches-child", c == 'y', "the child saw %c", c);
    CHECK("kill-0-reaches-self", got == SIGUSR1, "got %d", got);
    waitpid(child, NULL, 0);
    close(p[0]);

    pipe(p);
    child = fork();
    if (child == 0) { setpgid(0, 0); close(p[0]); write(p[1], "r", 1); for (;;) pause(); }
    close(p[1]);
    read(p[0], &c, 1);
    OK("kill-negative-pgid", kill(-child, SIGTERM));
    int st = 0;
    waitpid(child, &st, 0);
    CHECK("kill-pgid-reaches-group", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "%s", wstatus(st));
    ERR("kill-pgid-esrch", kill(-child, SIGTERM), ESRCH);
    close(p[0]);
}

static sigjmp_buf jb;
static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got = sig;
    last_info = *si;
    siglongjmp(jb, 1);
}

/* An undefined instruction at a known address. */
__asm__(".text\n.globl conf_ud2\n.type conf_ud2, @function\nconf_ud2: ud2\n");
extern char conf_ud2[];

static void fault_checks(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);

    volatile int *bad = (int *)0x10;
    reset();
    if (!sigsetjmp(jb, 1)) *bad = 1;
    CHECK("sigsegv-maperr", got == SIGSEGV && last_info.si_code == SEGV_MAPERR && last_info.si_addr == (void *)bad,
          "got %d code %d addr %p", got, last_info.si_code, last_info.si_addr);

    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reset();
    if (!sigsetjmp(jb, 1)) *(volatile char *)(ro + 8) = 1;
    CHECK("sigsegv-accerr", got == SIGSEGV && last_info.si_code == SEGV_ACCERR && last_info.si_addr == ro + 8,
          "got %d code %d addr %p (wanted %p)", got, last_info.si_code, last_info.si_addr, (void *)(ro + 8));
    munmap(ro, 4096);

    volatile int zero = 0, num = 7;
    reset();
    if (!sigsetjmp(jb, 1)) num = num / zero;
    CHECK("sigfpe-intdiv", got == SIGFPE && last_info.si_code == FPE_INTDIV, "got %d code %d", got, last_info.si_code);

    reset();
    void *ud2_at = (void *)conf_ud2;
    if (!sigsetjmp(jb, 1)) ((void (*)(void))ud2_at)();
    CHECK("sigill-ud2", got == SIGILL && last_info.si_code == ILL_ILLOPN, "got %d code %d", got, last_info.si_code);
    CHECK("sigill-si-addr", last_info.si_addr == ud2_at, "si_addr %p, ud2 at %p", last_info.si_addr, ud2_at);

    reset();
    if (!sigsetjmp(jb, 1)) __asm__ volatile("int3");
    CHECK("sigtrap-int3", got == SIGTRAP && last_info.si_code == SI_KERNEL, "got %d code %d", got, last_info.si_code);

    /* Touching a file mapping beyond the end of the file is SIGBUS. */
    int fd = open("/tmp/sigbus-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, 4096);
    char *m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    reset();
    volatile char x = 0;
    if (m != MAP_FAILED && !sigsetjmp(jb, 1)) x = m[4096 + 16];
    (void)x;
    CHECK("sigbus-adrerr", got == SIGBUS && last_info.si_code == BUS_ADRERR && last_info.si_addr == m + 4096 + 16,
          "mmap %p got %d code %d addr %p", (void *)m, got, last_info.si_code, last_info.si_addr);
    close(fd);
    unlink("/tmp/sigbus-file");

    /* Without a handler, a fault kills with its signal. */
    pid_t pid = fork();
    if (pid == 0) { signal(SIGSEGV, SIG_DFL); *bad = 1; _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    CHECK("sigsegv-default-kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s", wstatus(st));
    /* A blocked fault signal still kills (the kernel forces it). */
    pid = fork();
    if (pid == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGSEGV);
        sigprocmask(SIG_BLOCK, &s, NULL);
        *bad = 1;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK("sigsegv-blocked-kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s", wstatus(st));
    pid = fork();
    if (pid == 0) { signal(SIGUSR1, SIG_DFL); raise(SIGUSR1); _exit(0); }
    waitpid(pid, &st, 0);
    CHECK("sigusr1-default-kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "%s", wstatus(st));
    pid = fork();
    if (pid == 0) { signal(SIGCHLD, SIG_DFL); raise(SIGCHLD); signal(SIGWINCH, SIG_DFL); raise(SIGWINCH); _exit(5); }
    waitpid(pid, &st, 0);
    CHECK("sigchld-sigwinch-default-ignored", WIFEXITED(st) && WEXITSTATUS(st) == 5, "%s", wstatus(st));
}

static void stop_checks(void) {
    /* The child leads its own group, whose link to the session is this
     * process: not orphaned, so SIGTSTP stops it (in the container's own
     * group, which runc makes a session of its own, it would not). */
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        for (;;) sleep_ms(10);
    }
    setpgid(pid, pid);
    int st = 0;
    kill(pid, SIGSTOP);
    pid_t r = waitpid_timeout(pid, &st, WUNTRACED, 2000);
    CHECK("sigstop-wuntraced", r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "waitpid %d, %s", r, wstatus(st));
    kill(pid, SIGCONT);
    st = 0;
    r = waitpid_timeout(pid, &st, WCONTINUED, 2000);
    CHECK("sigcont-wcontinued", r == pid && WIFCONTINUED(st), "waitpid %d, %s", r, wstatus(st));
    kill(pid, SIGTSTP);
    st = 0;
    r = waitpid_timeout(pid, &st, WUNTRACED, 2000);
    CHECK("sigtstp-stops", r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTSTP, "waitpid %d, %s", r, wstatus(st));
    /* SIGKILL ends even a stopped process. */
    kill(pid, SIGKILL);
    r = waitpid_timeout(pid, &st, 0, 2000);
    CHECK("sigkill-stopped", r == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "waitpid %d, %s", r, wstatus(st));
    if (r != pid) { kill(pid, SIGKILL); waitpid(pid, &st, 0); }
}

/* Orphaned process groups (POSIX 3.2.2.2): nobody outside could continue
 * them, so the terminal's stop signals are discarded there, and the exit
 * that orphans a group holding a stopped process sends it SIGHUP and
 * SIGCONT. */
static int hup_pipe = -1;
static void on_hup(int sig) {
    (void)sig;
    if (write(hup_pipe, "h", 1) < 0) _exit(3);
}

static void orphan_checks(void) {
    /* A session leader's group: its parent is in another session. */
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        for (;;) sleep_ms(10);
    }
    int st = 0;
    sleep_ms(50);
    kill(pid, SIGTSTP);
    pid_t r = waitpid_timeout(pid, &st, WUNTRACED, 300);
    CHECK("orphaned-sigtstp-discarded", r == 0, "waitpid %d, %s", r, wstatus(st));
    kill(pid, SIGSTOP);
    r = waitpid_timeout(pid, &st, WUNTRACED, 2000);
    CHECK("orphaned-sigstop-stops", r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "waitpid %d, %s", r, wstatus(st));
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);

    /* m leads a session; its child b leads a group of that session with a
     * stopped member c. When m exits, b's group loses its link: SIGHUP
     * (c's handler writes to the pipe), then SIGCONT. */
    int fds[2];
    if (pipe(fds) < 0) {
        fail("orphaned-pipe", "%s", ename(errno));
        return;
    }
    pid_t m = fork();
    if (m == 0) {
        setsid();
        pid_t b = fork();
        if (b == 0) {
            setpgid(0, 0);
            pid_t c = fork();
            if (c == 0) {
                hup_pipe = fds[1];
                signal(SIGHUP, on_hup);
                raise(SIGSTOP);
                /* Continued: say so, then go. */
                if (write(fds[1], "c", 1) < 0) _exit(3);
                _exit(0);
            }
            int cst;
            waitpid(c, &cst, WUNTRACED);
            /* Tell m the group is ready, then wait for the hang-up. */
            if (write(fds[1], "r", 1) < 0) _exit(3);
            for (;;) sleep_ms(10);
        }
        setpgid(b, b);
        for (;;) sleep_ms(10);
    }
    close(fds[1]);
    char ready = 0;
    CHECK("orphaned-setup", read(fds[0], &ready, 1) == 1 && ready == 'r', "no ready byte");
    kill(m, SIGKILL);
    waitpid(m, &st, 0);
    char got[3] = {0};
    size_t n = 0;
    for (int w = 0; w < 400 && n < 2; w++) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 10) == 1) {
            ssize_t k = read(fds[0], got + n, 2 - n);
            if (k <= 0) break;
            n += k;
        }
    }
    CHECK("orphaned-stopped-group-hup-then-cont", n == 2 && got[0] == 'h' && got[1] == 'c', "got %zu bytes '%s'", n, got);
    /* b dies of the SIGHUP (default action) and c exits: nothing stays. */
    close(fds[0]);
}

/* RLIMIT_SIGPENDING (getrlimit(2), sigqueue(3)): queued signals count per
 * real user; a real-time signal with its own information (sigqueue,
 * tgkill) beyond the limit fails with EAGAIN, kill(2) still gets through,
 * a standard signal already pending is not counted again, and every POSIX
 * timer counts from creation. Runs as a user of its own, whose count
 * nothing else shares. */
static void sigpending_limit_case(int legacy) {
    pid_t pid = fork();
    if (pid == 0) {
        check_failures = 0;
        struct rlimit rl = { 4, 4 };
        if (setuid(54321) != 0 || setrlimit(RLIMIT_SIGPENDING, &rl) != 0) {
            say("# setuid/setrlimit: %s", ename(errno));
            _exit(3);
        }
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        union sigval v = { .sival_int = 7 };
        if (legacy) {
            /* SIGUSR2 counts once, however often it is sent. */
            EQ("sigpending-limit-standard-queued", sigqueue(getpid(), SIGUSR2, v), 0);
            EQ("sigpending-limit-standard-again", sigqueue(getpid(), SIGUSR2, v), 0);
            int ok = 0;
            while (ok < 8 && sigqueue(getpid(), SIGRTMIN, v) == 0) ok++;
            EQ("sigpending-limit-standard-counted-once", ok, 3);
            _exit(check_failures ? 1 : 0);
        }
        int ok = 0;
        while (ok < 8 && sigqueue(getpid(), SIGRTMIN, v) == 0) ok++;
        EQ("sigpending-limit-rt-queued", ok, 4);
        ERR("sigpending-limit-sigqueue-eagain", sigqueue(getpid(), SIGRTMIN, v), EAGAIN);
        ERR("sigpending-limit-tgkill-rt-eagain", syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGRTMIN + 1), EAGAIN);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_code = SI_QUEUE;
        si.si_pid = getpid();
        ERR("sigpending-limit-rt-sigqueueinfo-eagain",
            syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN + 1, &si), EAGAIN);
        timer_t tm;
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGRTMIN + 2;
        ERR("sigpending-limit-timer-create-eagain", timer_create(CLOCK_MONOTONIC, &ev, &tm), EAGAIN);
        /* kill(2) of a real-time signal and a standard one still work. */
        EQ("sigpending-limit-kill-rt", kill(getpid(), SIGRTMIN + 3), 0);
        EQ("sigpending-limit-kill-standard", kill(getpid(), SIGUSR1), 0);
        sigset_t p;
        sigpending(&p);
        CHECK("sigpending-limit-killed-pending", sigismember(&p, SIGRTMIN + 3) && sigismember(&p, SIGUSR1),
              "SIGRTMIN+3 %d SIGUSR1 %d", sigismember(&p, SIGRTMIN + 3), sigismember(&p, SIGUSR1));
        /* Taking signals frees their count: SIGUSR1 (counted although over
         * the limit) and one SIGRTMIN leave room for one more. */
        sigset_t w;
        sigemptyset(&w);
        sigaddset(&w, SIGRTMIN);
        sigaddset(&w, SIGUSR1);
        struct timespec zero = { 0, 0 };
        EQ("sigpending-limit-take-usr1", sigtimedwait(&w, &si, &zero), SIGUSR1);
        EQ("sigpending-limit-take-rt", sigtimedwait(&w, &si, &zero), SIGRTMIN);
        EQ("sigpending-limit-room-again", sigqueue(getpid(), SIGRTMIN, v), 0);
        ERR("sigpending-limit-full-again", sigqueue(getpid(), SIGRTMIN, v), EAGAIN);
        /* A timer counts from creation to deletion. */
        sigemptyset(&w);
        sigaddset(&w, SIGRTMIN);
        sigtimedwait(&w, &si, &zero);
        ev.sigev_notify = SIGEV_NONE;
        EQ("sigpending-limit-timer-create", timer_create(CLOCK_MONOTONIC, &ev, &tm), 0);
        ERR("sigpending-limit-timer-counts", sigqueue(getpid(), SIGRTMIN, v), EAGAIN);
        timer_delete(tm);
        EQ("sigpending-limit-timer-delete-frees", sigqueue(getpid(), SIGRTMIN, v), 0);
        _exit(check_failures ? 1 : 0);
    }
    int st = 0;
    pid_t r = wait_bounded(pid, &st, 5000);
    CHECK(legacy ? "sigpending-limit-standard-child" : "sigpending-limit-child",
          r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
}

static void sigpending_limit_checks(void) {
    sigpending_limit_case(0);
    sigpending_limit_case(1);
}

/* Issue 16: a handler on the alternate stack that nests until the next
 * signal frame no longer fits below it: Linux refuses to build a frame that
 * would leave the alternate stack (get_sigframe) and kills the process
 * with SIGSEGV, rather than running on below it or looping. */
static volatile int altstack_depth;

static void deeper(int sig) {
    (void)sig;
    altstack_depth++;
    raise(SIGUSR1);
}

static void altstack_overflow_checks(void) {
    for (int guarded = 0; guarded < 2; guarded++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(5);
            size_t page = sysconf(_SC_PAGESIZE), size = 4 * page;
            char *m = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) _exit(2);
            /* With a guard page below the stack, or with ordinary memory there. */
            if (guarded) mprotect(m, page, PROT_NONE);
            stack_t ss = { .ss_sp = m + page, .ss_size = size, .ss_flags = 0 };
            if (sigaltstack(&ss, NULL) != 0) _exit(3);
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = deeper;
            sa.sa_flags = SA_ONSTACK | SA_NODEFER;
            sigaction(SIGUSR1, &sa, NULL);
            raise(SIGUSR1);
            _exit(4);
        }
        int st = 0;
        pid_t r = wait_bounded(pid, &st, 8000);
        const char *name = guarded ? "altstack-overflow-guarded-sigsegv" : "altstack-overflow-sigsegv";
        if (r == -2) fail(name, "the child hung");
        else CHECK(name, WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s", wstatus(st));
    }
}

/* Issue 16: the alternate signal stack is inherited by fork and dropped
 * by execve. */
static void altstack_fork_checks(void) {
    static char alt[65536];
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        stack_t cur;
        sigaltstack(NULL, &cur);
        _exit(cur.ss_sp == alt && cur.ss_size == sizeof alt && !(cur.ss_flags & SS_DISABLE) ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EQ("sigaltstack-inherited-by-fork", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    if ((pid = fork()) == 0) {
        /* The shell reports through its exit status whether anything is
         * odd; what matters is that exec starts without the old stack,
         * which only a fresh program can see: ourselves, via /proc/self/exe. */
        char *argv[] = { "conf", NULL };
        char *envp[] = { "ALTSTACK_PROBE=1", NULL };
        execve("/proc/self/exe", argv, envp);
        _exit(100);
    }
    waitpid(pid, &st, 0);
    EQ("sigaltstack-dropped-by-exec", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}

/* With ALTSTACK_PROBE set, this program only reports whether it started
 * without an alternate signal stack (exit 0) or with one (exit 1). */
__attribute__((constructor)) static void altstack_probe(void) {
    if (!getenv("ALTSTACK_PROBE")) return;
    stack_t cur;
    sigaltstack(NULL, &cur);
    _exit(cur.ss_flags & SS_DISABLE ? 0 : 1);
}

static void checks(void) {
    group("siginfo", siginfo_checks, 10000);
    group("flags", flags_checks, 10000);
    group("restart", restart_checks, 10000);
    group("mask", mask_checks, 10000);
    group("wait", wait_checks, 10000);
    group("process-groups", group_checks, 10000);
    group("faults", fault_checks, 10000);
    group("altstack-overflow", altstack_overflow_checks, 20000);
    group("stop", stop_checks, 15000);
    group("orphaned-groups", orphan_checks, 15000);
    group("sigpending-limit", sigpending_limit_checks, 10000);
    group("altstack-fork", altstack_fork_checks, 10000);
}
