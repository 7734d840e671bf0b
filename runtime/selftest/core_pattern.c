/* /proc/sys/kernel/core_pattern: a value starting with "|" makes the
 * host kernel run that program as root, outside every namespace, when
 * any process dumps core; writable from a container that has /proc/sys
 * read-write (a privileged container; https://pwning.systems/posts/escaping-containers-for-fun/).
 * Proves write access by writing the current value back (rewrite.h). */
#include "attack.h"
#include "rewrite.h"

int attack_core_pattern(void) { REWRITE_ATTACK("/proc/sys/kernel/core_pattern"); }
