//! The stub's code: the signal handler every trap of the application
//! lands in, the command loop it serves the Sentry from, and the boot that
//! turns a forked copy of the Sentry into a stub.
//!
//! The code is position independent. It is assembled into the Sentry's own
//! text and copied by the boot to the stub's code page ([`CODE_BASE`]),
//! the only place the stub's seccomp filter lets host system calls come
//! from. Everything it does is driven by the command page, which the stub
//! can only read; the registers it loads from the state page or the stack
//! are, at worst, the application's own (see SECURITY.md).
//!
//! A trap: the kernel delivers the signal on the thread's alternate stack
//! (inside its area); the handler finds its area from the stack pointer,
//! records the signal, the frame's address and the thread pointers in the
//! state page, wakes the Sentry, and waits for a command: run (return
//! from the handler, so `rt_sigreturn` loads the registers the Sentry
//! wrote into the frame), a host system call (map, unmap, protect, exit),
//! or clone a new stub thread. Waiting polls, then yields, then sleeps on
//! a futex, for as long as the Sentry's budget says (handoff.rs).

use super::layout::*;

/// The host signal other Sentry threads send to interrupt a stub thread.
pub const KICK_SIGNAL: i32 = libc::SIGUSR2;
/// Signals the handler takes: system calls, faults, interrupts.
pub const TRAP_SIGNALS: [i32; 7] = [
    libc::SIGSYS,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    KICK_SIGNAL,
];

const fn sigbit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// The stub's host signal mask: everything blocked but the trap signals,
/// so a stray host signal (a terminal's SIGINT, say) stays pending instead
/// of running a handler the stub does not have.
pub const STUB_MASK: u64 = {
    let mut m = u64::MAX;
    let mut i = 0;
    while i < TRAP_SIGNALS.len() {
        m &= !sigbit(TRAP_SIGNALS[i]);
        i += 1;
    }
    m
};

/// sa_flags bit: `sa_restorer` holds the signal return trampoline.
const SA_RESTORER: i32 = 0x0400_0000;

/// The clone flags of a new stub thread: a thread of the same process,
/// whose exit clears its area's `alive` word.
pub const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_CHILD_CLEARTID) as u64;

std::arch::global_asm!(
    ".pushsection .text.sandbox_seccomp_stub, \"ax\", @progbits",
    ".balign 64",
    ".globl sandbox_seccomp_stub_start",
    "sandbox_seccomp_stub_start:",
    // ---- The signal handler: rdi = signo, rsi = siginfo, rdx = ucontext.
    "sandbox_seccomp_stub_handler:",
    "mov rax, rsp",
    "movabs r11, {rw_base}",
    "sub rax, r11",
    "shr rax, {area_shift}",
    "cmp rax, {max_threads}",
    "jae 90f",
    "mov r12, rax",
    "shl r12, {area_shift}",
    "add r12, r11",
    "mov r13, rax",
    "shl r13, 12",
    "movabs r11, {cmd_base}",
    "add r13, r11",
    "mov qword ptr [r12 + {st_signo}], rdi",
    "mov qword ptr [r12 + {st_siginfo}], rsi",
    "mov qword ptr [r12 + {st_ucontext}], rdx",
    "rdfsbase rax",
    "mov qword ptr [r12 + {st_fs_base}], rax",
    "rdgsbase rax",
    "mov qword ptr [r12 + {st_gs_base}], rax",
    // Report: note this CPU for the Sentry (when the Sentry gave its
    // own), bump the state word, wake the Sentry if it sleeps.
    "2:",
    "mov r15d, dword ptr [r13 + {cmd_spin}]",
    "mov ebx, dword ptr [r13 + {cmd_yields}]",
    "mov r8d, dword ptr [r13 + {cmd_cpu}]",
    "test r8d, r8d",
    "jz 4f",
    "rdtscp",
    "and ecx, 0xfff",
    "inc ecx",
    "mov dword ptr [r12 + {st_cpu}], ecx",
    // On the Sentry's own CPU, polling only delays it: yield at once.
    "cmp ecx, r8d",
    "jne 4f",
    "xor r15d, r15d",
    "4:",
    "lock inc dword ptr [r12 + {st_seq}]",
    "cmp dword ptr [r13 + {cmd_sentry_waiting}], 0",
    "je 3f",
    "lea rdi, [r12 + {st_seq}]",
    "mov esi, {futex_wake}",
    "mov edx, 1",
    "mov eax, {sys_futex}",
    "syscall",
    // The Sentry was asleep: it may be woken onto this CPU; yield at once.
    "xor r15d, r15d",
    // Wait for the next command: r15d `pause` polls, then ebx yields,
    // then sleep on the command word.
    "3:",
    "mov r14d, dword ptr [r12 + {st_cmd_seen}]",
    "5:",
    "mov eax, dword ptr [r13 + {cmd_seq}]",
    "cmp eax, r14d",
    "jne 7f",
    "test r15d, r15d",
    "jz 8f",
    "pause",
    "dec r15d",
    "jmp 5b",
    "8:",
    "test ebx, ebx",
    "jz 9f",
    "dec ebx",
    "mov eax, {sys_sched_yield}",
    "syscall",
    "jmp 5b",
    "9:",
    "mov dword ptr [r12 + {st_stub_waiting}], 1",
    "mfence",
    "mov eax, dword ptr [r13 + {cmd_seq}]",
    "cmp eax, r14d",
    "jne 6f",
    "lea rdi, [r13 + {cmd_seq}]",
    "mov esi, {futex_wait}",
    "mov edx, r14d",
    "xor r10d, r10d",
    "mov eax, {sys_futex}",
    "syscall",
    "mov dword ptr [r12 + {st_stub_waiting}], 0",
    // Both counts are spent: one look, then sleep again if nothing came.
    "jmp 5b",
    "6:",
    "mov dword ptr [r12 + {st_stub_waiting}], 0",
    "7:",
    "mov dword ptr [r12 + {st_cmd_seen}], eax",
    "mov rax, qword ptr [r13 + {cmd_op}]",
    "cmp rax, {op_run}",
    "je 14f",
    "cmp rax, {op_syscall}",
    "je 15f",
    "cmp rax, {op_clone}",
    "je 16f",
    "ud2",
    // Run: set the thread pointers, return into rt_sigreturn.
    "14:",
    "mov rax, qword ptr [r13 + {cmd_fs_base}]",
    "wrfsbase rax",
    "mov rax, qword ptr [r13 + {cmd_gs_base}]",
    "wrgsbase rax",
    "ret",
    // A host system call the Sentry asked for.
    "15:",
    "mov rax, qword ptr [r13 + {cmd_nr}]",
    "mov rdi, qword ptr [r13 + {cmd_args}]",
    "mov rsi, qword ptr [r13 + {cmd_args} + 8]",
    "mov rdx, qword ptr [r13 + {cmd_args} + 16]",
    "mov r10, qword ptr [r13 + {cmd_args} + 24]",
    "mov r8, qword ptr [r13 + {cmd_args} + 32]",
    "mov r9, qword ptr [r13 + {cmd_args} + 40]",
    "syscall",
    "mov qword ptr [r12 + {st_ret}], rax",
    "jmp 2b",
    // A new stub thread on the area args[0]: its stack is the top of it.
    "16:",
    "mov rax, qword ptr [r13 + {cmd_args}]",
    "cmp rax, {max_threads}",
    "jae 90f",
    "shl rax, {area_shift}",
    "movabs r11, {rw_base}",
    "add rax, r11",
    "lea r10, [rax + {st_alive}]",
    "lea rsi, [rax + {area_size}]",
    "mov edi, {thread_flags}",
    "xor edx, edx",
    "xor r8d, r8d",
    "mov eax, {sys_clone}",
    "syscall",
    "test rax, rax",
    "jz 17f",
    "mov qword ptr [r12 + {st_ret}], rax",
    "jmp 2b",
    // The new thread: the stub's mask (it inherited the handler's), its
    // own signal stack, then the boot trap.
    "17:",
    "lea rbx, [rsp - {area_size}]",
    "sub rsp, 64",
    "movabs rax, {stub_mask}",
    "mov qword ptr [rsp], rax",
    "mov edi, {sig_setmask}",
    "mov rsi, rsp",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, {sys_rt_sigprocmask}",
    "syscall",
    "lea rax, [rbx + {stack_offset}]",
    "mov qword ptr [rsp], rax",
    "mov qword ptr [rsp + 8], 0",
    "mov qword ptr [rsp + 16], {stack_size}",
    "mov rdi, rsp",
    "xor esi, esi",
    "mov eax, {sys_sigaltstack}",
    "syscall",
    // The boot trap: a call the filter never allows, so the handler runs
    // and reports a frame the Sentry's first `run` fills in.
    "20:",
    "mov eax, {sys_getpid}",
    "syscall",
    "90:",
    "ud2",
    // The signal restorer.
    "sandbox_seccomp_stub_restorer:",
    "mov eax, {sys_rt_sigreturn}",
    "syscall",
    "ud2",
    // ---- Init, on the code page, on area 0's stack; r15 = memory file.
    "sandbox_seccomp_stub_init:",
    "mov eax, {sys_munmap}",
    "xor edi, edi",
    "movabs rsi, {code_base}",
    "syscall",
    "mov eax, {sys_munmap}",
    "movabs rdi, {code_end}",
    "movabs rsi, {gap1}",
    "syscall",
    "mov eax, {sys_munmap}",
    "movabs rdi, {cmd_end}",
    "movabs rsi, {gap2}",
    "syscall",
    "mov eax, {sys_munmap}",
    "movabs rdi, {region_end}",
    "movabs rsi, {gap3}",
    "syscall",
    // Close every descriptor but the memory file (the stub file goes).
    "test r15, r15",
    "jz 30f",
    "xor edi, edi",
    "lea rsi, [r15 - 1]",
    "xor edx, edx",
    "mov eax, {sys_close_range}",
    "syscall",
    "30:",
    "lea rdi, [r15 + 1]",
    "mov esi, -1",
    "xor edx, edx",
    "mov eax, {sys_close_range}",
    "syscall",
    // The handler for every trap signal; the kick is blocked while it runs.
    "sub rsp, 64",
    "lea rax, [rip + sandbox_seccomp_stub_handler]",
    "mov qword ptr [rsp], rax",
    "mov qword ptr [rsp + 8], {sa_flags}",
    "lea rax, [rip + sandbox_seccomp_stub_restorer]",
    "mov qword ptr [rsp + 16], rax",
    "mov rax, {kick_bit}",
    "mov qword ptr [rsp + 24], rax",
    "lea rbx, [rip + 50f]",
    "31:",
    "movzx edi, byte ptr [rbx]",
    "test edi, edi",
    "jz 32f",
    "mov rsi, rsp",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, {sys_rt_sigaction}",
    "syscall",
    "test rax, rax",
    "jnz 40f",
    "inc rbx",
    "jmp 31b",
    "32:",
    "movabs rax, {stack0}",
    "mov qword ptr [rsp + 32], rax",
    "mov qword ptr [rsp + 40], 0",
    "mov qword ptr [rsp + 48], {stack_size}",
    "lea rdi, [rsp + 32]",
    "xor esi, esi",
    "mov eax, {sys_sigaltstack}",
    "syscall",
    "test rax, rax",
    "jnz 40f",
    "mov edi, {pr_set_no_new_privs}",
    "mov esi, 1",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "mov eax, {sys_prctl}",
    "syscall",
    "mov edi, {seccomp_set_mode_filter}",
    "xor esi, esi",
    "movabs rdx, {fprog}",
    "mov eax, {sys_seccomp}",
    "syscall",
    "test rax, rax",
    "jnz 40f",
    "jmp 20b",
    "40:",
    "mov edi, 125",
    "mov eax, {sys_exit_group}",
    "syscall",
    "ud2",
    "50:",
    ".byte {sigsys}, {sigsegv}, {sigbus}, {sigfpe}, {sigill}, {sigtrap}, {sigkick}, 0",
    ".globl sandbox_seccomp_stub_end",
    "sandbox_seccomp_stub_end:",
    ".popsection",
    // ---- Boot, from the Sentry's text in the forked child:
    // rdi = stub file, rsi = memory file. Maps the stub's regions, moves
    // to area 0's stack, copies the code page in and jumps to init.
    ".text",
    ".globl sandbox_seccomp_stub_boot",
    "sandbox_seccomp_stub_boot:",
    "mov r14, rdi",
    "mov r15, rsi",
    "movabs rdi, {rw_base}",
    "movabs rsi, {rw_len}",
    "mov edx, {prot_rw}",
    "mov r10d, {map_shared_fixed}",
    "mov r8, r14",
    "movabs r9, {cmd_len}",
    "mov eax, {sys_mmap}",
    "syscall",
    "cmp rax, -4095",
    "jae 80f",
    "movabs rax, {stack0_top}",
    "mov rsp, rax",
    "movabs rdi, {cmd_base}",
    "movabs rsi, {cmd_len}",
    "mov edx, {prot_read}",
    "mov r10d, {map_shared_fixed}",
    "mov r8, r14",
    "xor r9d, r9d",
    "mov eax, {sys_mmap}",
    "syscall",
    "cmp rax, -4095",
    "jae 80f",
    "movabs rdi, {code_base}",
    "mov esi, {code_len}",
    "mov edx, {prot_rw}",
    "mov r10d, {map_private_anon_fixed}",
    "mov r8, -1",
    "xor r9d, r9d",
    "mov eax, {sys_mmap}",
    "syscall",
    "cmp rax, -4095",
    "jae 80f",
    "cld",
    "lea rsi, [rip + sandbox_seccomp_stub_start]",
    "lea rcx, [rip + sandbox_seccomp_stub_end]",
    "sub rcx, rsi",
    "movabs rdi, {code_base}",
    "rep movsb",
    "movabs rdi, {code_base}",
    "mov esi, {code_len}",
    "mov edx, {prot_rx}",
    "mov eax, {sys_mprotect}",
    "syscall",
    "test rax, rax",
    "jnz 80f",
    "movabs rax, {code_base}",
    "lea rcx, [rip + sandbox_seccomp_stub_init]",
    "lea rdx, [rip + sandbox_seccomp_stub_start]",
    "sub rcx, rdx",
    "add rax, rcx",
    "jmp rax",
    "80:",
    "mov edi, 124",
    "mov eax, {sys_exit_group}",
    "syscall",
    "ud2",
    rw_base = const RW_BASE,
    rw_len = const RW_LEN,
    cmd_base = const CMD_BASE,
    cmd_len = const CMD_LEN,
    code_base = const CODE_BASE,
    code_len = const CODE_LEN,
    code_end = const CODE_BASE + CODE_LEN,
    cmd_end = const CMD_BASE + CMD_LEN,
    region_end = const REGION_END,
    gap1 = const CMD_BASE - (CODE_BASE + CODE_LEN),
    gap2 = const RW_BASE - (CMD_BASE + CMD_LEN),
    gap3 = const TASK_SIZE - REGION_END,
    area_shift = const AREA_SHIFT,
    area_size = const AREA_SIZE,
    max_threads = const MAX_THREADS,
    stack_offset = const STACK_OFFSET,
    stack_size = const AREA_SIZE - STACK_OFFSET,
    stack0 = const RW_BASE + STACK_OFFSET,
    stack0_top = const RW_BASE + AREA_SIZE - 64,
    fprog = const RW_BASE + ST_BOOT_FPROG as u64,
    st_seq = const ST_SEQ,
    st_stub_waiting = const ST_STUB_WAITING,
    st_cmd_seen = const ST_CMD_SEEN,
    st_alive = const ST_ALIVE,
    st_signo = const ST_SIGNO,
    st_siginfo = const ST_SIGINFO,
    st_ucontext = const ST_UCONTEXT,
    st_fs_base = const ST_FS_BASE,
    st_gs_base = const ST_GS_BASE,
    st_ret = const ST_RET,
    cmd_seq = const CMD_SEQ,
    cmd_sentry_waiting = const CMD_SENTRY_WAITING,
    cmd_op = const CMD_OP,
    cmd_nr = const CMD_NR,
    cmd_args = const CMD_ARGS,
    cmd_fs_base = const CMD_FS_BASE,
    cmd_gs_base = const CMD_GS_BASE,
    op_run = const OP_RUN,
    op_syscall = const OP_SYSCALL,
    op_clone = const OP_CLONE,
    cmd_spin = const CMD_SPIN,
    cmd_yields = const CMD_YIELDS,
    cmd_cpu = const CMD_CPU,
    st_cpu = const ST_CPU,
    futex_wait = const libc::FUTEX_WAIT,
    futex_wake = const libc::FUTEX_WAKE,
    thread_flags = const THREAD_FLAGS,
    stub_mask = const STUB_MASK,
    kick_bit = const sigbit(KICK_SIGNAL),
    sig_setmask = const libc::SIG_SETMASK,
    sa_flags = const (libc::SA_SIGINFO | libc::SA_ONSTACK | SA_RESTORER) as u64,
    pr_set_no_new_privs = const libc::PR_SET_NO_NEW_PRIVS,
    seccomp_set_mode_filter = const libc::SECCOMP_SET_MODE_FILTER,
    prot_read = const libc::PROT_READ,
    prot_rw = const libc::PROT_READ | libc::PROT_WRITE,
    prot_rx = const libc::PROT_READ | libc::PROT_EXEC,
    map_shared_fixed = const libc::MAP_SHARED | libc::MAP_FIXED,
    map_private_anon_fixed = const libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
    sigsys = const libc::SIGSYS,
    sigsegv = const libc::SIGSEGV,
    sigbus = const libc::SIGBUS,
    sigfpe = const libc::SIGFPE,
    sigill = const libc::SIGILL,
    sigtrap = const libc::SIGTRAP,
    sigkick = const KICK_SIGNAL,
    sys_futex = const libc::SYS_futex,
    sys_sched_yield = const libc::SYS_sched_yield,
    sys_clone = const libc::SYS_clone,
    sys_rt_sigprocmask = const libc::SYS_rt_sigprocmask,
    sys_rt_sigaction = const libc::SYS_rt_sigaction,
    sys_rt_sigreturn = const libc::SYS_rt_sigreturn,
    sys_sigaltstack = const libc::SYS_sigaltstack,
    sys_getpid = const libc::SYS_getpid,
    sys_munmap = const libc::SYS_munmap,
    sys_mmap = const libc::SYS_mmap,
    sys_mprotect = const libc::SYS_mprotect,
    sys_close_range = const libc::SYS_close_range,
    sys_prctl = const libc::SYS_prctl,
    sys_seccomp = const libc::SYS_seccomp,
    sys_exit_group = const libc::SYS_exit_group,
);

extern "C" {
    static sandbox_seccomp_stub_start: u8;
    static sandbox_seccomp_stub_end: u8;
    /// Never returns: turns the calling (forked) process into a stub.
    fn sandbox_seccomp_stub_boot(stub_file: i32, memfd: i32) -> !;
}

/// Bytes of stub code the boot copies to the code page.
pub fn code_len() -> u64 {
    // Only the addresses of the two symbols are taken.
    (&raw const sandbox_seccomp_stub_end as u64) - (&raw const sandbox_seccomp_stub_start as u64)
}

/// Runs in the forked child: async-signal-safe raw system calls only,
/// then the assembly boot.
///
/// # Safety
/// Must be called only in a freshly forked child; it never returns.
pub unsafe fn child(stub_file: i32, memfd: i32) -> ! {
    // SAFETY (whole body): plain system calls on constant or stack arguments.
    libc::syscall(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    let mask: u64 = STUB_MASK;
    libc::syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &mask as *const u64,
        0usize,
        8usize,
    );
    crate::platform::unregister_inherited_rseq();
    sandbox_seccomp_stub_boot(stub_file, memfd)
}
