//! Injecting system calls into a stopped stub: the Sentry borrows the stub's
//! thread to run one host system call at the stub's `syscall; int3` gadget,
//! then takes the thread back. Only the Sentry chooses these calls.

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::platform::{PlatformError, Regs};

/// The signal other Sentry threads send a stub to interrupt it.
pub const KICK_SIGNAL: Signal = Signal::SIGUSR2;

fn err(op: &'static str, pid: Pid) -> impl Fn(nix::errno::Errno) -> PlatformError {
    move |err| PlatformError::Ptrace {
        op,
        pid: pid.as_raw(),
        err,
    }
}

pub fn get_regs(pid: Pid) -> Result<Regs, PlatformError> {
    ptrace::getregs(pid).map_err(err("GETREGS", pid))
}

pub fn set_regs(pid: Pid, regs: &Regs) -> Result<(), PlatformError> {
    ptrace::setregs(pid, *regs).map_err(err("SETREGS", pid))
}

/// Waits for the stub's next stop; a stub that died is an error.
pub fn wait_stop(pid: Pid) -> Result<WaitStatus, PlatformError> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, code)) => {
                return Err(PlatformError::StubDied {
                    pid: pid.as_raw(),
                    how: format!("exited with {code}"),
                })
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return Err(PlatformError::StubDied {
                    pid: pid.as_raw(),
                    how: format!("killed by {sig}"),
                })
            }
            Ok(status) => return Ok(status),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err("waitpid", pid)(e)),
        }
    }
}

/// Runs host system call `nr` with `args` in the stub, at `gadget` (the
/// address of a `syscall; int3` pair). The stub must be in a ptrace stop.
/// Returns the raw result (negative errno on failure) and whether an
/// interrupt arrived meanwhile (it is swallowed; the caller reports it).
pub fn syscall(pid: Pid, gadget: u64, nr: i64, args: &[u64]) -> Result<(i64, bool), PlatformError> {
    let mut regs = get_regs(pid)?;
    regs.rip = gadget;
    regs.rax = nr as u64;
    regs.orig_rax = u64::MAX;
    let slots = [
        &mut regs.rdi,
        &mut regs.rsi,
        &mut regs.rdx,
        &mut regs.r10,
        &mut regs.r8,
        &mut regs.r9,
    ];
    for (slot, value) in slots.into_iter().zip(args.iter()) {
        *slot = *value;
    }
    set_regs(pid, &regs)?;
    let mut kicked = false;
    ptrace::cont(pid, None).map_err(err("CONT", pid))?;
    loop {
        match wait_stop(pid)? {
            WaitStatus::Stopped(_, Signal::SIGTRAP) => break,
            WaitStatus::Stopped(_, sig) if sig == KICK_SIGNAL => {
                kicked = true;
                ptrace::cont(pid, None).map_err(err("CONT", pid))?;
            }
            other => {
                return Err(PlatformError::Other(format!("stub {pid} stopped unexpectedly during injected call {nr} at {gadget:#x}: {other:?}")))
            }
        }
    }
    let after = get_regs(pid)?;
    Ok((after.rax as i64, kicked))
}
