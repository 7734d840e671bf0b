//! Signal system calls: dispositions, masks, waiting for signals.

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::signal::{SigAction, SigInfo, NSIG, SA_RESTORER, UNBLOCKABLE};
use crate::kernel::task::Task;

pub fn rt_sigaction(t: &mut Task, a: Args) -> SysResult<u64> {
    let sig = a[0] as usize;
    if sig == 0 || sig > NSIG || a[3] != 8 {
        return err(libc::EINVAL);
    }
    let new = if a[1] != 0 {
        Some(t.mm.read_obj::<SigAction>(a[1])?)
    } else {
        None
    };
    if new.is_some() && (sig == libc::SIGKILL as usize || sig == libc::SIGSTOP as usize) {
        return err(libc::EINVAL);
    }
    if let Some(n) = &new {
        // x86-64 handlers return through sa_restorer.
        if n.handler > 1 && n.flags & SA_RESTORER == 0 {
            tracing::debug!(pid = t.pid(), sig, "sigaction without SA_RESTORER");
        }
    }
    let old = {
        let mut s = lock(&t.proc.sig);
        let old = s.actions[sig];
        if let Some(mut n) = new {
            n.mask &= !UNBLOCKABLE;
            s.actions[sig] = n;
            // Setting a signal to be ignored discards it if pending.
            if s.ignores(sig as i32) {
                s.pending.retain(|p| p.signo != sig as i32);
            }
        }
        old
    };
    if a[2] != 0 {
        t.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[3] != 8 {
        return err(libc::EINVAL);
    }
    let set = if a[1] != 0 {
        Some(t.mm.read_obj::<u64>(a[1])?)
    } else {
        None
    };
    let old = t.mask();
    if let Some(set) = set {
        let new = match a[0] as i32 {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return err(libc::EINVAL),
        };
        t.set_mask(new);
    }
    if a[2] != 0 {
        t.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}

pub fn rt_sigpending(t: &mut Task, a: Args) -> SysResult<u64> {
    let pending = {
        let s = lock(&t.proc.sig);
        let ts = lock(&t.thread.sig);
        (s.pending.mask() | ts.pending.mask()) & ts.mask
    };
    t.mm.write_obj(a[0], &pending)?;
    Ok(0)
}

/// Waits for any signal with `mask` in force; always "fails" with EINTR
/// once a handler has run, as sigsuspend does.
pub fn rt_sigsuspend(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[1] != 8 {
        return err(libc::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(a[0])?;
    t.saved_mask = Some(t.mask());
    t.set_mask(mask);
    let _ = t.block_watching::<()>(&[], None, |_| None);
    Err(Errno::ERESTARTNOHAND)
}

pub fn pause(t: &mut Task) -> SysResult<u64> {
    let _ = t.block_watching::<()>(&[], None, |_| None);
    Err(Errno::ERESTARTNOHAND)
}

pub fn sigaltstack(t: &mut Task, a: Args) -> SysResult<u64> {
    let old = t.altstack;
    // On the stack is where the stack pointer is (Linux's on_sig_stack).
    let on_now = old.1 & libc::SS_DISABLE == 0
        && old.2 > 0
        && t.regs.rsp > old.0
        && t.regs.rsp - old.0 <= old.2;
    if a[0] != 0 {
        let ss: libc::stack_t = t.mm.read_obj(a[0])?;
        if on_now {
            return err(libc::EPERM);
        }
        if ss.ss_flags & !(libc::SS_DISABLE) != 0 {
            return err(libc::EINVAL);
        }
        if ss.ss_flags & libc::SS_DISABLE != 0 {
            t.altstack = (0, libc::SS_DISABLE, 0);
        } else {
            if ss.ss_size < libc::MINSIGSTKSZ {
                return err(libc::ENOMEM);
            }
            t.altstack = (ss.ss_sp as u64, 0, ss.ss_size as u64);
        }
    }
    if a[1] != 0 {
        let (sp, flags, size) = old;
        let on = sp != 0 && t.regs.rsp > sp && t.regs.rsp <= sp + size;
        let out = libc::stack_t {
            ss_sp: sp as *mut libc::c_void,
            ss_flags: if on { libc::SS_ONSTACK } else { flags },
            ss_size: size as usize,
        };
        t.mm.write_obj(a[1], &out)?;
    }
    Ok(0)
}

/// rt_sigtimedwait (sigwaitinfo, sigtimedwait): takes a pending signal of
/// `set`, waiting for one (with the set counting as unblocked meanwhile, so
/// any other deliverable signal interrupts with EINTR). glibc's SIGEV_THREAD
/// timers rely on it: their helper thread loops on sigwaitinfo.
pub fn rt_sigtimedwait(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[3] != 8 {
        return err(libc::EINVAL);
    }
    let set = t.mm.read_obj::<u64>(a[0])? & !UNBLOCKABLE;
    let deadline = if a[2] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[2])?;
        Some(crate::kernel::timers::after(
            crate::kernel::timers::duration_of(&ts)?,
        ))
    } else {
        None
    };
    let take = |t: &mut Task| {
        let mut ps = lock(&t.proc.sig);
        let mut ts = lock(&t.thread.sig);
        ts.pending.take_in(set).or_else(|| ps.pending.take_in(set))
    };
    // A signal's arrival wakes the thread itself (Thread::wake).
    let info = match t.block_watching(&[], deadline, take) {
        Ok(info) => info,
        Err(e) if e.0 == libc::ETIMEDOUT => return err(libc::EAGAIN),
        Err(e) if e.is_restart() => return err(libc::EINTR),
        Err(e) => return Err(e),
    };
    if a[1] != 0 {
        t.mm.write(a[1], &info.as_bytes())?;
    }
    Ok(info.signo as u64)
}

/// Reads the siginfo a sigqueue-style call passes. Only the sender's own
/// process may claim a kernel-looking si_code (>= 0) or SI_TKILL, as on Linux.
fn queued_info(t: &Task, addr: u64, sig: u64, target_pid: i32) -> SysResult<SigInfo> {
    if sig > 64 {
        return err(libc::EINVAL);
    }
    let mut info: SigInfo = t.mm.read_obj(addr)?;
    if (info.code >= 0 || info.code == crate::kernel::signal::SI_TKILL) && target_pid != t.pid() {
        return err(libc::EPERM);
    }
    info.signo = sig as i32;
    Ok(info)
}

pub fn rt_sigqueueinfo(t: &mut Task, a: Args) -> SysResult<u64> {
    let pid = a[0] as i32;
    let target = t.kernel.process(pid).ok_or(Errno(libc::ESRCH))?;
    let info = queued_info(t, a[2], a[1], pid)?;
    if !super::process::may_signal(t, &target, info.signo) {
        return err(libc::EPERM);
    }
    t.kernel.try_send_signal(&target, info, false)?;
    Ok(0)
}

pub fn rt_tgsigqueueinfo(t: &mut Task, a: Args) -> SysResult<u64> {
    let (tgid, tid) = (a[0] as i32, a[1] as i32);
    if tgid <= 0 || tid <= 0 {
        return err(libc::EINVAL);
    }
    let (proc, thread) = t.kernel.thread(tid).ok_or(Errno(libc::ESRCH))?;
    if proc.pid != tgid {
        return err(libc::ESRCH);
    }
    let info = queued_info(t, a[3], a[2], tgid)?;
    if !super::process::may_signal(t, &proc, info.signo) {
        return err(libc::EPERM);
    }
    t.kernel.try_send_thread_signal(&proc, &thread, info)?;
    Ok(0)
}
