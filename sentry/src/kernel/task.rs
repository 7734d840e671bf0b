//! A task: one application thread, run by one Sentry thread. The loop is
//! the heart of the Sentry: run the application until it traps, service the
//! trap, deliver signals, repeat.

use std::sync::Arc;
use std::time::Instant;

use super::process::{lock, Process};
use super::signal::{self, DefaultAction as SigDefault, SigInfo, SIG_DFL, SIG_IGN};
use super::thread::Thread;
use super::{events, sigframe, Kernel};
use crate::errno::{Errno, SysResult};
use crate::mm::{MemoryManager, SharedMm};
use crate::platform::{Context, Regs, Trap};

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// exit/exit_group with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The wait(2) status word.
    pub fn wait_status(self) -> i32 {
        match self {
            Exit::Code(c) => (c & 0xff) << 8,
            Exit::Signal(s) => s & 0x7f,
        }
    }
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub proc: Arc<Process>,
    /// This thread as other threads see it (mask, pending signals, wake-up).
    pub thread: Arc<Thread>,
    pub tid: i32,
    pub regs: Regs,
    /// The address space, shared with the process's other threads.
    pub mm: Arc<SharedMm>,
    /// The platform's thread that runs this task.
    pub ctx: Box<dyn Context>,
    /// A restartable error of the last system call, decided at signal delivery.
    pub(super) restart: Option<Errno>,
    /// The mask to restore after sigsuspend-style calls deliver a signal.
    pub saved_mask: Option<u64>,
    pub clear_child_tid: u64,
    pub exit: Option<Exit>,
    /// sigaltstack: (sp, flags, size).
    pub altstack: (u64, i32, u64),
    /// The address space is the parent's, lent by vfork (CLONE_VM without
    /// CLONE_THREAD) until this process execs or exits.
    pub borrowed_mm: bool,
}

impl Task {
    /// A task for `thread` of `proc`, registered as one of its live threads.
    pub fn new(
        kernel: Arc<Kernel>,
        proc: Arc<Process>,
        thread: Arc<Thread>,
        regs: Regs,
        mm: Arc<SharedMm>,
        ctx: Box<dyn Context>,
    ) -> Task {
        let tid = thread.tid;
        thread.set_interrupter(Some(ctx.interrupter()));
        if tid == proc.pid {
            lock(&proc.state).host_pid = ctx.host_pid();
        }
        lock(&proc.threads).push(thread.clone());
        lock(&kernel.tids).insert(tid, proc.pid);
        *lock(&proc.mm) = Arc::downgrade(&mm);
        Task {
            kernel,
            proc,
            thread,
            tid,
            regs,
            mm,
            ctx,
            restart: None,
            saved_mask: None,
            clear_child_tid: 0,
            exit: None,
            altstack: (0, libc::SS_DISABLE, 0),
            borrowed_mm: false,
        }
    }

    /// Gives a borrowed address space back (exec of a vfork child): the
    /// task gets an empty address space on a platform context of its own,
    /// and leaves the parent's untouched.
    pub fn return_borrowed_mm(&mut self) -> SysResult<()> {
        if !self.borrowed_mm {
            return Ok(());
        }
        let ctx = self.kernel.platform.new_context().map_err(|e| {
            tracing::warn!(pid = self.pid(), "cannot create a stub for exec: {e}");
            Errno(libc::EAGAIN)
        })?;
        self.thread.set_interrupter(Some(ctx.interrupter()));
        {
            let mut st = lock(&self.proc.state);
            st.host_pid = ctx.host_pid();
            // The old context's application time stays the process's.
            st.app_cpu_ns += self.ctx.interrupter().app_cpu_ns().unwrap_or(0);
        }
        // Dropping the old context ends its platform thread only.
        self.ctx = ctx;
        self.mm = Arc::new(SharedMm::new(MemoryManager::new(
            self.kernel.memfile.clone(),
        )));
        *lock(&self.proc.mm) = Arc::downgrade(&self.mm);
        self.borrowed_mm = false;
        Ok(())
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid
    }

    /// The calling thread's signal mask.
    pub fn mask(&self) -> u64 {
        self.thread.mask()
    }

    pub fn set_mask(&self, mask: u64) {
        lock(&self.thread.sig).mask = mask & !signal::UNBLOCKABLE;
    }

    /// Runs the task until it exits.
    pub fn run(mut self) {
        super::thread::set_current(Some((self.proc.clone(), self.thread.clone())));
        self.thread.host_tid.store(
            super::cputimers::gettid(),
            std::sync::atomic::Ordering::Relaxed,
        );
        // A traced new task takes its first stop (auto-attach) before
        // running, as Linux's return from fork passes signal delivery.
        if super::ptrace::is_traced(&self.thread) {
            self.deliver_signals();
        }
        while self.exit.is_none() {
            super::freeze::enter_user(&self.proc, &self.thread, || {
                self.thread.zapped() || self.sigkill_pending()
            });
            let stepping = self.ptrace_step_begin();
            let ran = self.ctx.run(&mut self.regs);
            super::freeze::leave_user(&self.thread);
            if stepping {
                self.ptrace_step_end();
            }
            let trap = match ran {
                Ok(t) => t,
                // A thread ended by another's exec may find its stub gone.
                Err(_) if self.thread.zapped() => {
                    self.exit = Some(Exit::Code(0));
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        pid = self.pid(),
                        tid = self.tid,
                        "the platform lost the task: {e}"
                    );
                    self.exit = Some(Exit::Signal(libc::SIGKILL));
                    self.end_group(Exit::Signal(libc::SIGKILL));
                    break;
                }
            };
            match trap {
                Trap::Syscall => {
                    self.syscall();
                    if stepping {
                        self.ptrace_step_over_syscall();
                    }
                }
                Trap::Fault(f) => self.fault(f),
                Trap::Interrupted => {}
            }
            // A thread ended by another's exec takes no signal with it:
            // the process's pending ones are the new image's.
            if !self.thread.zapped() {
                self.deliver_signals();
            }
            if self.exit.is_none() && self.thread.zapped() {
                self.exit = Some(Exit::Code(0));
            }
        }
        if let Some(how) = self.exit {
            let status = lock(&self.proc.group_exit).unwrap_or(how);
            self.ptrace_exit_event(status.wait_status());
        }
        super::thread::set_current(None);
        self.finish();
    }

    /// A fault: the memory manager may map the page (a shared file that
    /// grew) or call it SIGBUS (past the end of a mapped file); the rest
    /// becomes the signal the platform reported.
    fn fault(&mut self, f: crate::platform::Fault) {
        use crate::mm::address_space::FaultOutcome;
        // siginfo's si_code for a mapped page the access is not allowed on
        // (the libc crate does not define it).
        const SEGV_ACCERR: i32 = 2;
        let (mut signo, mut code) = (f.signo, f.code);
        if f.signo == libc::SIGSEGV {
            match self.mm.lock().resolve_fault(&mut *self.ctx, f.addr) {
                FaultOutcome::Resolved => return,
                FaultOutcome::PastEof => (signo, code) = (libc::SIGBUS, libc::BUS_ADRERR),
                FaultOutcome::Denied => code = SEGV_ACCERR,
                FaultOutcome::Signal => {}
            }
        }
        let info = SigInfo::fault(signo, code, f.addr);
        self.kernel.force_signal(&self.proc, &self.thread, info);
    }

    fn syscall(&mut self) {
        if !self.ptrace_syscall_enter() {
            self.ptrace_syscall_exit();
            return;
        }
        let nr = self.regs.orig_rax;
        let args = [
            self.regs.rdi,
            self.regs.rsi,
            self.regs.rdx,
            self.regs.r10,
            self.regs.r8,
            self.regs.r9,
        ];
        let result = if crate::syscalls::stats::enabled() {
            let start = Instant::now();
            let r = crate::syscalls::dispatch(self, nr, args);
            crate::syscalls::stats::record(nr, start.elapsed());
            r
        } else {
            crate::syscalls::dispatch(self, nr, args)
        };
        match result {
            Ok(v) => self.regs.rax = v,
            Err(e) if e == Errno::EJUSTRETURN => {}
            Err(e) if e.is_restart() => {
                self.restart = Some(e);
                self.regs.rax = (-libc::EINTR) as u64;
            }
            Err(e) => self.regs.rax = (-(e.0 as i64)) as u64,
        }
        self.ptrace_syscall_exit();
    }

    /// Whether a signal is waiting that should interrupt a blocking call.
    pub fn signal_pending(&self) -> bool {
        if self.stopped() || self.ptrace_trap_pending() {
            return true;
        }
        let sig = lock(&self.proc.sig);
        let ts = lock(&self.thread.sig);
        ts.pending.has_deliverable(ts.mask) || sig.pending.has_deliverable(ts.mask)
    }

    /// Blocks until `ready` yields a value, a signal arrives (ERESTARTSYS)
    /// or `deadline` passes (ETIMEDOUT). With `host`, also wakes when that
    /// host descriptor polls ready for `events`.
    pub fn block<T>(
        &mut self,
        host: Option<(i32, i16)>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Task) -> Option<T>,
    ) -> SysResult<T> {
        loop {
            let seen = events::generation();
            if let Some(v) = ready(self) {
                return Ok(v);
            }
            if self.signal_pending() || self.thread.zapped() {
                return Err(Errno::ERESTARTSYS);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Errno(libc::ETIMEDOUT));
            }
            match host {
                Some((fd, ev)) => {
                    let mut fds = [
                        libc::pollfd {
                            fd,
                            events: ev,
                            revents: 0,
                        },
                        libc::pollfd {
                            fd: self.thread.wake_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        },
                    ];
                    let timeout = deadline
                        .map(|d| {
                            d.saturating_duration_since(Instant::now())
                                .as_millis()
                                .min(i32::MAX as u128) as i32
                        })
                        .unwrap_or(-1);
                    // SAFETY: poll on two valid pollfd entries.
                    unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
                    self.thread.drain_wake();
                }
                None => events::wait(seen, deadline),
            }
        }
    }

    /// Blocks as [`Task::block`] does, but woken only by bumps of `seqs`
    /// (the counters of the files waited on, `FileOps::wait_seq`), a
    /// signal or the deadline: the thread sleeps on its own wake
    /// descriptor, not on the kernel-wide counter.
    pub fn block_watching<T>(
        &mut self,
        seqs: &[&events::Seq],
        deadline: Option<Instant>,
        ready: impl FnMut(&mut Task) -> Option<T>,
    ) -> SysResult<T> {
        for s in seqs {
            s.watch(&self.thread);
        }
        let r = self.block(Some((-1, 0)), deadline, ready);
        for s in seqs {
            s.unwatch(&self.thread);
        }
        r
    }

    /// Blocks until `ready` yields, as [`Task::block`], on the readiness of
    /// `files`: when none is a host descriptor and every one keeps a wait
    /// counter (`FileOps::wait_seq`), the thread watches those counters
    /// alone; a file that stops keeping one (a socket that now reaches the
    /// network) sends it round again to choose anew. With no files, only
    /// a signal or the deadline ends the wait.
    pub fn block_on_files<T>(
        &mut self,
        files: &[&dyn crate::vfs::FileOps],
        host: Option<(i32, i16)>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Task) -> Option<T>,
    ) -> SysResult<T> {
        loop {
            let seqs: Option<Vec<&events::Seq>> = match host {
                None => files.iter().map(|f| f.wait_seq()).collect(),
                Some(_) => None,
            };
            let Some(seqs) = seqs else {
                return self.block(host, deadline, ready);
            };
            let r = self.block_watching(&seqs, deadline, |t| {
                if let Some(v) = ready(t) {
                    return Some(Some(v));
                }
                files.iter().any(|f| f.wait_seq().is_none()).then_some(None)
            });
            match r {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Ends the whole process (exit_group, a fatal signal): the first reason
    /// wins, and every other thread is told to die.
    pub fn end_group(&self, how: Exit) {
        // A thread another's exec is ending leaves quietly (that exec won).
        if self.thread.zapped() {
            return;
        }
        {
            let mut g = lock(&self.proc.group_exit);
            if g.is_none() {
                *g = Some(how);
            }
        }
        for t in self.proc.threads() {
            if t.tid != self.tid {
                lock(&t.sig)
                    .pending
                    .queue(SigInfo::new(libc::SIGKILL, signal::SI_KERNEL));
                t.wake();
            }
        }
    }

    /// Delivers pending signals at the return to user mode.
    fn deliver_signals(&mut self) {
        loop {
            self.wait_while_stopped();
            self.ptrace_take_trap();
            let next = {
                let mut sig = lock(&self.proc.sig);
                let mut ts = lock(&self.thread.sig);
                let mask = ts.mask;
                ts.pending.take(mask).or_else(|| sig.pending.take(mask))
            };
            let Some(info) = next else { break };
            // A tracer sees the signal first, and may change or drop it.
            let Some(info) = self.ptrace_signal(info) else {
                continue;
            };
            let action = lock(&self.proc.sig).actions[info.signo as usize];
            let signo = info.signo;
            match action.handler {
                SIG_IGN if signo != libc::SIGKILL => continue,
                SIG_DFL | SIG_IGN => match signal::default_action(signo) {
                    SigDefault::Ignore | SigDefault::Continue => continue,
                    SigDefault::Stop => {
                        // Nobody could continue an orphaned group: the
                        // terminal's stops are discarded there (SIGSTOP
                        // still stops).
                        let pgid = lock(&self.proc.state).pgid;
                        if signo == libc::SIGSTOP || !self.kernel.pgrp_orphaned(pgid, 0) {
                            self.kernel.stop_process(&self.proc, signo);
                        }
                        continue;
                    }
                    _ => {
                        self.exit = Some(Exit::Signal(signo));
                        self.end_group(Exit::Signal(signo));
                        return;
                    }
                },
                _ => {
                    self.apply_restart(Some(action.flags));
                    let old_mask = self.saved_mask.take().unwrap_or_else(|| self.mask());
                    if let Err(e) = sigframe::setup(self, &info, &action, old_mask) {
                        tracing::debug!(
                            pid = self.pid(),
                            "cannot build a signal frame ({e:?}): killing with SIGSEGV"
                        );
                        self.exit = Some(Exit::Signal(libc::SIGSEGV));
                        self.end_group(Exit::Signal(libc::SIGSEGV));
                        return;
                    }
                    let mut add = action.mask;
                    if action.flags & signal::SA_NODEFER == 0 {
                        add |= signal::bit(signo);
                    }
                    let cur = self.mask();
                    self.set_mask(cur | add);
                    if action.flags & signal::SA_RESETHAND != 0 {
                        lock(&self.proc.sig).actions[signo as usize].handler = SIG_DFL;
                    }
                    return;
                }
            }
        }
        // No handler ran: interrupted calls restart.
        self.apply_restart(None);
        if let Some(m) = self.saved_mask.take() {
            self.set_mask(m);
        }
    }

    /// Decides an interrupted call's fate: restart it, or let it fail with EINTR.
    fn apply_restart(&mut self, handler_flags: Option<u64>) {
        let Some(code) = self.restart.take() else {
            return;
        };
        let restart = match handler_flags {
            None => true,
            Some(flags) => {
                code == Errno::ERESTARTNOINTR
                    || (code == Errno::ERESTARTSYS && flags & signal::SA_RESTART != 0)
            }
        };
        if restart {
            self.regs.rax = self.regs.orig_rax;
            self.regs.rip -= 2;
        } else {
            self.regs.rax = (-libc::EINTR) as u64;
        }
    }

    /// Tears the task down. The last thread of a process turns it into a
    /// zombie; the leader's Sentry thread holds the platform's process until
    /// every other thread is gone.
    fn finish(self) {
        let exit = self.exit.unwrap_or(Exit::Code(0));
        let Task {
            kernel,
            proc,
            thread,
            mm,
            ctx,
            clear_child_tid,
            tid,
            ..
        } = self;
        thread.set_interrupter(None);
        let robust = thread
            .robust_list
            .load(std::sync::atomic::Ordering::Relaxed);
        if robust != 0 {
            super::futex::exit_robust_list(&mm, robust, tid);
        }
        // The tid goes before the thread: an exec'ing thread that sees the
        // leader gone from the list then claims the pid as its tid safely.
        lock(&kernel.tids).remove(&tid);
        lock(&proc.threads).retain(|t| t.tid != tid);
        // After the tid is gone: a locker either queued behind this owner
        // before (and gets the lock now) or finds no owner (ESRCH).
        super::futex_pi::owner_gone(tid);
        let remaining = lock(&proc.threads).len();
        if clear_child_tid != 0 && remaining > 0 {
            // pthread_join waits on this word: clear it and wake the joiner.
            if mm.write(clear_child_tid, &0u32.to_le_bytes()).is_ok() {
                super::futex::wake(&mm, clear_child_tid, 1, u32::MAX);
            }
        }
        events::notify();
        if remaining > 0 {
            let status = lock(&proc.group_exit).unwrap_or(exit);
            super::ptrace::thread_exited(&kernel, &proc, &thread, status.wait_status());
            if tid == proc.pid {
                // The leader's platform thread owns the stub process: keep it
                // until the others are gone, or another thread's exec made
                // that one the leader (kernel/dethread.rs).
                loop {
                    let seen = events::generation();
                    let threads = lock(&proc.threads);
                    // (This thread left the list: a thread with its tid
                    // is the new leader.)
                    if threads.is_empty() || threads.iter().any(|t| t.tid == tid) {
                        break;
                    }
                    drop(threads);
                    events::wait(seen, None);
                }
            }
            sample_cpu(&proc, &*ctx);
            drop(ctx);
            drop(mm);
            *lock(&kernel.live_tasks) -= 1;
            events::notify();
            return;
        }
        // The platform thread goes before the parent can see the exit.
        sample_cpu(&proc, &*ctx);
        let status = lock(&proc.group_exit).unwrap_or(exit);
        super::ptrace::thread_exited(&kernel, &proc, &thread, status.wait_status());
        drop(ctx);
        drop(mm);
        lock(&proc.files).clear();
        let status = lock(&proc.group_exit).unwrap_or(exit);
        super::exit::exit_process(&kernel, &proc, status);
        *lock(&kernel.live_tasks) -= 1;
        events::notify();
    }
}

/// Records the process's CPU time while its platform process still exists,
/// with what this Sentry thread spent serving the task (and, on kvm, the
/// part of it spent running application code).
fn sample_cpu(proc: &Process, ctx: &dyn crate::platform::Context) {
    let app = ctx.interrupter().app_cpu_ns().unwrap_or(0);
    let mut st = lock(&proc.state);
    st.app_cpu_ns += app;
    if let Some(ns) = super::process::host_cpu_ns(st.host_pid) {
        st.cpu_ns = st.cpu_ns.max(ns);
    }
    st.sentry_cpu_ns += super::process::sentry_thread_cpu_ns();
}
