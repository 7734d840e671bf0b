/* Per-call costs of a few system calls, printed as figures (no asserts).
 *
 * Usage: syscalls [ITERATIONS]
 * Prints one line per measurement: "<name> <nanoseconds per call>". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n < 1) n = 1;
    char buf[64];

    double t = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    printf("getpid %.0f\n", (now_ns() - t) / n);

    /* Through glibc: the vDSO when there is one (no trap), else a system call. */
    struct timespec ts;
    t = now_ns();
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("clock_gettime %.0f\n", (now_ns() - t) / n);

    long m = n / 10 > 0 ? n / 10 : 1;
    t = now_ns();
    for (long i = 0; i < m; i++) {
        int fd = open("/etc/passwd", O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) < 0) { perror("open/read"); return 1; }
        close(fd);
    }
    printf("open+read+close %.0f\n", (now_ns() - t) / m);

    long k = n / 1000 > 0 ? n / 1000 : 1;
    t = now_ns();
    for (long i = 0; i < k; i++) {
        pid_t p = fork();
        if (p == 0) { execl("/bin/true", "true", (char *)0); _exit(127); }
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "fork+exec failed\n");
            return 1;
        }
    }
    printf("fork+exec+wait %.0f\n", (now_ns() - t) / k);
    return 0;
}
