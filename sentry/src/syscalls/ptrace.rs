//! ptrace(2): the requests, checked and handed to the tracing model in
//! kernel/ptrace. Only the workload's own tasks can be named.

use std::sync::Arc;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::{lock, Process};
use crate::kernel::ptrace::{self, user, Mode, Resume, StopKind};
use crate::kernel::signal::{self, SigInfo};
use crate::kernel::task::Task;
use crate::kernel::thread::Thread;

const TRACEME: u64 = 0;
const PEEKTEXT: u64 = 1;
const PEEKDATA: u64 = 2;
const PEEKUSR: u64 = 3;
const POKETEXT: u64 = 4;
const POKEDATA: u64 = 5;
const POKEUSR: u64 = 6;
const CONT: u64 = 7;
const KILL: u64 = 8;
const SINGLESTEP: u64 = 9;
const GETREGS: u64 = 12;
const SETREGS: u64 = 13;
const GETFPREGS: u64 = 14;
const SETFPREGS: u64 = 15;
const ATTACH: u64 = 16;
const DETACH: u64 = 17;
const SYSCALL: u64 = 24;
const SETOPTIONS: u64 = 0x4200;
const GETEVENTMSG: u64 = 0x4201;
const GETSIGINFO: u64 = 0x4202;
const SETSIGINFO: u64 = 0x4203;
const GETREGSET: u64 = 0x4204;
const SETREGSET: u64 = 0x4205;
const SEIZE: u64 = 0x4206;
const INTERRUPT: u64 = 0x4207;
const LISTEN: u64 = 0x4208;
const GETSIGMASK: u64 = 0x420a;
const SETSIGMASK: u64 = 0x420b;
const GET_SYSCALL_INFO: u64 = 0x420e;

pub fn ptrace(t: &mut Task, a: Args) -> SysResult<u64> {
    let (req, pid, addr, data) = (a[0], a[1] as i32, a[2], a[3]);
    match req {
        TRACEME => return traceme(t),
        ATTACH | SEIZE => return attach(t, pid, req == SEIZE, addr, data),
        _ => {}
    }
    let (tp, th) = t.kernel.thread(pid).ok_or(Errno(libc::ESRCH))?;
    let me = t.pid();
    match req {
        KILL => {
            ptrace::check_stopped(&th, me, true)?;
            t.kernel
                .send_signal(&tp, SigInfo::new(libc::SIGKILL, signal::SI_KERNEL), false);
            return Ok(0);
        }
        INTERRUPT => return interrupt(&th, me),
        _ => ptrace::check_stopped(&th, me, false)?,
    }
    match req {
        PEEKTEXT | PEEKDATA => {
            let word = ptrace::with_stopped(&th, me, move |tt| tt.mm.read_u64(addr))?
                .map_err(|_| Errno(libc::EIO))?;
            t.mm.write(data, &word.to_le_bytes())?;
            Ok(0)
        }
        POKETEXT | POKEDATA => {
            ptrace::with_stopped(&th, me, move |tt| {
                tt.mm.write_force(&mut *tt.ctx, addr, &data.to_le_bytes())
            })?
            .map_err(|_| Errno(libc::EIO))?;
            Ok(0)
        }
        PEEKUSR => {
            let word = ptrace::with_stopped(&th, me, move |tt| user::peek(&tt.regs, addr))??;
            t.mm.write(data, &word.to_le_bytes())?;
            Ok(0)
        }
        POKEUSR => {
            ptrace::with_stopped(&th, me, move |tt| user::poke(&mut tt.regs, addr, data))??;
            Ok(0)
        }
        GETREGS => {
            let regs = ptrace::with_stopped(&th, me, |tt| tt.regs)?;
            t.mm.write(data, &user::regs_bytes(&regs))?;
            Ok(0)
        }
        SETREGS => {
            let mut b = vec![0u8; user::REG_COUNT * 8];
            t.mm.read(data, &mut b)?;
            set_regs(&th, me, b)?;
            Ok(0)
        }
        GETFPREGS => {
            let fp = get_fp(&th, me)?;
            t.mm.write(data, &user::fp_bytes(&fp))?;
            Ok(0)
        }
        SETFPREGS => {
            let mut b = vec![0u8; 512];
            t.mm.read(data, &mut b)?;
            set_fp(&th, me, &b)?;
            Ok(0)
        }
        GETREGSET => get_regset(t, &th, me, addr, data),
        SETREGSET => set_regset(t, &th, me, addr, data),
        GETSIGINFO => {
            let info = stop_info(&th)?;
            t.mm.write(data, &info.as_bytes())?;
            Ok(0)
        }
        SETSIGINFO => {
            let mut b = [0u8; 128];
            t.mm.read(data, &mut b)?;
            // SAFETY: SigInfo is repr(C), 128 bytes of plain integers.
            let info: SigInfo = unsafe { std::mem::transmute_copy(&b) };
            let mut st = lock(&th.ptrace);
            let stop = st.stop.as_mut().ok_or(Errno(libc::ESRCH))?;
            stop.info = info;
            Ok(0)
        }
        GETEVENTMSG => {
            let msg = lock(&th.ptrace).event_msg;
            t.mm.write(data, &msg.to_le_bytes())?;
            Ok(0)
        }
        SETOPTIONS => {
            set_options(&th, data)?;
            Ok(0)
        }
        GETSIGMASK | SETSIGMASK => sigmask(t, &th, req, addr, data),
        CONT | SYSCALL | SINGLESTEP => {
            let sig = resume_signal(data)?;
            let mode = match req {
                SYSCALL => Mode::Syscall,
                SINGLESTEP => Mode::SingleStep,
                _ => Mode::Continue,
            };
            ptrace::resume(&th, me, Resume::Run { sig, mode })?;
            Ok(0)
        }
        LISTEN => {
            let st = lock(&th.ptrace);
            let group = matches!(
                st.stop.as_ref().map(|s| s.kind),
                Some(StopKind::Event(ptrace::EVENT_STOP))
            );
            if !st.seized || !group {
                return err(libc::EIO);
            }
            drop(st);
            ptrace::resume(&th, me, Resume::Listen)?;
            Ok(0)
        }
        DETACH => {
            let sig = resume_signal(data)?;
            ptrace::detach(&t.proc, &th, sig);
            Ok(0)
        }
        GET_SYSCALL_INFO => syscall_info(t, &th, me, addr, data),
        _ => err(libc::EIO),
    }
}

/// A signal number passed to a resuming request (0: none).
fn resume_signal(data: u64) -> SysResult<i32> {
    if data > signal::NSIG as u64 {
        return err(libc::EIO);
    }
    Ok(data as i32)
}

/// PTRACE_TRACEME: the parent becomes the tracer.
fn traceme(t: &mut Task) -> SysResult<u64> {
    let ppid = lock(&t.proc.state).ppid;
    let parent = (ppid != 0)
        .then(|| t.kernel.process(ppid))
        .flatten()
        .ok_or(Errno(libc::EPERM))?;
    ptrace::attach(&parent, &t.thread, false, 0)?;
    Ok(0)
}

/// PTRACE_ATTACH and PTRACE_SEIZE (with its options in `data`).
fn attach(t: &mut Task, pid: i32, seize: bool, addr: u64, data: u64) -> SysResult<u64> {
    let options = if seize {
        if addr != 0 || data & !(ptrace::O_ALL as u64) != 0 {
            return err(libc::EIO);
        }
        data as u32
    } else {
        0
    };
    let (tp, th): (Arc<Process>, Arc<Thread>) = t.kernel.thread(pid).ok_or(Errno(libc::ESRCH))?;
    if Arc::ptr_eq(&tp, &t.proc) || tp.is_zombie() || !ptrace::may_trace(&t.kernel, &t.proc, &tp) {
        return err(libc::EPERM);
    }
    ptrace::attach(&t.proc, &th, seize, options)?;
    if !seize {
        t.kernel
            .send_thread_signal(&tp, &th, SigInfo::new(libc::SIGSTOP, signal::SI_KERNEL));
    }
    Ok(0)
}

/// PTRACE_INTERRUPT: a seized tracee stops at its next chance.
fn interrupt(th: &Thread, me: i32) -> SysResult<u64> {
    let mut st = lock(&th.ptrace);
    if st.tracer != me {
        return err(libc::ESRCH);
    }
    if !st.seized {
        return err(libc::EIO);
    }
    if st.stop.is_none() && st.trap.is_none() {
        st.trap = Some(libc::SIGTRAP);
    }
    drop(st);
    th.wake();
    Ok(0)
}

fn set_options(th: &Thread, data: u64) -> SysResult<()> {
    if data & !(ptrace::O_ALL as u64) != 0 {
        return err(libc::EINVAL);
    }
    lock(&th.ptrace).options = data as u32;
    Ok(())
}

/// The siginfo of the stop the tracee is in.
fn stop_info(th: &Thread) -> SysResult<SigInfo> {
    let st = lock(&th.ptrace);
    Ok(st.stop.as_ref().ok_or(Errno(libc::ESRCH))?.info)
}

fn set_regs(th: &Thread, me: i32, b: Vec<u8>) -> SysResult<()> {
    ptrace::with_stopped(th, me, move |tt| {
        tt.regs = user::regs_from_bytes(&b, &tt.regs)?;
        Ok(())
    })?
}

fn get_fp(th: &Thread, me: i32) -> SysResult<crate::platform::FpRegs> {
    ptrace::with_stopped(th, me, |tt| tt.ctx.fp_regs().map_err(|_| Errno(libc::EIO)))?
}

fn set_fp(th: &Thread, me: i32, b: &[u8]) -> SysResult<()> {
    let fp = user::fp_from_bytes(b)?;
    ptrace::with_stopped(th, me, move |tt| {
        tt.ctx.set_fp_regs(&fp).map_err(|_| Errno(libc::EIO))
    })?
}

/// Reads the `struct iovec` at `addr`.
fn read_iovec(t: &Task, addr: u64) -> SysResult<(u64, u64)> {
    let base = t.mm.read_u64(addr)?;
    let len = t.mm.read_u64(addr + 8)?;
    Ok((base, len))
}

fn get_regset(t: &mut Task, th: &Thread, me: i32, note: u64, iov: u64) -> SysResult<u64> {
    let size = user::regset_size(note)?;
    let (base, len) = read_iovec(t, iov)?;
    let bytes = match note {
        user::NT_PRSTATUS => user::regs_bytes(&ptrace::with_stopped(th, me, |tt| tt.regs)?),
        user::NT_PRFPREG => user::fp_bytes(&get_fp(th, me)?),
        _ => user::xstate_bytes(&get_fp(th, me)?),
    };
    let n = (len as usize).min(size);
    t.mm.write(base, &bytes[..n])?;
    t.mm.write(iov + 8, &(n as u64).to_le_bytes())?;
    Ok(0)
}

fn set_regset(t: &mut Task, th: &Thread, me: i32, note: u64, iov: u64) -> SysResult<u64> {
    let size = user::regset_size(note)?;
    let (base, len) = read_iovec(t, iov)?;
    let n = (len as usize).min(size);
    let mut b = vec![0u8; n];
    t.mm.read(base, &mut b)?;
    match note {
        user::NT_PRSTATUS => {
            if n != size {
                return err(libc::EINVAL);
            }
            set_regs(th, me, b)?;
        }
        _ => {
            if n < 512 {
                return err(libc::EINVAL);
            }
            set_fp(th, me, &b)?;
        }
    }
    t.mm.write(iov + 8, &(n as u64).to_le_bytes())?;
    Ok(0)
}

/// PTRACE_GETSIGMASK / SETSIGMASK (`addr` is the set's size, 8).
fn sigmask(t: &mut Task, th: &Thread, req: u64, size: u64, data: u64) -> SysResult<u64> {
    if size != 8 {
        return err(libc::EINVAL);
    }
    if req == GETSIGMASK {
        let mask = th.mask();
        t.mm.write(data, &mask.to_le_bytes())?;
    } else {
        let mask = t.mm.read_u64(data)? & !signal::UNBLOCKABLE;
        lock(&th.sig).mask = mask;
    }
    Ok(0)
}

/// PTRACE_GET_SYSCALL_INFO: struct ptrace_syscall_info for the stop the
/// tracee is in; returns the size of the information available.
fn syscall_info(t: &mut Task, th: &Thread, me: i32, size: u64, data: u64) -> SysResult<u64> {
    const OP_NONE: u8 = 0;
    const OP_ENTRY: u8 = 1;
    const OP_EXIT: u8 = 2;
    let (kind, sysgood) = {
        let st = lock(&th.ptrace);
        let kind = st.stop.as_ref().ok_or(Errno(libc::ESRCH))?.kind;
        (kind, st.options & ptrace::O_TRACESYSGOOD != 0)
    };
    let regs = ptrace::with_stopped(th, me, |tt| tt.regs)?;
    // Linux tells syscall-stops apart by their SIGTRAP|0x80 code: without
    // TRACESYSGOOD a syscall-stop reports no system call.
    let op = match kind {
        StopKind::SyscallEnter if sysgood => OP_ENTRY,
        StopKind::SyscallExit if sysgood => OP_EXIT,
        _ => OP_NONE,
    };
    let mut b = [0u8; 88];
    b[0] = op;
    b[4..8].copy_from_slice(&crate::platform::AUDIT_ARCH_X86_64.to_le_bytes());
    b[8..16].copy_from_slice(&regs.rip.to_le_bytes());
    b[16..24].copy_from_slice(&regs.rsp.to_le_bytes());
    let actual = match op {
        OP_ENTRY => {
            let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
            b[24..32].copy_from_slice(&regs.orig_rax.to_le_bytes());
            for (i, v) in args.iter().enumerate() {
                b[32 + i * 8..40 + i * 8].copy_from_slice(&v.to_le_bytes());
            }
            80
        }
        OP_EXIT => {
            let rval = regs.rax as i64;
            b[24..32].copy_from_slice(&rval.to_le_bytes());
            b[32] = u8::from((-4095..0).contains(&rval));
            33
        }
        // Linux copies only the op byte's word for a stop that is not a
        // system call's.
        _ => 4,
    };
    let n = (size as usize).min(actual);
    if n > 0 {
        t.mm.write(data, &b[..n])?;
    }
    Ok(actual as u64)
}
