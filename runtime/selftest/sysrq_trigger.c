/* /proc/sysrq-trigger: each byte written runs a host-wide magic SysRq
 * action (reboot, crash, OOM-kill...); a container with it writable can
 * take the host down (Docker makes it read-only for this reason,
 * https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.html).
 * No action is ever run here: the attack opens it for writing and writes
 * zero bytes (the kernel's handler reads a key only when count > 0). */
#include "attack.h"

#include <fcntl.h>
#include <unistd.h>

int attack_sysrq_trigger(void) {
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open /proc/sysrq-trigger for writing");
    if (write(fd, "", 0) < 0)
        BLOCKED_ERRNO("write(sysrq-trigger, 0 bytes)");
    WORKED("opened the host's /proc/sysrq-trigger for writing (wrote no key)");
}
