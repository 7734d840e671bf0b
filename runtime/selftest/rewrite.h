/* Proving write access to a host kernel knob without changing it: read
 * the current value and write exactly that value back. The write goes
 * through the kernel's handler (permission checks included) but leaves
 * the setting as it was, so a control that succeeds changes nothing on
 * the host. */
#ifndef SELFTEST_REWRITE_H
#define SELFTEST_REWRITE_H

#include <fcntl.h>
#include <unistd.h>

/* Returns 0 after writing the value back, else -1 with errno and the
 * step that failed in *step. */
static inline int rewrite_same(const char *path, const char **step, char *value, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        *step = "open for reading";
        return -1;
    }
    long n = read_all(fd, value, cap);
    close(fd);
    if (n < 0) {
        *step = "read";
        return -1;
    }
    fd = open(path, O_WRONLY);
    if (fd < 0) {
        *step = "open for writing";
        return -1;
    }
    /* An empty value is written as a lone newline (clears the same way). */
    const char *out = n > 0 ? value : "\n";
    size_t len = n > 0 ? (size_t)n : 1;
    long w = write(fd, out, len);
    int e = errno;
    close(fd);
    if (w != (long)len) {
        errno = w < 0 ? e : EIO;
        *step = "write the same value back";
        return -1;
    }
    value[strcspn(value, "\n")] = 0;
    return 0;
}

#define REWRITE_ATTACK(path)                                                                       \
    do {                                                                                           \
        char value[4096];                                                                          \
        const char *step = "";                                                                     \
        if (rewrite_same(path, &step, value, sizeof value) < 0)                                    \
            BLOCKED("%s %s: %s", path, step, errname(errno));                                      \
        WORKED("wrote the host's %s (its own value back: \"%s\")", path, value);                   \
    } while (0)

#endif
