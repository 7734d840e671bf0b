/* kcmp(2) against a host process: compares kernel objects (address
 * space, files) of two processes, a probe of another process's kernel
 * state that Docker's default seccomp profile blocks. It works only on
 * a process the caller may ptrace; reaching the decoy (a host pid) shows
 * the host's process table is reachable. */
#include "attack.h"

#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_kcmp(void) {
    int pid = decoy_pid();
    long r = syscall(SYS_kcmp, getpid(), pid, KCMP_VM, 0, 0);
    if (r < 0)
        BLOCKED_ERRNO("kcmp(self, decoy, KCMP_VM)");
    WORKED("kcmp compared this process with host pid %d (result %ld)", pid, r);
}
