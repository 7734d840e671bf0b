/* inotify(7): watches on directories and files, the events changes made
 * by this program produce (names, cookies, IN_ISDIR, IN_IGNORED), the
 * watch flags, and reading, polling and epoll on the descriptor. Checked
 * on the root file system (/tmp) and on a tmpfs (/dev/shm). */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static char dir[64];
static const char *tag;

static const char *at(const char *name) {
    static char buf[8][128];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static const char *T(const char *name) {
    static char buf[8][96];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s-%s", name, tag);
    return buf[slot];
}

/* The events queued now, as "wd:MASK:name" items joined by spaces
 * (masks by name), read without blocking. */
static const char *events(int fd, uint32_t *cookies, int max_cookies) {
    static char out[2048];
    char buf[4096] __attribute__((aligned(8)));
    out[0] = 0;
    int nc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (void *)p;
            static const struct { uint32_t bit; const char *name; } names[] = {
                { IN_ACCESS, "ACCESS" }, { IN_MODIFY, "MODIFY" }, { IN_ATTRIB, "ATTRIB" },
                { IN_CLOSE_WRITE, "CLOSE_WRITE" }, { IN_CLOSE_NOWRITE, "CLOSE_NOWRITE" },
                { IN_OPEN, "OPEN" }, { IN_MOVED_FROM, "MOVED_FROM" }, { IN_MOVED_TO, "MOVED_TO" },
                { IN_CREATE, "CREATE" }, { IN_DELETE, "DELETE" }, { IN_DELETE_SELF, "DELETE_SELF" },
                { IN_MOVE_SELF, "MOVE_SELF" }, { IN_IGNORED, "IGNORED" }, { IN_ISDIR, "ISDIR" },
                { IN_Q_OVERFLOW, "OVERFLOW" },
            };
            char m[128] = "";
            for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
                if (e->mask & names[i].bit) {
                    if (m[0]) strcat(m, "|");
                    strcat(m, names[i].name);
                }
            char item[256];
            snprintf(item, sizeof item, "%s%d:%s:%s", out[0] ? " " : "", e->wd, m, e->len ? e->name : "");
            if (strlen(out) + strlen(item) < sizeof out) strcat(out, item);
            if (e->cookie && nc < max_cookies) cookies[nc++] = e->cookie;
            p += sizeof *e + e->len;
        }
    }
    return out;
}

#define EVENTS(name, fd, want) do { \
    const char *_got = events(fd, NULL, 0); \
    CHECK(T(name), !strcmp(_got, want), "events [%s], wanted [%s]", _got, want); \
    } while (0)

static void errors(void) {
    ERR(T("init1-bad-flags-einval"), inotify_init1(0x1234), EINVAL);
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    CHECK(T("init1"), in >= 0, "inotify_init1: %s", ename(errno));
    EQ(T("init1-cloexec"), fcntl(in, F_GETFD), FD_CLOEXEC);
    EQ(T("init1-nonblock"), fcntl(in, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ERR(T("add-watch-ebadf"), inotify_add_watch(999, dir, IN_CREATE), EBADF);
    int plain = open(dir, O_RDONLY);
    ERR(T("add-watch-not-inotify-einval"), inotify_add_watch(plain, dir, IN_CREATE), EINVAL);
    close(plain);
    ERR(T("add-watch-no-events-einval"), inotify_add_watch(in, dir, 0), EINVAL);
    ERR(T("add-watch-enoent"), inotify_add_watch(in, at("missing"), IN_CREATE), ENOENT);
    int f = open(at("plain"), O_WRONLY | O_CREAT, 0644);
    close(f);
    ERR(T("add-watch-onlydir-enotdir"), inotify_add_watch(in, at("plain"), IN_CREATE | IN_ONLYDIR), ENOTDIR);
    ERR(T("add-watch-add-and-create-einval"), inotify_add_watch(in, dir, IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE), EINVAL);
    int wd = inotify_add_watch(in, dir, IN_CREATE);
    CHECK(T("add-watch"), wd > 0, "wd %d: %s", wd, ename(errno));
    EQ(T("add-watch-same-wd"), inotify_add_watch(in, dir, IN_DELETE), wd);
    ERR(T("add-watch-mask-create-eexist"), inotify_add_watch(in, dir, IN_DELETE | IN_MASK_CREATE), EEXIST);
    char b[64];
    ERR(T("read-empty-eagain"), read(in, b, sizeof b), EAGAIN);
    ERR(T("rm-watch-bad-einval"), inotify_rm_watch(in, wd + 100), EINVAL);
    OK(T("rm-watch"), inotify_rm_watch(in, wd));
    char want[32];
    snprintf(want, sizeof want, "%d:IGNORED:", wd);
    EVENTS("rm-watch-ignored", in, want);
    unlink(at("plain"));
    close(in);
}

static void directory_events(void) {
    int in = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(in, dir, IN_ALL_EVENTS);
    char want[512];
    int fd = open(at("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, "x", 1);
    close(fd);
    snprintf(want, sizeof want, "%d:CREATE:f %d:OPEN:f %d:MODIFY:f %d:CLOSE_WRITE:f", wd, wd, wd, wd);
    EVENTS("create-open-modify-close", in, want);
    fd = open(at("f"), O_RDONLY);
    char c;
    read(fd, &c, 1);
    close(fd);
    snprintf(want, sizeof want, "%d:OPEN:f %d:ACCESS:f %d:CLOSE_NOWRITE:f", wd, wd, wd);
    EVENTS("open-read-close", in, want);
    chmod(at("f"), 0600);
    snprintf(want, sizeof want, "%d:ATTRIB:f", wd);
    EVENTS("chmod-attrib", in, want);
    truncate(at("f"), 0);
    snprintf(want, sizeof want, "%d:MODIFY:f", wd);
    EVENTS("truncate-modify", in, want);
    rename(at("f"), at("g"));
    uint32_t cookies[2] = { 0, 0 };
    const char *got = events(in, cookies, 2);
    snprintf(want, sizeof want, "%d:MOVED_FROM:f %d:MOVED_TO:g", wd, wd);
    CHECK(T("rename-moved-from-to"), !strcmp(got, want), "events [%s], wanted [%s]", got, want);
    CHECK(T("rename-cookie"), cookies[0] != 0 && cookies[0] == cookies[1], "cookies %u %u", cookies[0], cookies[1]);
    unlink(at("g"));
    snprintf(want, sizeof want, "%d:DELETE:g", wd);
    EVENTS("unlink-delete", in, want);
    mkdir(at("d"), 0755);
    rmdir(at("d"));
    snprintf(want, sizeof want, "%d:CREATE|ISDIR:d %d:DELETE|ISDIR:d", wd, wd);
    EVENTS("mkdir-rmdir-isdir", in, want);
    symlink("x", at("s"));
    link(at("s"), at("s2"));
    snprintf(want, sizeof want, "%d:CREATE:s %d:CREATE:s2", wd, wd);
    EVENTS("symlink-link-create", in, want);
    unlink(at("s"));
    unlink(at("s2"));
    events(in, NULL, 0);

    /* Two unread identical events are merged. */
    fd = open(at("m"), O_WRONLY | O_CREAT, 0644);
    events(in, NULL, 0);
    write(fd, "1", 1);
    write(fd, "2", 1);
    snprintf(want, sizeof want, "%d:MODIFY:m", wd);
    EVENTS("identical-events-merged", in, want);
    close(fd);
    unlink(at("m"));
    events(in, NULL, 0);

    /* A move between two watched directories. */
    mkdir(at("sub"), 0755);
    int wd2 = inotify_add_watch(in, at("sub"), IN_MOVED_TO | IN_MOVED_FROM);
    events(in, NULL, 0);
    fd = open(at("h"), O_WRONLY | O_CREAT, 0644);
    close(fd);
    events(in, NULL, 0);
    rename(at("h"), at("sub/h2"));
    got = events(in, cookies, 2);
    snprintf(want, sizeof want, "%d:MOVED_FROM:h %d:MOVED_TO:h2", wd, wd2);
    CHECK(T("move-across-dirs"), !strcmp(got, want) && cookies[0] == cookies[1], "events [%s] cookies %u %u, wanted [%s]", got, cookies[0], cookies[1], want);
    unlink(at("sub/h2"));
    close(in);
    rmdir(at("sub"));
}

static void file_watches(void) {
    int in = inotify_init1(IN_NONBLOCK);
    int fd = open(at("w"), O_WRONLY | O_CREAT, 0644);
    int wd = inotify_add_watch(in, at("w"), IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    write(fd, "x", 1);
    close(fd);
    char want[256];
    snprintf(want, sizeof want, "%d:MODIFY:", wd);
    EVENTS("file-modify-no-name", in, want);
    rename(at("w"), at("w2"));
    snprintf(want, sizeof want, "%d:MOVE_SELF:", wd);
    EVENTS("file-move-self", in, want);
    unlink(at("w2"));
    snprintf(want, sizeof want, "%d:ATTRIB: %d:DELETE_SELF: %d:IGNORED:", wd, wd, wd);
    EVENTS("file-unlink-delete-self-ignored", in, want);

    /* A file unlinked while open goes at its last close: IN_ATTRIB at the
     * unlink (the link count), IN_DELETE_SELF and IN_IGNORED after the
     * last description's close event. */
    fd = open(at("u"), O_WRONLY | O_CREAT, 0644);
    int fd2 = dup(fd);
    int fd3 = open(at("u"), O_RDONLY);
    wd = inotify_add_watch(in, at("u"), IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_DELETE_SELF);
    unlink(at("u"));
    snprintf(want, sizeof want, "%d:ATTRIB:", wd);
    EVENTS("unlink-open-attrib-only", in, want);
    close(fd);
    EVENTS("unlink-open-close-dup-silent", in, "");
    close(fd2);
    snprintf(want, sizeof want, "%d:CLOSE_WRITE:", wd);
    EVENTS("unlink-open-other-description-keeps-it", in, want);
    close(fd3);
    snprintf(want, sizeof want, "%d:CLOSE_NOWRITE: %d:DELETE_SELF: %d:IGNORED:", wd, wd, wd);
    EVENTS("unlink-open-last-close-delete-self", in, want);

    /* IN_ONESHOT: one event, then the watch is gone. */
    fd = open(at("o"), O_WRONLY | O_CREAT, 0644);
    wd = inotify_add_watch(in, at("o"), IN_MODIFY | IN_ONESHOT);
    write(fd, "1", 1);
    snprintf(want, sizeof want, "%d:MODIFY: %d:IGNORED:", wd, wd);
    EVENTS("oneshot", in, want);
    write(fd, "2", 1);
    EVENTS("oneshot-then-silent", in, "");
    close(fd);

    /* IN_MASK_ADD keeps the old events. */
    wd = inotify_add_watch(in, at("o"), IN_MODIFY);
    EQ(T("mask-add-same-wd"), inotify_add_watch(in, at("o"), IN_ATTRIB | IN_MASK_ADD), wd);
    fd = open(at("o"), O_WRONLY);
    write(fd, "3", 1);
    fchmod(fd, 0600);
    close(fd);
    snprintf(want, sizeof want, "%d:MODIFY: %d:ATTRIB:", wd, wd);
    EVENTS("mask-add", in, want);
    /* Without it the mask is replaced. */
    inotify_add_watch(in, at("o"), IN_ATTRIB);
    fd = open(at("o"), O_WRONLY);
    write(fd, "4", 1);
    close(fd);
    EVENTS("mask-replaced", in, "");
    unlink(at("o"));
    close(in);
}

static void reading(void) {
    int in = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(in, dir, IN_CREATE);
    struct pollfd p = { in, POLLIN, 0 };
    EQ(T("poll-empty"), poll(&p, 1, 0), 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = 7 };
    epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
    int fd = open(at("r1"), O_WRONLY | O_CREAT, 0644);
    close(fd);
    EQ(T("poll-ready"), poll(&p, 1, 0), 1);
    EQ(T("poll-pollin"), p.revents, POLLIN);
    struct epoll_event out;
    EQ(T("epoll-et-ready"), epoll_wait(ep, &out, 1, 0), 1);
    EQ(T("epoll-et-once"), epoll_wait(ep, &out, 1, 0), 0);
    fd = open(at("r2"), O_WRONLY | O_CREAT, 0644);
    close(fd);
    EQ(T("epoll-et-again"), epoll_wait(ep, &out, 1, 0), 1);
    int avail = -1;
    ioctl(in, FIONREAD, &avail);
    /* Two events, each a header and the name padded to 16 bytes. */
    EQ(T("fionread"), avail, 2 * (int)(sizeof(struct inotify_event) + 16));
    char small[sizeof(struct inotify_event) + 4];
    ERR(T("read-short-buffer-einval"), read(in, small, sizeof small), EINVAL);
    char buf[4096];
    EQ(T("read-all"), read(in, buf, sizeof buf), avail);
    close(ep);

    /* A blocking read waits for the event. */
    int bl = inotify_init1(0);
    inotify_add_watch(bl, dir, IN_CREATE);
    pid_t c = fork();
    if (c == 0) {
        sleep_ms(100);
        close(open(at("late"), O_WRONLY | O_CREAT, 0644));
        _exit(0);
    }
    ssize_t n = read(bl, buf, sizeof buf);
    struct inotify_event *e = (void *)buf;
    CHECK(T("blocking-read-woken"), n > 0 && (e->mask & IN_CREATE) && !strcmp(e->name, "late"), "read %zd mask %x", n, n > 0 ? e->mask : 0);
    int st;
    waitpid(c, &st, 0);
    close(bl);
    (void)wd;
    unlink(at("r1"));
    unlink(at("r2"));
    unlink(at("late"));
    close(in);
}

/* Issue 16: a recursive watcher's epoll loop: the descriptor is in an
 * epoll set before it has any watch; a watch added then, and one added for
 * a subdirectory the loop learned of, report their events through the
 * same epoll_wait, also while another process makes the change. */
static void epoll_loop(void) {
    int in = inotify_init1(IN_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = in };
    epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
    struct epoll_event out;
    EQ(T("epoll-loop-no-watch-quiet"), epoll_wait(ep, &out, 1, 0), 0);
    OK(T("epoll-loop-add-watch"), inotify_add_watch(in, dir, IN_CREATE));
    pid_t c = fork();
    if (c == 0) {
        sleep_ms(100);
        mkdir(at("sub"), 0755);
        _exit(0);
    }
    interrupt_after(5);
    EQ(T("epoll-loop-first-event"), epoll_wait(ep, &out, 1, 3000), 1);
    waitpid(c, NULL, 0);
    char buf[4096];
    ssize_t n = read(in, buf, sizeof buf);
    struct inotify_event *e = (void *)buf;
    CHECK(T("epoll-loop-subdir-created"), n > 0 && (e->mask & IN_CREATE) && (e->mask & IN_ISDIR) && !strcmp(e->name, "sub"),
          "read %zd mask %x", n, n > 0 ? e->mask : 0);
    int wd = OK(T("epoll-loop-watch-subdir"), inotify_add_watch(in, at("sub"), IN_CREATE | IN_DELETE));
    EQ(T("epoll-loop-drained-quiet"), epoll_wait(ep, &out, 1, 0), 0);
    c = fork();
    if (c == 0) {
        sleep_ms(100);
        close(open(at("sub/f"), O_WRONLY | O_CREAT, 0644));
        _exit(0);
    }
    EQ(T("epoll-loop-subdir-event"), epoll_wait(ep, &out, 1, 3000), 1);
    waitpid(c, NULL, 0);
    n = read(in, buf, sizeof buf);
    CHECK(T("epoll-loop-subdir-event-wd"), n > 0 && e->wd == wd && (e->mask & IN_CREATE) && !strcmp(e->name, "f"),
          "read %zd wd %d (want %d) mask %x", n, n > 0 ? e->wd : -1, wd, n > 0 ? e->mask : 0);
    /* A watch added by another thread of the loop's process while the
     * loop waits (here: by a child sharing nothing but the descriptor). */
    c = fork();
    if (c == 0) {
        sleep_ms(100);
        inotify_add_watch(in, at("sub"), IN_CREATE | IN_DELETE | IN_ATTRIB);
        chmod(at("sub/f"), 0600);
        _exit(0);
    }
    EQ(T("epoll-loop-watch-changed-while-waiting"), epoll_wait(ep, &out, 1, 3000), 1);
    waitpid(c, NULL, 0);
    alarm(0);
    unlink(at("sub/f"));
    rmdir(at("sub"));
    close(ep);
    close(in);
}

static void on(const char *base, const char *t) {
    tag = t;
    snprintf(dir, sizeof dir, "%s/inotify-XXXXXX", base);
    if (!mkdtemp(dir)) {
        say("FAIL mkdtemp-%s: %s", t, ename(errno));
        return;
    }
    errors();
    directory_events();
    file_watches();
    reading();
    epoll_loop();
}

static void checks(void) {
    on("/tmp", "rootfs");
    on("/dev/shm", "tmpfs");
}
