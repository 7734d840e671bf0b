/* Writing the vDSO's data page ([vvar]): one page the whole sandbox
 * shares, read by every process's vDSO for the time (SECURITY.md, "The
 * vDSO's data page"). A process that could write it would lie to every
 * other process of the sandbox about the clock (Linux's own vvar is
 * likewise never writable from user space). The attack finds [vvar] in
 * /proc/self/maps and tries every way of forcewrite.h on each of its
 * pages. Blocked: no write landed. Worked: one did.
 *
 * The control demonstrates the technique natively on a read-only page of
 * its own (SELFTEST_CONTROL; forcewrite.h): the page it attacks here is
 * the sandbox's, whose protection is the Sentry's to enforce. */
#include "attack.h"
#include "forcewrite.h"

int attack_vdso_data_write(void) {
    int mem = open("/proc/self/mem", O_RDWR);
    int mem_errno = errno;
    if (getenv("SELFTEST_CONTROL"))
        FORCE_WRITE_CONTROL(mem);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        BLOCKED_ERRNO("open /proc/self/maps");
    char line[512];
    unsigned long start = 0, end = 0;
    while (fgets(line, sizeof line, maps))
        if (strstr(line, "[vvar]") && sscanf(line, "%lx-%lx", &start, &end) == 2)
            break;
    fclose(maps);
    if (end <= start)
        BLOCKED("no [vvar] mapping in /proc/self/maps");
    int pages = 0;
    char why[160] = "";
    for (unsigned long addr = start; addr < end; addr += 4096) {
        int v = peek_byte(addr);
        if (v < 0)
            continue;
        pages++;
        const char *how = force_write(mem, mem_errno, addr, (unsigned char)v, why, sizeof why);
        if (how)
            WORKED("wrote the vDSO data page %#lx with %s", addr, how);
    }
    if (pages == 0)
        BLOCKED("[vvar] at %#lx is not readable", start);
    BLOCKED("no write to [vvar] pages landed (%d pages; last: %s)", pages, why);
}
