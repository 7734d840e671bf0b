/* CVE-2022-0492 as disclosed (https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/):
 * the release_agent escape (release_agent.c) needs no `--privileged`,
 * only CAP_SYS_ADMIN in a container without AppArmor, SELinux or a
 * seccomp profile that blocks mount. Same program; the spec here is
 * Docker's defaults plus CAP_SYS_ADMIN (read-only /sys, masked paths,
 * devices denied). */
#include "attack.h"

int attack_release_agent(void);

int attack_release_agent_sys_admin(void) { return attack_release_agent(); }
