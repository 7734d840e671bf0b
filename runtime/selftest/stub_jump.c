/* Jumping into the platform's own code with chosen registers: the
 * seccomp and ptrace platforms map a stub code page above the
 * application's range whose `syscall` instructions are the only ones the
 * stub's filter lets reach the host (SECURITY.md, "The seccomp stub").
 * The attack jumps to every `syscall` instruction of that page with
 * registers asking for kill(parent, SIGUSR1). The Sentry services such a
 * call (the parent, a sandbox pid, gets the signal); a host kill(2)
 * would name a host pid and the parent would see nothing. Blocked: every
 * site's call reached the Sentry. Worked: one did not.
 *
 * The control is a demonstration of the effect natively (no stub page
 * exists there): with SELFTEST_CONTROL set, the attack writes `syscall;
 * ud2` on a page of its own and jumps there with the same registers; the
 * parent getting SIGUSR1 shows a jumped-into `syscall` runs the caller's
 * chosen call on whatever kernel serves that page. On kvm there is no
 * stub page (the guest kernel's pages are supervisor-only): blocked,
 * with the fault seen. */
#include "attack.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STUB_PAGE 0x7fff00000000UL

static volatile sig_atomic_t usr1;
static sigjmp_buf probe;

static void on_usr1(int s) {
    (void)s;
    usr1++;
}
static void on_segv(int s) {
    (void)s;
    siglongjmp(probe, 1);
}

/* Jumps to `target` in a child with kill(parent, SIGUSR1) in the
 * registers; returns whether the parent got the signal. */
static int jump_serviced(unsigned long target) {
    int before = usr1;
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        __asm__ volatile("xor %%r12d, %%r12d\n\t"
                         "xor %%r13d, %%r13d\n\t"
                         "jmp *%[t]"
                         :
                         : [t] "r"(target), "a"(62L), "D"((long)parent), "S"((long)SIGUSR1)
                         : "r12", "r13", "memory");
        _exit(99);
    }
    int st = 0, i;
    for (i = 0; i < 200 && waitpid(c, &st, WNOHANG) != c; i++)
        usleep(10000);
    if (i == 200) {
        kill(c, SIGKILL);
        while (waitpid(c, &st, 0) != c) {
        }
    }
    for (i = 0; i < 200 && usr1 == before; i++)
        usleep(10000);
    return usr1 > before;
}

int attack_stub_jump(void) {
    signal(SIGUSR1, on_usr1);
    if (getenv("SELFTEST_CONTROL")) {
        unsigned char *page =
            mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            BLOCKED_ERRNO("mmap an executable page");
        memcpy(page, "\x0f\x05\x0f\x0b", 4); /* syscall; ud2 */
        if (jump_serviced((unsigned long)page))
            WORKED("natively, a jump to a `syscall` instruction ran the chosen kill(2)");
        BLOCKED("natively, the jumped-into kill(2) did not signal the parent");
    }
    static unsigned char code[4096];
    signal(SIGSEGV, on_segv);
    if (sigsetjmp(probe, 1))
        BLOCKED("no stub page: reading %#lx raised SIGSEGV", STUB_PAGE);
    memcpy(code, (void *)STUB_PAGE, sizeof code);
    signal(SIGSEGV, SIG_DFL);
    int sites = 0;
    for (int off = 0; off + 1 < (int)sizeof code; off++) {
        if (code[off] != 0x0f || code[off + 1] != 0x05)
            continue;
        sites++;
        if (!jump_serviced(STUB_PAGE + off))
            WORKED("the call made at stub offset %#x did not reach the Sentry", off);
    }
    if (sites == 0)
        BLOCKED("the stub page has no `syscall` instruction");
    BLOCKED("all %d `syscall` sites of the stub page reached only the Sentry", sites);
}
