/* Reads the clocks many times, through glibc (which uses the vDSO when the
 * kernel gives one) or with raw system calls: `clock_loop libc|syscall N`.
 * tests/tests/vdso.rs counts how many of them reached the Sentry. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: clock_loop libc|syscall N\n");
        return 2;
    }
    int raw = strcmp(argv[1], "syscall") == 0;
    long n = atol(argv[2]);
    /* The Sentry calibrates its clock lines during the first few ms; until
     * then its vDSO makes system calls. */
    struct timespec pause = { 0, 200 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    struct timespec ts, prev = { 0, 0 };
    long back = 0;
    for (long i = 0; i < n; i++) {
        if (raw)
            syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        else
            clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec < prev.tv_sec || (ts.tv_sec == prev.tv_sec && ts.tv_nsec < prev.tv_nsec))
            back++;
        prev = ts;
    }
    struct timeval tv;
    for (long i = 0; i < n / 10; i++) {
        if (raw) {
            syscall(SYS_gettimeofday, &tv, NULL);
            syscall(SYS_time, NULL);
        } else {
            gettimeofday(&tv, NULL);
            time(NULL);
        }
    }
    printf("done %ld, %ld steps back\n", n, back);
    return back != 0;
}
