/* io_uring_setup(2): a large, fast-moving host kernel interface with many
 * privilege escalations (CVE-2021-41073, CVE-2022-29582, CVE-2023-2598);
 * Google disabled it on ChromeOS, Android and its servers for this.
 * Sets up a ring. */
#include "attack.h"

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_io_uring(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long fd = syscall(SYS_io_uring_setup, 8, &p);
    if (fd < 0)
        BLOCKED_ERRNO("io_uring_setup(8)");
    WORKED("the host kernel set up an io_uring (sq %u entries)", p.sq_entries);
}
