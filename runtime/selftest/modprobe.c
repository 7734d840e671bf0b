/* /proc/sys/kernel/modprobe: the program the host kernel runs as root
 * to load a module on demand (e.g. when a binary of unknown format is
 * executed), the same escape as core_pattern
 * (https://sysdig.com/blog/container-escape-modprobe/ style write-ups,
 * "modprobe_path" overwrite). Exists only on kernels with module support.
 * Proves write access by writing the current value back (rewrite.h). */
#include "attack.h"
#include "rewrite.h"

int attack_modprobe(void) { REWRITE_ATTACK("/proc/sys/kernel/modprobe"); }
