/* keyctl(2) reaching the host user's keyring: the user keyring belongs
 * to a uid across the whole host (keyrings are not namespaced), so root
 * in a container without a user namespace shares the host root's user
 * keyring and can read or plant its keys (the reason Docker's seccomp
 * profile blocks keyctl; https://github.com/moby/moby/issues/19836).
 * Prints the id of the user keyring; the runner compares it with its own
 * (the host root's). */
#include "attack.h"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_keyctl_host_keyring(void) {
    long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 1);
    if (id < 0)
        BLOCKED_ERRNO("keyctl(GET_KEYRING_ID, user keyring)");
    printf("KEYRING %ld\n", id);
    WORKED("got user keyring %ld", id);
}
