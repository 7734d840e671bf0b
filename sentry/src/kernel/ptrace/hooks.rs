//! Where a traced task stops: system call entry and exit, signal delivery,
//! group-stops, PTRACE_INTERRUPT, exec, clone and exit. Each hook costs one
//! uncontended lock when the task is not traced.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::kernel::process::lock;

/// The status code of a syscall-stop: SIGTRAP, with 0x80 under TRACESYSGOOD.
fn syscall_code(options: u32) -> i32 {
    if options & O_TRACESYSGOOD != 0 {
        libc::SIGTRAP | 0x80
    } else {
        libc::SIGTRAP
    }
}

/// The status code of a PTRACE_EVENT_* stop.
fn event_code(signo: i32, event: u32) -> i32 {
    signo | ((event as i32) << 8)
}

impl Task {
    /// The tracer, options and mode of this task (tracer 0: untraced).
    fn trace_state(&self) -> (i32, u32, Mode, bool) {
        if !is_traced(&self.thread) {
            return (0, 0, Mode::Continue, false);
        }
        let st = lock(&self.thread.ptrace);
        (st.tracer, st.options, st.mode, st.seized)
    }

    /// A signal the tracer passed when resuming from a syscall or event
    /// stop: Linux sends it to the tracee.
    fn resume_signal(&self, resumed: Option<(Resume, SigInfo)>) {
        let sig = match resumed {
            Some((Resume::Run { sig, .. }, _)) | Some((Resume::Detach { sig }, _)) => sig,
            _ => 0,
        };
        if sig > 0 && sig <= signal::NSIG as i32 {
            let tracer = lock(&self.thread.ptrace).tracer;
            self.kernel
                .send_thread_signal(&self.proc, &self.thread, SigInfo::user(sig, tracer, 0));
        }
    }

    /// At a system call's entry under PTRACE_SYSCALL: the syscall-enter-stop.
    /// False when the call must not run: the tracer set orig_rax to -1 (rax
    /// is then the result, -ENOSYS unless the tracer wrote another), or the
    /// task was killed meanwhile.
    pub fn ptrace_syscall_enter(&mut self) -> bool {
        let (tracer, options, mode, _) = self.trace_state();
        if tracer == 0 || mode != Mode::Syscall {
            return true;
        }
        self.regs.rax = (-libc::ENOSYS) as u64;
        self.syscall_stop(StopKind::SyscallEnter, options);
        !self.sigkill_pending() && self.regs.orig_rax != u64::MAX
    }

    /// After a system call under PTRACE_SYSCALL: the syscall-exit-stop. A
    /// call a signal interrupted shows the restart code (-ERESTARTSYS…) in
    /// rax, as on Linux, and gets its -EINTR back unless the tracer wrote rax.
    pub fn ptrace_syscall_exit(&mut self) {
        let (tracer, options, mode, _) = self.trace_state();
        // A call that ends the thread (exit, exit_group) has no exit-stop.
        if tracer == 0 || mode != Mode::Syscall || self.exit.is_some() {
            return;
        }
        let restart = self.restart.map(|e| (-(e.0 as i64)) as u64);
        let saved = self.regs.rax;
        if let Some(v) = restart {
            self.regs.rax = v;
        }
        self.syscall_stop(StopKind::SyscallExit, options);
        if restart.is_some_and(|v| v == self.regs.rax) {
            self.regs.rax = saved;
        }
    }

    /// A syscall-enter or syscall-exit stop; a signal the tracer resumes
    /// with is sent to the tracee.
    fn syscall_stop(&mut self, kind: StopKind, options: u32) {
        let code = syscall_code(options);
        let msg = if kind == StopKind::SyscallEnter {
            EVENTMSG_SYSCALL_ENTRY
        } else {
            EVENTMSG_SYSCALL_EXIT
        };
        let r = self.ptrace_stop(kind, code, SigInfo::new(libc::SIGTRAP, code), Some(msg));
        self.resume_signal(r);
    }

    /// A signal about to be delivered: a traced task stops first, and the
    /// tracer's answer decides what is delivered (None: nothing).
    pub fn ptrace_signal(&mut self, info: SigInfo) -> Option<SigInfo> {
        if info.signo == libc::SIGKILL || !is_traced(&self.thread) {
            return Some(info);
        }
        let (resume, mut info) = self.ptrace_stop(StopKind::Signal, info.signo, info, None)?;
        let sig = match resume {
            Resume::Run { sig, .. } | Resume::Detach { sig } => sig,
            Resume::Listen => 0,
        };
        if sig <= 0 || sig > signal::NSIG as i32 {
            return None;
        }
        if sig != info.signo {
            // Linux reports a signal the tracer substituted as sent by it.
            let tracer = match resume {
                Resume::Detach { .. } => 0,
                _ => lock(&self.thread.ptrace).tracer,
            };
            info = SigInfo::user(sig, tracer, 0);
        }
        if self.mask() & signal::bit(sig) != 0 {
            // Blocked now: it waits in the queue like any other.
            lock(&self.thread.sig).pending.queue(info);
            return None;
        }
        Some(info)
    }

    /// At a return to user mode: a pending PTRACE_INTERRUPT (or a seized
    /// tracee's first stop) becomes a PTRACE_EVENT_STOP.
    pub fn ptrace_take_trap(&mut self) {
        if !is_traced(&self.thread) {
            return;
        }
        let trap = {
            let mut st = lock(&self.thread.ptrace);
            if st.tracer == 0 {
                return;
            }
            st.trap.take()
        };
        if let Some(signo) = trap {
            let code = event_code(signo, EVENT_STOP);
            self.ptrace_stop(
                StopKind::Event(EVENT_STOP),
                code,
                SigInfo::new(libc::SIGTRAP, code),
                Some(0),
            );
        }
    }

    /// Whether a PTRACE_INTERRUPT waits (a blocking call must end for it).
    pub fn ptrace_trap_pending(&self) -> bool {
        is_traced(&self.thread) && lock(&self.thread.ptrace).trap.is_some()
    }

    /// While the process is group-stopped: a tracee reports the stop to its
    /// tracer once (an EVENT_STOP when seized). True when the tracer
    /// resumed it, which lets it run although its process stays stopped.
    pub fn ptrace_group_stop(&mut self) -> bool {
        if !is_traced(&self.thread) {
            return false;
        }
        let stops = &self.proc.ptrace;
        let epoch = stops.group_stops.load(Ordering::SeqCst);
        let signo = stops.stop_signo.load(Ordering::SeqCst);
        let seized = {
            let mut st = lock(&self.thread.ptrace);
            if st.tracer == 0 {
                return false;
            }
            if st.released_group_stop == epoch {
                return true;
            }
            if st.seen_group_stop == epoch {
                return false;
            }
            st.seen_group_stop = epoch;
            st.seized
        };
        let (kind, code) = if seized {
            (StopKind::Event(EVENT_STOP), event_code(signo, EVENT_STOP))
        } else {
            (StopKind::Group, signo)
        };
        let info = SigInfo::new(signo, signal::SI_USER);
        match self.ptrace_stop(kind, code, info, Some(0)) {
            Some((Resume::Run { .. }, _)) => {
                lock(&self.thread.ptrace).released_group_stop = epoch;
                true
            }
            _ => false,
        }
    }

    /// A successful execve: PTRACE_EVENT_EXEC (with the thread's former
    /// tid) under TRACEEXEC, else the legacy SIGTRAP for a tracee not seized.
    pub fn ptrace_exec(&mut self, former_tid: i32) {
        let (tracer, options, _, seized) = self.trace_state();
        if tracer == 0 {
            return;
        }
        if options & O_TRACEEXEC != 0 {
            let code = event_code(libc::SIGTRAP, EVENT_EXEC);
            let r = self.ptrace_stop(
                StopKind::Event(EVENT_EXEC),
                code,
                SigInfo::new(libc::SIGTRAP, code),
                Some(former_tid as u64),
            );
            self.resume_signal(r);
        } else if !seized {
            self.kernel.send_thread_signal(
                &self.proc,
                &self.thread,
                SigInfo::new(libc::SIGTRAP, signal::SI_USER),
            );
        }
    }

    /// A PTRACE_EVENT_* stop with message `msg`, if the tracer asked for
    /// `event` (fork, vfork, clone, vfork-done).
    pub fn ptrace_event(&mut self, event: u32, msg: u64) {
        let (tracer, options, _, _) = self.trace_state();
        if tracer == 0 || options & (1 << event) == 0 {
            return;
        }
        let code = event_code(libc::SIGTRAP, event);
        let r = self.ptrace_stop(
            StopKind::Event(event),
            code,
            SigInfo::new(libc::SIGTRAP, code),
            Some(msg),
        );
        self.resume_signal(r);
    }

    /// The thread is about to exit: PTRACE_EVENT_EXIT under TRACEEXIT
    /// (not for SIGKILL, which leaves no time to stop, nor for a thread
    /// another's exec ends).
    pub fn ptrace_exit_event(&mut self, status: i32) {
        if self.sigkill_pending() || self.thread.zapped() {
            return;
        }
        self.ptrace_event(EVENT_EXIT, status as u32 as u64);
    }
}

/// The x86 trap flag: the CPU raises a debug exception (#DB) after the
/// next instruction. Every platform turns a #DB in application code into
/// a SIGTRAP fault (ptrace: the stub's signal-stop; seccomp: the stub's
/// SIGTRAP handler; kvm: vector 1), and `syscall` clears it on entry.
const TF: u64 = 0x100;
/// si_code of a single-step trap, and of the one reported after a
/// system call stepped over (Linux's user_single_step_report).
const TRAP_BRKPT: i32 = 1;

impl Task {
    /// Before running application code: under PTRACE_SINGLESTEP, arms the
    /// trap flag. True when it did (the caller then calls
    /// [`Task::ptrace_step_end`]).
    pub fn ptrace_step_begin(&mut self) -> bool {
        if !is_traced(&self.thread) {
            return false;
        }
        let stepping = {
            let st = lock(&self.thread.ptrace);
            st.tracer != 0 && st.mode == Mode::SingleStep
        };
        if stepping {
            self.regs.eflags |= TF;
        }
        stepping
    }

    /// After a stepped run: the trap flag goes (it was the tracer's, and
    /// Linux hides it from the tracer's register reads too). The step's
    /// #DB arrives as a SIGTRAP fault, delivered like any other.
    pub fn ptrace_step_end(&mut self) {
        self.regs.eflags &= !TF;
    }

    /// A system call executed under PTRACE_SINGLESTEP: the instruction
    /// completed in the Sentry, so the step's SIGTRAP is the Sentry's to
    /// raise (unless the call ended the thread).
    pub fn ptrace_step_over_syscall(&mut self) {
        if self.exit.is_some() {
            return;
        }
        let info = SigInfo::fault(libc::SIGTRAP, TRAP_BRKPT, 0);
        self.kernel.force_signal(&self.proc, &self.thread, info);
    }
}

/// The event a clone with `flags` by a tracee reports, if its tracer asked
/// for it; the new task is then traced too.
pub fn clone_event(thread: &Thread, flags: i32) -> Option<u32> {
    if !is_traced(thread) {
        return None;
    }
    let st = lock(&thread.ptrace);
    if st.tracer == 0 {
        return None;
    }
    const CLONE_UNTRACED: i32 = 0x0080_0000;
    if flags & CLONE_UNTRACED != 0 {
        return None;
    }
    let event = if flags & libc::CLONE_VFORK != 0 {
        EVENT_VFORK
    } else if flags & 0xff != libc::SIGCHLD {
        EVENT_CLONE
    } else {
        EVENT_FORK
    };
    (st.options & (1 << event) != 0).then_some(event)
}

/// Makes `child` (a new task not yet running) a tracee of `parent`'s
/// tracer with the same options; its first stop is a SIGSTOP (an
/// EVENT_STOP when seized), taken before it runs, as Linux's auto-attach
/// gives.
pub fn inherit(k: &Kernel, parent: &Thread, child: &Arc<Thread>) {
    let (tracer, seized, options) = {
        let st = lock(&parent.ptrace);
        (st.tracer, st.seized, st.options)
    };
    let Some(tp) = k.process(tracer) else { return };
    if attach(&tp, child, seized, options).is_err() {
        return;
    }
    if seized {
        // (SIGTRAP: the process is not group-stopped.)
        lock(&child.ptrace).trap = Some(libc::SIGTRAP);
    } else {
        lock(&child.sig)
            .pending
            .queue(SigInfo::new(libc::SIGSTOP, signal::SI_USER));
    }
}
