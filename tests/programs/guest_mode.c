/* The guest-mode proof (tests/tests/microvm.rs): 1000 getpgid system
 * calls, then a privileged instruction (hlt, or cli with argument "cli")
 * that only ring 0 may execute. On Linux it raises #GP and the process gets
 * SIGSEGV with si_code SI_KERNEL (128) and no address; the handler prints
 * that and exits 0. Printing "the privileged instruction ran" would mean
 * the program ran with ring-0 privileges. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("signal %d code %d addr %p\n", sig, si->si_code, si->si_addr);
    fflush(stdout);
    _exit(0);
}
int main(int argc, char **argv) {
    for (int i = 0; i < 1000; i++) syscall(SYS_getpgid, 0);
    printf("getpgid done\n");
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (argc > 1 && strcmp(argv[1], "cli") == 0)
        __asm__ volatile("cli");
    else
        __asm__ volatile("hlt");
    printf("the privileged instruction ran\n");
    return 1;
}
