/* Event descriptors: eventfd (counter and semaphore modes), epoll (level-
 * and edge-triggered, one-shot) on pipes and eventfds, timerfd, signalfd,
 * and memfd_create with seals, checked against eventfd(2), epoll(7),
 * epoll_ctl(2), timerfd_create(2), signalfd(2), memfd_create(2) and
 * fcntl(2). Every wait is bounded. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

static void eventfd_checks(void) {
    int e = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK("eventfd", e >= 0, "eventfd: %s", ename(errno));
    EQ("eventfd-cloexec", fcntl(e, F_GETFD), FD_CLOEXEC);
    uint64_t v = 4;
    EQ("eventfd-write", write(e, &v, 8), 8);
    v = 0;
    EQ("eventfd-read", read(e, &v, 8), 8);
    EQ("eventfd-read-sum-and-reset", v, 7);
    ERR("eventfd-empty-eagain", read(e, &v, 8), EAGAIN);
    ERR("eventfd-short-read-einval", read(e, &v, 4), EINVAL);
    v = UINT64_MAX;
    ERR("eventfd-write-max-einval", write(e, &v, 8), EINVAL);
    v = UINT64_MAX - 1;
    EQ("eventfd-write-to-max", write(e, &v, 8), 8);
    v = 1;
    ERR("eventfd-overflow-eagain", write(e, &v, 8), EAGAIN);
    close(e);

    e = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    v = 0;
    read(e, &v, 8);
    EQ("efd-semaphore-reads-one", v, 1);
    v = 0;
    read(e, &v, 8);
    EQ("efd-semaphore-second", v, 1);
    ERR("efd-semaphore-empty-eagain", read(e, &v, 8), EAGAIN);
    struct pollfd pf = { e, POLLIN | POLLOUT, 0 };
    EQ("eventfd-poll-writable-only", (poll(&pf, 1, 0), pf.revents), POLLOUT);
    close(e);
    ERR("eventfd-bad-flags-einval", eventfd(0, 0x12345678), EINVAL);

    /* A blocking read wakes when another process writes. */
    e = eventfd(0, 0);
    pid_t pid = fork();
    if (pid == 0) { sleep_ms(50); uint64_t one = 5; write(e, &one, 8); _exit(0); }
    pf.fd = e;
    pf.events = POLLIN;
    EQ("eventfd-poll-wakes", poll(&pf, 1, 3000), 1);
    v = 0;
    if (pf.revents & POLLIN) read(e, &v, 8);
    EQ("eventfd-value-from-other-process", v, 5);
    waitpid(pid, NULL, 0);
    close(e);
}

static void epoll_checks(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK("epoll-create1", ep >= 0, "epoll_create1: %s", ename(errno));
    ERR("epoll-create-zero-einval", epoll_create(0), EINVAL);
    int p[2];
    pipe2(p, O_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234 }, out[4];
    OK("epoll-ctl-add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    ERR("epoll-ctl-add-twice-eexist", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    ERR("epoll-ctl-mod-missing-enoent", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
    ERR("epoll-ctl-self-einval", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    int reg = open("/tmp", O_RDONLY);
    ERR("epoll-ctl-directory-eperm", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev), EPERM);
    close(reg);
    EQ("epoll-wait-empty", epoll_wait(ep, out, 4, 0), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    EQ("epoll-wait-timeout", epoll_wait(ep, out, 4, 100), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK("epoll-wait-timeout-waits", ms >= 95 && ms < 2000, "waited %ld ms", ms);
    write(p[1], "ab", 2);
    EQ("epoll-lt-ready", epoll_wait(ep, out, 4, 0), 1);
    CHECK("epoll-event-data", out[0].data.u64 == 0x1234 && out[0].events == EPOLLIN, "data %#llx events %#x", (unsigned long long)out[0].data.u64, out[0].events);
    EQ("epoll-lt-still-ready", epoll_wait(ep, out, 4, 0), 1);

    ev.events = EPOLLIN | EPOLLET;
    OK("epoll-ctl-mod-et", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    EQ("epoll-et-first", epoll_wait(ep, out, 4, 0), 1);
    EQ("epoll-et-not-again", epoll_wait(ep, out, 4, 0), 0);
    write(p[1], "c", 1);
    EQ("epoll-et-new-data", epoll_wait(ep, out, 4, 0), 1);
    char buf[8];
    read(p[0], buf, sizeof buf);

    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
    write(p[1], "d", 1);
    EQ("epoll-oneshot-first", epoll_wait(ep, out, 4, 0), 1);
    write(p[1], "e", 1);
    EQ("epoll-oneshot-disarmed", epoll_wait(ep, out, 4, 0), 0);
    epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
    EQ("epoll-oneshot-rearmed", epoll_wait(ep, out, 4, 0), 1);
    read(p[0], buf, sizeof buf);

    /* An eventfd and the pipe's write end, together. */
    int e = eventfd(0, EFD_NONBLOCK);
    struct epoll_event eev = { .events = EPOLLIN, .data.fd = e };
    epoll_ctl(ep, EPOLL_CTL_ADD, e, &eev);
    struct epoll_event wev = { .events = EPOLLOUT, .data.fd = p[1] };
    epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &wev);
    uint64_t one = 1;
    write(e, &one, 8);
    int n = epoll_wait(ep, out, 4, 0), saw = 0;
    for (int i = 0; i < n; i++) saw |= (out[i].data.fd == e ? 1 : 0) | (out[i].data.fd == p[1] ? 2 : 0);
    CHECK("epoll-eventfd-and-pipe-out", n == 2 && saw == 3, "%d events, mask %d", n, saw);
    OK("epoll-ctl-del", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    EQ("epoll-after-del", epoll_wait(ep, out, 4, 0), 1);

    /* A write from another process wakes a blocked epoll_wait. */
    read(e, &one, 8);
    pid_t pid = fork();
    if (pid == 0) { sleep_ms(50); uint64_t v = 1; write(e, &v, 8); _exit(0); }
    EQ("epoll-wait-wakes", epoll_wait(ep, out, 4, 3000), 1);
    waitpid(pid, NULL, 0);
    /* Closing the descriptor removes it from the set. */
    close(e);
    EQ("epoll-close-removes", epoll_wait(ep, out, 4, 0), 0);
    ERR("epoll-wait-bad-maxevents-einval", epoll_wait(ep, out, 0, 0), EINVAL);
    ERR("epoll-wait-not-epoll-einval", epoll_wait(p[0], out, 4, 0), EINVAL);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void timerfd_checks(void) {
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    CHECK("timerfd-create", t >= 0, "timerfd_create: %s", ename(errno));
    uint64_t n = 0;
    ERR("timerfd-unarmed-eagain", read(t, &n, 8), EAGAIN);
    struct itimerspec its = { { 0, 20 * 1000000 }, { 0, 50 * 1000000 } }, cur;
    OK("timerfd-settime", timerfd_settime(t, 0, &its, NULL));
    OK("timerfd-gettime", timerfd_gettime(t, &cur));
    CHECK("timerfd-gettime-remaining", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 50 * 1000000 && cur.it_interval.tv_nsec == 20 * 1000000,
          "value %ld.%09ld interval %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    struct pollfd pf = { t, POLLIN, 0 };
    EQ("timerfd-poll-fires", poll(&pf, 1, 3000), 1);
    sleep_ms(100);
    n = 0;
    read(t, &n, 8);
    CHECK("timerfd-expirations", n >= 3, "%llu expirations after ~150 ms at 20 ms", (unsigned long long)n);
    struct itimerspec off = { { 0, 0 }, { 0, 0 } };
    timerfd_settime(t, 0, &off, NULL);
    ERR("timerfd-disarmed-eagain", (sleep_ms(50), read(t, &n, 8)), EAGAIN);
    struct itimerspec abs;
    memset(&abs, 0, sizeof abs);
    clock_gettime(CLOCK_MONOTONIC, &abs.it_value);
    OK("timerfd-abstime-past", timerfd_settime(t, TFD_TIMER_ABSTIME, &abs, NULL));
    n = 0;
    EQ("timerfd-abstime-past-fires", (poll(&pf, 1, 1000), read(t, &n, 8)), 8);
    struct itimerspec bad = { { 0, 0 }, { 0, 1000000000 } };
    ERR("timerfd-settime-bad-nsec-einval", timerfd_settime(t, 0, &bad, NULL), EINVAL);
    ERR("timerfd-create-bad-clock-einval", timerfd_create(12345, 0), EINVAL);
    close(t);
}

static void signalfd_checks(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int s = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK("signalfd", s >= 0, "signalfd: %s", ename(errno));
    struct signalfd_siginfo si;
    ERR("signalfd-empty-eagain", read(s, &si, sizeof si), EAGAIN);
    kill(getpid(), SIGUSR1);
    memset(&si, 0, sizeof si);
    EQ("signalfd-read", read(s, &si, sizeof si), sizeof si);
    CHECK("signalfd-siginfo", si.ssi_signo == SIGUSR1 && si.ssi_pid == (uint32_t)getpid() && si.ssi_code == SI_USER,
          "signo %u pid %u code %d", si.ssi_signo, si.ssi_pid, si.ssi_code);
    sigset_t pend;
    sigpending(&pend);
    EQ("signalfd-consumes-pending", sigismember(&pend, SIGUSR1), 0);
    ERR("signalfd-small-read-einval", read(s, &si, 8), EINVAL);
    struct pollfd pf = { s, POLLIN, 0 };
    pid_t me = getpid(), pid = fork();
    if (pid == 0) { sleep_ms(50); kill(me, SIGUSR2); _exit(0); }
    EQ("signalfd-poll-wakes", poll(&pf, 1, 3000), 1);
    memset(&si, 0, sizeof si);
    read(s, &si, sizeof si);
    CHECK("signalfd-from-other-process", si.ssi_signo == SIGUSR2 && si.ssi_pid == (uint32_t)pid, "signo %u pid %u", si.ssi_signo, si.ssi_pid);
    waitpid(pid, NULL, 0);
    /* The mask can be replaced on the same descriptor. */
    sigset_t only2;
    sigemptyset(&only2);
    sigaddset(&only2, SIGUSR2);
    EQ("signalfd-update-mask", signalfd(s, &only2, 0), s);
    kill(getpid(), SIGUSR1);
    ERR("signalfd-masked-out-eagain", read(s, &si, sizeof si), EAGAIN);
    signal(SIGUSR1, SIG_IGN);
    close(s);
    ERR("signalfd-bad-flags-einval", signalfd(-1, &set, 0x12345678), EINVAL);
}

static void memfd_checks(void) {
    int m = memfd_create("conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK("memfd-create", m >= 0, "memfd_create: %s", ename(errno));
    EQ("memfd-write", write(m, "hello", 5), 5);
    char buf[8] = {0};
    EQ("memfd-pread", pread(m, buf, 5, 0), 5);
    CHECK("memfd-data", !strcmp(buf, "hello"), "got %s", buf);
    char link[64] = {0}, path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    readlink(path, link, sizeof link - 1);
    CHECK("memfd-proc-name", !strncmp(link, "/memfd:conf", 11), "link %s", link);
    OK("memfd-ftruncate", ftruncate(m, 4096));
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    CHECK("memfd-mmap-shared", p != MAP_FAILED, "mmap: %s", ename(errno));
    if (p != MAP_FAILED) {
        p[0] = 'J';
        pread(m, buf, 1, 0);
        EQ("memfd-mapping-coherent", buf[0], 'J');
        munmap(p, 4096);
    } else {
        say("FAIL memfd-mapping-coherent: no mapping");
        check_failures++;
    }
    EQ("memfd-get-seals-initial", fcntl(m, F_GET_SEALS), 0);
    OK("memfd-add-seal-shrink-grow", fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
    ERR("memfd-sealed-shrink-eperm", ftruncate(m, 10), EPERM);
    ERR("memfd-sealed-grow-eperm", pwrite(m, "x", 1, 8192), EPERM);
    EQ("memfd-sealed-write-inside", pwrite(m, "x", 1, 10), 1);
    OK("memfd-seal-write", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL));
    ERR("memfd-sealed-write-eperm", pwrite(m, "x", 1, 10), EPERM);
    ERR("memfd-seal-sealed-eperm", fcntl(m, F_ADD_SEALS, F_SEAL_GROW), EPERM);
    EQ("memfd-get-seals", fcntl(m, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    close(m);
    m = memfd_create("nosealing", 0);
    ERR("memfd-no-sealing-eperm", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    close(m);
    ERR("memfd-bad-flags-einval", memfd_create("x", 0x1000), EINVAL);
}

static void checks(void) {
    group("eventfd", eventfd_checks, 10000);
    group("epoll", epoll_checks, 10000);
    group("timerfd", timerfd_checks, 10000);
    group("signalfd", signalfd_checks, 10000);
    group("memfd", memfd_checks, 10000);
}
