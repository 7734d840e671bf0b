/* Writing pages the process may only read: the three ways a process can
 * try (its own /proc/self/mem, which Linux lets write read-only pages
 * with FOLL_FORCE as debuggers do; process_vm_writev to itself; mprotect
 * to make the page writable), shared by the attacks on the sandbox's
 * read-only pages (stub_write, vdso_data_write). Each writes back the
 * byte already there, so a success changes nothing. */
#ifndef SELFTEST_FORCEWRITE_H
#define SELFTEST_FORCEWRITE_H

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static sigjmp_buf force_probe;
static void force_on_fault(int s) {
    (void)s;
    siglongjmp(force_probe, 1);
}

/* The byte at addr, or -1 if reading it faults. */
static inline int peek_byte(unsigned long addr) {
    signal(SIGSEGV, force_on_fault);
    signal(SIGBUS, force_on_fault);
    int v = -1;
    if (sigsetjmp(force_probe, 1) == 0)
        v = *(volatile unsigned char *)addr;
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    return v;
}

/* Tries every way on the readable page at addr; the one that wrote it,
 * or NULL with what each way met in `why` ("mem ENOENT, ..."). `mem` is
 * /proc/self/mem opened read-write, or -1 (mem_errno then says why). */
static inline const char *force_write(int mem, int mem_errno, unsigned long addr,
                                      unsigned char b, char *why, size_t cap) {
    if (mem >= 0 && pwrite(mem, &b, 1, (off_t)addr) == 1)
        return "/proc/self/mem";
    int e_mem = mem < 0 ? mem_errno : errno;
    struct iovec local = {&b, 1}, remote = {(void *)addr, 1};
    if (process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == 1)
        return "process_vm_writev";
    int e_vm = errno;
    if (mprotect((void *)(addr & ~4095UL), 4096, PROT_READ | PROT_WRITE) == 0)
        return "mprotect(PROT_WRITE)";
    snprintf(why, cap, "/proc/self/mem %s, process_vm_writev %s, mprotect %s", errname(e_mem),
             errname(e_vm), errname(errno));
    return NULL;
}

/* The control of these attacks (SELFTEST_CONTROL set), where the
 * sandbox's pages do not exist: natively, a read-only page of the
 * process's own is changed through /proc/self/mem. */
#define FORCE_WRITE_CONTROL(mem)                                                                   \
    do {                                                                                           \
        unsigned char *page =                                                                      \
            mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);                       \
        if (page == MAP_FAILED || (mem) < 0)                                                       \
            BLOCKED_ERRNO("map a read-only page and open /proc/self/mem");                         \
        unsigned char x = 0x5a;                                                                    \
        if (pwrite((mem), &x, 1, (off_t)(unsigned long)page) != 1)                                 \
            BLOCKED_ERRNO("write the read-only page through /proc/self/mem");                      \
        if (page[0] != 0x5a)                                                                       \
            BLOCKED("the write through /proc/self/mem did not change the page");                   \
        WORKED("natively, /proc/self/mem changed a read-only page");                               \
    } while (0)

#endif
