/* Signalling a process outside the container: kill(2) of a host pid
 * (with a shared pid namespace, a container kills host daemons; the
 * sandbox's signals must reach only its own processes). Sends SIGUSR1 to
 * the decoy; the runner sees it exit with DECOY_EXIT_SIGNAL. */
#include "attack.h"

#include <signal.h>

int attack_kill_host(void) {
    int pid = decoy_pid();
    if (kill(pid, SIGUSR1) < 0)
        BLOCKED_ERRNO("kill(decoy, SIGUSR1)");
    WORKED("sent SIGUSR1 to host pid %d", pid);
}
