//! Where a stub's own memory lives, above the application's range, and the
//! layout of the pages the stub and the Sentry share.
//!
//! ```text
//! STUB_BASE = USER_MAX  code page (private, read+exec)
//! CMD_BASE              one command page per stub thread: the Sentry writes,
//!                       the stub only reads (mapped read-only in the stub)
//! RW_BASE               one area per stub thread: its state page (the stub
//!                       reports traps there) and its signal stack
//! ```
//!
//! Both shared regions are one per-process memfd (the *stub file*): command
//! pages first, then the areas. The Sentry maps the whole file read-write;
//! the stub maps the command pages read-only and the areas read-write, then
//! closes the file, so it can never map it again.

use std::sync::atomic::AtomicU32;

use crate::platform::USER_MAX;

pub const PAGE: u64 = 4096;
/// Top of the x86-64 user address space (TASK_SIZE).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

pub const CODE_BASE: u64 = USER_MAX;
pub const CODE_LEN: u64 = PAGE;
pub const CMD_BASE: u64 = USER_MAX + 0x10_0000;
/// Most threads one stub process can have.
pub const MAX_THREADS: u64 = 4096;
pub const CMD_LEN: u64 = MAX_THREADS * PAGE;
pub const RW_BASE: u64 = USER_MAX + 0x1000_0000;
/// log2 of one thread's area: state page + signal stack.
pub const AREA_SHIFT: u64 = 15;
pub const AREA_SIZE: u64 = 1 << AREA_SHIFT;
pub const RW_LEN: u64 = MAX_THREADS * AREA_SIZE;
/// One past the stub's last byte.
pub const REGION_END: u64 = RW_BASE + RW_LEN;
/// Size of the stub file: command pages, then areas.
pub const FILE_LEN: u64 = CMD_LEN + RW_LEN;

/// Where the signal stack starts inside an area (after the state page).
pub const STACK_OFFSET: u64 = PAGE;

/// What the Sentry asks of a stub thread (`Command::op`).
pub const OP_RUN: u64 = 1;
pub const OP_SYSCALL: u64 = 2;
pub const OP_CLONE: u64 = 3;

/// A command page: written by the Sentry, read by the stub.
#[repr(C)]
pub struct Command {
    /// Bumped by the Sentry to post a command (a futex word).
    pub seq: AtomicU32,
    /// Non-zero while the Sentry sleeps on [`State::seq`]: the stub must wake it.
    pub sentry_waiting: AtomicU32,
    pub op: u64,
    /// For OP_SYSCALL: the host call and its arguments; for OP_CLONE,
    /// `args[0]` is the new thread's area.
    pub nr: u64,
    pub args: [u64; 6],
    /// For OP_RUN: the thread pointers (not part of a signal frame).
    pub fs_base: u64,
    pub gs_base: u64,
    /// How the stub waits for the next command (handoff.rs): this many
    /// `pause` polls (skipped when it shares the Sentry's CPU), then this
    /// many `sched_yield` polls, then a futex sleep.
    pub spin: u32,
    pub yields: u32,
    /// The CPU the Sentry thread posted from, plus one (0: unknown, and
    /// then the stub does not read its own).
    pub cpu: u32,
}

/// A state page: written by the stub (and so by anything the application
/// does to it: the Sentry trusts none of it), read by the Sentry.
#[repr(C)]
pub struct State {
    /// Bumped by the stub on every report (a futex word).
    pub seq: AtomicU32,
    /// Non-zero while the stub sleeps on [`Command::seq`].
    pub stub_waiting: AtomicU32,
    /// The last command sequence number the stub took.
    pub cmd_seen: u32,
    /// Non-zero while the host thread lives (cleared by the kernel at its
    /// exit: CLONE_CHILD_CLEARTID).
    pub alive: AtomicU32,
    /// The signal that brought the stub in.
    pub signo: u64,
    /// Stub addresses of that signal's siginfo and ucontext.
    pub siginfo: u64,
    pub ucontext: u64,
    /// The thread pointers at the trap.
    pub fs_base: u64,
    pub gs_base: u64,
    /// The result of the last OP_SYSCALL / OP_CLONE.
    pub ret: u64,
    /// The CPU the stub reported from, plus one (0: unknown); a hint.
    pub cpu: u32,
}

// Offsets the stub's assembly relies on.
pub const CMD_SEQ: usize = 0;
pub const CMD_SENTRY_WAITING: usize = 4;
pub const CMD_OP: usize = 8;
pub const CMD_NR: usize = 16;
pub const CMD_ARGS: usize = 24;
pub const CMD_FS_BASE: usize = 72;
pub const CMD_GS_BASE: usize = 80;
pub const CMD_SPIN: usize = 88;
pub const CMD_YIELDS: usize = 92;
pub const CMD_CPU: usize = 96;
pub const ST_SEQ: usize = 0;
pub const ST_STUB_WAITING: usize = 4;
pub const ST_CMD_SEEN: usize = 8;
pub const ST_ALIVE: usize = 12;
pub const ST_SIGNO: usize = 16;
pub const ST_SIGINFO: usize = 24;
pub const ST_UCONTEXT: usize = 32;
pub const ST_FS_BASE: usize = 40;
pub const ST_GS_BASE: usize = 48;
pub const ST_RET: usize = 56;
pub const ST_CPU: usize = 64;
/// Where, in thread 0's state page, the Sentry leaves the seccomp program
/// (a `sock_fprog`, then the instructions) for the stub's boot.
pub const ST_BOOT_FPROG: usize = 512;
pub const ST_BOOT_FILTER: usize = 1024;
/// Most instructions the boot filter slot holds.
pub const BOOT_FILTER_MAX: usize = (PAGE as usize - ST_BOOT_FILTER) / 8;

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Command, seq) == CMD_SEQ);
    assert!(offset_of!(Command, sentry_waiting) == CMD_SENTRY_WAITING);
    assert!(offset_of!(Command, op) == CMD_OP);
    assert!(offset_of!(Command, nr) == CMD_NR);
    assert!(offset_of!(Command, args) == CMD_ARGS);
    assert!(offset_of!(Command, fs_base) == CMD_FS_BASE);
    assert!(offset_of!(Command, gs_base) == CMD_GS_BASE);
    assert!(offset_of!(Command, spin) == CMD_SPIN);
    assert!(offset_of!(Command, yields) == CMD_YIELDS);
    assert!(offset_of!(Command, cpu) == CMD_CPU);
    assert!(offset_of!(State, seq) == ST_SEQ);
    assert!(offset_of!(State, stub_waiting) == ST_STUB_WAITING);
    assert!(offset_of!(State, cmd_seen) == ST_CMD_SEEN);
    assert!(offset_of!(State, alive) == ST_ALIVE);
    assert!(offset_of!(State, signo) == ST_SIGNO);
    assert!(offset_of!(State, siginfo) == ST_SIGINFO);
    assert!(offset_of!(State, ucontext) == ST_UCONTEXT);
    assert!(offset_of!(State, fs_base) == ST_FS_BASE);
    assert!(offset_of!(State, gs_base) == ST_GS_BASE);
    assert!(offset_of!(State, ret) == ST_RET);
    assert!(offset_of!(State, cpu) == ST_CPU);
    assert!(std::mem::size_of::<State>() <= ST_BOOT_FPROG);
    assert!(CMD_BASE + CMD_LEN <= RW_BASE);
    assert!(REGION_END <= TASK_SIZE);
    assert!(CODE_BASE + CODE_LEN <= CMD_BASE);
};

/// The stub address of thread `i`'s command page.
pub const fn cmd_addr(i: u64) -> u64 {
    CMD_BASE + i * PAGE
}

/// The stub address of thread `i`'s area (its state page).
pub const fn area_addr(i: u64) -> u64 {
    RW_BASE + i * AREA_SIZE
}

/// The kernel's `struct ucontext` on x86-64 (with its 8-byte signal mask),
/// as the signal frame holds it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: [u64; 3],
    /// `struct sigcontext`: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
    /// rsp, rip, eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2.
    pub gregs: [u64; 23],
    /// Stub address of the FPU state (XSAVE layout).
    pub fpstate: u64,
    pub reserved: [u64; 8],
    pub sigmask: u64,
}

const _: () = assert!(std::mem::size_of::<UContext>() == 304);

// Indices into `UContext::gregs`.
pub const R8: usize = 0;
pub const R9: usize = 1;
pub const R10: usize = 2;
pub const R11: usize = 3;
pub const R12: usize = 4;
pub const R13: usize = 5;
pub const R14: usize = 6;
pub const R15: usize = 7;
pub const RDI: usize = 8;
pub const RSI: usize = 9;
pub const RBP: usize = 10;
pub const RBX: usize = 11;
pub const RDX: usize = 12;
pub const RAX: usize = 13;
pub const RCX: usize = 14;
pub const RSP: usize = 15;
pub const RIP: usize = 16;
pub const EFLAGS: usize = 17;
pub const CSGSFS: usize = 18;
