/* The selftest attack binary: one static program holding every attack
 * (one per file in this directory), chosen by its first argument. It is
 * built by runtime/build.rs and embedded in the `sandbox` binary, which
 * writes it into each attack's root filesystem as /attack.
 *
 * Two more modes serve the runner on the host, never in a container:
 *   decoy          a host process for the attacks that reach outside the
 *                  container's pid namespace (see decoy_main)
 *   /<cgroup path> called by the kernel as a cgroup release agent (the
 *                  release_agent attack): leaves a marker the runner sees */
#include "attack.h"

#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

volatile long decoy_flag;

#define ATTACKS(X)                                                                                 \
    X(proc_pid_exe)                                                                                \
    X(proc_pid_mem)                                                                                \
    X(process_vm_writev)                                                                           \
    X(ptrace_attach)                                                                               \
    X(kcmp)                                                                                        \
    X(kill_host)                                                                                   \
    X(proc_pid_root)                                                                               \
    X(leaked_fd)                                                                                   \
    X(open_by_handle)                                                                              \
    X(mknod_block)                                                                                 \
    X(mknod_kvm)                                                                                   \
    X(mount_blockdev)                                                                              \
    X(release_agent)                                                                               \
    X(core_pattern)                                                                                \
    X(modprobe)                                                                                    \
    X(sysrq_trigger)                                                                               \
    X(uevent_helper)                                                                               \
    X(bpf)                                                                                         \
    X(perf_event_open)                                                                             \
    X(userfaultfd)                                                                                 \
    X(io_uring)                                                                                    \
    X(add_key)                                                                                     \
    X(keyctl_host_keyring)                                                                         \
    X(userns_mount)                                                                                \
    X(packet_socket)                                                                               \
    X(dirty_pipe)                                                                                  \
    X(int80)                                                                                       \
    X(stub_jump)                                                                                   \
    X(stub_write)                                                                                  \
    X(kernel_log)                                                                                  \
    X(proc_sys_remount)                                                                            \
    X(vdso_data_write)                                                                             \
    X(path_toctou)                                                                                 \
    X(setns_host_mnt)                                                                              \
    X(abstract_unix)                                                                               \
    X(host_ipc_shm)                                                                                \
    X(cgroup_escape)                                                                               \
    X(release_agent_sys_admin)

#define DECLARE(n) int attack_##n(void);
ATTACKS(DECLARE)

static const struct {
    const char *name;
    int (*run)(void);
} table[] = {
#define ENTRY(n) {#n, attack_##n},
    ATTACKS(ENTRY)
};

long read_all(int fd, char *buf, size_t cap) {
    size_t got = 0;
    while (got + 1 < cap) {
        long n = read(fd, buf + got, cap - 1 - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    return (long)got;
}

int print_leak(int fd) {
    char buf[256];
    if (read_all(fd, buf, sizeof buf) < 0)
        return -1;
    printf("LEAK %s\n", buf);
    return 0;
}

static volatile sig_atomic_t decoy_signalled;
static void on_usr1(int s) {
    (void)s;
    decoy_signalled = 1;
}

/* A host process the runner starts beside the container: it exits with
 * DECOY_EXIT_SIGNAL on SIGUSR1, with DECOY_EXIT_MEMORY once decoy_flag
 * holds DECOY_MAGIC (written into it from outside), else 0 after 60 s. */
static int decoy_main(void) {
    signal(SIGUSR1, on_usr1);
    for (int i = 0; i < 6000; i++) {
        if (decoy_signalled)
            return DECOY_EXIT_SIGNAL;
        if (decoy_flag == DECOY_MAGIC)
            return DECOY_EXIT_MEMORY;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Run by the host kernel as a cgroup release agent: writes
 * `release-agent-ran` beside the rootfs this binary lies in (the
 * bundle directory), which the runner checks. Does nothing else. */
static int release_agent_main(const char *self) {
    char path[4096];
    snprintf(path, sizeof path, "%s", self);
    char *rootfs = dirname(path);
    char out[4200];
    snprintf(out, sizeof out, "%s/../release-agent-ran", rootfs);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 1;
    (void)!write(fd, "ran\n", 4);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: %s ATTACK | decoy\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "decoy") == 0)
        return decoy_main();
    if (argv[1][0] == '/')
        return release_agent_main(argv[0]);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, argv[1]) == 0) {
            printf("START %s\n", argv[1]);
            return table[i].run();
        }
    }
    fprintf(stderr, "unknown attack %s\n", argv[1]);
    return 2;
}
