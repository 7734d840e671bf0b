/* Timers: alarm, setitimer/getitimer (real, virtual, profiling), and
 * POSIX timers (timer_create with SIGEV_SIGNAL, timer_settime/gettime,
 * overruns, timer_delete), checked against alarm(2), setitimer(2),
 * timer_create(2), timer_settime(2) and timer_getoverrun(2). A signal that
 * never comes is waited for with a bounded poll, never pause(). */
#include "check.h"
#include <sys/time.h>

static volatile sig_atomic_t alrm, vtalrm, prof, rt_count;
static volatile int rt_value, rt_code, rt_first_overrun;

static void on_alrm(int sig) { (void)sig; alrm++; }
static void on_vtalrm(int sig) { (void)sig; vtalrm++; }
static void on_prof(int sig) { (void)sig; prof++; }
static void on_rt(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    if (rt_count == 0) rt_first_overrun = si->si_overrun;
    rt_count++;
    rt_value = si->si_value.sival_int;
    rt_code = si->si_code;
}

static int wait_for(volatile sig_atomic_t *flag, int count, long ms) {
    for (long w = 0; w < ms && *flag < count; w += 5) sleep_ms(5);
    return *flag >= count;
}

static long long mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void burn_until(volatile sig_atomic_t *flag, int count, long ms) {
    long long end = mono_ms() + ms;
    volatile unsigned long x = 0;
    while (*flag < count && mono_ms() < end)
        for (int i = 0; i < 100000; i++) x += i;
}

static void alarm_checks(void) {
    signal(SIGALRM, on_alrm);
    EQ("alarm-none-pending", alarm(5), 0);
    unsigned left = alarm(1);
    CHECK("alarm-returns-remaining", left >= 4 && left <= 5, "alarm returned %u", left);
    long long t0 = mono_ms();
    CHECK("alarm-delivers-sigalrm", wait_for(&alrm, 1, 3000), "no SIGALRM within 3 s of alarm(1)");
    long long took = mono_ms() - t0;
    CHECK("alarm-timing", took >= 900 && took < 2500, "took %lld ms", took);
    alrm = 0;
    alarm(1);
    EQ("alarm-zero-cancels", alarm(0) >= 1 ? 1 : 0, 1);
    sleep_ms(1300);
    EQ("alarm-cancelled-no-signal", alrm, 0);
}

static void itimer_checks(void) {
    signal(SIGALRM, on_alrm);
    alrm = 0;
    struct itimerval it = { { 0, 20000 }, { 0, 50000 } }, cur;
    OK("setitimer-real", setitimer(ITIMER_REAL, &it, NULL));
    OK("getitimer-real", getitimer(ITIMER_REAL, &cur));
    CHECK("getitimer-real-values", cur.it_interval.tv_usec == 20000 && cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 50000,
          "interval %ld value %ld.%06ld", (long)cur.it_interval.tv_usec, (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);
    CHECK("setitimer-real-periodic", wait_for(&alrm, 3, 3000), "%d SIGALRMs after 3 s", (int)alrm);
    struct itimerval off = { { 0, 0 }, { 0, 0 } }, old;
    OK("setitimer-disarm", setitimer(ITIMER_REAL, &off, &old));
    CHECK("setitimer-old-value", old.it_interval.tv_usec == 20000, "old interval %ld", (long)old.it_interval.tv_usec);
    struct itimerval bad = { { 0, 0 }, { 0, 1000000 } };
    ERR("setitimer-bad-usec-einval", setitimer(ITIMER_REAL, &bad, NULL), EINVAL);
    ERR("setitimer-bad-which-einval", setitimer(42, &it, NULL), EINVAL);

    signal(SIGVTALRM, on_vtalrm);
    struct itimerval v = { { 0, 0 }, { 0, 50000 } };
    OK("setitimer-virtual", setitimer(ITIMER_VIRTUAL, &v, NULL));
    burn_until(&vtalrm, 1, 3000);
    EQ("itimer-virtual-fires-on-cpu", vtalrm, 1);
    signal(SIGPROF, on_prof);
    OK("setitimer-prof", setitimer(ITIMER_PROF, &v, NULL));
    burn_until(&prof, 1, 3000);
    EQ("itimer-prof-fires-on-cpu", prof, 1);
}

static void posix_timer_checks(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGRTMIN, &sa, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 4242;
    timer_t t;
    OK("timer-create-monotonic", timer_create(CLOCK_MONOTONIC, &sev, &t));
    struct itimerspec its = { { 0, 0 }, { 0, 50 * 1000000 } }, cur;
    OK("timer-settime", timer_settime(t, 0, &its, NULL));
    OK("timer-gettime", timer_gettime(t, &cur));
    CHECK("timer-gettime-remaining", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 50 * 1000000,
          "value %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    CHECK("timer-fires", wait_for(&rt_count, 1, 3000), "no signal within 3 s");
    CHECK("timer-siginfo", rt_value == 4242 && rt_code == SI_TIMER, "value %d code %d", rt_value, rt_code);
    OK("timer-gettime-after", timer_gettime(t, &cur));
    CHECK("timer-one-shot-disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "value %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

    /* Expirations while the signal is blocked are counted as overruns. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    rt_count = 0;
    struct itimerspec per = { { 0, 10 * 1000000 }, { 0, 10 * 1000000 } };
    timer_settime(t, 0, &per, NULL);
    sleep_ms(200);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    wait_for(&rt_count, 1, 1000);
    /* The first signal's overrun (the timer may fire again before
     * timer_getoverrun runs, which then reports the later signal's). */
    CHECK("timer-overrun", rt_count >= 1 && rt_first_overrun >= 5, "%d signals, first overrun %d after ~20 expirations", (int)rt_count,
          rt_first_overrun);
    OK("timer-getoverrun", timer_getoverrun(t));
    struct itimerspec zero = { { 0, 0 }, { 0, 0 } };
    timer_settime(t, 0, &zero, NULL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec abs = { { 0, 0 }, now };
    rt_count = 0;
    OK("timer-settime-abstime-past", timer_settime(t, TIMER_ABSTIME, &abs, NULL));
    CHECK("timer-abstime-past-fires", wait_for(&rt_count, 1, 2000), "no signal");
    struct itimerspec bad = { { 0, 0 }, { 0, 1000000000 } };
    ERR("timer-settime-bad-nsec-einval", timer_settime(t, 0, &bad, NULL), EINVAL);
    OK("timer-delete", timer_delete(t));
    ERR("timer-gettime-deleted-einval", timer_gettime(t, &cur), EINVAL);
    timer_t t2;
    ERR("timer-create-bad-clock-einval", timer_create(12345, &sev, &t2), EINVAL);
    sev.sigev_signo = 0;
    sev.sigev_notify = SIGEV_NONE;
    OK("timer-create-sigev-none", timer_create(CLOCK_REALTIME, &sev, &t2));
    its.it_value.tv_sec = 10;
    timer_settime(t2, 0, &its, NULL);
    timer_gettime(t2, &cur);
    CHECK("timer-sigev-none-gettime", cur.it_value.tv_sec >= 9 && cur.it_value.tv_sec <= 10, "value %ld", (long)cur.it_value.tv_sec);
    timer_delete(t2);
}

static long long cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Burns `ms` of the process's CPU time. */
static void burn_cpu(long ms) {
    long long end = cpu_ms() + ms;
    volatile unsigned long x = 0;
    while (cpu_ms() < end)
        for (int i = 0; i < 100000; i++) x += i;
}

static long tv_ms(struct timeval tv) { return tv.tv_sec * 1000L + tv.tv_usec / 1000; }

/* CPU-time interval timers: they count CPU time only, periodically, are
 * read back counting down, and are not inherited by fork. */
static void cpu_itimer_checks(void) {
    signal(SIGVTALRM, on_vtalrm);
    signal(SIGPROF, on_prof);
    vtalrm = prof = 0;
    struct itimerval v = { { 0, 0 }, { 0, 50000 } }, cur;
    OK("itimer-virtual-arm-sleeping", setitimer(ITIMER_VIRTUAL, &v, NULL));
    sleep_ms(300);
    EQ("itimer-virtual-not-while-sleeping", vtalrm, 0);
    OK("getitimer-virtual-while-sleeping", getitimer(ITIMER_VIRTUAL, &cur));
    CHECK("getitimer-virtual-unspent", tv_ms(cur.it_value) > 25 && tv_ms(cur.it_value) <= 60, "value %ld ms (Linux adds a tick)", tv_ms(cur.it_value));
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_VIRTUAL, &off, NULL);

    struct itimerval ten = { { 0, 0 }, { 10, 0 } };
    setitimer(ITIMER_PROF, &ten, NULL);
    burn_cpu(200);
    getitimer(ITIMER_PROF, &cur);
    long left = tv_ms(cur.it_value);
    CHECK("getitimer-prof-counts-down", left >= 9000 && left <= 9850, "value %ld ms after ~200 ms of CPU", left);
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerval c;
        getitimer(ITIMER_PROF, &c);
        _exit(c.it_value.tv_sec == 0 && c.it_value.tv_usec == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK("itimer-prof-not-inherited", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
    setitimer(ITIMER_PROF, &off, NULL);

    prof = 0;
    struct itimerval per = { { 0, 20000 }, { 0, 20000 } };
    OK("itimer-prof-periodic-arm", setitimer(ITIMER_PROF, &per, NULL));
    burn_until(&prof, 4, 5000);
    CHECK("itimer-prof-periodic", prof >= 4, "%d SIGPROFs", (int)prof);
    setitimer(ITIMER_PROF, &off, NULL);
    getitimer(ITIMER_PROF, &cur);
    CHECK("itimer-prof-disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0, "value %ld ms", tv_ms(cur.it_value));
}

/* POSIX timers on CPU-time clocks. */
static void cpu_timer_checks(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGRTMIN, &sa, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 77;
    timer_t t;
    rt_count = 0;
    OK("timer-create-process-cputime", timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &t));
    struct itimerspec its = { { 0, 0 }, { 0, 100 * 1000000 } }, cur;
    OK("timer-cputime-settime", timer_settime(t, 0, &its, NULL));
    sleep_ms(300);
    EQ("timer-cputime-not-while-sleeping", rt_count, 0);
    burn_until(&rt_count, 1, 3000);
    CHECK("timer-cputime-fires-on-cpu", rt_count == 1 && rt_value == 77 && rt_code == SI_TIMER, "%d signals, value %d, code %d", (int)rt_count, rt_value, rt_code);
    OK("timer-cputime-gettime", timer_gettime(t, &cur));
    CHECK("timer-cputime-one-shot-disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "value %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    /* An absolute expiry on the clock itself. */
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    struct itimerspec abs = { { 0, 0 }, { now.tv_sec, now.tv_nsec } };
    abs.it_value.tv_nsec += 50 * 1000000;
    if (abs.it_value.tv_nsec >= 1000000000) { abs.it_value.tv_sec++; abs.it_value.tv_nsec -= 1000000000; }
    rt_count = 0;
    OK("timer-cputime-settime-abstime", timer_settime(t, TIMER_ABSTIME, &abs, NULL));
    burn_until(&rt_count, 1, 3000);
    EQ("timer-cputime-abstime-fires", rt_count, 1);
    timer_delete(t);

    timer_t tt;
    OK("timer-create-thread-cputime", timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &tt));
    rt_count = 0;
    its.it_value.tv_nsec = 50 * 1000000;
    timer_settime(tt, 0, &its, NULL);
    burn_until(&rt_count, 1, 3000);
    EQ("timer-thread-cputime-fires-on-cpu", rt_count, 1);
    timer_delete(tt);

    clockid_t cid;
    OK("clock-getcpuclockid-self", clock_getcpuclockid(0, &cid));
    timer_t tp;
    OK("timer-create-pid-cpuclock", timer_create(cid, &sev, &tp));
    timer_delete(tp);
}

static void checks(void) {
    group("alarm", alarm_checks, 10000);
    group("itimer", itimer_checks, 15000);
    group("posix-timers", posix_timer_checks, 10000);
    group("cpu-itimers", cpu_itimer_checks, 15000);
    group("cpu-timers", cpu_timer_checks, 15000);
}
