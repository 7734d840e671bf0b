/* Which processes can this one trace? `reach PID...` tries PTRACE_SEIZE
 * (which does not stop the tracee) on each PID given and, with `--scan N`,
 * on every pid up to N that /proc does not list (no process of this pid
 * namespace has it). Prints one line per PID given: `PID ok` or
 * `PID ERRNO-NAME`, then `scan: K traceable` for the scan; detaches from
 * whatever it managed to seize. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int try_seize(long pid) {
    if (syscall(SYS_ptrace, PTRACE_SEIZE, pid, 0, 0) == 0) {
        syscall(SYS_ptrace, PTRACE_DETACH, pid, 0, 0);
        return 0;
    }
    return errno;
}

int main(int argc, char **argv) {
    long scan = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scan") == 0 && i + 1 < argc) {
            scan = atol(argv[++i]);
            continue;
        }
        long pid = atol(argv[i]);
        int e = try_seize(pid);
        printf("%ld %s\n", pid, e ? strerrorname_np(e) : "ok");
    }
    if (scan) {
        long traceable = 0, tried = 0;
        for (long pid = 1; pid <= scan; pid++) {
            char path[32];
            struct stat st;
            snprintf(path, sizeof path, "/proc/%ld", pid);
            if (stat(path, &st) == 0) continue;
            tried++;
            int e = try_seize(pid);
            if (e != ESRCH) {
                traceable++;
                printf("pid %ld: %s\n", pid, e ? strerrorname_np(e) : "ok");
            }
        }
        printf("scan: %ld tried, %ld traceable\n", tried, traceable);
    }
    return 0;
}
