/* mknod(2) of /dev/kvm (char 10:232) with CAP_MKNOD: the host's KVM
 * module is a large kernel attack surface (e.g. CVE-2021-22543,
 * CVE-2021-29657); a container that can make the node and open it talks
 * to the host kernel's hypervisor. Opens it and creates a VM. */
#include "attack.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int attack_mknod_kvm(void) {
    unlink("/tmp/selftest-kvm");
    if (mknod("/tmp/selftest-kvm", S_IFCHR | 0600, makedev(10, 232)) < 0)
        BLOCKED_ERRNO("mknod /dev/kvm (10:232)");
    int fd = open("/tmp/selftest-kvm", O_RDWR);
    if (fd < 0)
        BLOCKED_ERRNO("open the kvm node");
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version < 0)
        BLOCKED_ERRNO("KVM_GET_API_VERSION");
    int vm = ioctl(fd, KVM_CREATE_VM, 0);
    if (vm < 0)
        BLOCKED_ERRNO("KVM_CREATE_VM");
    WORKED("opened the host's KVM (API %d) and created a VM", version);
}
