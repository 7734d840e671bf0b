//! Event descriptors and timers: eventfd, epoll, timerfd, signalfd, alarm,
//! setitimer and the POSIX timer_* calls. One C program, built static and
//! dynamic with gcc, must print the same under the Sentry as natively (the
//! control). Nothing timing-dependent is printed: only comparisons such as
//! "expirations>=3 1".

use std::fs;

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime};

const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#define E(x) printf("%-44s %s\n", #x, (x) < 0 ? strerrorname_np(errno) : "ok")
#define P(name, v) printf("%-44s %lld\n", name, (long long)(v))

static long long now_ms(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
static void msleep(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; while (nanosleep(&ts, &ts)) ; }
static uint64_t u64read(int fd, int *err) { uint64_t v = 0; *err = read(fd, &v, 8) < 0 ? errno : 0; return v; }
static void put(int fd, uint64_t v) { if (write(fd, &v, 8) != 8) printf("write failed %d\n", errno); }

static volatile sig_atomic_t got_alrm, alrm_code;
static void on_alrm(int s, siginfo_t *si, void *u) { (void)s; (void)u; got_alrm++; alrm_code = si->si_code; }
static volatile sig_atomic_t got_usr1;
static void on_usr1(int s) { (void)s; got_usr1++; }

static int thread_fired;
static void on_timer_thread(union sigval v) { __atomic_add_fetch(&thread_fired, v.sival_int, __ATOMIC_SEQ_CST); }

static void *late_writer(void *arg) { msleep(50); put(*(int *)arg, 5); return NULL; }

static void test_eventfd(void) {
    puts("== eventfd");
    int err;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    P("cloexec", fcntl(fd, F_GETFD) & FD_CLOEXEC);
    P("nonblock", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    u64read(fd, &err); P("empty read EAGAIN", err == EAGAIN);
    put(fd, 3); put(fd, 4);
    P("counter", u64read(fd, &err));
    char small[4];
    E(read(fd, small, 4));
    E(write(fd, small, 4));
    uint64_t big = 0xffffffffffffffffULL;
    E(write(fd, &big, 8));
    big = 0xfffffffffffffffeULL;
    E(write(fd, &big, 8));
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    P("full: POLLIN only", p.revents);
    uint64_t one = 1;
    E(write(fd, &one, 8));
    u64read(fd, &err);
    p.revents = 0; poll(&p, 1, 0);
    P("drained: POLLOUT only", p.revents);
    close(fd);

    int s = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    for (int i = 0; i < 3; i++) P("semaphore read", u64read(s, &err));
    u64read(s, &err); P("semaphore empty EAGAIN", err == EAGAIN);
    close(s);
    E(eventfd(0, 0x1234));
    E(syscall(SYS_eventfd2, 0, -1));

    /* Blocking read woken by another thread, blocking write by a reader. */
    int b = eventfd(0, 0);
    pthread_t th;
    pthread_create(&th, NULL, late_writer, &b);
    P("blocking read woken", u64read(b, &err));
    pthread_join(th, NULL);
    put(b, 0xfffffffffffffffeULL);
    pid_t c = fork();
    if (c == 0) { msleep(50); u64read(b, &err); _exit(0); }
    put(b, 1);
    P("blocked writer resumed", u64read(b, &err));
    waitpid(c, NULL, 0);
    close(b);
}

static int nready(int ep, int ms) { struct epoll_event ev[8]; return epoll_wait(ep, ev, 8, ms); }

static void test_epoll(void) {
    puts("== epoll");
    E(epoll_create(0));
    E(epoll_create(-1));
    E(epoll_create1(0x10));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    P("cloexec", fcntl(ep, F_GETFD) & FD_CLOEXEC);
    int pfd[2]; pipe2(pfd, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    E(epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &ev));
    E(epoll_ctl(1000, EPOLL_CTL_ADD, pfd[0], &ev));
    int reg = open("/etc/passwd", O_RDONLY);
    E(epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    E(epoll_ctl(ep, EPOLL_CTL_ADD, dir, &ev));
    E(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    E(epoll_ctl(pfd[1], EPOLL_CTL_ADD, pfd[0], &ev));
    E(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], (void *)8));
    E(epoll_ctl(ep, EPOLL_CTL_MOD, pfd[0], &ev));
    E(epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL));
    E(epoll_ctl(ep, 99, pfd[0], &ev));
    E(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev));
    E(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev));
    struct epoll_event ex = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    E(epoll_ctl(ep, EPOLL_CTL_MOD, pfd[0], &ex));
    ex.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    E(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[1], &ex));
    ex.events = EPOLLOUT | EPOLLEXCLUSIVE;
    E(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[1], &ex));
    E(epoll_ctl(ep, EPOLL_CTL_DEL, pfd[1], NULL));
    close(reg); close(dir);
    struct epoll_event out[8];
    E(epoll_wait(ep, out, 0, 0));
    E(syscall(SYS_epoll_wait, ep, out, -1, 0));
    E(epoll_wait(pfd[0], out, 8, 0));
    E(epoll_wait(1000, out, 8, 0));

    /* Level-triggered: reported while ready, data as given. */
    P("empty", nready(ep, 0));
    write(pfd[1], "x", 1);
    int n = epoll_wait(ep, out, 8, 0);
    P("level n", n);
    P("level events", out[0].events);
    P("data round trip", out[0].data.u64 == 0x1122334455667788ULL);
    P("level again", nready(ep, 0));
    char buf[64];
    read(pfd[0], buf, sizeof buf);
    P("drained", nready(ep, 0));

    /* Edge-triggered: once per change; "read until EAGAIN, then wait". */
    ev.events = EPOLLIN | EPOLLET;
    E(epoll_ctl(ep, EPOLL_CTL_MOD, pfd[0], &ev));
    write(pfd[1], "ab", 2);
    P("edge first", nready(ep, 0));
    P("edge no change", nready(ep, 0));
    write(pfd[1], "c", 1);
    P("edge new data", nready(ep, 0));
    read(pfd[0], buf, 1);
    while (read(pfd[0], buf, sizeof buf) > 0) ;
    P("edge drained", nready(ep, 0));
    write(pfd[1], "d", 1);
    P("edge after drain", nready(ep, 0));
    while (read(pfd[0], buf, sizeof buf) > 0) ;

    /* Edge-triggered on a Unix socket (a file without its own change
       counter): a drained socket that gets new data reports again. */
    int sp[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp);
    int eps = epoll_create1(0);
    struct epoll_event se = {.events = EPOLLIN | EPOLLET, .data.u32 = 11};
    E(epoll_ctl(eps, EPOLL_CTL_ADD, sp[0], &se));
    P("socket idle", nready(eps, 0));
    write(sp[1], "ab", 2);
    P("socket edge", nready(eps, 0));
    while (read(sp[0], buf, sizeof buf) > 0) ;
    write(sp[1], "c", 1);
    P("socket edge after drain", nready(eps, -1));
    close(sp[0]); close(sp[1]); close(eps);

    /* One-shot: disarmed after a report until MOD. */
    ev.events = EPOLLIN | EPOLLONESHOT;
    E(epoll_ctl(ep, EPOLL_CTL_MOD, pfd[0], &ev));
    write(pfd[1], "e", 1);
    P("oneshot first", nready(ep, 0));
    P("oneshot disarmed", nready(ep, 0));
    E(epoll_ctl(ep, EPOLL_CTL_MOD, pfd[0], &ev));
    P("oneshot re-armed", nready(ep, 0));
    read(pfd[0], buf, sizeof buf);

    /* EPOLLOUT on the write end; EPOLLHUP when the writer goes. */
    int ep2 = epoll_create1(0);
    struct epoll_event wo = {.events = EPOLLOUT, .data.u32 = 2};
    epoll_ctl(ep2, EPOLL_CTL_ADD, pfd[1], &wo);
    n = epoll_wait(ep2, out, 8, 0);
    P("writable", n == 1 && out[0].events == EPOLLOUT);
    epoll_ctl(ep2, EPOLL_CTL_DEL, pfd[1], NULL);
    struct epoll_event ri = {.events = EPOLLIN, .data.u32 = 3};
    epoll_ctl(ep2, EPOLL_CTL_ADD, pfd[0], &ri);
    close(pfd[1]);
    n = epoll_wait(ep2, out, 8, 0);
    P("hangup", n == 1 ? (long long)out[0].events : -1);
    close(ep2);
    epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL);
    close(pfd[0]);

    /* Closing the last descriptor removes the file; a dup keeps it. */
    int e1 = eventfd(1, 0);
    struct epoll_event ee = {.events = EPOLLIN, .data.u32 = 9};
    epoll_ctl(ep, EPOLL_CTL_ADD, e1, &ee);
    int e2 = dup(e1);
    close(e1);
    P("dup keeps it", nready(ep, 0));
    close(e2);
    P("last close removes it", nready(ep, 0));
    int e3 = eventfd(1, 0);
    E(epoll_ctl(ep, EPOLL_CTL_ADD, e3, &ee));
    close(e3);

    /* Fairness: three ready, one at a time, all seen. */
    int fds[3]; unsigned seen = 0;
    for (int i = 0; i < 3; i++) {
        fds[i] = eventfd(1, 0);
        struct epoll_event x = {.events = EPOLLIN, .data.u32 = 1u << i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &x);
    }
    for (int i = 0; i < 3; i++) { epoll_wait(ep, out, 1, 0); seen |= out[0].data.u32; }
    P("maxevents 1 rotates", seen);
    for (int i = 0; i < 3; i++) close(fds[i]);

    /* Nested: an epoll file is readable when its own wait would return. */
    int inner = epoll_create1(0), outer = epoll_create1(0);
    int ie = eventfd(0, 0);
    struct epoll_event x = {.events = EPOLLIN, .data.u32 = 5};
    epoll_ctl(inner, EPOLL_CTL_ADD, ie, &x);
    x.data.u32 = 6;
    E(epoll_ctl(outer, EPOLL_CTL_ADD, inner, &x));
    E(epoll_ctl(inner, EPOLL_CTL_ADD, outer, &x));
    P("nested idle", nready(outer, 0));
    put(ie, 1);
    n = epoll_wait(outer, out, 8, 0);
    P("nested ready", n == 1 && out[0].data.u32 == 6);
    struct pollfd pp = {inner, POLLIN, 0};
    P("poll on epoll", poll(&pp, 1, 0));

    /* Timeouts, wake-ups from another process, signals. */
    int idle = epoll_create1(0);
    long long t0 = now_ms();
    P("timeout returns 0", nready(idle, 60));
    P("waited>=50ms", now_ms() - t0 >= 50);
    int we = eventfd(0, 0);
    struct epoll_event wx = {.events = EPOLLIN, .data.u32 = 7};
    epoll_ctl(idle, EPOLL_CTL_ADD, we, &wx);
    pid_t c = fork();
    if (c == 0) { msleep(50); put(we, 1); _exit(0); }
    P("woken by child", nready(idle, -1));
    waitpid(c, NULL, 0);
    epoll_ctl(idle, EPOLL_CTL_DEL, we, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_alrm; sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    got_alrm = 0;
    E(epoll_wait(idle, out, 8, -1));
    P("handler ran", got_alrm);

    /* epoll_pwait: the mask applies during the wait only. */
    signal(SIGUSR1, on_usr1);
    sigset_t blk, none, cur; sigemptyset(&blk); sigaddset(&blk, SIGUSR1); sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    kill(getpid(), SIGUSR1);
    P("blocked, not run", got_usr1);
    E(epoll_pwait(idle, out, 8, -1, &none));
    P("ran during pwait", got_usr1);
    sigprocmask(SIG_BLOCK, NULL, &cur);
    P("mask restored", sigismember(&cur, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    struct timespec zero = {0, 0};
    P("pwait2 zero timeout", syscall(SYS_epoll_pwait2, idle, out, 8, &zero, NULL, 8));
    struct timespec badts = {0, 2000000000};
    E(syscall(SYS_epoll_pwait2, idle, out, 8, &badts, NULL, 8));
    put(we, 1);
    epoll_ctl(idle, EPOLL_CTL_ADD, we, &wx);
    P("pwait2 no timeout", syscall(SYS_epoll_pwait2, idle, out, 8, NULL, NULL, 8));
    close(we); close(idle); close(ie); close(inner); close(outer); close(ep);
}

static void test_timerfd(void) {
    puts("== timerfd");
    int err;
    E(timerfd_create(99, 0));
    E(timerfd_create(CLOCK_MONOTONIC, 0x4));
    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    P("cloexec", fcntl(tf, F_GETFD) & FD_CLOEXEC);
    u64read(tf, &err); P("unarmed EAGAIN", err == EAGAIN);
    char small[4];
    E(read(tf, small, 4));
    struct itimerspec its = {{0, 0}, {0, 1000000000}}, old, cur;
    E(timerfd_settime(tf, 0, &its, NULL));
    its.it_value.tv_nsec = 10000000;
    E(timerfd_settime(tf, 0x10, &its, NULL));
    E(timerfd_settime(1000, 0, &its, NULL));
    E(timerfd_settime(0, 0, &its, NULL));
    E(timerfd_settime(tf, 0, NULL, NULL));
    E(timerfd_gettime(tf, NULL));
    struct itimerspec huge = {{0x7fffffffffffffffL, 999999999}, {0x7fffffffffffffffL, 999999999}};
    E(timerfd_settime(tf, 0, &huge, NULL));
    E(timerfd_settime(tf, TFD_TIMER_ABSTIME, &huge, NULL));
    E(timerfd_gettime(tf, &cur));
    close(tf);

    /* One-shot, blocking. */
    int b = timerfd_create(CLOCK_MONOTONIC, 0);
    its = (struct itimerspec){{0, 0}, {0, 50000000}};
    timerfd_settime(b, 0, &its, NULL);
    long long t0 = now_ms();
    P("one-shot count", u64read(b, &err));
    P("after>=40ms", now_ms() - t0 >= 40);
    timerfd_gettime(b, &cur);
    P("spent: value 0", cur.it_value.tv_sec + cur.it_value.tv_nsec);

    /* Periodic. */
    its = (struct itimerspec){{0, 10000000}, {0, 10000000}};
    timerfd_settime(b, 0, &its, NULL);
    msleep(100);
    P("expirations>=3", u64read(b, &err) >= 3);
    timerfd_gettime(b, &cur);
    P("interval ns", cur.it_interval.tv_nsec);
    P("value in (0,10ms]", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 10000000);
    msleep(30);
    its = (struct itimerspec){{0, 0}, {10, 0}};
    timerfd_settime(b, 0, &its, &old);
    P("old interval ns", old.it_interval.tv_nsec);
    int nb = fcntl(b, F_GETFL); fcntl(b, F_SETFL, nb | O_NONBLOCK);
    u64read(b, &err); P("re-arm drops unread", err == EAGAIN);
    its = (struct itimerspec){{0, 0}, {0, 0}};
    timerfd_settime(b, 0, &its, &old);
    P("old value>9s", old.it_value.tv_sec >= 9);
    timerfd_gettime(b, &cur);
    P("disarmed", cur.it_value.tv_sec + cur.it_value.tv_nsec + cur.it_interval.tv_nsec);
    fcntl(b, F_SETFL, nb);

    /* Absolute times on each clock, a past one fires at once. */
    clockid_t clocks[3] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    for (int i = 0; i < 3; i++) {
        int a = timerfd_create(clocks[i], 0);
        struct timespec now; clock_gettime(clocks[i], &now);
        now.tv_nsec += 30000000;
        if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
        its = (struct itimerspec){{0, 0}, now};
        timerfd_settime(a, TFD_TIMER_ABSTIME, &its, NULL);
        struct pollfd p = {a, POLLIN, 0};
        P("abs poll", poll(&p, 1, 5000));
        P("abs count", u64read(a, &err));
        its.it_value.tv_sec -= 100;
        timerfd_settime(a, TFD_TIMER_ABSTIME, &its, NULL);
        P("past fires at once", u64read(a, &err));
        close(a);
    }

    /* Through epoll. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 4}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
    its = (struct itimerspec){{0, 0}, {0, 20000000}};
    timerfd_settime(b, 0, &its, NULL);
    int n = epoll_wait(ep, out, 2, 5000);
    P("epoll sees expiry", n == 1 && out[0].data.u32 == 4);
    P("count", u64read(b, &err));
    close(ep); close(b);
}

static void test_signalfd(void) {
    puts("== signalfd");
    sigset_t m; sigemptyset(&m); sigaddset(&m, SIGUSR1);
    sigset_t all; sigemptyset(&all);
    sigaddset(&all, SIGUSR1); sigaddset(&all, SIGUSR2); sigaddset(&all, SIGCHLD);
    sigprocmask(SIG_BLOCK, &all, NULL);
    E(syscall(SYS_signalfd4, -1, &m, 4, 0));
    E(signalfd(-1, &m, 0x1));
    E(signalfd(0, &m, 0));
    E(signalfd(1000, &m, 0));
    E(syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
    int sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    P("cloexec", fcntl(sfd, F_GETFD) & FD_CLOEXEC);
    struct signalfd_siginfo si;
    E(read(sfd, &si, sizeof si));
    kill(getpid(), SIGUSR1);
    struct pollfd p = {sfd, POLLIN, 0};
    P("poll", poll(&p, 1, 0));
    char small[64];
    E(read(sfd, small, sizeof small));
    P("read", read(sfd, &si, sizeof si));
    P("signo", si.ssi_signo);
    P("code SI_USER", si.ssi_code);
    P("pid is ours", si.ssi_pid == (uint32_t)getpid());
    P("uid", si.ssi_uid);
    P("consumed", poll(&p, 1, 0));

    /* A new mask on the same descriptor. */
    sigset_t m2; sigemptyset(&m2); sigaddset(&m2, SIGUSR2); sigaddset(&m2, SIGKILL);
    P("same fd back", signalfd(sfd, &m2, 0) == sfd);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    read(sfd, &si, sizeof si);
    P("only the new mask", si.ssi_signo);
    sigset_t pend; sigpending(&pend);
    P("SIGUSR1 still pending", sigismember(&pend, SIGUSR1));

    /* Several records in one read, lowest signal first. */
    sigset_t both; sigemptyset(&both); sigaddset(&both, SIGUSR1); sigaddset(&both, SIGUSR2);
    signalfd(sfd, &both, 0);
    kill(getpid(), SIGUSR2);
    struct signalfd_siginfo two[3];
    P("two records", read(sfd, two, sizeof two));
    P("first", two[0].ssi_signo);
    P("second", two[1].ssi_signo);

    /* A thread-directed signal. */
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
    read(sfd, &si, sizeof si);
    P("tgkill code SI_TKILL", si.ssi_code);

    /* Blocking read woken by another process; SIGCHLD records. */
    sigset_t cm; sigemptyset(&cm); sigaddset(&cm, SIGUSR1); sigaddset(&cm, SIGCHLD);
    int bfd = signalfd(-1, &cm, 0);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) { msleep(50); kill(parent, SIGUSR1); msleep(20); _exit(7); }
    read(bfd, &si, sizeof si);
    P("woken by", si.ssi_signo);
    P("sender is the child", si.ssi_pid == (uint32_t)c);
    read(bfd, &si, sizeof si);
    P("then", si.ssi_signo);
    P("CLD_EXITED", si.ssi_code);
    P("status", si.ssi_status);
    P("child pid", si.ssi_pid == (uint32_t)c);
    waitpid(c, NULL, 0);

    /* Through epoll. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 8}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    P("epoll idle", epoll_wait(ep, out, 2, 0));
    kill(getpid(), SIGUSR2);
    P("epoll ready", epoll_wait(ep, out, 2, 1000));
    read(sfd, &si, sizeof si);
    close(ep); close(sfd); close(bfd);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
}

static int ktimer_create(clockid_t clock, struct sigevent *sev, int *id) {
    return syscall(SYS_timer_create, clock, sev, id);
}
static int ktimer_settime(int id, int flags, const struct itimerspec *n, struct itimerspec *o) {
    return syscall(SYS_timer_settime, id, flags, n, o);
}
static int ktimer_gettime(int id, struct itimerspec *c) { return syscall(SYS_timer_gettime, id, c); }
static int ktimer_getoverrun(int id) { return syscall(SYS_timer_getoverrun, id); }
static int ktimer_delete(int id) { return syscall(SYS_timer_delete, id); }

static void test_timers(const char *self) {
    puts("== alarm and itimers");
    struct sigaction sa = {0};
    sa.sa_sigaction = on_alrm; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    P("alarm(0)", alarm(0));
    P("alarm(10)", alarm(10));
    P("alarm(5) left", alarm(5));
    P("alarm(0) left", alarm(0));
    alarm(10);
    pid_t c = fork();
    if (c == 0) { printf("%-44s %u\n", "child has no alarm", alarm(0)); fflush(stdout); _exit(0); }
    waitpid(c, NULL, 0);
    alarm(0);
    got_alrm = 0;
    struct itimerval it = {{0, 20000}, {0, 20000}}, old;
    E(setitimer(ITIMER_REAL, &it, NULL));
    sigset_t empty; sigemptyset(&empty);
    while (got_alrm < 3) sigsuspend(&empty);
    P("three SIGALRMs", got_alrm >= 3);
    P("si_code SI_KERNEL", alrm_code);
    getitimer(ITIMER_REAL, &old);
    P("getitimer interval us", old.it_interval.tv_usec);
    P("getitimer value in (0,20ms]", old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0 && old.it_value.tv_usec <= 20000);
    it = (struct itimerval){{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, &old);
    P("old interval us", old.it_interval.tv_usec);
    getitimer(ITIMER_REAL, &old);
    P("disarmed", old.it_value.tv_sec + old.it_value.tv_usec + old.it_interval.tv_usec);
    E(getitimer(7, &old));
    E(setitimer(7, &it, NULL));
    it.it_value.tv_usec = 1000000;
    E(setitimer(ITIMER_REAL, &it, NULL));
    it = (struct itimerval){{1, 0}, {10, 0}};
    E(setitimer(ITIMER_VIRTUAL, &it, NULL));
    getitimer(ITIMER_VIRTUAL, &old);
    P("virtual interval s", old.it_interval.tv_sec);
    /* Linux rounds CPU timers up to its tick. */
    long long vus = old.it_value.tv_sec * 1000000LL + old.it_value.tv_usec;
    P("virtual value about 10s", vus > 9000000 && vus <= 10100000);
    it = (struct itimerval){{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &it, NULL);
    E(setitimer(ITIMER_PROF, &it, NULL));

    puts("== POSIX timers");
    int id, id2, err;
    struct sigevent sev = {0};
    E(ktimer_create(99, NULL, &id));
    sev.sigev_notify = SIGEV_SIGNAL; sev.sigev_signo = 0;
    E(ktimer_create(CLOCK_MONOTONIC, &sev, &id));
    sev.sigev_signo = 65;
    E(ktimer_create(CLOCK_MONOTONIC, &sev, &id));
    sev.sigev_notify = 99; sev.sigev_signo = SIGUSR2;
    E(ktimer_create(CLOCK_MONOTONIC, &sev, &id));
    sev.sigev_notify = SIGEV_THREAD_ID; sev._sigev_un._tid = 1;
    E(ktimer_create(CLOCK_MONOTONIC, &sev, &id));
    E(ktimer_create(CLOCK_MONOTONIC, (void *)8, &id));
    struct itimerspec its = {{0, 0}, {1, 0}}, cur;
    E(ktimer_settime(12345, 0, &its, NULL));
    E(ktimer_gettime(12345, &cur));
    E(ktimer_getoverrun(12345));
    E(ktimer_delete(12345));

    /* A periodic SIGEV_SIGNAL timer while its signal is blocked: one
       pending signal whose overrun counts the rest, read via signalfd. */
    sigset_t m; sigemptyset(&m); sigaddset(&m, SIGUSR2); sigaddset(&m, SIGUSR1);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int sfd = signalfd(-1, &m, SFD_NONBLOCK);
    sev = (struct sigevent){0};
    sev.sigev_notify = SIGEV_SIGNAL; sev.sigev_signo = SIGUSR2; sev.sigev_value.sival_int = 0x1234;
    E(ktimer_create(CLOCK_MONOTONIC, &sev, &id));
    its = (struct itimerspec){{0, 10000000}, {0, 10000000}};
    E(ktimer_settime(id, 0, &its, NULL));
    E(ktimer_settime(id, 0, NULL, NULL));
    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    E(ktimer_settime(id, 0, &bad, NULL));
    msleep(100);
    struct signalfd_siginfo si;
    P("one record", read(sfd, &si, sizeof si));
    P("signo", si.ssi_signo);
    P("code SI_TIMER", si.ssi_code);
    P("si_value", si.ssi_int);
    P("ssi_tid is the timer id", si.ssi_tid == (uint32_t)id);
    P("overrun>=3", si.ssi_overrun >= 3);
    P("getoverrun>=0", ktimer_getoverrun(id) >= 0);
    ktimer_gettime(id, &cur);
    P("interval ns", cur.it_interval.tv_nsec);
    P("value in (0,10ms]", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 10000000);
    its = (struct itimerspec){{0, 0}, {0, 0}};
    struct itimerspec oldts;
    E(ktimer_settime(id, 0, &its, &oldts));
    P("old interval ns", oldts.it_interval.tv_nsec);
    ktimer_gettime(id, &cur);
    P("disarmed", cur.it_value.tv_sec + cur.it_value.tv_nsec);
    while (read(sfd, &si, sizeof si) > 0) ;

    /* SIGEV_THREAD_ID at an absolute CLOCK_REALTIME time. */
    sev = (struct sigevent){0};
    sev.sigev_notify = SIGEV_THREAD_ID; sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = syscall(SYS_gettid); sev.sigev_value.sival_ptr = (void *)0x5678;
    E(ktimer_create(CLOCK_REALTIME, &sev, &id2));
    P("ids differ", id2 != id);
    struct timespec now; clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 20000000;
    if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
    its = (struct itimerspec){{0, 0}, now};
    E(ktimer_settime(id2, TIMER_ABSTIME, &its, NULL));
    struct pollfd p = {sfd, POLLIN, 0};
    P("poll", poll(&p, 1, 5000));
    read(sfd, &si, sizeof si);
    P("thread signal", si.ssi_signo);
    P("ptr", si.ssi_ptr);
    P("overrun", si.ssi_overrun);
    E(ktimer_delete(id2));
    E(ktimer_delete(id2));

    /* SIGEV_NONE runs silently. */
    sev = (struct sigevent){0};
    sev.sigev_notify = SIGEV_NONE;
    E(ktimer_create(CLOCK_BOOTTIME, &sev, &id2));
    its = (struct itimerspec){{0, 0}, {10, 0}};
    ktimer_settime(id2, 0, &its, NULL);
    ktimer_gettime(id2, &cur);
    P("none: value>9s", cur.it_value.tv_sec >= 9);
    ktimer_delete(id2);

    /* sigwaitinfo/sigtimedwait, and glibc's SIGEV_THREAD built on them. */
    sigset_t w; sigemptyset(&w); sigaddset(&w, SIGUSR1);
    sigprocmask(SIG_BLOCK, &w, NULL);
    struct timespec wt = {0, 30000000};
    siginfo_t info;
    E(sigtimedwait(&w, &info, &wt));
    wt.tv_nsec = 1000000000;
    E(sigtimedwait(&w, &info, &wt));
    kill(getpid(), SIGUSR1);
    P("sigwaitinfo", sigwaitinfo(&w, &info));
    P("si_code SI_USER", info.si_code);
    P("si_pid is ours", info.si_pid == getpid());
    sigprocmask(SIG_UNBLOCK, &w, NULL);
    timer_t gt;
    struct sigevent tev = {0};
    tev.sigev_notify = SIGEV_THREAD; tev.sigev_notify_function = on_timer_thread;
    tev.sigev_value.sival_int = 1;
    E(timer_create(CLOCK_MONOTONIC, &tev, &gt));
    its = (struct itimerspec){{0, 10000000}, {0, 10000000}};
    E(timer_settime(gt, 0, &its, NULL));
    for (int i = 0; i < 500 && __atomic_load_n(&thread_fired, __ATOMIC_SEQ_CST) < 3; i++) msleep(10);
    E(timer_delete(gt));
    P("SIGEV_THREAD ran>=3", __atomic_load_n(&thread_fired, __ATOMIC_SEQ_CST) >= 3);

    /* Not inherited by fork; gone after exec. */
    c = fork();
    if (c == 0) { int r = ktimer_gettime(id, &cur); printf("%-44s %s\n", "child's timer_gettime", r < 0 ? strerrorname_np(errno) : "ok"); fflush(stdout); _exit(0); }
    waitpid(c, NULL, 0);
    close(sfd);
    sigprocmask(SIG_UNBLOCK, &m, NULL);
    char arg[16]; snprintf(arg, sizeof arg, "%d", id);
    fflush(stdout);
    c = fork();
    if (c == 0) { execl(self, self, "after-exec", arg, (char *)NULL); _exit(99); }
    waitpid(c, NULL, 0);
    (void)err;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 && !strcmp(argv[1], "after-exec")) {
        struct itimerspec cur;
        E(ktimer_gettime(atoi(argv[2]), &cur));
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "exec-alarm")) {
        /* alarm survives execve: the SIGALRM ends sleep. */
        alarm(1);
        execl("/bin/sleep", "sleep", "5", (char *)NULL);
        return 3;
    }
    if (argc > 1 && !strcmp(argv[1], "timer-exec")) {
        /* A POSIX timer armed before execve never fires after it. */
        int id;
        struct sigevent sev = {0};
        sev.sigev_notify = SIGEV_SIGNAL; sev.sigev_signo = SIGTERM;
        ktimer_create(CLOCK_MONOTONIC, &sev, &id);
        struct itimerspec its = {{0, 0}, {0, 100000000}};
        ktimer_settime(id, 0, &its, NULL);
        execl("/bin/sleep", "sleep", "0.3", (char *)NULL);
        return 3;
    }
    test_eventfd();
    test_epoll();
    test_timerfd();
    test_signalfd();
    (void)argv;
    test_timers("/bin/events");
    return 0;
}
"#;

const SCRIPT: &str = "events; echo status=$?; events exec-alarm; echo status=$?; \
                      events timer-exec; echo status=$?; \
                      events-static > /tmp/static.out; echo status=$?; \
                      events > /tmp/dynamic.out; cmp /tmp/static.out /tmp/dynamic.out && echo same";

fn bundle(tag: &str) -> Bundle {
    let b = Bundle::sh(tag, SCRIPT);
    let src = b.path().join("events.c");
    fs::write(&src, PROGRAM).expect("write events.c");
    sandbox_tests::cprog::build_both(&b.rootfs(), &src, "events", &[]);
    fs::create_dir_all(b.rootfs().join("tmp")).expect("mkdir /tmp");
    b
}

/// The lines both runs must print, kept beside the program so a change to
/// one shows in the other.
fn expected() -> String {
    fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/events.expected"
    ))
    .expect("events.expected")
}

/// Fails at the first line that differs, showing it and the whole run.
#[track_caller]
fn assert_lines(out: &sandbox_tests::Output) {
    let want = expected();
    for (n, (got, exp)) in out.stdout.lines().zip(want.lines()).enumerate() {
        assert_eq!(got, exp, "line {}\n{out}", n + 1);
    }
    assert_eq!(out.stdout, want, "\n{out}");
}

#[test]
fn native_control_events() {
    let b = bundle("events-native");
    let out = native_in_chroot(&b, SCRIPT);
    assert_lines(&out);
}

#[test]
fn sandbox_events() {
    let b = bundle("events");
    let rt = Runtime::sandbox();
    let out = rt.run(&b);
    assert_lines(&out);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
}
