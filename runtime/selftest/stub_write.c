/* Writing the platform's read-only pages: the seccomp stub's code page
 * and command pages are mapped read-only in the stub, and only the
 * Sentry writes them (SECURITY.md, "The seccomp stub"); a workload that
 * could change them would choose the host calls the stub makes. Linux
 * lets a process write its own read-only pages through /proc/self/mem
 * (FOLL_FORCE, how debuggers plant breakpoints), and mprotect can make
 * them writable; process_vm_writev to oneself is a third way. The attack
 * tries all three on the code page (at USER_MAX, 0x7fff00000000) and the
 * first command pages (1 MiB above it; sentry/src/platform/seccomp/
 * layout.rs), writing back the byte already there. (The per-thread
 * state area, 256 MiB above, is writable by design: the Sentry trusts
 * nothing in it.)
 * Blocked: no write succeeded. Worked: one did.
 *
 * The control demonstrates the technique natively (no stub pages exist
 * there): with SELFTEST_CONTROL set, it maps a read-only page of its own
 * and changes it through /proc/self/mem. */
#include "attack.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define STUB_CODE 0x7fff00000000UL
#define STUB_COMMANDS (STUB_CODE + 0x100000UL)
#define COMMAND_PAGES 8

static sigjmp_buf probe;
static void on_fault(int s) {
    (void)s;
    siglongjmp(probe, 1);
}

/* The byte at addr, or -1 if reading it faults. */
static int peek(unsigned long addr) {
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    int v = -1;
    if (sigsetjmp(probe, 1) == 0)
        v = *(volatile unsigned char *)addr;
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    return v;
}

int attack_stub_write(void) {
    int mem = open("/proc/self/mem", O_RDWR);
    int mem_errno = errno;
    if (getenv("SELFTEST_CONTROL")) {
        unsigned char *page =
            mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED || mem < 0)
            BLOCKED_ERRNO("map a read-only page and open /proc/self/mem");
        unsigned char x = 0x5a;
        if (pwrite(mem, &x, 1, (off_t)(unsigned long)page) != 1)
            BLOCKED_ERRNO("write the read-only page through /proc/self/mem");
        if (page[0] != 0x5a)
            BLOCKED("the write through /proc/self/mem did not change the page");
        WORKED("natively, /proc/self/mem changed a read-only page");
    }
    int mapped = 0;
    for (int i = -1; i < COMMAND_PAGES; i++) {
        unsigned long addr = i < 0 ? STUB_CODE : STUB_COMMANDS + (unsigned long)i * 4096;
        int v = peek(addr);
        if (v < 0)
            continue;
        mapped++;
        unsigned char b = (unsigned char)v;
        if (mem >= 0 && pwrite(mem, &b, 1, (off_t)addr) == 1)
            WORKED("wrote stub page %#lx through /proc/self/mem", addr);
        struct iovec local = {&b, 1}, remote = {(void *)addr, 1};
        if (process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == 1)
            WORKED("wrote stub page %#lx with process_vm_writev", addr);
        if (mprotect((void *)addr, 4096, PROT_READ | PROT_WRITE) == 0)
            WORKED("made stub page %#lx writable with mprotect", addr);
    }
    if (mapped == 0)
        BLOCKED("no stub page mapped (code page or command pages)");
    BLOCKED("%d stub pages: /proc/self/mem (%s), process_vm_writev and mprotect wrote none",
            mapped, mem < 0 ? errname(mem_errno) : "opened");
}
