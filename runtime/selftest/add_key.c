/* add_key(2): the kernel keyring is not namespaced, so keys of a
 * container land in the host kernel's key store (CVE-2016-0728 was a
 * keyring use-after-free reachable this way; Docker's seccomp profile
 * blocks add_key, keyctl and request_key). Adds a key to the process
 * keyring. */
#include "attack.h"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_add_key(void) {
    long k = syscall(SYS_add_key, "user", "selftest", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    if (k < 0)
        BLOCKED_ERRNO("add_key(user)");
    WORKED("the host kernel stored a key (serial %ld)", k);
}
