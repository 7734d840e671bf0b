/* Reading the host kernel's log with syslog(2) and CAP_SYSLOG: the log
 * is one buffer for the whole host (not namespaced), full of addresses
 * that defeat KASLR and of other tenants' messages (Docker's seccomp
 * profile blocks syslog; CVE-2018-14633-style exploits start from it).
 * The runner writes "sandbox-selftest <secret>" into the host's log
 * (/dev/kmsg) before each run; the attack reads the log and prints the
 * last such line it finds. */
#include "attack.h"

#include <sys/klog.h>

int attack_kernel_log(void) {
    static char log[1 << 20];
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof log - 1);
    if (n < 0)
        BLOCKED_ERRNO("syslog(SYSLOG_ACTION_READ_ALL)");
    log[n] = 0;
    char *found = NULL;
    for (char *p = strstr(log, "sandbox-selftest "); p; p = strstr(p + 1, "sandbox-selftest "))
        found = p;
    if (!found)
        BLOCKED("read %d bytes of a kernel log without the runner's line", n);
    found[strcspn(found, "\n")] = 0;
    printf("LEAK %s\n", found);
    WORKED("read the host's kernel log (%d bytes)", n);
}
