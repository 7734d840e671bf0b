/* A workload that spins in user mode without a system call
 * (tests/tests/microvm.rs): N threads (argument, default 1), each in a
 * tight loop, after one line "spinning". Under the microvm backend every
 * thread is a vCPU busy in guest code: only an interruption of KVM_RUN
 * can stop it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *spin(void *arg) {
    (void)arg;
    for (volatile unsigned long x = 0;; x++)
        ;
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    pthread_t t;
    for (int i = 1; i < n; i++) pthread_create(&t, NULL, spin, NULL);
    printf("spinning\n");
    fflush(stdout);
    spin(NULL);
    return 0;
}
