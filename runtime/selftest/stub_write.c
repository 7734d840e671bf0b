/* Writing the platform's read-only pages: the seccomp stub's code page
 * and command pages are mapped read-only in the stub, and only the
 * Sentry writes them (SECURITY.md, "The seccomp stub"); a workload that
 * could change them would choose the host calls the stub makes. The
 * attack tries every way of forcewrite.h on the code page (at USER_MAX,
 * 0x7fff00000000) and the first command pages (1 MiB above it;
 * sentry/src/platform/seccomp/layout.rs). (The per-thread state area,
 * 256 MiB above, is writable by design: the Sentry trusts nothing in
 * it.) Blocked: no write landed. Worked: one did.
 *
 * The control demonstrates the technique natively, where no stub pages
 * exist (SELFTEST_CONTROL; forcewrite.h). On kvm there are no stub pages
 * either: blocked, with that reason. */
#include "attack.h"
#include "forcewrite.h"

#define STUB_CODE 0x7fff00000000UL
#define STUB_COMMANDS (STUB_CODE + 0x100000UL)
#define COMMAND_PAGES 8

int attack_stub_write(void) {
    int mem = open("/proc/self/mem", O_RDWR);
    int mem_errno = errno;
    if (getenv("SELFTEST_CONTROL"))
        FORCE_WRITE_CONTROL(mem);
    int mapped = 0;
    char why[160] = "";
    for (int i = -1; i < COMMAND_PAGES; i++) {
        unsigned long addr = i < 0 ? STUB_CODE : STUB_COMMANDS + (unsigned long)i * 4096;
        int v = peek_byte(addr);
        if (v < 0)
            continue;
        mapped++;
        const char *how = force_write(mem, mem_errno, addr, (unsigned char)v, why, sizeof why);
        if (how)
            WORKED("wrote stub page %#lx with %s", addr, how);
    }
    if (mapped == 0)
        BLOCKED("no stub page mapped (code page or command pages)");
    BLOCKED("no write to stub pages landed (%d pages; last: %s)", mapped, why);
}
