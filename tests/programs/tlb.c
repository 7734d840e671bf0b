/* TLB coherence across threads (tests/tests/microvm.rs): a second thread
 * keeps reading a page (so its CPU caches the translation) while the main
 * thread removes its access with mprotect(PROT_NONE), then munmap. Once the
 * call has returned, the reader must fault on its next read: a read that
 * succeeds after the reader has seen the call's return means a stale
 * translation survived on the other CPU (or vCPU). 200 rounds of each; the
 * program prints one line per kind and exits 0 when none was stale. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int *page;
static atomic_int phase;        /* 0 idle, 1 reading, 2 access removed, 3 stop */
static atomic_int faulted, stale;
static sigjmp_buf reader_jmp;

static void on_segv(int sig) {
    (void)sig;
    siglongjmp(reader_jmp, 1);
}

static void *reader(void *arg) {
    (void)arg;
    for (;;) {
        while (atomic_load(&phase) == 0)
            ;
        if (atomic_load(&phase) == 3)
            return NULL;
        if (sigsetjmp(reader_jmp, 1) == 0) {
            for (;;) {
                int removed = atomic_load(&phase) == 2;
                (void)*page;
                if (removed) {
                    /* The read after the call returned succeeded. */
                    atomic_fetch_add(&stale, 1);
                    break;
                }
            }
        } else {
            atomic_fetch_add(&faulted, 1);
        }
        atomic_store(&phase, 0);
    }
}

static void rounds(const char *what, int unmap) {
    atomic_store(&faulted, 0);
    atomic_store(&stale, 0);
    for (int i = 0; i < 200; i++) {
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        page[0] = i;
        atomic_store(&phase, 1);
        /* Let the reader load the translation. */
        for (volatile int spin = 0; spin < 20000; spin++)
            ;
        if (unmap)
            munmap((void *)page, 4096);
        else
            mprotect((void *)page, 4096, PROT_NONE);
        atomic_store(&phase, 2);
        while (atomic_load(&phase) != 0)
            ;
        if (!unmap)
            munmap((void *)page, 4096);
    }
    printf("%s: %d rounds faulted, %d stale\n", what, atomic_load(&faulted), atomic_load(&stale));
    fflush(stdout);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    rounds("mprotect", 0);
    rounds("munmap", 1);
    atomic_store(&phase, 3);
    pthread_join(t, NULL);
    return atomic_load(&stale) ? 1 : 0;
}
