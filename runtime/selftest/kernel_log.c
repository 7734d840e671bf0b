/* Reading the host kernel's log with syslog(2) and CAP_SYSLOG: the log
 * is one buffer for the whole host (not namespaced), full of addresses
 * that defeat KASLR and of other tenants' messages (Docker's seccomp
 * profile blocks syslog; CVE-2018-14633-style exploits start from it).
 * The runner writes "sandbox-selftest <secret>" into the host's log
 * (/dev/kmsg) before each run; the attack reads the log and prints the
 * last 32 such lines it finds (selftests may run side by side). */
#include "attack.h"

#include <sys/klog.h>

int attack_kernel_log(void) {
    static char log[1 << 20];
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof log - 1);
    if (n < 0)
        BLOCKED_ERRNO("syslog(SYSLOG_ACTION_READ_ALL)");
    log[n] = 0;
    char *found[32];
    int count = 0;
    for (char *p = strstr(log, "sandbox-selftest "); p; p = strstr(p + 1, "sandbox-selftest "))
        found[count++ % 32] = p;
    if (count == 0)
        BLOCKED("read %d bytes of a kernel log without the runner's line", n);
    for (int i = count > 32 ? count - 32 : 0; i < count; i++) {
        char *line = found[i % 32];
        printf("LEAK %.*s\n", (int)strcspn(line, "\n"), line);
    }
    WORKED("read the host's kernel log (%d bytes)", n);
}
