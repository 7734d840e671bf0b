/* Memory: mmap of anonymous and file memory, private and shared, fixed
 * placement, protection, remapping, advice, residency, locking, brk, and
 * /proc/self/maps, checked against mmap(2), munmap(2), mprotect(2),
 * mremap(2), madvise(2), msync(2), mincore(2), mlock(2) and brk(2). */
#include "check.h"
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096L

static sigjmp_buf jb;
static volatile int faulted;
static void *fault_addr;
static int fault_code;
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    faulted = sig;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jb, 1);
}

/* Does writing one byte at p fault? */
static int write_faults(volatile char *p) {
    faulted = 0;
    if (!sigsetjmp(jb, 1)) *p = 1;
    return faulted;
}
static int read_faults(volatile char *p) {
    faulted = 0;
    volatile char c;
    if (!sigsetjmp(jb, 1)) c = *p;
    (void)c;
    return faulted;
}

static void anon_checks(void) {
    char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap-anon", p != MAP_FAILED, "mmap: %s", ename(errno));
    CHECK("mmap-page-aligned", ((long)p & (PG - 1)) == 0, "%p", (void *)p);
    CHECK("mmap-anon-zeroed", p[0] == 0 && p[4 * PG - 1] == 0, "not zero");
    memset(p, 0xab, 4 * PG);
    OK("munmap-middle", munmap(p + PG, PG));
    CHECK("munmap-hole-faults", write_faults(p + PG) == SIGSEGV && fault_addr == p + PG, "fault %d at %p", faulted, fault_addr);
    CHECK("munmap-keeps-rest", (unsigned char)p[0] == 0xab && (unsigned char)p[2 * PG] == 0xab, "neighbours changed");
    OK("munmap-unmapped-ok", munmap(p + PG, PG));
    ERR("munmap-unaligned-einval", munmap(p + 1, PG), EINVAL);
    ERR("munmap-zero-einval", munmap(p, 0), EINVAL);
    ERR("mmap-zero-length-einval", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL);
    ERR("mmap-no-type-einval", (long)mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
    ERR("mmap-bad-fd-ebadf", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0), EBADF);
    ERR("mmap-unaligned-offset-einval", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 100), EINVAL);

    char *f = mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    EQ("map-fixed-address", (long)f, (long)(p + PG));
    char *g = mmap(p, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK("map-fixed-replaces", g == p && p[0] == 0, "map %p byte %d", (void *)g, p[0]);
    ERR("map-fixed-noreplace-eexist", (long)mmap(p, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), EEXIST);
    ERR("map-fixed-unaligned-einval", (long)mmap(p + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EINVAL);
    munmap(p, 4 * PG);
    char *n = mmap(p, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    EQ("map-fixed-noreplace-free", (long)n, (long)p);
    /* A hint that is free is honoured. */
    munmap(n, PG);
    char *h = mmap(p, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EQ("mmap-hint-honoured", (long)h, (long)p);
    munmap(h, PG);

    char *pop = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    unsigned char vec[16];
    OK("mincore", mincore(pop, 16 * PG, vec));
    int resident = 0;
    for (int i = 0; i < 16; i++) resident += vec[i] & 1;
    EQ("map-populate-resident", resident, 16);
    ERR("mincore-unaligned-einval", mincore(pop + 1, PG, vec), EINVAL);
    ERR("mincore-unmapped-enomem", mincore((void *)PG, PG, vec), ENOMEM);
    munmap(pop, 16 * PG);

    char *big = mmap(NULL, 1L << 36, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK("mmap-huge-noreserve", big != MAP_FAILED, "64 GiB PROT_NONE: %s", ename(errno));
    if (big != MAP_FAILED) {
        /* A reservation: inaccessible until mprotect opens part of it
         * (how glibc grows a malloc arena, and Go and the JVM reserve heap). */
        char *mid = big + (1L << 35);
        CHECK("huge-reserve-touch-accerr", read_faults(mid) == SIGSEGV && fault_addr == mid && fault_code == SEGV_ACCERR,
              "fault %d at %p code %d", faulted, fault_addr, fault_code);
        OK("huge-reserve-mprotect", mprotect(mid, 256 * PG, PROT_READ | PROT_WRITE));
        CHECK("huge-reserve-opened-zeroed", read_faults(mid) == 0 && mid[0] == 0 && mid[256 * PG - 1] == 0, "fault %d", faulted);
        memset(mid, 0x5a, 256 * PG);
        CHECK("huge-reserve-neighbours-closed", write_faults(mid + 256 * PG) == SIGSEGV && write_faults(mid - 1) == SIGSEGV,
              "a page next to the opened range is accessible");
        pid_t pid = fork();
        if (pid == 0) _exit(mid[100] == 0x5a && write_faults(mid + 256 * PG) == SIGSEGV ? (mid[0] = 1, 0) : 1);
        int st = -1;
        waitpid(pid, &st, 0);
        CHECK("huge-reserve-fork", WIFEXITED(st) && WEXITSTATUS(st) == 0 && mid[0] == 0x5a, "status %#x byte %#x", st, mid[0]);
        OK("huge-reserve-close-again", mprotect(mid, 256 * PG, PROT_NONE));
        OK("huge-reserve-reopen", mprotect(mid, 256 * PG, PROT_READ));
        CHECK("huge-reserve-keeps-data", (unsigned char)mid[256 * PG - 1] == 0x5a, "byte %#x", (unsigned char)mid[256 * PG - 1]);
        OK("huge-reserve-dontneed", madvise(big, 1L << 36, MADV_DONTNEED));
        CHECK("huge-reserve-dontneed-zeroes", mid[0] == 0 && mid[256 * PG - 1] == 0, "byte %#x", (unsigned char)mid[0]);
        munmap(big, 1L << 36);
    }
    ERR("mmap-too-big-enomem", (long)mmap(NULL, 1L << 48, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM);
}

static void protect_checks(void) {
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 5;
    OK("mprotect-none", mprotect(p, PG, PROT_NONE));
    CHECK("prot-none-read-segv", read_faults(p) == SIGSEGV && fault_addr == p, "fault %d at %p", faulted, fault_addr);
    OK("mprotect-read", mprotect(p, PG, PROT_READ));
    CHECK("prot-read-readable", read_faults(p) == 0 && p[0] == 5, "fault %d", faulted);
    CHECK("prot-read-write-segv", write_faults(p) == SIGSEGV, "fault %d", faulted);
    CHECK("mprotect-only-range", write_faults(p + PG) == 0, "the next page faulted");
    ERR("mprotect-unaligned-einval", mprotect(p + 1, PG, PROT_READ), EINVAL);
    ERR("mprotect-unmapped-enomem", mprotect((void *)PG, PG, PROT_READ), ENOMEM);
    ERR("mprotect-bad-prot-einval", mprotect(p, PG, 0x100), EINVAL);
    munmap(p, 2 * PG);
}

/* mremap with all five arguments: glibc 2.36's wrapper passes new_address
 * only with MREMAP_FIXED, and Linux 6.17+ reads it as a hint with
 * MREMAP_DONTUNMAP. */
static void *remap5(void *old, size_t old_len, size_t new_len, int flags, void *to) {
    return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, to);
}

static void remap_advise(void) {
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 7, 2 * PG);
    /* Reserve room after p so the grow can happen in place or move. */
    char *q = mremap(p, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
    CHECK("mremap-grow", q != MAP_FAILED, "mremap: %s", ename(errno));
    if (q != MAP_FAILED) {
        CHECK("mremap-grow-keeps-data", q[0] == 7 && q[2 * PG - 1] == 7 && q[2 * PG] == 0, "bytes %d %d %d", q[0], q[2 * PG - 1], q[2 * PG]);
        p = q;
    } else {
        say("FAIL mremap-grow-keeps-data: no mapping");
        check_failures++;
    }
    char *dst = mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *m = mremap(p, q != MAP_FAILED ? 8 * PG : 2 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    CHECK("mremap-fixed-move", m == dst && m[0] == 7, "mremap: %p %s", (void *)m, m == MAP_FAILED ? ename(errno) : "");
    if (m == dst) p = m;
    char *s = mremap(p, 8 * PG, PG, 0);
    CHECK("mremap-shrink", s == p, "mremap shrink: %s", ename(errno));
    munmap(p, 8 * PG);
    /* Growing in place into an occupied range, without MREMAP_MAYMOVE. */
    p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ERR("mremap-grow-in-place-enomem", (long)mremap(p, PG, 2 * PG, 0), ENOMEM);
    ERR("mremap-unaligned-einval", (long)mremap(p + 1, PG, 2 * PG, MREMAP_MAYMOVE), EINVAL);
    munmap(p, 2 * PG);

    /* MREMAP_DONTUNMAP: the pages move; the old range stays mapped, with
     * fresh zeroed pages for private memory and the same pages for shared. */
    p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 4, 2 * PG);
    char *du = remap5(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    CHECK("mremap-dontunmap-moves", du != MAP_FAILED && du != p && du[0] == 4 && du[2 * PG - 1] == 4,
          "mremap: %p %s", (void *)du, du == MAP_FAILED ? ename(errno) : "");
    CHECK("mremap-dontunmap-old-zeroed", read_faults(p) == 0 && p[0] == 0 && p[2 * PG - 1] == 0, "fault %d byte %d", faulted, p[0]);
    CHECK("mremap-dontunmap-old-writable", write_faults(p) == 0 && du[0] == 4, "fault %d byte %d", faulted, du[0]);
    if (du != MAP_FAILED) {
        ERR("mremap-dontunmap-resize-einval", (long)remap5(du, 2 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL), EINVAL);
        ERR("mremap-dontunmap-needs-maymove-einval", (long)remap5(du, 2 * PG, 2 * PG, MREMAP_DONTUNMAP, NULL), EINVAL);
        char *fx = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *m2 = remap5(du, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, fx);
        CHECK("mremap-dontunmap-fixed", m2 == fx && fx[PG] == 4 && du[PG] == 0, "mremap: %p %s", (void *)m2,
              m2 == MAP_FAILED ? ename(errno) : "");
        munmap(fx, 2 * PG);
        munmap(du, 2 * PG);
    }
    munmap(p, 2 * PG);
    char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh[0] = 6;
    char *sd = remap5(sh, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    CHECK("mremap-dontunmap-shared", sd != MAP_FAILED && sd[0] == 6 && sh[0] == 6, "mremap: %s", sd == MAP_FAILED ? ename(errno) : "");
    if (sd != MAP_FAILED) {
        sd[0] = 8;
        EQ("mremap-dontunmap-shared-same-pages", sh[0], 8);
        munmap(sd, PG);
    }
    munmap(sh, PG);

    p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 9, 4 * PG);
    OK("madvise-dontneed", madvise(p, 2 * PG, MADV_DONTNEED));
    CHECK("madvise-dontneed-zeroes", p[0] == 0 && p[2 * PG - 1] == 0 && p[2 * PG] == 9, "bytes %d %d %d", p[0], p[2 * PG - 1], p[2 * PG]);
    OK("madvise-willneed", madvise(p, PG, MADV_WILLNEED));
    ERR("madvise-bad-advice-einval", madvise(p, PG, 12345), EINVAL);
    ERR("madvise-unaligned-einval", madvise(p + 1, PG, MADV_DONTNEED), EINVAL);
    OK("msync-anon", msync(p, PG, MS_SYNC));
    ERR("msync-both-flags-einval", msync(p, PG, MS_SYNC | MS_ASYNC), EINVAL);
    OK("mlock", mlock(p, PG));
    OK("munlock", munlock(p, PG));
    munmap(p, 4 * PG);
}

static void file_checks(void) {
    int fd = open("/tmp/mem-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[PG];
    memset(page, 'a', PG);
    write(fd, page, PG);
    write(fd, page, PG);
    char *priv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK("mmap-file-private", priv != MAP_FAILED && priv[0] == 'a' && priv[PG] == 'a', "mmap: %s", ename(errno));
    if (priv == MAP_FAILED) priv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    priv[0] = 'p';
    char c = 0;
    pread(fd, &c, 1, 0);
    EQ("private-write-not-in-file", c, 'a');
    char *off = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, PG);
    CHECK("mmap-file-offset", off != MAP_FAILED && off[0] == 'a', "mmap at offset: %s", ename(errno));
    ERR("mmap-write-on-rdonly-fd-eacces", (long)(close(fd), fd = open("/tmp/mem-file", O_RDONLY), mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)), EACCES);
    close(fd);

    fd = open("/tmp/mem-file", O_RDWR);
    char *sh = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK("mmap-file-shared-writable", sh != MAP_FAILED, "mmap MAP_SHARED: %s", ename(errno));
    if (sh == MAP_FAILED) sh = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sh[1] = 'S';
    c = 0;
    pread(fd, &c, 1, 1);
    EQ("shared-mapping-write-visible-to-read", c, 'S');
    pwrite(fd, "W", 1, 2);
    EQ("write-visible-in-shared-mapping", sh[2], 'W');
    OK("msync-file", msync(sh, PG, MS_SYNC));
    close(fd);
    sh[3] = 'C';
    fd = open("/tmp/mem-file", O_RDONLY);
    c = 0;
    pread(fd, &c, 1, 3);
    EQ("shared-mapping-outlives-fd", c, 'C');
    /* A read-only shared mapping sees later writes to the file. */
    char *ro = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK("mmap-file-shared-readonly", ro != MAP_FAILED, "mmap: %s", ename(errno));
    int wfd = open("/tmp/mem-file", O_WRONLY);
    pwrite(wfd, "Z", 1, 100);
    EQ("shared-readonly-sees-write", ro != MAP_FAILED ? ro[100] : -1, 'Z');
    close(wfd);
    close(fd);
    unlink("/tmp/mem-file");
}

/* Shared file mappings: the file's own pages, across processes, growth
 * and shrinking of the file, mremap, and a tmpfs file (/dev/shm). */
static void shared_file_checks(const char *path, const char *tag) {
    char name[96];
#define N(s) (snprintf(name, sizeof name, "%s-%s", s, tag), name)
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(N("shared-open"), fd >= 0, "open %s: %s", path, ename(errno));
    ftruncate(fd, PG);
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(N("shared-map"), m != MAP_FAILED, "mmap: %s", ename(errno));
    if (m == MAP_FAILED) { close(fd); return; }
    /* Past the end of the file: SIGBUS with BUS_ADRERR at the address. */
    EQ(N("shared-past-eof-sigbus"), read_faults(m + PG + 8), SIGBUS);
    EQ(N("shared-past-eof-addr"), (long)fault_addr, (long)(m + PG + 8));
    /* The file grows: the same mapping now reaches the new page. */
    ftruncate(fd, 2 * PG);
    EQ(N("shared-grown-file-readable"), read_faults(m + PG + 8), 0);
    pwrite(fd, "G", 1, PG + 9);
    EQ(N("shared-grown-file-sees-write"), m[PG + 9], 'G');
    /* Another process writes through its own mapping; we see it. */
    pid_t pid = fork();
    if (pid == 0) {
        int cfd = open(path, O_RDWR);
        char *cm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        if (cm == MAP_FAILED) _exit(2);
        cm[10] = 'K';
        m[11] = 'F'; /* the inherited mapping is shared too */
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    EQ(N("shared-child-exit"), WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    EQ(N("shared-child-write-seen"), m[10], 'K');
    EQ(N("shared-inherited-write-seen"), m[11], 'F');
    /* Shrinking the file zeroes what was cut off. */
    m[PG + 100] = 'x';
    ftruncate(fd, PG);
    ftruncate(fd, 2 * PG);
    char c = 1;
    pread(fd, &c, 1, PG + 100);
    EQ(N("shared-shrink-zeroes"), c, 0);
    /* mremap moves the mapping, keeping its pages. */
    m[20] = 'R';
    char *dst = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *r = mremap(m, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    CHECK(N("shared-mremap"), r != MAP_FAILED, "mremap: %s", ename(errno));
    if (r != MAP_FAILED) {
        m = r;
        c = 0;
        pread(fd, &c, 1, 20);
        EQ(N("shared-mremap-keeps-pages"), m[20] == 'R' && c == 'R', 1);
        m[21] = 'M';
        pread(fd, &c, 1, 21);
        EQ(N("shared-mremap-still-shared"), c, 'M');
    }
    /* A private mapping of the same file is a copy. */
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    EQ(N("private-sees-shared-data"), p != MAP_FAILED ? p[10] : -1, 'K');
    if (p != MAP_FAILED) {
        p[10] = 'p';
        EQ(N("private-write-not-shared"), m[10], 'K');
        munmap(p, PG);
    }
    munmap(m, 4 * PG);
    close(fd);
    /* After the last mapping is gone, the file holds what was written. */
    fd = open(path, O_RDONLY);
    char buf[12] = {0};
    pread(fd, buf, 12, 10);
    EQ(N("shared-data-in-file-after-unmap"), buf[0] == 'K' && buf[1] == 'F' && buf[11] == 'M', 1);
    close(fd);
    unlink(path);
#undef N
}

static void shared_host_file(void) { shared_file_checks("/tmp/mem-shared", "rootfs"); }
static void shared_tmpfs_file(void) { shared_file_checks("/dev/shm/mem-shared", "tmpfs"); }

static void fork_checks(void) {
    char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *pv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sh[0] = 1;
    pv[0] = 1;
    pid_t pid = fork();
    if (pid == 0) {
        int saw = sh[0] == 1 && pv[0] == 1;
        sh[0] = 2;
        pv[0] = 2;
        _exit(saw ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    EQ("fork-child-sees-memory", WEXITSTATUS(st), 0);
    EQ("map-shared-anon-across-fork", sh[0], 2);
    EQ("map-private-copied-on-fork", pv[0], 1);
    munmap(sh, PG);
    munmap(pv, PG);
}

/* Read-only private memory after fork: one side making it writable and
 * writing, or discarding it, changes nothing for the other; read-only
 * shared memory stays shared. */
static void cow_checks(void) {
    char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(pv, 1, 2 * PG);
    sh[0] = 1;
    mprotect(pv, 2 * PG, PROT_READ);
    mprotect(sh, PG, PROT_READ);
    int up[2], down[2];
    if (pipe(up) || pipe(down)) {
        fail("cow-pipes", "pipe: %s", ename(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        int bad = 0;
        if (mprotect(pv, PG, PROT_READ | PROT_WRITE) == 0) pv[0] = 2;
        if (pv[0] != 2) bad |= 1;
        madvise(pv + PG, PG, MADV_DONTNEED);
        if (pv[PG] != 0) bad |= 2;
        write(up[1], "x", 1);
        read(down[0], &c, 1);
        if (pv[0] != 2 || pv[PG] != 0) bad |= 4;
        if (sh[0] != 3) bad |= 8;
        _exit(bad);
    }
    char c;
    read(up[0], &c, 1);
    CHECK("cow-child-writes-private", pv[0] == 1, "parent sees %d", pv[0]);
    CHECK("cow-child-dontneed-private", pv[PG] == 1, "parent sees %d", pv[PG]);
    OK("cow-parent-mprotect-write", mprotect(pv, 2 * PG, PROT_READ | PROT_WRITE));
    pv[0] = 5;
    pv[PG] = 5;
    mprotect(sh, PG, PROT_READ | PROT_WRITE);
    sh[0] = 3;
    write(down[1], "x", 1);
    int st = 0;
    int bits = wait_bounded(pid, &st, 5000) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    CHECK("cow-child-own-write-kept", bits >= 0 && !(bits & 1), "child status %d", bits);
    CHECK("cow-child-dontneed-zeroes", bits >= 0 && !(bits & 2), "child status %d", bits);
    CHECK("cow-parent-writes-private", bits >= 0 && !(bits & 4), "child status %d", bits);
    CHECK("map-shared-readonly-stays-shared", bits >= 0 && !(bits & 8), "child status %d", bits);
    CHECK("cow-parent-keeps-own-write", pv[0] == 5 && pv[PG] == 5, "parent sees %d %d", pv[0], pv[PG]);
    munmap(pv, 2 * PG);
    munmap(sh, PG);
}

/* A fork while another thread of the parent writes: the child's copy is
 * the parent's memory at one instant (two words written in order never
 * seen torn), and later writes of either side stay private. */
static volatile long racing[2];
static volatile int racing_stop;
static void *race_writer(void *arg) {
    (void)arg;
    for (long i = 1; !racing_stop; i++) {
        racing[0] = i;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        racing[1] = i;
    }
    return NULL;
}

static void fork_thread_checks(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, race_writer, NULL) != 0) {
        fail("fork-thread-start", "pthread_create failed");
        return;
    }
    while (racing[1] == 0) sched_yield();
    int torn = 0, leaked = 0, child_bad = 0;
    for (int round = 0; round < 20; round++) {
        int p[2];
        pipe(p);
        pid_t pid = fork();
        if (pid == 0) {
            long a = racing[0], b = racing[1];
            /* racing[1] is written after racing[0]: a copy from one instant
             * has b == a or b == a - 1. */
            int bad = (b != a && b != a - 1) ? 1 : 0;
            sleep_ms(5);
            if (racing[0] != a || racing[1] != b) bad |= 2;
            racing[0] = -1;
            write(p[1], "x", 1);
            _exit(bad);
        }
        char c;
        read(p[0], &c, 1);
        close(p[0]);
        close(p[1]);
        int st = 0;
        int bits = wait_bounded(pid, &st, 5000) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 4;
        torn |= bits & 1;
        leaked |= bits & 2;
        child_bad |= bits & 4;
    }
    racing_stop = 1;
    pthread_join(th, NULL);
    CHECK("fork-thread-copy-consistent", !torn && !child_bad, "torn %d child %d", torn, child_bad);
    CHECK("fork-thread-parent-writes-private", !leaked, "the child saw the parent's later writes");
    CHECK("fork-thread-child-writes-private", racing[0] != -1, "the parent saw the child's write");
}

static void brk_checks(void) {
    char *cur = (char *)syscall(SYS_brk, 0);
    CHECK("brk-query", cur != NULL && cur != (char *)-1, "brk(0) = %p", (void *)cur);
    char *grown = (char *)syscall(SYS_brk, cur + 64 * PG);
    EQ("brk-grow", (long)grown, (long)(cur + 64 * PG));
    CHECK("brk-memory-writable", write_faults(cur + 63 * PG) == 0, "fault %d", faulted);
    EQ("brk-memory-zeroed", cur[10 * PG], 1 - 1);
    char *shrunk = (char *)syscall(SYS_brk, cur);
    EQ("brk-shrink", (long)shrunk, (long)cur);
    char *bad = (char *)syscall(SYS_brk, 1L << 47);
    EQ("brk-impossible-unchanged", (long)bad, (long)cur);
    void *m = malloc(1 << 20);
    CHECK("malloc-large", m != NULL, "malloc");
    free(m);
}

static void maps_checks(void) {
    char *p = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx r--p", (long)p, (long)(p + 3 * PG));
    int fd = open("/proc/self/maps", O_RDONLY);
    static char buf[1 << 16];
    long n = 0, r;
    while (fd >= 0 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
    buf[n] = 0;
    close(fd);
    CHECK("proc-self-maps-mapping", strstr(buf, want) != NULL, "no line starting %s", want);
    CHECK("proc-self-maps-stack", strstr(buf, "[stack]") != NULL, "no [stack] line");
    mprotect(p + PG, PG, PROT_READ | PROT_WRITE);
    fd = open("/proc/self/maps", O_RDONLY);
    n = 0;
    while (fd >= 0 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
    buf[n] = 0;
    close(fd);
    snprintf(want, sizeof want, "%lx-%lx rw-p", (long)(p + PG), (long)(p + 2 * PG));
    CHECK("proc-self-maps-split-by-mprotect", strstr(buf, want) != NULL, "no line starting %s", want);
    munmap(p, 3 * PG);
}

/* VmLck of /proc/self/status, in kB (-1 if missing). */
static long vmlck_kb(void) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *v = strstr(buf, "VmLck:");
    return v ? atol(v + 6) : -1;
}

/* mlock family: accounting and RLIMIT_MEMLOCK for an unprivileged caller. */
static void mlock_checks(void) {
    char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long before = vmlck_kb();
    OK("mlock2", syscall(SYS_mlock2, p, 2 * PG, 0));
    EQ("mlock-vmlck-counts", vmlck_kb() - before, 2 * PG / 1024);
    OK("mlock2-onfault", syscall(SYS_mlock2, p + 2 * PG, PG, MLOCK_ONFAULT));
    ERR("mlock2-bad-flags-einval", syscall(SYS_mlock2, p, PG, 2), EINVAL);
    OK("mlock-unaligned-rounds", mlock(p + 4 * PG + 10, 10));
    EQ("mlock-unaligned-vmlck", vmlck_kb() - before, 4 * PG / 1024);
    OK("munlock-all-of-it", munlock(p, 8 * PG));
    EQ("munlock-vmlck-back", vmlck_kb(), before);
    munmap(p + 6 * PG, 2 * PG);
    ERR("mlock-unmapped-enomem", mlock(p + 5 * PG, 2 * PG), ENOMEM);
    ERR("munlock-unmapped-enomem", munlock(p + 6 * PG, PG), ENOMEM);
    ERR("mlockall-zero-einval", mlockall(0), EINVAL);
    ERR("mlockall-onfault-alone-einval", mlockall(MCL_ONFAULT), EINVAL);
    ERR("mlockall-bad-flag-einval", mlockall(8), EINVAL);
    OK("munlockall", munlockall());

    /* Without privilege (CAP_IPC_LOCK goes with uid 0), RLIMIT_MEMLOCK binds. */
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {4 * PG, 4 * PG};
        setrlimit(RLIMIT_MEMLOCK, &rl);
        if (setuid(65534) != 0) _exit(90);
        check_failures = 0;
        ERR("memlock-limit-enomem", mlock(p, 5 * PG), ENOMEM);
        OK("memlock-within-limit", mlock(p, 3 * PG));
        ERR("memlock-limit-counts-locked-enomem", mlock(p + 3 * PG, 2 * PG), ENOMEM);
        OK("memlock-relock-is-free", mlock(p, 4 * PG));
        OK("memlock-munlock", munlock(p, 4 * PG));
        ERR("memlock-mlockall-enomem", mlockall(MCL_CURRENT), ENOMEM);
        rl.rlim_cur = 0;
        setrlimit(RLIMIT_MEMLOCK, &rl);
        ERR("memlock-zero-limit-eperm", mlock(p, PG), EPERM);
        _exit(check_failures ? 1 : 0);
    }
    int st;
    EQ("memlock-child-status", wait_bounded(pid, &st, 3000) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    munmap(p, 6 * PG);
}

/* RLIMIT_DATA (enforced since Linux 4.7): private writable mappings and
 * the heap count, shared and read-only mappings do not. */
static void data_limit_checks(void) {
    const size_t big = 128 << 20;
    struct rlimit rl = { 64 << 20, 64 << 20 };
    OK("rlimit-data-set", setrlimit(RLIMIT_DATA, &rl));
    void *p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("rlimit-data-private-writable-enomem", p == MAP_FAILED && errno == ENOMEM, "mmap = %p (%s)", p, ename(errno));
    void *small = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("rlimit-data-small-private-ok", small != MAP_FAILED, "mmap: %s", ename(errno));
    void *ro = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("rlimit-data-read-only-not-counted", ro != MAP_FAILED, "mmap: %s", ename(errno));
    if (ro != MAP_FAILED)
        ERR("rlimit-data-mprotect-writable-enomem", mprotect(ro, big, PROT_READ | PROT_WRITE), ENOMEM);
    void *sh = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK("rlimit-data-shared-not-counted", sh != MAP_FAILED, "mmap: %s", ename(errno));
    void *before = sbrk(0);
    void *r = sbrk(big);
    CHECK("rlimit-data-brk-refused", r == (void *)-1 && errno == ENOMEM && sbrk(0) == before, "sbrk = %p (%s)", r, ename(errno));
    CHECK("rlimit-data-brk-small-ok", sbrk(1 << 20) != (void *)-1, "sbrk: %s", ename(errno));
}

/* The re-executed program of the RLIMIT_AS + RLIMIT_STACK check: it only
 * has to start (the loader maps, the libc allocates) and exit 0. */
__attribute__((constructor)) static void stack_limit_probe(void) {
    if (getenv("CONF_STACK_LIMIT_PROBE")) {
        void *p = malloc(1 << 20);
        _exit(p ? 0 : 3);
    }
}

/* A soft RLIMIT_AS of 1 GiB with a soft RLIMIT_STACK of 9 GiB: Linux's
 * stack mapping starts small and grows, so it does not take the address
 * space limit, and programs start. Each limit alone was fine before. */
static void stack_limit_checks(void) {
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit as, st;
        getrlimit(RLIMIT_AS, &as);
        getrlimit(RLIMIT_STACK, &st);
        as.rlim_cur = 1UL << 30;
        st.rlim_cur = 9UL << 30;
        if (st.rlim_max != RLIM_INFINITY && st.rlim_max < st.rlim_cur) st.rlim_max = st.rlim_cur;
        if (setrlimit(RLIMIT_AS, &as) != 0 || setrlimit(RLIMIT_STACK, &st) != 0) _exit(10);
        setenv("CONF_STACK_LIMIT_PROBE", "1", 1);
        execl("/proc/self/exe", "probe", (char *)NULL);
        _exit(11);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK("rlimit-as-1g-stack-9g-program-starts", WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "status %#x", status);
}

/* Issue 16: private file mappings past the end of the file, truncation
 * under a copy-on-write page, descriptors and files that cannot be mapped,
 * MAP_32BIT, and /proc/self/mem. */
static void private_eof_checks(const char *path, const char *tag) {
    char name[96];
#define N(s) (snprintf(name, sizeof name, "%s-%s", s, tag), name)
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char data[PG + 100];
    memset(data, 'd', sizeof data);
    write(fd, data, sizeof data); /* a page and 100 bytes */
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(N("private-map"), m != MAP_FAILED, "mmap: %s", ename(errno));
    if (m == MAP_FAILED) { close(fd); return; }
    /* The page holding the end of the file reads zeroes past it: no SIGBUS. */
    EQ(N("private-eof-page-readable"), read_faults(m + PG + 200), 0);
    EQ(N("private-eof-page-zero-past-end"), m[PG + 200], 0);
    EQ(N("private-eof-page-writable"), write_faults(m + PG + 300), 0);
    /* The page after it is past the end: SIGBUS (BUS_ADRERR), read or write. */
    EQ(N("private-past-eof-read-sigbus"), read_faults(m + 2 * PG + 8), SIGBUS);
    EQ(N("private-past-eof-sigbus-code"), fault_code, BUS_ADRERR);
    EQ(N("private-past-eof-write-sigbus"), write_faults(m + 3 * PG), SIGBUS);
    /* A page copied on write, then cut off by truncation: gone, SIGBUS. */
    m[10] = 'c';
    EQ(N("private-cow-kept"), m[10], 'c');
    ftruncate(fd, 0);
    EQ(N("private-cow-truncated-sigbus"), read_faults(m + 10), SIGBUS);
    ftruncate(fd, PG);
    EQ(N("private-regrown-reads-file"), read_faults(m + 10) == 0 ? m[10] : -1, 0);
    munmap(m, 4 * PG);
    close(fd);
    unlink(path);
#undef N
}

static void map_refusals(void) {
    int fd = open("/tmp/mem-wo", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, PG);
    ERR("mmap-write-only-fd-eacces", (long)mmap(NULL, PG, PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
    ERR("mmap-write-only-fd-private-eacces", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0), EACCES);
    close(fd);
    fd = open("/tmp/mem-wo", O_RDONLY);
    ERR("mmap-shared-write-rdonly-fd-eacces", (long)mmap(NULL, PG, PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
    void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK("mmap-private-write-rdonly-fd", p != MAP_FAILED, "mmap: %s", ename(errno));
    close(fd);
    fd = open("/tmp/mem-wo", O_PATH);
    ERR("mmap-o-path-ebadf", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0), EBADF);
    close(fd);
    unlink("/tmp/mem-wo");
    fd = open("/tmp", O_RDONLY | O_DIRECTORY);
    ERR("mmap-directory-enodev", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0), ENODEV);
    close(fd);
    fd = open("/dev/null", O_RDWR);
    ERR("mmap-dev-null-enodev", (long)mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0), ENODEV);
    close(fd);
    int pp[2];
    pipe(pp);
    ERR("mmap-pipe-enodev", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pp[0], 0), ENODEV);
    close(pp[0]);
    close(pp[1]);
    char *low = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    CHECK("map-32bit-below-2g", low != MAP_FAILED && (unsigned long)low + PG <= 0x80000000UL, "at %p", low);
    if (low != MAP_FAILED) munmap(low, PG);
}

static void proc_mem_checks(void) {
    static volatile char target[64] = "before";
    int fd = open("/proc/self/mem", O_RDWR);
    CHECK("proc-self-mem-open", fd >= 0, "open: %s", ename(errno));
    char buf[8] = {0};
    EQ("proc-self-mem-pread", pread(fd, buf, 6, (off_t)(unsigned long)target), 6);
    EQ("proc-self-mem-pread-data", memcmp(buf, "before", 6), 0);
    EQ("proc-self-mem-pwrite", pwrite(fd, "after!", 6, (off_t)(unsigned long)target), 6);
    EQ("proc-self-mem-pwrite-seen", memcmp((char *)target, "after!", 6), 0);
    /* Writes are forced, as a debugger's: into a read-only page too. */
    char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EQ("proc-self-mem-write-readonly-page", pwrite(fd, "F", 1, (off_t)(unsigned long)ro), 1);
    EQ("proc-self-mem-readonly-page-changed", ro[0], 'F');
    /* Unmapped memory: EIO. */
    char *gone = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, PG);
    ERR("proc-self-mem-unmapped-eio", pread(fd, buf, 1, (off_t)(unsigned long)gone), EIO);
    /* The file position is the address. */
    EQ("proc-self-mem-lseek", lseek(fd, (off_t)(unsigned long)target, SEEK_SET), (off_t)(unsigned long)target);
    EQ("proc-self-mem-read-at-position", read(fd, buf, 6), 6);
    EQ("proc-self-mem-read-data", memcmp(buf, "after!", 6), 0);
    close(fd);
}

static void private_eof_rootfs(void) { private_eof_checks("/tmp/mem-eof", "rootfs"); }
static void private_eof_tmpfs(void) { private_eof_checks("/dev/shm/mem-eof", "tmpfs"); }

static void checks(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    group("anon", anon_checks, 10000);
    group("protect", protect_checks, 10000);
    group("remap", remap_advise, 10000);
    group("file", file_checks, 10000);
    group("shared-rootfs", shared_host_file, 10000);
    group("shared-tmpfs", shared_tmpfs_file, 10000);
    group("fork", fork_checks, 10000);
    group("cow", cow_checks, 10000);
    group("fork-thread", fork_thread_checks, 20000);
    group("brk", brk_checks, 10000);
    group("maps", maps_checks, 10000);
    group("mlock", mlock_checks, 10000);
    group("rlimit-data", data_limit_checks, 10000);
    group("rlimit-stack", stack_limit_checks, 10000);
    group("private-eof-rootfs", private_eof_rootfs, 10000);
    group("private-eof-tmpfs", private_eof_tmpfs, 10000);
    group("map-refusals", map_refusals, 10000);
    group("proc-mem", proc_mem_checks, 10000);
}
