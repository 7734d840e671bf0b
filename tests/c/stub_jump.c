/* Jumps into the platform's stub page (just above the application's range)
 * at every `syscall` instruction found there, with registers that ask for
 * kill(parent, SIGUSR1). If the Sentry services the call, the parent gets
 * SIGUSR1; a host kill(2) would target a host pid instead. Each attempt runs
 * in a child: whatever the stub code does after the call kills that child,
 * or leaves it spinning (then the parent kills it).
 * Prints "sites N serviced M" (or "no-stub-page" where there is none). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STUB_PAGE 0x7fff00000000UL

static volatile sig_atomic_t usr1;
static sigjmp_buf probe;

static void on_usr1(int s) { (void)s; usr1++; }
static void on_segv(int s) { (void)s; siglongjmp(probe, 1); }

int main(void) {
    static unsigned char code[4096];
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGUSR1, on_usr1);
    signal(SIGSEGV, on_segv);
    if (sigsetjmp(probe, 1)) {
        printf("no-stub-page\n");
        return 0;
    }
    memcpy(code, (void *)STUB_PAGE, sizeof code);
    signal(SIGSEGV, SIG_DFL);

    int sites = 0, serviced = 0;
    for (int off = 0; off + 1 < (int)sizeof code; off++) {
        if (code[off] != 0x0f || code[off + 1] != 0x05)
            continue;
        sites++;
        int before = usr1;
        pid_t parent = getpid();
        pid_t c = fork();
        if (c == 0) {
            unsigned long target = STUB_PAGE + off;
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
        if (usr1 > before)
            serviced++;
        printf("site %#x: %s (child %s %d)\n", off,
               usr1 > before ? "serviced by the Sentry" : "NOT serviced",
               WIFSIGNALED(st) ? "killed by signal" : "exited",
               WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    printf("sites %d serviced %d\n", sites, serviced);
    return 0;
}
