/* A foreign system call ABI: `int 0x80` from a 64-bit program runs the
 * 32-bit system call table (a separate entry path with its own history
 * of holes, e.g. CVE-2010-3081, CVE-2014-4508; gVisor treats it as
 * foreign). Natively (the control) the host kernel runs getpid through
 * it; the sandbox must never: Linux booted with ia32_emulation=0 raises
 * SIGSEGV at the instruction, and so does the sandbox. */
#include "attack.h"

#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    int at = ip[0] == 0xcd && ip[1] == 0x80;
    printf("RESULT blocked SIGSEGV (signal %d, si_code %d)%s\n", sig, si->si_code,
           at ? " at the int 0x80" : "");
    _exit(0);
}

int attack_int80(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    long r;
    /* 20 is getpid in the 32-bit table (in the 64-bit one, writev). */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    if (r == getpid())
        WORKED("int 0x80 ran the 32-bit getpid (returned %ld)", r);
    BLOCKED("int 0x80 returned %ld, not the pid (%d)", r, getpid());
}
