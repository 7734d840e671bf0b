/* unshare(CLONE_NEWUSER) then mount: a new user namespace grants every
 * capability over it, which opens file-system and network code of the
 * host kernel to an unprivileged process (CVE-2022-0185, CVE-2023-0386,
 * CVE-2023-32233 all start so). Creates a user and a mount namespace and
 * mounts a tmpfs in it. */
#include "attack.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

int attack_userns_mount(void) {
    if (unshare(CLONE_NEWUSER) < 0)
        BLOCKED_ERRNO("unshare(CLONE_NEWUSER)");
    if (unshare(CLONE_NEWNS) < 0)
        BLOCKED_ERRNO("unshare(CLONE_NEWNS) in the new user namespace");
    mkdir("/tmp/selftest-userns", 0700);
    if (mount("none", "/tmp/selftest-userns", "tmpfs", 0, NULL) < 0)
        BLOCKED_ERRNO("mount tmpfs in the new namespaces");
    WORKED("mounted a tmpfs in a new user namespace");
}
