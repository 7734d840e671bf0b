/* A 64-bit program makes a 32-bit system call, getpid through `int 0x80`.
 * Linux with IA32 emulation runs it (the control prints "ran"); the
 * sandbox never does: it raises what Linux without IA32 emulation raises,
 * SIGSEGV with si_code SI_KERNEL at the instruction, rax untouched. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    printf("signal %d code %d addr %p at-int80 %d rax %lld\n", sig, si->si_code, si->si_addr,
           ip[0] == 0xcd && ip[1] == 0x80, (long long)uc->uc_mcontext.gregs[REG_RAX]);
    exit(0);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    long r;
    /* 20 is getpid in the 32-bit table (in the 64-bit one, writev). */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    printf("ran: int 0x80 getpid %s getpid()\n", r == getpid() ? "==" : "!=");
    return 0;
}
