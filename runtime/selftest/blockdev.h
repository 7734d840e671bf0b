/* The block device holding the container's root: what the mknod and
 * mount attacks go for (the host's disk, under the rootfs directory). */
#ifndef SELFTEST_BLOCKDEV_H
#define SELFTEST_BLOCKDEV_H

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Where the node for the disk is made. */
#define DISK_NODE "/tmp/selftest-disk"

/* The device number of "/", else the first disk of /proc/partitions;
 * 0 if neither gives one. */
static inline dev_t root_block_device(void) {
    struct stat st;
    if (stat("/", &st) == 0 && major(st.st_dev) != 0)
        return st.st_dev;
    FILE *f = fopen("/proc/partitions", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned ma, mi;
    unsigned long long blocks;
    dev_t d = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, " %u %u %llu", &ma, &mi, &blocks) == 3 && blocks > 0) {
            d = makedev(ma, mi);
            break;
        }
    }
    fclose(f);
    return d;
}

/* Makes DISK_NODE for the disk of "/": the attack ends blocked with the
 * reason if there is none or mknod fails. */
#define MAKE_DISK_NODE(dev)                                                                        \
    do {                                                                                           \
        (dev) = root_block_device();                                                               \
        if ((dev) == 0)                                                                            \
            BLOCKED("no block device number found for /");                                         \
        unlink(DISK_NODE);                                                                         \
        if (mknod(DISK_NODE, S_IFBLK | 0600, (dev)) < 0)                                           \
            BLOCKED_ERRNO("mknod block device");                                                   \
    } while (0)

#endif
