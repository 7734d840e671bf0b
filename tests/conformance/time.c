/* Time: the clocks, their resolutions, sleeping relative and absolute,
 * gettimeofday and time, checked against clock_gettime(2),
 * clock_getres(2), nanosleep(2), clock_nanosleep(2), gettimeofday(2) and
 * time(2). */
#include "check.h"
#include <sys/time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long now(clockid_t c) {
    struct timespec t = { -1, -1 };
    if (clock_gettime(c, &t) != 0) return -1;
    return ns(t);
}

static void burn(long ms) {
    long long end = now(CLOCK_MONOTONIC) + ms * 1000000LL;
    volatile unsigned long x = 0;
    while (now(CLOCK_MONOTONIC) < end)
        for (int i = 0; i < 10000; i++) x += i;
}

static void checks(void) {
    static const struct { clockid_t id; const char *name; } clocks[] = {
        { CLOCK_REALTIME, "realtime" },
        { CLOCK_MONOTONIC, "monotonic" },
        { CLOCK_BOOTTIME, "boottime" },
        { CLOCK_PROCESS_CPUTIME_ID, "process-cputime" },
        { CLOCK_THREAD_CPUTIME_ID, "thread-cputime" },
        { CLOCK_MONOTONIC_COARSE, "monotonic-coarse" },
        { CLOCK_REALTIME_COARSE, "realtime-coarse" },
        { CLOCK_MONOTONIC_RAW, "monotonic-raw" },
    };
    char name[64];
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec t = { -1, -1 }, r = { -1, -1 };
        snprintf(name, sizeof name, "clock-gettime-%s", clocks[i].name);
        long rc = clock_gettime(clocks[i].id, &t);
        CHECK(name, rc == 0 && t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000,
              "rc %ld %s, %ld.%09ld", rc, ename(errno), (long)t.tv_sec, t.tv_nsec);
        snprintf(name, sizeof name, "clock-getres-%s", clocks[i].name);
        rc = clock_getres(clocks[i].id, &r);
        CHECK(name, rc == 0 && r.tv_sec == 0 && r.tv_nsec > 0 && r.tv_nsec <= 10000000,
              "rc %ld %s, %ld.%09ld", rc, ename(errno), (long)r.tv_sec, r.tv_nsec);
    }
    struct timespec t;
    ERR("clock-gettime-bad-clock-einval", clock_gettime(12345, &t), EINVAL);
    ERR("clock-getres-bad-clock-einval", clock_getres(12345, &t), EINVAL);
    ERR("clock-gettime-efault", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8), EFAULT);
    OK("clock-getres-null", clock_getres(CLOCK_MONOTONIC, NULL));

    /* Realtime is the epoch clock: after 2020, and agrees with time(2) and gettimeofday(2). */
    long long rt = now(CLOCK_REALTIME);
    CHECK("realtime-after-2020", rt / 1000000000LL > 1577836800LL, "%lld s", rt / 1000000000LL);
    time_t tt = time(NULL);
    CHECK("time-agrees-with-realtime", tt - rt / 1000000000LL >= 0 && tt - rt / 1000000000LL <= 2, "time %ld realtime %lld", (long)tt, rt / 1000000000LL);
    time_t tt2 = 0;
    time(&tt2);
    CHECK("time-stores-result", tt2 >= tt, "stored %ld", (long)tt2);
    struct timeval tv;
    OK("gettimeofday", gettimeofday(&tv, NULL));
    CHECK("gettimeofday-agrees", tv.tv_sec - tt >= 0 && tv.tv_sec - tt <= 2 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "%ld.%06ld vs %ld", (long)tv.tv_sec, (long)tv.tv_usec, (long)tt);

    /* Monotonic never goes back; boottime is at least monotonic. */
    long long m0 = now(CLOCK_MONOTONIC), bad = 0;
    for (int i = 0; i < 10000; i++) {
        long long m = now(CLOCK_MONOTONIC);
        if (m < m0) bad++;
        m0 = m;
    }
    EQ("monotonic-never-decreases", bad, 0);
    long long mono = now(CLOCK_MONOTONIC), boot = now(CLOCK_BOOTTIME);
    CHECK("boottime-not-behind-monotonic", boot >= mono, "boottime %lld monotonic %lld", boot, mono);
    long long coarse = now(CLOCK_MONOTONIC_COARSE), fine = now(CLOCK_MONOTONIC);
    CHECK("monotonic-coarse-close", llabs(fine - coarse) < 100000000LL, "coarse %lld fine %lld", coarse, fine);

    /* CPU clocks advance with CPU use, not with sleeping. */
    /* Work until the thread's CPU clock says 60 ms (a loaded machine gives
     * less CPU per wall-clock ms), for at most 5 s of wall-clock time. */
    long long p0 = now(CLOCK_PROCESS_CPUTIME_ID), t0 = now(CLOCK_THREAD_CPUTIME_ID);
    long long wall_end = now(CLOCK_MONOTONIC) + 5000000000LL;
    while (now(CLOCK_THREAD_CPUTIME_ID) - t0 < 60000000LL && now(CLOCK_MONOTONIC) < wall_end)
        burn(5);
    long long p1 = now(CLOCK_PROCESS_CPUTIME_ID), t1 = now(CLOCK_THREAD_CPUTIME_ID);
    CHECK("process-cputime-advances", p1 - p0 >= 50000000LL, "advanced %lld ns over the work", p1 - p0);
    CHECK("thread-cputime-advances", t1 - t0 >= 50000000LL, "advanced %lld ns over the work", t1 - t0);
    sleep_ms(100);
    long long p2 = now(CLOCK_PROCESS_CPUTIME_ID);
    CHECK("process-cputime-not-while-sleeping", p2 - p1 < 50000000LL, "advanced %lld ns over a 100 ms sleep", p2 - p1);
    clockid_t cid;
    OK("clock-getcpuclockid", -clock_getcpuclockid(0, &cid));
    CHECK("cpu-clock-of-self", now(cid) >= p2, "clock %lld", now(cid));

    /* Sleeping. */
    struct timespec req = { 0, 100 * 1000000 }, rem = { 9, 9 };
    long long s0 = now(CLOCK_MONOTONIC);
    OK("nanosleep", nanosleep(&req, &rem));
    long long slept = now(CLOCK_MONOTONIC) - s0;
    CHECK("nanosleep-duration", slept >= 100000000LL && slept < 2000000000LL, "slept %lld ns", slept);
    struct timespec badreq = { 0, 1000000000 };
    ERR("nanosleep-bad-nsec-einval", nanosleep(&badreq, NULL), EINVAL);
    struct timespec negreq = { -1, 0 };
    ERR("nanosleep-negative-einval", nanosleep(&negreq, NULL), EINVAL);
    s0 = now(CLOCK_MONOTONIC);
    EQ("clock-nanosleep-relative", clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), 0);
    slept = now(CLOCK_MONOTONIC) - s0;
    CHECK("clock-nanosleep-relative-duration", slept >= 100000000LL && slept < 2000000000LL, "slept %lld ns", slept);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 100 * 1000000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    EQ("clock-nanosleep-abstime", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL), 0);
    CHECK("clock-nanosleep-abstime-reached", now(CLOCK_MONOTONIC) >= ns(until), "woke before the deadline");
    struct timespec past = { 1, 0 };
    s0 = now(CLOCK_MONOTONIC);
    EQ("clock-nanosleep-abstime-past", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL), 0);
    CHECK("clock-nanosleep-abstime-past-immediate", now(CLOCK_MONOTONIC) - s0 < 50000000LL, "took %lld ns", now(CLOCK_MONOTONIC) - s0);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 50 * 1000000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    EQ("clock-nanosleep-realtime-abstime", clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL), 0);
    /* clock_nanosleep returns the error number rather than setting errno. */
    EQ("clock-nanosleep-bad-nsec-einval", clock_nanosleep(CLOCK_MONOTONIC, 0, &badreq, NULL), EINVAL);
    EQ("clock-nanosleep-bad-clock-einval", clock_nanosleep(12345, 0, &req, NULL), EINVAL);
    EQ("clock-nanosleep-thread-cputime-einval", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL), EINVAL);
    ERR("clock-settime-monotonic-einval", clock_settime(CLOCK_MONOTONIC, &req), EINVAL);
}
