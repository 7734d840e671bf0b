/* ptrace(2) of a process outside the container: attach and poke its
 * memory (the hostPID + CAP_SYS_PTRACE escape; gVisor's and Kata's
 * threat models list ptrace of the runtime's own processes). Pokes
 * DECOY_MAGIC into the decoy's decoy_flag and detaches; the runner sees
 * the decoy exit with DECOY_EXIT_MEMORY. */
#include "attack.h"

#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int attack_ptrace_attach(void) {
    int pid = decoy_pid();
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0)
        BLOCKED_ERRNO("PTRACE_ATTACH to the decoy");
    int st;
    if (waitpid(pid, &st, __WALL) != pid)
        BLOCKED_ERRNO("waitpid for the attached decoy");
    if (ptrace(PTRACE_POKEDATA, pid, (void *)&decoy_flag, (void *)DECOY_MAGIC) < 0)
        BLOCKED_ERRNO("PTRACE_POKEDATA into the decoy");
    ptrace(PTRACE_DETACH, pid, 0, 0);
    WORKED("attached to host pid %d and wrote its memory", pid);
}
