/* Allocates and touches anonymous memory 1 MiB at a time, up to the number
 * of MiB given as argument (tests/tests/microvm.rs). Prints
 * "allocated N MiB" when it got them all, or "mmap failed after N MiB:
 * ERRNO" when the system refused one (and exits 1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long want = argc > 1 ? atol(argv[1]) : 64;
    for (long i = 0; i < want; i++) {
        void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("mmap failed after %ld MiB: %s\n", i, errno == ENOMEM ? "ENOMEM" : strerror(errno));
            return 1;
        }
        memset(p, 1, 1 << 20);
    }
    printf("allocated %ld MiB\n", want);
    return 0;
}
