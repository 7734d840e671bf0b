/* Undoing the read-only /proc/sys with CAP_SYS_ADMIN: Docker and runc
 * make /proc/sys a read-only bind mount, but a container granted
 * CAP_SYS_ADMIN (and no user namespace) may remount it read-write and
 * then write host sysctls such as core_pattern
 * (https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/index.html,
 * "CAP_SYS_ADMIN"). Remounts it and writes core_pattern's own value back
 * (rewrite.h): the host's setting is unchanged. */
#include "attack.h"
#include "rewrite.h"

#include <sys/mount.h>

int attack_proc_sys_remount(void) {
    if (mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL) < 0)
        BLOCKED_ERRNO("remount /proc/sys read-write");
    REWRITE_ATTACK("/proc/sys/kernel/core_pattern");
}
