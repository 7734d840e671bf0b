/* The vDSO: AT_SYSINFO_EHDR points at an ELF shared object exporting the
 * LINUX_2.6 symbols glibc looks up (__vdso_clock_gettime, gettimeofday,
 * time, getcpu, clock_getres); called directly, they agree with the system
 * calls (each vDSO reading lies between two system-call readings of the
 * same clock), are monotonic, fall back to the system call for clocks they
 * cannot answer, and the mappings show in /proc/self/maps as on Linux. */
#include "check.h"
#include <elf.h>
#include <link.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*getres_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef int (*getcpu_fn)(unsigned *, unsigned *, void *);

static const unsigned char *vdso_base;
static const ElfW(Sym) *symtab;
static const char *strtab;
static const ElfW(Half) *versym;
static const ElfW(Verdef) *verdef;
static unsigned long nsyms;
static long bias;

/* Reads the vDSO's dynamic section as a loader does; 0 on success. */
static int parse_vdso(void) {
    vdso_base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (!vdso_base) return -1;
    const ElfW(Ehdr) *eh = (const void *)vdso_base;
    const ElfW(Phdr) *ph = (const void *)(vdso_base + eh->e_phoff);
    const ElfW(Dyn) *dyn = NULL;
    int have_load = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !have_load) {
            bias = (long)vdso_base + ph[i].p_offset - ph[i].p_vaddr;
            have_load = 1;
        }
        if (ph[i].p_type == PT_DYNAMIC) dyn = (const void *)(vdso_base + ph[i].p_offset);
    }
    if (!have_load || !dyn) return -2;
    const ElfW(Word) *hash = NULL, *gnu_hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        const void *p = (const void *)(dyn->d_un.d_ptr + bias);
        switch (dyn->d_tag) {
        case DT_SYMTAB: symtab = p; break;
        case DT_STRTAB: strtab = p; break;
        case DT_HASH: hash = p; break;
        case DT_GNU_HASH: gnu_hash = p; break;
        case DT_VERSYM: versym = p; break;
        case DT_VERDEF: verdef = p; break;
        }
    }
    if (!symtab || !strtab || (!hash && !gnu_hash)) return -3;
    if (hash) {
        nsyms = hash[1];
    } else {
        /* Count the symbols through the GNU hash chains. */
        ElfW(Word) nbuckets = gnu_hash[0], symoffset = gnu_hash[1], bloom = gnu_hash[2];
        const ElfW(Word) *buckets = gnu_hash + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
        const ElfW(Word) *chain = buckets + nbuckets;
        ElfW(Word) last = 0;
        for (ElfW(Word) b = 0; b < nbuckets; b++) if (buckets[b] > last) last = buckets[b];
        if (last >= symoffset)
            while (!(chain[last - symoffset] & 1)) last++;
        nsyms = last + 1;
    }
    return 0;
}

/* The version name of symbol i, or "" without version information. */
static const char *version_of(unsigned long i) {
    if (!versym || !verdef) return "";
    ElfW(Half) want = versym[i] & 0x7fff;
    for (const ElfW(Verdef) *d = verdef;; d = (const void *)((const char *)d + d->vd_next)) {
        if (d->vd_ndx == want && !(d->vd_flags & VER_FLG_BASE)) {
            const ElfW(Verdaux) *a = (const void *)((const char *)d + d->vd_aux);
            return strtab + a->vda_name;
        }
        if (!d->vd_next) return "";
    }
}

/* The address of the exported function `name` of version LINUX_2.6. */
static void *lookup(const char *name) {
    for (unsigned long i = 0; i < nsyms; i++) {
        const ElfW(Sym) *s = &symtab[i];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF) continue;
        if (strcmp(strtab + s->st_name, name) == 0 && strcmp(version_of(i), "LINUX_2.6") == 0)
            return (void *)(s->st_value + bias);
    }
    return NULL;
}

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long sys_ns(clockid_t c) {
    struct timespec t = { 0, 0 };
    syscall(SYS_clock_gettime, c, &t);
    return ns(t);
}

static gettime_fn vgettime;

/* Each vDSO reading lies between two system-call readings of the clock. */
static void sandwich(const char *name, clockid_t c, int rounds) {
    long long worst = 0;
    for (int i = 0; i < rounds; i++) {
        struct timespec t = { -1, -1 };
        long long before = sys_ns(c);
        int rc = vgettime(c, &t);
        long long after = sys_ns(c);
        long long v = ns(t);
        if (rc != 0 || v < before || v > after || t.tv_nsec < 0 || t.tv_nsec >= 1000000000) {
            fail(name, "round %d: rc %d, syscall %lld, vdso %lld, syscall %lld", i, rc, before, v,
                 after);
            return;
        }
        if (after - before > worst) worst = after - before;
    }
    pass(name);
}

static void maps_checks(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {
        fail("maps-vdso", "fopen: %s", ename(errno));
        fail("maps-vvar", "fopen");
        return;
    }
    char line[512];
    unsigned long vdso_start = 0, vvar_start = 0;
    char vdso_perms[8] = "", vvar_perms[8] = "";
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3) continue;
        if (strstr(line, "[vdso]")) { vdso_start = s; strcpy(vdso_perms, perms); }
        if (strstr(line, "[vvar]")) { vvar_start = s; strcpy(vvar_perms, perms); }
    }
    fclose(f);
    CHECK("maps-vdso", vdso_start == (unsigned long)vdso_base && strcmp(vdso_perms, "r-xp") == 0,
          "[vdso] at %#lx %s, AT_SYSINFO_EHDR %p", vdso_start, vdso_perms, vdso_base);
    CHECK("maps-vvar", vvar_start != 0 && vvar_perms[1] == '-' && vvar_perms[2] == '-',
          "[vvar] at %#lx %s", vvar_start, vvar_perms);
    if (vvar_start) {
        ERR("vvar-mprotect-write-eacces",
            mprotect((void *)vvar_start, 4096, PROT_READ | PROT_WRITE), EACCES);
        /* Writing to it is a fault (checked in a child that may die). */
        pid_t pid = fork();
        if (pid == 0) {
            *(volatile char *)vvar_start = 1;
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK("vvar-write-segv", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s",
              wstatus(st));
    }
}

static void checks(void) {
    int rc = parse_vdso();
    CHECK("auxv-sysinfo-ehdr", vdso_base != NULL && memcmp(vdso_base, ELFMAG, SELFMAG) == 0,
          "AT_SYSINFO_EHDR %p", vdso_base);
    CHECK("elf-dynamic-tables", rc == 0, "parse: %d", rc);
    if (rc != 0) return;
    vgettime = (gettime_fn)lookup("__vdso_clock_gettime");
    getres_fn vgetres = (getres_fn)lookup("__vdso_clock_getres");
    gettimeofday_fn vgtod = (gettimeofday_fn)lookup("__vdso_gettimeofday");
    time_fn vtime = (time_fn)lookup("__vdso_time");
    getcpu_fn vgetcpu = (getcpu_fn)lookup("__vdso_getcpu");
    CHECK("symbol-clock-gettime", vgettime != NULL, "missing");
    CHECK("symbol-clock-getres", vgetres != NULL, "missing");
    CHECK("symbol-gettimeofday", vgtod != NULL, "missing");
    CHECK("symbol-time", vtime != NULL, "missing");
    CHECK("symbol-getcpu", vgetcpu != NULL, "missing");
    if (!vgettime || !vgetres || !vgtod || !vtime || !vgetcpu) return;

    sandwich("monotonic-between-syscalls", CLOCK_MONOTONIC, 2000);
    sandwich("realtime-between-syscalls", CLOCK_REALTIME, 2000);
    sandwich("boottime-between-syscalls", CLOCK_BOOTTIME, 2000);
    sandwich("monotonic-raw-between-syscalls", CLOCK_MONOTONIC_RAW, 2000);

    /* Monotonic over many calls, and it advances. */
    struct timespec t;
    vgettime(CLOCK_MONOTONIC, &t);
    long long first = ns(t), prev = first, back = 0;
    for (int i = 0; i < 200000; i++) {
        vgettime(CLOCK_MONOTONIC, &t);
        if (ns(t) < prev) back++;
        prev = ns(t);
    }
    CHECK("monotonic-never-goes-back", back == 0, "%lld steps back", back);
    CHECK("monotonic-advances", prev > first, "first %lld last %lld", first, prev);

    /* Coarse clocks: never ahead of the fine clock, and close behind it
     * (a tickless host's coarse clocks can lag a few ticks). */
    static const struct { clockid_t coarse, fine; const char *name; } coarse[] = {
        { CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC, "monotonic-coarse-close-behind" },
        { CLOCK_REALTIME_COARSE, CLOCK_REALTIME, "realtime-coarse-close-behind" },
    };
    for (int i = 0; i < 2; i++) {
        struct timespec res = { 0, 0 }, c = { 0, 0 };
        syscall(SYS_clock_getres, coarse[i].coarse, &res);
        long long before = sys_ns(coarse[i].fine);
        int r = vgettime(coarse[i].coarse, &c);
        long long after = sys_ns(coarse[i].fine);
        CHECK(coarse[i].name, r == 0 && ns(c) <= after && ns(c) >= before - ns(res) - 100000000,
              "rc %d fine %lld..%lld coarse %lld res %lld", r, before, after, ns(c), ns(res));
    }

    /* Clocks the data page cannot answer still work (the system call). */
    struct timespec cpu = { -1, -1 };
    int r = vgettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    CHECK("cputime-clock-falls-back", r == 0 && cpu.tv_sec >= 0 && cpu.tv_nsec >= 0,
          "rc %d %ld.%09ld", r, (long)cpu.tv_sec, cpu.tv_nsec);
    r = vgettime(12345, &cpu);
    CHECK("bad-clock-returns-minus-einval", r == -EINVAL, "rc %d", r);

    /* clock_getres agrees with the system call. */
    static const clockid_t ids[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                                     CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
                                     CLOCK_MONOTONIC_COARSE, CLOCK_PROCESS_CPUTIME_ID };
    int agree = 1;
    char why[200] = "";
    for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct timespec a = { -1, -1 }, b = { -2, -2 };
        long ra = syscall(SYS_clock_getres, ids[i], &a);
        int rb = vgetres(ids[i], &b);
        if (ra != rb || ns(a) != ns(b)) {
            agree = 0;
            snprintf(why, sizeof why, "clock %d: syscall %ld %lld, vdso %d %lld", ids[i], ra, ns(a),
                     rb, ns(b));
        }
    }
    CHECK("clock-getres-agrees", agree, "%s", why);

    /* gettimeofday and time agree with CLOCK_REALTIME. */
    struct timeval tv = { -1, -1 };
    long long before = sys_ns(CLOCK_REALTIME);
    r = vgtod(&tv, NULL);
    long long after = sys_ns(CLOCK_REALTIME);
    long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
    CHECK("gettimeofday-between-syscalls",
          r == 0 && us >= before / 1000 && us <= after / 1000 && tv.tv_usec < 1000000,
          "rc %d: %lld us, realtime %lld..%lld ns", r, us, before, after);
    before = sys_ns(CLOCK_REALTIME);
    time_t stored = 0;
    time_t secs = vtime(&stored);
    after = sys_ns(CLOCK_REALTIME);
    CHECK("time-between-syscalls",
          secs == stored && secs >= before / 1000000000 && secs <= after / 1000000000,
          "time %ld stored %ld, realtime %lld..%lld", (long)secs, (long)stored, before, after);
    CHECK("time-null", vtime(NULL) >= secs, "went back");

    /* getcpu: a CPU this process may run on. */
    unsigned c = ~0u, node = ~0u;
    r = vgetcpu(&c, &node, NULL);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK("getcpu-valid", r == 0 && c < (unsigned)n && node != ~0u, "rc %d cpu %u node %u of %ld",
          r, c, node, n);
    OK("getcpu-null", vgetcpu(NULL, NULL, NULL));

    /* glibc's own clock_gettime reads the same clock. */
    before = sys_ns(CLOCK_MONOTONIC);
    clock_gettime(CLOCK_MONOTONIC, &t);
    after = sys_ns(CLOCK_MONOTONIC);
    CHECK("glibc-clock-gettime-between-syscalls", ns(t) >= before && ns(t) <= after,
          "%lld..%lld: %lld", before, after, ns(t));

    /* A forked child has the vDSO too, at the same place. */
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ct;
        long long b = sys_ns(CLOCK_MONOTONIC);
        int cr = vgettime(CLOCK_MONOTONIC, &ct);
        long long a = sys_ns(CLOCK_MONOTONIC);
        _exit(cr == 0 && ns(ct) >= b && ns(ct) <= a && getauxval(AT_SYSINFO_EHDR) == (unsigned long)vdso_base ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK("fork-keeps-vdso", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", wstatus(st));

    maps_checks();

    /* Linux lets a process unmap its vDSO (then nothing may call it). */
    pid = fork();
    if (pid == 0) {
        size_t len = 2 * 4096;
        if (munmap((void *)vdso_base, len) != 0) _exit(2);
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        int still = 0;
        while (f && fgets(line, sizeof line, f)) still |= strstr(line, "[vdso]") != NULL;
        _exit(still ? 3 : 0);
    }
    waitpid(pid, &st, 0);
    CHECK("munmap-vdso", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", wstatus(st));
}
