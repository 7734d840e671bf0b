/* Files and paths: open flags, directories, links, metadata, offsets,
 * vectored and positional I/O, descriptors, and the copy calls, checked
 * against open(2), rename(2), stat(2), lseek(2), dup(2), fcntl(2) etc. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <utime.h>

static char dir[64];

/* dir/name, in one of a few rotating buffers. */
static const char *at(const char *name) {
    static char buf[8][128];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static int put(const char *name, const char *text) {
    int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The whole content of dir/name (up to 255 bytes), or "<errno name>". */
static const char *get(const char *name) {
    static char buf[256];
    int fd = open(at(name), O_RDONLY);
    if (fd < 0) return ename(errno);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return ename(errno);
    buf[n] = 0;
    return buf;
}

static void open_flags(void) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    CHECK("open-directory", dfd >= 0, "open(dir, O_DIRECTORY): %s", ename(errno));
    int fd = OK("openat-creat", openat(dfd, "a", O_RDWR | O_CREAT | O_EXCL, 0600));
    ERR("openat-excl-eexist", openat(dfd, "a", O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
    ERR("open-enoent", open(at("missing"), O_RDONLY), ENOENT);
    ERR("open-directory-enotdir", openat(dfd, "a", O_RDONLY | O_DIRECTORY), ENOTDIR);
    ERR("open-through-file-enotdir", open(at("a/x"), O_RDONLY), ENOTDIR);
    ERR("open-dir-for-write-eisdir", open(dir, O_WRONLY), EISDIR);
    char longname[NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ERR("open-enametoolong", openat(dfd, longname, O_RDONLY), ENAMETOOLONG);
    struct stat st;
    EQ("openat-creat-mode", (fstat(fd, &st), st.st_mode & 07777), 0600 & ~022);
    close(fd);

    symlink("a", at("link-a"));
    ERR("open-nofollow-eloop", open(at("link-a"), O_RDONLY | O_NOFOLLOW), ELOOP);
    int lfd = open(at("link-a"), O_RDONLY);
    CHECK("open-follows-symlink", lfd >= 0, "open through a symlink: %s", ename(errno));
    close(lfd);
    symlink("loop2", at("loop1"));
    symlink("loop1", at("loop2"));
    ERR("open-symlink-loop-eloop", open(at("loop1"), O_RDONLY), ELOOP);

    put("t", "hello world");
    fd = open(at("t"), O_WRONLY | O_TRUNC);
    EQ("open-trunc-size", (fstat(fd, &st), st.st_size), 0);
    close(fd);

    put("ap", "abc");
    fd = open(at("ap"), O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    write(fd, "def", 3);
    EQ("append-offset", lseek(fd, 0, SEEK_CUR), 6);
    close(fd);
    CHECK("append-writes-at-end", !strcmp(get("ap"), "abcdef"), "content %s", get("ap"));

    fd = open(at("ap"), O_PATH);
    CHECK("open-path", fd >= 0, "O_PATH: %s", ename(errno));
    char c;
    ERR("o-path-read-ebadf", read(fd, &c, 1), EBADF);
    EQ("o-path-fstat", (fstat(fd, &st) == 0 ? st.st_size : -1), 6);
    close(fd);

    fd = open(at("ro"), O_RDONLY | O_CREAT, 0644);
    ERR("write-rdonly-ebadf", write(fd, "x", 1), EBADF);
    close(fd);
    fd = open(at("ro"), O_WRONLY);
    ERR("read-wronly-ebadf", read(fd, &c, 1), EBADF);
    close(fd);
    fd = open(dir, O_RDONLY);
    ERR("read-directory-eisdir", read(fd, &c, 1), EISDIR);
    close(fd);
    ERR("close-ebadf", close(999), EBADF);

    fd = open(at("cx"), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    EQ("o-cloexec-fd-flag", fcntl(fd, F_GETFD), FD_CLOEXEC);
    close(fd);
    close(dfd);
}

static void directories(void) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    OK("mkdirat", mkdirat(dfd, "d", 0755));
    ERR("mkdir-eexist", mkdirat(dfd, "d", 0755), EEXIST);
    ERR("mkdir-missing-parent-enoent", mkdir(at("nope/d"), 0755), ENOENT);
    struct stat st;
    EQ("mkdir-mode-umask", (stat(at("d"), &st) == 0 ? (long)(st.st_mode & 07777) : -1), 0755 & ~022);
    ERR("unlinkat-dir-eisdir", unlinkat(dfd, "d", 0), EISDIR);
    put("d/f", "x");
    ERR("rmdir-nonempty-enotempty", unlinkat(dfd, "d", AT_REMOVEDIR), ENOTEMPTY);
    ERR("rmdir-file-enotdir", rmdir(at("d/f")), ENOTDIR);
    unlink(at("d/f"));
    OK("unlinkat-removedir", unlinkat(dfd, "d", AT_REMOVEDIR));
    ERR("removed-dir-enoent", stat(at("d"), &st), ENOENT);
    ERR("rmdir-dot-einval", rmdir(at("./.")), EINVAL);

    /* getdents64 lists exactly the entries, plus . and .. */
    mkdir(at("ls"), 0755);
    put("ls/one", "1");
    put("ls/two", "2");
    mkdir(at("ls/three"), 0755);
    int lfd = open(at("ls"), O_RDONLY | O_DIRECTORY);
    char buf[4096];
    int seen = 0, count = 0, dtypes = 1;
    for (;;) {
        long n = syscall(SYS_getdents64, lfd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct { unsigned long long ino; long long off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
            count++;
            if (!strcmp(d->name, ".")) seen |= 1;
            else if (!strcmp(d->name, "..")) seen |= 2;
            else if (!strcmp(d->name, "one")) { seen |= 4; dtypes &= d->type == DT_REG; }
            else if (!strcmp(d->name, "two")) seen |= 8;
            else if (!strcmp(d->name, "three")) { seen |= 16; dtypes &= d->type == DT_DIR; }
            off += d->reclen;
        }
    }
    CHECK("getdents64-listing", seen == 31 && count == 5, "seen mask %#x, %d entries", seen, count);
    CHECK("getdents64-d-type", dtypes, "d_type wrong for one/three");
    lseek(lfd, 0, SEEK_SET);
    long again = syscall(SYS_getdents64, lfd, buf, sizeof buf);
    CHECK("getdents64-rewind", again > 0, "after lseek(0): %ld %s", again, ename(errno));
    ERR("getdents64-on-file-enotdir", (close(lfd), lfd = open(at("ls/one"), O_RDONLY), syscall(SYS_getdents64, lfd, buf, sizeof buf)), ENOTDIR);
    close(lfd);

    /* The old getdents (78), which older static libcs use: struct
     * linux_dirent, the type in the last byte of each record. */
    lfd = open(at("ls"), O_RDONLY | O_DIRECTORY);
    seen = count = 0;
    dtypes = 1;
    for (;;) {
        long n = syscall(SYS_getdents, lfd, buf, sizeof buf);
        if (n <= 0) {
            CHECK("getdents-returns", n == 0 && count > 0, "getdents: %ld %s", n, ename(errno));
            break;
        }
        for (long off = 0; off < n;) {
            struct { unsigned long ino; unsigned long off; unsigned short reclen; char name[]; } *d = (void *)(buf + off);
            unsigned char type = buf[off + d->reclen - 1];
            count++;
            if (!strcmp(d->name, ".")) seen |= 1;
            else if (!strcmp(d->name, "..")) seen |= 2;
            else if (!strcmp(d->name, "one")) { seen |= 4; dtypes &= type == DT_REG; }
            else if (!strcmp(d->name, "two")) seen |= 8;
            else if (!strcmp(d->name, "three")) { seen |= 16; dtypes &= type == DT_DIR; }
            off += d->reclen;
        }
    }
    CHECK("getdents-listing", seen == 31 && count == 5, "seen mask %#x, %d entries", seen, count);
    CHECK("getdents-d-type-last-byte", dtypes, "d_type wrong for one/three");
    ERR("getdents-tiny-buffer-einval", (lseek(lfd, 0, SEEK_SET), syscall(SYS_getdents, lfd, buf, 8)), EINVAL);
    close(lfd);

    char cwd[PATH_MAX];
    OK("chdir", chdir(at("ls")));
    CHECK("getcwd", getcwd(cwd, sizeof cwd) && !strcmp(cwd, at("ls")), "getcwd %s", cwd);
    int dd = open(dir, O_RDONLY);
    OK("fchdir", fchdir(dd));
    CHECK("getcwd-after-fchdir", getcwd(cwd, sizeof cwd) && !strcmp(cwd, dir), "getcwd %s", cwd);
    close(dd);
    ERR("chdir-file-enotdir", chdir(at("ls/one")), ENOTDIR);
    chdir("/");
    close(dfd);
}

static void renames_links(void) {
    put("r1", "one");
    put("r2", "two");
    ERR("renameat2-noreplace-eexist", syscall(SYS_renameat2, AT_FDCWD, at("r1"), AT_FDCWD, at("r2"), RENAME_NOREPLACE), EEXIST);
    OK("renameat2-exchange", syscall(SYS_renameat2, AT_FDCWD, at("r1"), AT_FDCWD, at("r2"), RENAME_EXCHANGE));
    CHECK("renameat2-exchange-swapped", !strcmp(get("r1"), "two"), "r1 holds %s", get("r1"));
    put("r1", "three");
    OK("rename-replace", rename(at("r1"), at("r2")));
    CHECK("rename-replaced-content", !strcmp(get("r2"), "three"), "r2 holds %s", get("r2"));
    ERR("rename-source-gone", access(at("r1"), F_OK), ENOENT);
    mkdir(at("rd"), 0755);
    mkdir(at("rd2"), 0755);
    put("rd2/x", "x");
    ERR("rename-dir-over-nonempty", rename(at("rd"), at("rd2")), ENOTEMPTY);
    ERR("rename-file-over-dir-eisdir", rename(at("r2"), at("rd")), EISDIR);
    ERR("rename-dir-over-file-enotdir", rename(at("rd"), at("r2")), ENOTDIR);
    ERR("rename-into-itself-einval", rename(at("rd"), at("rd/sub")), EINVAL);

    OK("linkat", linkat(AT_FDCWD, at("r2"), AT_FDCWD, at("r2-link"), 0));
    struct stat st;
    EQ("link-nlink", (stat(at("r2"), &st) == 0 ? (long)st.st_nlink : -1), 2);
    ERR("link-eexist", link(at("r2"), at("r2-link")), EEXIST);
    ERR("link-dir-eperm", link(at("rd"), at("rd-link")), EPERM);

    OK("symlinkat", symlinkat("target/path", AT_FDCWD, at("sl")));
    char buf[64] = {0};
    EQ("readlinkat-length", readlinkat(AT_FDCWD, at("sl"), buf, sizeof buf), 11);
    CHECK("readlinkat-content", !strcmp(buf, "target/path"), "got %s", buf);
    EQ("readlink-truncates", readlink(at("sl"), buf, 3), 3);
    ERR("readlink-not-link-einval", readlink(at("r2"), buf, sizeof buf), EINVAL);
    EQ("lstat-symlink", (lstat(at("sl"), &st) == 0 ? (long)S_ISLNK(st.st_mode) : -1), 1);
    EQ("fstatat-nofollow", (fstatat(AT_FDCWD, at("sl"), &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_size : -1), 11);
    ERR("stat-dangling-enoent", stat(at("sl"), &st), ENOENT);

    /* An unlinked open file stays readable. */
    put("gone", "still here");
    int fd = open(at("gone"), O_RDONLY);
    unlink(at("gone"));
    char rb[32] = {0};
    EQ("unlinked-open-readable", read(fd, rb, sizeof rb), 10);
    EQ("unlinked-nlink-zero", (fstat(fd, &st) == 0 ? (long)st.st_nlink : -1), 0);
    close(fd);
}

static void metadata(void) {
    put("m", "12345");
    OK("fchmodat", fchmodat(AT_FDCWD, at("m"), 0640, 0));
    struct stat st;
    EQ("fchmodat-mode", (stat(at("m"), &st) == 0 ? (long)(st.st_mode & 07777) : -1), 0640);
    int fd = open(at("m"), O_RDWR);
    OK("fchmod", fchmod(fd, 0604));
    EQ("fchmod-mode", (fstat(fd, &st) == 0 ? (long)(st.st_mode & 07777) : -1), 0604);

    struct timespec ts[2] = { { 1000000000, 5 }, { 1200000000, 7 } };
    OK("utimensat", utimensat(AT_FDCWD, at("m"), ts, 0));
    stat(at("m"), &st);
    CHECK("utimensat-times", st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1200000000 && st.st_mtim.tv_nsec == 7,
          "atime %ld mtime %ld.%09ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit[2] = { { 0, UTIME_OMIT }, { 1300000000, 0 } };
    utimensat(AT_FDCWD, at("m"), omit, 0);
    stat(at("m"), &st);
    CHECK("utimensat-omit", st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1300000000,
          "atime %ld mtime %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec bad[2] = { { 0, 1000000000 }, { 0, 0 } };
    ERR("utimensat-bad-nsec-einval", utimensat(AT_FDCWD, at("m"), bad, 0), EINVAL);

    OK("ftruncate", ftruncate(fd, 2));
    EQ("ftruncate-size", (fstat(fd, &st) == 0 ? st.st_size : -1), 2);
    OK("truncate-grow", truncate(at("m"), 10));
    char buf[16];
    memset(buf, 'x', sizeof buf);
    EQ("truncate-grow-size", pread(fd, buf, sizeof buf, 0), 10);
    CHECK("truncate-grow-zero-fill", buf[1] == '2' && buf[2] == 0 && buf[9] == 0, "bytes %d %d", buf[2], buf[9]);
    ERR("ftruncate-negative-einval", ftruncate(fd, -1), EINVAL);
    int ro = open(at("m"), O_RDONLY);
    ERR("ftruncate-rdonly", ftruncate(ro, 0), EINVAL);
    close(ro);

    struct statx sx;
    OK("statx", statx(AT_FDCWD, at("m"), 0, STATX_BASIC_STATS, &sx));
    CHECK("statx-fields", sx.stx_size == 10 && (sx.stx_mask & STATX_SIZE) && (sx.stx_mode & 07777) == 0604 && S_ISREG(sx.stx_mode),
          "size %llu mask %#x mode %o", (unsigned long long)sx.stx_size, sx.stx_mask, sx.stx_mode);
    OK("statx-empty-path", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    fstat(fd, &st);
    CHECK("stat-fields", S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == getuid() && st.st_blksize > 0,
          "mode %o nlink %ld uid %d blksize %ld", st.st_mode, (long)st.st_nlink, st.st_uid, (long)st.st_blksize);
    struct stat st2;
    stat(at("m"), &st2);
    CHECK("stat-ino-dev-match-fstat", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev, "ino %lu vs %lu", (unsigned long)st.st_ino, (unsigned long)st2.st_ino);
    close(fd);

    mode_t old = umask(077);
    EQ("umask-returns-previous", umask(old), 077);

    ERR("access-enoent", access(at("missing"), F_OK), ENOENT);
    OK("access-f-ok", access(at("m"), F_OK));
    chmod(at("m"), 0644);
    /* Even root needs one execute bit for X_OK on a regular file. */
    ERR("access-x-ok-eacces", faccessat(AT_FDCWD, at("m"), X_OK, 0), EACCES);
    ERR("faccessat-bad-mode-einval", faccessat(AT_FDCWD, at("m"), 0100, 0), EINVAL);

    /* Extended attributes either work or are refused with ENOTSUP. */
    long r = setxattr(at("m"), "user.conf", "v1", 2, 0);
    int e = errno;
    if (r == 0) {
        char v[8] = {0};
        long n = getxattr(at("m"), "user.conf", v, sizeof v);
        CHECK("xattr-works-or-enotsup", n == 2 && !strcmp(v, "v1"), "getxattr %ld %s", n, v);
    } else {
        CHECK("xattr-works-or-enotsup", e == ENOTSUP, "setxattr: %s", ename(e));
    }
}

static void offsets_io(void) {
    int fd = open(at("io"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EQ("write", write(fd, "0123456789", 10), 10);
    EQ("lseek-set", lseek(fd, 2, SEEK_SET), 2);
    EQ("lseek-cur", lseek(fd, 3, SEEK_CUR), 5);
    EQ("lseek-end", lseek(fd, -1, SEEK_END), 9);
    ERR("lseek-negative-einval", lseek(fd, -100, SEEK_SET), EINVAL);
    ERR("lseek-bad-whence-einval", lseek(fd, 0, 42), EINVAL);
    EQ("lseek-past-end", lseek(fd, 20, SEEK_SET), 20);
    char c = 'E';
    write(fd, &c, 1);
    struct stat st;
    EQ("write-past-end-size", (fstat(fd, &st), st.st_size), 21);
    char buf[32] = {0};
    EQ("pread", pread(fd, buf, 4, 3), 4);
    CHECK("pread-data", !memcmp(buf, "3456", 4), "got %.4s", buf);
    EQ("pread-keeps-offset", lseek(fd, 0, SEEK_CUR), 21);
    EQ("pwrite", pwrite(fd, "ab", 2, 0), 2);
    EQ("pwrite-keeps-offset", lseek(fd, 0, SEEK_CUR), 21);
    ERR("pread-negative-einval", pread(fd, buf, 1, -1), EINVAL);
    EQ("read-at-eof", read(fd, buf, 4), 0);

    lseek(fd, 0, SEEK_SET);
    char a[3], b[4];
    struct iovec iov[2] = { { a, 3 }, { b, 4 } };
    EQ("readv", readv(fd, iov, 2), 7);
    CHECK("readv-data", !memcmp(a, "ab2", 3) && !memcmp(b, "3456", 4), "got %.3s %.4s", a, b);
    struct iovec wv[3] = { { "xy", 2 }, { "", 0 }, { "z", 1 } };
    EQ("writev", writev(fd, wv, 3), 3);
    pread(fd, buf, 3, 7);
    CHECK("writev-data", !memcmp(buf, "xyz", 3), "got %.3s", buf);
    struct iovec neg[1] = { { buf, (size_t)-1 } };
    ERR("readv-huge-einval", readv(fd, neg, 1), EINVAL);
    ERR("readv-bad-count-einval", syscall(SYS_readv, fd, iov, -1), EINVAL);
    close(fd);
}

static void descriptors(void) {
    int fd = open(at("fdf"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    int d = OK("dup", dup(fd));
    write(fd, "abc", 3);
    EQ("dup-shares-offset", lseek(d, 0, SEEK_CUR), 3);
    EQ("dup2", dup2(fd, 50), 50);
    EQ("dup2-same-fd", dup2(fd, fd), fd);
    ERR("dup2-bad-ebadf", dup2(999, 51), EBADF);
    ERR("dup3-same-einval", dup3(fd, fd, 0), EINVAL);
    EQ("dup3-cloexec", (dup3(fd, 52, O_CLOEXEC), fcntl(52, F_GETFD)), FD_CLOEXEC);
    EQ("dup-clears-cloexec", fcntl(d, F_GETFD), 0);
    int c = fcntl(fd, F_DUPFD_CLOEXEC, 60);
    CHECK("f-dupfd-cloexec", c >= 60 && fcntl(c, F_GETFD) == FD_CLOEXEC, "fd %d flags %d", c, fcntl(c, F_GETFD));
    EQ("f-dupfd-lowest-above", fcntl(fd, F_DUPFD, 60), 61);
    OK("f-setfd", fcntl(fd, F_SETFD, FD_CLOEXEC));
    EQ("f-getfd", fcntl(fd, F_GETFD), FD_CLOEXEC);
    EQ("f-getfl", fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDWR);
    fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK);
    EQ("f-setfl", fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDWR | O_APPEND | O_NONBLOCK);
    EQ("f-setfl-shared-by-dup", fcntl(d, F_GETFL) & O_APPEND, O_APPEND);
    ERR("fcntl-ebadf", fcntl(999, F_GETFD), EBADF);
    ERR("fcntl-bad-cmd-einval", fcntl(fd, 9999), EINVAL);
    /* The lowest free descriptor is used. */
    close(d);
    EQ("lowest-free-fd", open(at("fdf"), O_RDONLY), d);
    close(d);
    close(fd);
}

static void copies(void) {
    put("src", "0123456789abcdef");
    int in = open(at("src"), O_RDONLY);
    int out = open(at("dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    off_t off = 4;
    EQ("sendfile", sendfile(out, in, &off, 6), 6);
    EQ("sendfile-offset-updated", off, 10);
    EQ("sendfile-file-offset-unchanged", lseek(in, 0, SEEK_CUR), 0);
    CHECK("sendfile-data", !strcmp(get("dst"), "456789"), "dst %s", get("dst"));
    EQ("sendfile-no-offset", sendfile(out, in, NULL, 2), 2);
    EQ("sendfile-advances-file-offset", lseek(in, 0, SEEK_CUR), 2);
    close(out);

    out = open(at("cfr"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    loff_t ioff = 10, ooff = 0;
    EQ("copy-file-range", copy_file_range(in, &ioff, out, &ooff, 6, 0), 6);
    CHECK("copy-file-range-data", !strcmp(get("cfr"), "abcdef"), "cfr %s", get("cfr"));
    ERR("copy-file-range-flags-einval", copy_file_range(in, &ioff, out, &ooff, 1, 1), EINVAL);
    close(out);
    close(in);

    int fd = open(at("falloc"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    OK("fallocate", fallocate(fd, 0, 0, 8192));
    struct stat st;
    EQ("fallocate-size", (fstat(fd, &st), st.st_size), 8192);
    OK("fallocate-keep-size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 4096));
    EQ("fallocate-keep-size-size", (fstat(fd, &st), st.st_size), 8192);
    close(fd);

    int tf = open(dir, O_RDWR | O_TMPFILE, 0600);
    CHECK("o-tmpfile", tf >= 0, "open(O_TMPFILE): %s", ename(errno));
    EQ("o-tmpfile-write", write(tf, "t", 1), 1);
    close(tf);

    fd = open(at("src"), O_RDONLY);
    OK("fsync", fsync(fd));
    OK("fdatasync", fdatasync(fd));
    close(fd);
}

/* A check name with the file system's tag appended ("name-tmpfs"). */
static const char *tagged(const char *name, const char *tag) {
    static char buf[8][96];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s-%s", name, tag);
    return buf[slot];
}

static const char *slurp(const char *path) {
    static char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ename(errno);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return ename(errno);
    buf[n] = 0;
    return buf;
}

/* O_TMPFILE, linkat, renameat2 and extended attributes on one file
 * system: `base` is a fresh directory on it. */
static void on_fs(const char *base, const char *tag) {
    char a[128], b[128], p[128], named[128], proc[64];
    snprintf(a, sizeof a, "%s/xa", base);
    snprintf(b, sizeof b, "%s/xb", base);
    snprintf(named, sizeof named, "%s/named", base);

    /* O_TMPFILE: no name until linkat gives it one. */
    int tf = open(base, O_RDWR | O_TMPFILE, 0640);
    CHECK(tagged("o-tmpfile-open", tag), tf >= 0, "open(O_TMPFILE): %s", ename(errno));
    EQ(tagged("o-tmpfile-written", tag), write(tf, "tmp", 3), 3);
    struct stat st;
    EQ(tagged("o-tmpfile-nlink-zero", tag), (fstat(tf, &st) == 0 ? (long)st.st_nlink : -1), 0);
    EQ(tagged("o-tmpfile-mode", tag), (fstat(tf, &st) == 0 ? (long)(st.st_mode & 07777) : -1), 0640 & ~022);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", tf);
    OK(tagged("o-tmpfile-linkat-proc-fd", tag), linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW));
    CHECK(tagged("o-tmpfile-named-content", tag), !strcmp(slurp(named), "tmp"), "content %s", slurp(named));
    EQ(tagged("o-tmpfile-nlink-after-link", tag), (fstat(tf, &st) == 0 ? (long)st.st_nlink : -1), 1);
    close(tf);
    tf = open(base, O_WRONLY | O_TMPFILE | O_EXCL, 0600);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", tf);
    snprintf(p, sizeof p, "%s/excl", base);
    ERR(tagged("o-tmpfile-excl-linkat-enoent", tag), linkat(AT_FDCWD, proc, AT_FDCWD, p, AT_SYMLINK_FOLLOW), ENOENT);
    close(tf);
    ERR(tagged("o-tmpfile-rdonly-einval", tag), open(base, O_RDONLY | O_TMPFILE, 0600), EINVAL);
    snprintf(p, sizeof p, "%s/named", base);
    ERR(tagged("o-tmpfile-on-file-enotdir", tag), open(p, O_RDWR | O_TMPFILE, 0600), ENOTDIR);
    /* An unlinked file cannot be linked again through its descriptor. */
    int uf = open(named, O_RDONLY);
    unlink(named);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", uf);
    snprintf(p, sizeof p, "%s/again", base);
    ERR(tagged("linkat-unlinked-enoent", tag), linkat(AT_FDCWD, proc, AT_FDCWD, p, AT_SYMLINK_FOLLOW), ENOENT);
    close(uf);

    /* renameat2. */
    int fa = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fa, "A", 1);
    close(fa);
    snprintf(p, sizeof p, "%s/xd", base);
    mkdir(p, 0755);
    OK(tagged("renameat2-exchange-file-dir", tag), syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, p, RENAME_EXCHANGE));
    CHECK(tagged("renameat2-exchange-types-swapped", tag),
          stat(a, &st) == 0 && S_ISDIR(st.st_mode) && !strcmp(slurp(p), "A"), "a dir? %d, xd holds %s", S_ISDIR(st.st_mode), slurp(p));
    ERR(tagged("renameat2-exchange-missing-enoent", tag), syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), ENOENT);
    ERR(tagged("renameat2-exchange-noreplace-einval", tag), syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, p, RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
    ERR(tagged("renameat2-bad-flag-einval", tag), syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, p, 1 << 7), EINVAL);

    /* user. extended attributes. */
    fa = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fa);
    OK(tagged("setxattr-user", tag), setxattr(b, "user.k", "value", 5, 0));
    char v[16] = {0};
    EQ(tagged("getxattr-size-query", tag), getxattr(b, "user.k", NULL, 0), 5);
    EQ(tagged("getxattr-value", tag), getxattr(b, "user.k", v, sizeof v), 5);
    CHECK(tagged("getxattr-value-bytes", tag), !memcmp(v, "value", 5), "got %.5s", v);
    ERR(tagged("getxattr-small-buffer-erange", tag), getxattr(b, "user.k", v, 2), ERANGE);
    ERR(tagged("getxattr-missing-enodata", tag), getxattr(b, "user.none", v, sizeof v), ENODATA);
    ERR(tagged("setxattr-create-eexist", tag), setxattr(b, "user.k", "x", 1, XATTR_CREATE), EEXIST);
    ERR(tagged("setxattr-replace-enodata", tag), setxattr(b, "user.new", "x", 1, XATTR_REPLACE), ENODATA);
    ERR(tagged("setxattr-bad-flags-einval", tag), setxattr(b, "user.k", "x", 1, 4), EINVAL);
    ERR(tagged("setxattr-empty-name-erange", tag), setxattr(b, "", "x", 1, 0), ERANGE);
    ERR(tagged("setxattr-unknown-namespace-eopnotsupp", tag), setxattr(b, "bogus.k", "x", 1, 0), EOPNOTSUPP);
    int xf = open(b, O_RDONLY);
    OK(tagged("fsetxattr", tag), fsetxattr(xf, "user.f", "1", 1, 0));
    char list[256];
    long ln = listxattr(b, list, sizeof list);
    int found = 0;
    for (long off = 0; ln > 0 && off < ln; off += strlen(list + off) + 1)
        found += !strcmp(list + off, "user.k") || !strcmp(list + off, "user.f");
    EQ(tagged("listxattr-names", tag), found, 2);
    EQ(tagged("listxattr-size-query", tag), listxattr(b, NULL, 0), ln);
    OK(tagged("fremovexattr", tag), fremovexattr(xf, "user.f"));
    ERR(tagged("removexattr-missing-enodata", tag), removexattr(b, "user.f"), ENODATA);
    close(xf);
    snprintf(p, sizeof p, "%s/xl", base);
    symlink("xb", p);
    ERR(tagged("lsetxattr-user-on-symlink-eperm", tag), lsetxattr(p, "user.k", "x", 1, 0), EPERM);
    EQ(tagged("getxattr-follows-symlink", tag), getxattr(p, "user.k", v, sizeof v), 5);
}


/* preadv/pwritev and the "2" variants with RWF_* flags. */
static void vectored_io(void) {
    const char *f = at("vec");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char a[4] = "abcd", b[4] = "efgh", ra[3] = {0}, rb[5] = {0};
    struct iovec w[2] = {{a, 4}, {b, 4}};
    EQ("pwritev-count", pwritev(fd, w, 2, 2), 8);
    EQ("pwritev-keeps-position", lseek(fd, 0, SEEK_CUR), 0);
    struct iovec r[2] = {{ra, 3}, {rb, 5}};
    EQ("preadv-count", preadv(fd, r, 2, 2), 8);
    CHECK("preadv-scatters", !memcmp(ra, "abc", 3) && !memcmp(rb, "defgh", 5), "got %.3s|%.5s", ra, rb);
    EQ("preadv-at-eof-zero", preadv(fd, r, 2, 100), 0);
    ERR("preadv-negative-offset-einval", preadv(fd, r, 2, -1), EINVAL);
    ERR("pwritev-negative-offset-einval", pwritev(fd, w, 2, -5), EINVAL);
    /* Offset -1: the file position, which then moves. */
    lseek(fd, 2, SEEK_SET);
    EQ("preadv2-offset-minus-one-count", preadv2(fd, r, 1, -1, 0), 3);
    EQ("preadv2-offset-minus-one-moves-position", lseek(fd, 0, SEEK_CUR), 5);
    ERR("preadv2-offset-minus-two-einval", preadv2(fd, r, 1, -2, 0), EINVAL);
    ERR("preadv2-unknown-flag-eopnotsupp", preadv2(fd, r, 1, 0, 0x100000), EOPNOTSUPP);
    ERR("pwritev2-unknown-flag-eopnotsupp", pwritev2(fd, w, 1, 0, 0x100000), EOPNOTSUPP);
    EQ("preadv2-hipri", preadv2(fd, r, 1, 0, RWF_HIPRI), 3);
    EQ("pwritev2-dsync", pwritev2(fd, w, 1, 0, RWF_DSYNC), 4);
    /* RWF_APPEND writes at the end whatever the offset. */
    EQ("pwritev2-append-count", pwritev2(fd, w, 1, 0, RWF_APPEND), 4);
    struct stat st;
    fstat(fd, &st);
    EQ("pwritev2-append-at-end", st.st_size, 14);
    char tail[4] = {0};
    pread(fd, tail, 4, 10);
    CHECK("pwritev2-append-content", !memcmp(tail, "abcd", 4), "got %.4s", tail);
    lseek(fd, 0, SEEK_SET);
    EQ("pwritev2-append-minus-one", pwritev2(fd, w, 1, -1, RWF_APPEND), 4);
    EQ("pwritev2-append-minus-one-moves-position", lseek(fd, 0, SEEK_CUR), 18);
    close(fd);
    int p[2];
    pipe(p);
    ERR("preadv-pipe-espipe", preadv(p[0], r, 1, 0), ESPIPE);
    ERR("preadv2-nowait-empty-pipe-eagain", preadv2(p[0], r, 1, -1, RWF_NOWAIT), EAGAIN);
    write(p[1], "xyz", 3);
    EQ("preadv2-minus-one-pipe", preadv2(p[0], r, 1, -1, 0), 3);
    close(p[0]);
    close(p[1]);
    ERR("preadv-bad-fd-ebadf", preadv(-1, r, 1, 0), EBADF);
}

/* sync, syncfs, sync_file_range, posix_fadvise. */
static void sync_calls(void) {
    sync();
    pass("sync-returns");
    int fd = open(at("sync"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "data", 4);
    OK("syncfs", syncfs(fd));
    ERR("syncfs-bad-fd-ebadf", syncfs(-1), EBADF);
    OK("sync-file-range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    ERR("sync-file-range-bad-flags-einval", sync_file_range(fd, 0, 0, 8), EINVAL);
    ERR("sync-file-range-negative-einval", sync_file_range(fd, -1, 0, 0), EINVAL);
    EQ("fadvise-sequential", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
    EQ("fadvise-dontneed", posix_fadvise(fd, 0, 4, POSIX_FADV_DONTNEED), 0);
    EQ("fadvise-bad-advice-einval", posix_fadvise(fd, 0, 0, 99), EINVAL);
    EQ("fadvise-bad-fd-ebadf", posix_fadvise(-1, 0, 0, POSIX_FADV_NORMAL), EBADF);
    int p[2];
    pipe(p);
    ERR("sync-file-range-pipe-espipe", sync_file_range(p[0], 0, 0, 0), ESPIPE);
    EQ("fadvise-pipe-espipe", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL), ESPIPE);
    close(p[0]);
    close(p[1]);
    close(fd);
}

/* utime, utimes, futimesat. */
static void old_times(void) {
    const char *f = at("times");
    put("times", "t");
    struct stat st;
    struct utimbuf ub = {.actime = 1000, .modtime = 2000};
    OK("utime", utime(f, &ub));
    stat(f, &st);
    CHECK("utime-sets-both", st.st_atime == 1000 && st.st_mtime == 2000, "atime %ld mtime %ld", (long)st.st_atime, (long)st.st_mtime);
    struct timeval tv[2] = {{3000, 250000}, {4000, 500000}};
    OK("utimes", utimes(f, tv));
    stat(f, &st);
    CHECK("utimes-microseconds", st.st_atim.tv_sec == 3000 && st.st_atim.tv_nsec == 250000000 && st.st_mtim.tv_sec == 4000 && st.st_mtim.tv_nsec == 500000000,
          "atime %ld.%09ld mtime %ld.%09ld", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timeval bad[2] = {{1, 1000000}, {1, 0}};
    ERR("utimes-bad-usec-einval", utimes(f, bad), EINVAL);
    time_t before = time(NULL);
    OK("utimes-null-now", utimes(f, NULL));
    stat(f, &st);
    CHECK("utimes-null-is-now", st.st_mtime >= before && st.st_mtime <= before + 5, "mtime %ld, now %ld", (long)st.st_mtime, (long)before);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    struct timeval tv2[2] = {{5000, 0}, {6000, 0}};
    OK("futimesat", syscall(SYS_futimesat, d, "times", tv2));
    stat(f, &st);
    EQ("futimesat-sets-mtime", st.st_mtime, 6000);
    ERR("futimesat-missing-enoent", syscall(SYS_futimesat, d, "none", tv2), ENOENT);
    close(d);
    ERR("utime-missing-enoent", utime(at("none"), &ub), ENOENT);
}

/* The same semantics on the root file system (/tmp) and on a tmpfs. */
static void file_systems(void) {
    on_fs(dir, "rootfs");
    char shm[64];
    strcpy(shm, "/dev/shm/files-XXXXXX");
    if (!mkdtemp(shm)) {
        say("FAIL mkdtemp-dev-shm: %s", ename(errno));
        return;
    }
    on_fs(shm, "tmpfs");
    /* /proc keeps no extended attributes. */
    ERR("setxattr-proc-eopnotsupp", setxattr("/proc/self/comm", "user.k", "x", 1, 0), EOPNOTSUPP);
    char v[8];
    ERR("getxattr-proc-eopnotsupp", getxattr("/proc/self/comm", "user.k", v, sizeof v), EOPNOTSUPP);
}

/* Issue 16: what an O_PATH descriptor may do (fstat, fchdir, dup, F_GETFL,
 * F_GETFD/F_SETFD, *at calls) and what it is refused: EBADF for I/O,
 * fchmod/fchown, F_SETFL, locks, lseek, getdents, mmap, ioctl, fsync. */
static void o_path_checks(void) {
    put("op", "hello");
    int fd = open(at("op"), O_PATH);
    char c;
    EQ("o-path-getfl", fcntl(fd, F_GETFL) & (O_PATH | O_ACCMODE), O_PATH);
    ERR("o-path-setfl-ebadf", fcntl(fd, F_SETFL, O_NONBLOCK), EBADF);
    OK("o-path-setfd", fcntl(fd, F_SETFD, FD_CLOEXEC));
    EQ("o-path-getfd", fcntl(fd, F_GETFD), FD_CLOEXEC);
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    EQ("o-path-dup-keeps-o-path", fcntl(d, F_GETFL) & O_PATH, O_PATH);
    close(d);
    struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
    ERR("o-path-getlk-ebadf", fcntl(fd, F_GETLK, &fl), EBADF);
    ERR("o-path-setlk-ebadf", fcntl(fd, F_SETLK, &fl), EBADF);
    ERR("o-path-flock-ebadf", flock(fd, LOCK_SH), EBADF);
    ERR("o-path-fchmod-ebadf", fchmod(fd, 0600), EBADF);
    ERR("o-path-fchown-ebadf", fchown(fd, 0, 0), EBADF);
    ERR("o-path-pread-ebadf", pread(fd, &c, 1, 0), EBADF);
    ERR("o-path-pwrite-ebadf", pwrite(fd, "x", 1, 0), EBADF);
    ERR("o-path-write-ebadf", write(fd, "x", 1), EBADF);
    ERR("o-path-lseek-ebadf", lseek(fd, 0, SEEK_SET), EBADF);
    ERR("o-path-ftruncate-ebadf", ftruncate(fd, 0), EBADF);
    ERR("o-path-fsync-ebadf", fsync(fd), EBADF);
    int n = 0;
    ERR("o-path-ioctl-ebadf", ioctl(fd, FIONREAD, &n), EBADF);
    ERR("o-path-mmap-ebadf", (long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0), EBADF);
    struct statfs sf;
    OK("o-path-fstatfs", fstatfs(fd, &sf));
    EQ("o-path-file-unchanged", strcmp(get("op"), "hello"), 0);
    close(fd);

    int dfd = open(dir, O_PATH | O_DIRECTORY);
    char buf[256];
    ERR("o-path-getdents-ebadf", syscall(SYS_getdents64, dfd, buf, sizeof buf), EBADF);
    OK("o-path-openat-relative", close(openat(dfd, "op", O_RDONLY)));
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    OK("o-path-fchdir", fchdir(dfd));
    CHECK("o-path-fchdir-cwd", getcwd(buf, sizeof buf) && !strcmp(buf, dir), "cwd %s", buf);
    fchdir(cwd);
    close(cwd);
    close(dfd);
}

/* Issue 16: SEEK_DATA and SEEK_HOLE on a file without holes: data up to
 * the end, the end is a hole, nothing at or past it (ENXIO). */
static void seek_data_hole(const char *path, const char *tag) {
    char name[64];
#define N(s) (snprintf(name, sizeof name, "%s-%s", s, tag), name)
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char block[10000];
    memset(block, 'x', sizeof block);
    write(fd, block, sizeof block);
    EQ(N("seek-data-start"), lseek(fd, 0, SEEK_DATA), 0);
    EQ(N("seek-data-inside"), lseek(fd, 5000, SEEK_DATA), 5000);
    EQ(N("seek-hole-is-end"), lseek(fd, 5000, SEEK_HOLE), 10000);
    EQ(N("seek-hole-sets-offset"), lseek(fd, 0, SEEK_CUR), 10000);
    ERR(N("seek-data-at-end-enxio"), lseek(fd, 10000, SEEK_DATA), ENXIO);
    ERR(N("seek-hole-past-end-enxio"), lseek(fd, 10001, SEEK_HOLE), ENXIO);
    ERR(N("seek-data-negative-enxio"), lseek(fd, -1, SEEK_DATA), ENXIO);
    ftruncate(fd, 0);
    ERR(N("seek-data-empty-enxio"), lseek(fd, 0, SEEK_DATA), ENXIO);
    close(fd);
    unlink(path);
#undef N
}

/* Issue 16: close_range(2)'s flags, and O_CREAT|O_DIRECTORY. */
static void close_range_checks(void) {
    int a = open("/dev/null", O_RDONLY);
    int b = dup(a), c = dup(a);
    EQ("close-range-consecutive", (b == a + 1 && c == a + 2), 1);
    OK("close-range-cloexec", syscall(SYS_close_range, a, b, 4 /* CLOSE_RANGE_CLOEXEC */));
    EQ("close-range-cloexec-set", fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ("close-range-cloexec-both", fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ("close-range-cloexec-outside", fcntl(c, F_GETFD) & FD_CLOEXEC, 0);
    OK("close-range-unshare", syscall(SYS_close_range, c, c, 2 /* CLOSE_RANGE_UNSHARE */));
    ERR("close-range-unshare-closed", fcntl(c, F_GETFD), EBADF);
    ERR("close-range-bad-flags-einval", syscall(SYS_close_range, a, b, 1), EINVAL);
    ERR("close-range-reversed-einval", syscall(SYS_close_range, b, a, 0), EINVAL);
    OK("close-range-all-above", syscall(SYS_close_range, a, ~0U, 0));
    ERR("close-range-closed", fcntl(b, F_GETFD), EBADF);
    OK("close-range-none-open", syscall(SYS_close_range, a, ~0U, 0));

    ERR("o-creat-o-directory-einval", open(at("cd"), O_CREAT | O_DIRECTORY | O_RDONLY, 0755), EINVAL);
    ERR("o-creat-o-directory-not-created", access(at("cd"), F_OK), ENOENT);
    ERR("o-creat-o-directory-existing-einval", open(dir, O_CREAT | O_DIRECTORY | O_RDONLY, 0755), EINVAL);
}

/* Issue 16: the "also" list for files: getdents with a huge count,
 * linkat AT_EMPTY_PATH's capability, renames of "." and "..", memfd write
 * seals against writable mappings, sendfile's edge cases, O_APPEND with
 * concurrent writers, fchmodat through a non-directory. */
static void also_files(void) {
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    static char big[65536];
    long n = syscall(SYS_getdents64, d, big, (unsigned)INT_MAX);
    CHECK("getdents-huge-count", n > 0, "getdents64 count INT_MAX = %ld (%s)", n, ename(errno));
    close(d);

    /* linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH. */
    put("le", "x");
    int fd = open(at("le"), O_RDONLY);
    /* (Docker's default set lacks the capability: then ENOENT.) */
    struct { unsigned version; int pid; } chdr = { 0x20080522, 0 };
    struct { unsigned eff, perm, inh; } cdata[2];
    syscall(SYS_capget, &chdr, cdata);
    int has_cap = (cdata[0].eff >> 2) & 1;
    errno = 0;
    int lr = linkat(fd, "", AT_FDCWD, at("le2"), AT_EMPTY_PATH);
    CHECK("linkat-empty-path-as-capability-says", has_cap ? lr == 0 : (lr == -1 && errno == ENOENT),
          "capability %d: linkat = %d (%s)", has_cap, lr, ename(errno));
    pid_t pid = fork();
    if (pid == 0) {
        struct { unsigned version; int pid; } hdr = { 0x20080522, 0 };
        struct { unsigned eff, perm, inh; } data[2];
        syscall(SYS_capget, &hdr, data);
        data[0].eff &= ~(1u << 2); /* CAP_DAC_READ_SEARCH */
        if (syscall(SYS_capset, &hdr, data)) _exit(99);
        int r = linkat(fd, "", AT_FDCWD, at("le3"), AT_EMPTY_PATH);
        _exit(r == -1 ? errno : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EQ("linkat-empty-path-without-cap-enoent", WIFEXITED(st) ? WEXITSTATUS(st) : -1, ENOENT);
    close(fd);

    ERR("rename-dot-ebusy", rename(at("."), at("dotx")), EBUSY);
    ERR("renameat2-noreplace-onto-dot-eexist", syscall(SYS_renameat2, AT_FDCWD, at("le"), AT_FDCWD, at("."), 1 /* RENAME_NOREPLACE */), EEXIST);
    ERR("rename-onto-dotdot-ebusy", rename(at("le"), at("..")), EBUSY);

    int m = memfd_create("seals", MFD_ALLOW_SEALING);
    ftruncate(m, 4096);
    char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    ERR("memfd-seal-write-with-writable-mapping-ebusy", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    munmap(w, 4096);
    /* (A read-only shared mapping of a read-write descriptor may become
     * writable by mprotect, so it counts too: none before the seal.) */
    OK("memfd-seal-write-after-unmap", fcntl(m, F_ADD_SEALS, F_SEAL_WRITE));
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0);
    CHECK("memfd-sealed-mmap-readonly-shared", r != MAP_FAILED, "%s", ename(errno));
    ERR("memfd-sealed-mmap-writable-eperm", (long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0), EPERM);
    CHECK("memfd-sealed-mmap-private-writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, m, 0) != MAP_FAILED, "%s", ename(errno));
    munmap(r, 4096);
    close(m);

    put("sf-in", "0123456789");
    int in = open(at("sf-in"), O_RDONLY);
    int out = open(at("sf-out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ("sendfile-huge-count", sendfile(out, in, NULL, (size_t)-1 >> 1), 10);
    off_t neg = -1;
    ERR("sendfile-negative-offset-einval", sendfile(out, in, &neg, 5), EINVAL);
    close(out);
    out = open(at("sf-out"), O_WRONLY | O_APPEND);
    off_t zero = 0;
    ERR("sendfile-append-output-einval", sendfile(out, in, &zero, 5), EINVAL);
    close(out);
    ERR("sendfile-read-only-output-ebadf", sendfile(in, in, &zero, 5), EBADF);
    close(in);

    /* Two processes append 100-byte records: none lost or torn. */
    int a = open(at("appends"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) == 0) {
            char rec[100];
            memset(rec, 'a' + k, sizeof rec);
            rec[99] = '\n';
            for (int i = 0; i < 500; i++)
                if (write(a, rec, sizeof rec) != sizeof rec) _exit(1);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) waitpid(kids[k], NULL, 0);
    close(a);
    struct stat sb;
    stat(at("appends"), &sb);
    EQ("append-concurrent-size", sb.st_size, 100000);
    a = open(at("appends"), O_RDONLY);
    char rec[100];
    int torn = 0;
    while (read(a, rec, sizeof rec) == sizeof rec) {
        for (int i = 1; i < 99; i++) if (rec[i] != rec[0]) { torn++; break; }
        if (rec[99] != '\n') torn++;
    }
    close(a);
    EQ("append-concurrent-records-whole", torn, 0);

    /* F_GETLK names the holder by its pid as the caller sees it. */
    int lf = open(at("lk"), O_RDWR | O_CREAT, 0644);
    struct flock wl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    fcntl(lf, F_SETLK, &wl);
    pid_t holder = getpid();
    if ((pid = fork()) == 0) {
        struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
        if (fcntl(lf, F_GETLK, &q)) _exit(1);
        _exit(q.l_type == F_WRLCK && q.l_pid == holder && q.l_start == 0 && q.l_len == 10 ? 0 : 2);
    }
    waitpid(pid, &st, 0);
    EQ("getlk-reports-holder-pid", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    close(lf);

    ERR("fchmodat-through-file-enotdir", fchmodat(AT_FDCWD, at("le/x"), 0644, 0), ENOTDIR);
    mkdir(at("cm"), 0755);
    OK("chmod-directory", chmod(at("cm"), 02770));
    stat(at("cm"), &sb);
    EQ("chmod-directory-mode", sb.st_mode & 07777, 02770);
}

static void checks(void) {
    /* OCI runtimes start the process with umask 022. */
    EQ("umask-initial", umask(022), 022);
    strcpy(dir, "/tmp/files-XXXXXX");
    if (!mkdtemp(dir)) {
        say("FAIL mkdtemp: %s", ename(errno));
        return;
    }
    open_flags();
    directories();
    renames_links();
    metadata();
    offsets_io();
    descriptors();
    copies();
    vectored_io();
    sync_calls();
    old_times();
    file_systems();
    o_path_checks();
    seek_data_hole(at("seek"), "rootfs");
    seek_data_hole("/dev/shm/seek", "tmpfs");
    close_range_checks();
    also_files();
}
