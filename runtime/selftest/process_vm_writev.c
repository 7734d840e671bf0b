/* process_vm_writev(2) into a host process: writing another process's
 * memory without ptrace-attaching (the cross-memory-attach interface;
 * Docker's default seccomp profile blocks it for this reason). Writes
 * DECOY_MAGIC into the decoy's decoy_flag; the runner sees the decoy exit
 * with DECOY_EXIT_MEMORY. */
#include "attack.h"

#include <sys/uio.h>
#include <unistd.h>

int attack_process_vm_writev(void) {
    int pid = decoy_pid();
    long v = DECOY_MAGIC;
    struct iovec local = {&v, sizeof v};
    struct iovec remote = {(void *)&decoy_flag, sizeof v};
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) != (long)sizeof v)
        BLOCKED_ERRNO("process_vm_writev into the decoy");
    WORKED("wrote the memory of host pid %d", pid);
}
