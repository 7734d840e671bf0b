/* A multi-threaded program for `strace -f` (tests/tests/ptrace.rs): four
 * threads each make system calls and fork a child, then everything is
 * joined and reaped. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void *work(void *arg) {
    long n = (long)arg;
    for (int i = 0; i < 20; i++) getppid();
    pid_t c = fork();
    if (c == 0) _exit((int)n);
    int st = 0;
    waitpid(c, &st, 0);
    return (void *)(long)WEXITSTATUS(st);
}

int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, (void *)(i + 1));
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("sum=%ld\n", sum);
    return 0;
}
