/* userfaultfd(2): lets user space stall the kernel at a page fault of
 * its choosing, the standard tool for winning kernel races in exploits
 * (e.g. CVE-2016-5195's cousins, CVE-2021-22555's write-up). Creates one
 * and completes the UFFDIO_API handshake. */
#include "attack.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_userfaultfd(void) {
    long fd = syscall(SYS_userfaultfd, 0);
    if (fd < 0)
        BLOCKED_ERRNO("userfaultfd()");
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl((int)fd, UFFDIO_API, &api) < 0)
        BLOCKED_ERRNO("ioctl(UFFDIO_API)");
    WORKED("the host kernel gave a userfaultfd (features %#llx)", (unsigned long long)api.features);
}
