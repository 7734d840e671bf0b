//! clone3(2): clone with its arguments in a versioned structure. glibc
//! (2.34 and later) creates threads and posix_spawn children with it.
//! The structure is checked as Linux checks it and the call goes on as
//! clone(2); pidfds (CLONE_PIDFD), choosing pids (set_tid) and starting in
//! another cgroup (CLONE_INTO_CGROUP) are not offered.

use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::task::Task;

/// struct clone_args as of Linux 5.7 (with `cgroup`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The first published layout (CLONE_ARGS_SIZE_VER0).
const SIZE_VER0: u64 = 64;
/// A structure may be at most a page; a larger one is E2BIG.
const SIZE_MAX: u64 = 4096;
/// Reset signal handlers in the child (clone3 only).
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
/// The exit signal lives in its own field; these bits of `flags` are EINVAL.
const CSIGNAL: u64 = 0xff;
/// Linux's deepest pid namespace nesting: the most pids set_tid may name.
const MAX_PID_NS_LEVEL: u64 = 32;

/// clone3(args, size).
pub fn clone3(t: &mut Task, a: Args) -> SysResult<u64> {
    let args = read_args(t, a[0], a[1])?;
    let flags = args.flags;
    if flags & CSIGNAL != 0
        || flags & libc::CLONE_DETACHED as u64 != 0
        || flags & !(CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP | 0xffff_ffff) != 0
        || args.exit_signal > 64
    {
        return err(libc::EINVAL);
    }
    // A thread, or a sibling, signals nobody when it ends.
    if flags & (libc::CLONE_THREAD | libc::CLONE_PARENT) as u64 != 0 && args.exit_signal != 0 {
        return err(libc::EINVAL);
    }
    // Resetting handlers makes no sense when they are shared.
    if flags & CLONE_CLEAR_SIGHAND != 0 && flags & libc::CLONE_SIGHAND as u64 != 0 {
        return err(libc::EINVAL);
    }
    if (args.stack == 0) != (args.stack_size == 0) {
        return err(libc::EINVAL);
    }
    if args.set_tid_size > MAX_PID_NS_LEVEL || (args.set_tid == 0) != (args.set_tid_size == 0) {
        return err(libc::EINVAL);
    }
    if args.set_tid_size != 0 {
        // Choosing a pid needs CAP_SYS_ADMIN over the pid namespace.
        return err(libc::EPERM);
    }
    if flags & CLONE_INTO_CGROUP != 0 {
        // There is no cgroup file system to name a cgroup with.
        return err(libc::EBADF);
    }
    let newsp = args
        .stack
        .checked_add(args.stack_size)
        .ok_or(crate::errno::Errno(libc::EINVAL))?;
    super::process::clone(
        t,
        flags | args.exit_signal,
        newsp,
        args.parent_tid,
        args.child_tid,
        args.tls,
    )
}

/// Reads the caller's structure: shorter than the first version is
/// EINVAL; longer than we know is fine if the unknown tail is zero (E2BIG
/// otherwise, or when it exceeds a page).
fn read_args(t: &Task, addr: u64, size: u64) -> SysResult<CloneArgs> {
    if size < SIZE_VER0 {
        return err(libc::EINVAL);
    }
    if size > SIZE_MAX {
        return err(libc::E2BIG);
    }
    let known = std::mem::size_of::<CloneArgs>() as u64;
    let mut raw = vec![0u8; size as usize];
    t.mm.read(addr, &mut raw)?;
    if size > known && raw[known as usize..].iter().any(|&b| b != 0) {
        return err(libc::E2BIG);
    }
    let mut args = CloneArgs::default();
    let n = size.min(known) as usize;
    // SAFETY: CloneArgs is plain u64 fields (any bit pattern is valid) and
    // `n` is at most its size; the source holds at least `n` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(raw.as_ptr(), &mut args as *mut CloneArgs as *mut u8, n);
    }
    Ok(args)
}
