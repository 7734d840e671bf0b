/* /sys/kernel/uevent_helper: the program the host kernel runs as root
 * for every device event (CONFIG_UEVENT_HELPER); writable from a
 * container with /sys read-write, it is a host code-execution path
 * (https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.html).
 * Proves write access by writing the current value back (rewrite.h). */
#include "attack.h"
#include "rewrite.h"

int attack_uevent_helper(void) { REWRITE_ATTACK("/sys/kernel/uevent_helper"); }
