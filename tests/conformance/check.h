/* The conformance programs' shared checks (issue 3).
 *
 * Every check prints exactly one line, `ok NAME` or `FAIL NAME: details`,
 * with a name that does not depend on the outcome: the Rust harness takes
 * the native run's names as the plan and counts a name the sandboxed run
 * never printed (a crash, a hang) as a failure.
 *
 * Output goes straight to write(2), unbuffered, so a line is never lost in
 * a crash nor printed twice by a forked child.
 *
 * The checks run in a child of the program (see main below): a container's
 * first process is pid 1, which the kernel spares from signals it has no
 * handler for, and the checks must see ordinary-process behaviour. The
 * parent is a watchdog without timers (timers are an area under test): it
 * polls the child with WNOHANG and nanosleep. */
#ifndef CONFORMANCE_CHECK_H
#define CONFORMANCE_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

static int check_failures;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(1, buf + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
    }
}

/* The symbolic name of an errno value ("ENOENT"), or its number. */
static const char *ename(int e) {
    static char buf[4][16];
    static int slot;
    const char *n = e ? strerrorname_np(e) : "0";
    if (n) return n;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "errno %d", e);
    return buf[slot];
}

static void pass(const char *name) { say("ok %s", name); }

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...) {
    char buf[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    say("FAIL %s: %s", name, buf);
    check_failures++;
}

/* A condition with a free-form explanation when it does not hold. */
#define CHECK(name, cond, ...) \
    do { if (cond) pass(name); else fail(name, __VA_ARGS__); } while (0)

/* A call that must succeed (return >= 0). Evaluates to its result. */
#define OK(name, expr) ({ \
    errno = 0; long _r = (long)(expr); int _e = errno; \
    if (_r >= 0) pass(name); \
    else fail(name, "%s = %ld, %s (wanted success)", #expr, _r, ename(_e)); \
    _r; })

/* A call that must fail with -1 and errno `err`. */
#define ERR(name, expr, err) do { \
    errno = 0; long _r = (long)(expr); int _e = errno; \
    if (_r == -1 && _e == (err)) pass(name); \
    else if (_r == -1) fail(name, "%s failed with %s, wanted %s", #expr, ename(_e), ename(err)); \
    else fail(name, "%s = %ld, wanted -1 %s", #expr, _r, ename(err)); \
    } while (0)

/* Two integers that must be equal; errno is shown when the got value is -1. */
#define EQ(name, got, want) do { \
    errno = 0; long long _g = (long long)(got); int _e0 = errno; long long _w = (long long)(want); \
    if (_g == _w) pass(name); \
    else if (_g == -1) fail(name, "%s = -1 (%s), wanted %lld", #got, ename(_e0), _w); \
    else fail(name, "%s = %lld, wanted %lld", #got, _g, _w); \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

/* waitpid(pid, status, 0) for at most `ms` milliseconds; on a hang the
 * child is killed with SIGKILL, reaped, and -2 is returned. */
static pid_t wait_bounded(pid_t pid, int *status, long ms) {
    for (long waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r != 0) {
            if (r == -1 && errno == EINTR) continue;
            return r;
        }
        if (waited >= ms) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -2;
        }
        sleep_ms(5);
    }
}

static void interrupt_handler(int sig) { (void)sig; }

/* Bounds a blocking call: SIGALRM arrives after `seconds` with a handler
 * installed without SA_RESTART, so a call that would hang fails with EINTR
 * and its check reads as a named failure. alarm(0) disarms it. */
__attribute__((unused)) static void interrupt_after(unsigned seconds) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupt_handler;
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

/* Describes a wait status for failure messages. */
static const char *wstatus(int st) {
    static char buf[64];
    if (WIFEXITED(st)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, sizeof buf, "killed by %s", sigabbrev_np(WTERMSIG(st)) ?: "?");
    else if (WIFSTOPPED(st)) snprintf(buf, sizeof buf, "stopped by %s", sigabbrev_np(WSTOPSIG(st)) ?: "?");
    else snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

/* Runs fn in a child of its own, bounded by `ms`, so that a group of
 * checks that crashes or hangs costs only its own checks (which the harness
 * reports as missing) and the program goes on with the next group. */
__attribute__((unused)) static void group(const char *name, void (*fn)(void), long ms) {
    pid_t pid = fork();
    if (pid == 0) {
        check_failures = 0;
        fn();
        _exit(check_failures ? 1 : 0);
    }
    if (pid < 0) {
        say("FAIL group-%s: fork: %s", name, ename(errno));
        check_failures++;
        return;
    }
    int st = 0;
    pid_t r = wait_bounded(pid, &st, ms);
    if (r == -2) {
        say("# group %s hung for %ld ms and was killed", name, ms);
        check_failures++;
    } else if (r != pid) {
        say("# group %s: waitpid: %s", name, ename(errno));
        check_failures++;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (!WIFEXITED(st)) say("# group %s %s", name, wstatus(st));
        check_failures++;
    }
}

static void checks(void);

/* How long the whole program may take (the harness has its own, longer,
 * timeout as a last resort). */
#ifndef PROGRAM_MS
#define PROGRAM_MS 40000
#endif

int main(void) {
    pid_t pid = fork();
    if (pid < 0) {
        say("FAIL fork-the-checks: %s", ename(errno));
        return 1;
    }
    if (pid == 0) {
        checks();
        say("# %d failed", check_failures);
        _exit(check_failures ? 1 : 0);
    }
    int st = 0;
    pid_t r = wait_bounded(pid, &st, PROGRAM_MS);
    if (r == -2) {
        say("# the checks hung for %d ms and were killed", PROGRAM_MS);
        return 1;
    }
    if (r != pid) {
        say("# waitpid for the checks: %s", ename(errno));
        return 1;
    }
    if (!WIFEXITED(st)) {
        say("# the checks were %s", wstatus(st));
        return 1;
    }
    return WEXITSTATUS(st);
}

#endif
