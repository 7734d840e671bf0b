/* bpf(2): loading a program into the host kernel's eBPF verifier and
 * JIT, a long line of container-to-host privilege escalations
 * (CVE-2021-3490, CVE-2021-31440, CVE-2022-23222). Loads the smallest
 * socket filter ("r0 = 0; exit"). */
#include "attack.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_bpf(void) {
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (unsigned long)prog;
    attr.insn_cnt = 2;
    attr.license = (unsigned long)"GPL";
    long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd < 0)
        BLOCKED_ERRNO("bpf(BPF_PROG_LOAD)");
    WORKED("the host kernel verified and loaded an eBPF program (fd %ld)", fd);
}
