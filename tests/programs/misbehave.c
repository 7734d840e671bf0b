/* A workload that breaks its own CPU state in every way an unprivileged
 * x86-64 program can (tests/tests/microvm.rs). Each case runs once; the
 * signal it raises is caught (on an alternate stack, since some cases
 * wreck rsp) and printed as "CASE: signal S code C addr A", and the
 * program goes on with the next case. On Linux each case is an ordinary
 * signal; under the microvm backend none of them may reach the guest
 * kernel's own state (a triple fault, a killed VMM): the output must be
 * Linux's, line for line, and the program must reach "done". */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf back;
static const char *current;
static int bad_rip_pending;

static void on_signal(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    if (sig == SIGUSR1) {
        /* sigreturn to a non-canonical rip. */
        if (bad_rip_pending) {
            bad_rip_pending = 0;
            uc->uc_mcontext.gregs[REG_RIP] = 0x0000800000000000ULL;
        }
        return;
    }
    /* Addresses of kernel faults are printed as is; ours are the same. */
    printf("%s: signal %d code %d addr %#lx\n", current, sig, si->si_code,
           (unsigned long)si->si_addr);
    fflush(stdout);
    siglongjmp(back, 1);
}

#define CASE(name, ...)                                                        \
    do {                                                                       \
        current = name;                                                        \
        if (sigsetjmp(back, 1) == 0) {                                         \
            __VA_ARGS__;                                                       \
            printf("%s: no signal\n", name);                                   \
            fflush(stdout);                                                    \
        }                                                                      \
    } while (0)

int main(void) {
    static char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    int sigs[] = { SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGTRAP, SIGUSR1 };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);

    CASE("ud2", __asm__ volatile("ud2"));
    CASE("int3", __asm__ volatile("int3"));
    CASE("divide-by-zero", __asm__ volatile("xor %%ecx, %%ecx; mov $1, %%eax; cltd; idiv %%ecx" ::: "rax", "rcx", "rdx"));
    CASE("int-0x40", __asm__ volatile("int $0x40"));
    CASE("int-8", __asm__ volatile("int $8"));
    CASE("int-3-long-form", __asm__ volatile(".byte 0xcd, 0x03"));
    CASE("mov-from-cr3", {
        unsigned long v;
        __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    });
    CASE("wrmsr", __asm__ volatile("xor %%eax, %%eax; xor %%edx, %%edx; mov $0xc0000082, %%ecx; wrmsr" ::: "rax", "rcx", "rdx"));
    CASE("lgdt", {
        struct __attribute__((packed)) { uint16_t limit; uint64_t base; } d = { 0, 0 };
        __asm__ volatile("lgdt %0" ::"m"(d));
    });
    CASE("bad-data-selector", __asm__ volatile("mov $0xfff8, %%ax; mov %%ax, %%ds" ::: "rax"));
    CASE("bad-stack-selector", __asm__ volatile("mov $0x10, %%ax; mov %%ax, %%ss" ::: "rax"));
    CASE("iretq-garbage-frame", __asm__ volatile("pushq $0; pushq $0; pushq $0; pushq $0; pushq $0; iretq"));
    CASE("jump-non-canonical", __asm__ volatile("mov $0x0000800000000000, %%rax; jmp *%%rax" ::: "rax"));
    CASE("jump-kernel-half", __asm__ volatile("mov $0xffff888000000000, %%rax; jmp *%%rax" ::: "rax"));
    CASE("write-kernel-half", *(volatile long *)0xffffff8000000000UL = 1);
    CASE("unmapped-stack", __asm__ volatile("mov %%rsp, %%rbx; mov $0x1000, %%rsp; push %%rax; mov %%rbx, %%rsp" ::: "rbx", "memory"));
    CASE("non-canonical-stack", __asm__ volatile("mov %%rsp, %%rbx; mov $0x8000000000000100, %%rsp; push %%rax; mov %%rbx, %%rsp" ::: "rbx", "memory"));
    CASE("trap-flag", __asm__ volatile("pushf; orq $0x100, (%%rsp); popf; nop; nop" ::: "memory", "cc"));
    CASE("sigreturn-non-canonical-rip", {
        bad_rip_pending = 1;
        raise(SIGUSR1);
    });
    /* Bases the guest could not load: Linux refuses them with EPERM. */
    long r = syscall(SYS_arch_prctl, ARCH_SET_GS, 0x0000800000000000UL);
    printf("arch_prctl-set-gs-non-canonical: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    unsigned long fs;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    r = syscall(SYS_arch_prctl, ARCH_SET_FS, 0xffffff8000000000UL);
    printf("arch_prctl-set-fs-kernel-half: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    syscall(SYS_arch_prctl, ARCH_SET_FS, fs);
    /* The guest survived every case: a system call still works. */
    printf("done\n");
    return 0;
}
