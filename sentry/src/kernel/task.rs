//! A task: one application thread, run by one Sentry thread. The loop is
//! the heart of the Sentry: run the application until it traps, service the
//! trap, deliver signals, repeat.

use std::sync::Arc;
use std::time::Instant;

use super::process::{lock, Process};
use super::signal::{self, DefaultAction as SigDefault, SigInfo, SIG_DFL, SIG_IGN};
use super::{events, sigframe, Kernel};
use crate::errno::{Errno, SysResult};
use crate::mm::SharedMm;
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
    pub tid: i32,
    pub regs: Regs,
    /// The address space, shared with the process's other threads.
    pub mm: Arc<SharedMm>,
    /// The platform's thread that runs this task.
    pub ctx: Box<dyn Context>,
    /// A restartable error of the last system call, decided at signal delivery.
    restart: Option<Errno>,
    /// The mask to restore after sigsuspend-style calls deliver a signal.
    pub saved_mask: Option<u64>,
    pub clear_child_tid: u64,
    pub exit: Option<Exit>,
    /// sigaltstack: (sp, flags, size).
    pub altstack: (u64, i32, u64),
}

impl Task {
    pub fn new(
        kernel: Arc<Kernel>,
        proc: Arc<Process>,
        regs: Regs,
        mm: Arc<SharedMm>,
        ctx: Box<dyn Context>,
    ) -> Task {
        let tid = proc.pid;
        proc.set_interrupter(Some(ctx.interrupter()));
        lock(&proc.state).host_pid = ctx.host_pid();
        Task {
            kernel,
            proc,
            tid,
            regs,
            mm,
            ctx,
            restart: None,
            saved_mask: None,
            clear_child_tid: 0,
            exit: None,
            altstack: (0, libc::SS_DISABLE, 0),
        }
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid
    }

    /// Runs the task until it exits.
    pub fn run(mut self) {
        while self.exit.is_none() {
            let trap = match self.ctx.run(&mut self.regs) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(pid = self.pid(), "the platform lost the task: {e}");
                    self.exit = Some(Exit::Signal(libc::SIGKILL));
                    break;
                }
            };
            match trap {
                Trap::Syscall => self.syscall(),
                Trap::Fault(f) => {
                    let info = SigInfo::fault(f.signo, f.code, f.addr);
                    self.kernel.force_signal(&self.proc, info);
                }
                Trap::Interrupted => {}
            }
            self.deliver_signals();
        }
        self.finish();
    }

    fn syscall(&mut self) {
        let nr = self.regs.orig_rax;
        let args = [
            self.regs.rdi,
            self.regs.rsi,
            self.regs.rdx,
            self.regs.r10,
            self.regs.r8,
            self.regs.r9,
        ];
        let result = crate::syscalls::dispatch(self, nr, args);
        match result {
            Ok(v) => self.regs.rax = v,
            Err(e) if e == Errno::EJUSTRETURN => {}
            Err(e) if e.is_restart() => {
                self.restart = Some(e);
                self.regs.rax = (-libc::EINTR) as u64;
            }
            Err(e) => self.regs.rax = (-(e.0 as i64)) as u64,
        }
    }

    /// Whether a signal is waiting that should interrupt a blocking call.
    pub fn signal_pending(&self) -> bool {
        lock(&self.proc.sig).has_deliverable()
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
            if self.signal_pending() {
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
                            fd: self.proc.wake_fd(),
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
                    self.proc.drain_wake();
                }
                None => events::wait(seen, deadline),
            }
        }
    }

    /// Delivers pending signals at the return to user mode.
    fn deliver_signals(&mut self) {
        loop {
            let next = {
                let mut sig = lock(&self.proc.sig);
                sig.take()
                    .map(|info| (info, sig.actions[info.signo as usize]))
            };
            let Some((info, action)) = next else { break };
            let signo = info.signo;
            match action.handler {
                SIG_IGN if signo != libc::SIGKILL => continue,
                SIG_DFL | SIG_IGN => match signal::default_action(signo) {
                    SigDefault::Ignore | SigDefault::Continue => continue,
                    // Job-control stops are not modelled yet: treat as ignored.
                    SigDefault::Stop if signo != libc::SIGKILL => continue,
                    _ => {
                        self.exit = Some(Exit::Signal(signo));
                        return;
                    }
                },
                _ => {
                    self.apply_restart(Some(action.flags));
                    let old_mask = self
                        .saved_mask
                        .take()
                        .unwrap_or_else(|| lock(&self.proc.sig).mask);
                    if let Err(e) = sigframe::setup(self, &info, &action, old_mask) {
                        tracing::debug!(
                            pid = self.pid(),
                            "cannot build a signal frame ({e:?}): killing with SIGSEGV"
                        );
                        self.exit = Some(Exit::Signal(libc::SIGSEGV));
                        return;
                    }
                    let mut sig = lock(&self.proc.sig);
                    let mut add = action.mask;
                    if action.flags & signal::SA_NODEFER == 0 {
                        add |= signal::bit(signo);
                    }
                    sig.mask = (sig.mask | add) & !signal::UNBLOCKABLE;
                    if action.flags & signal::SA_RESETHAND != 0 {
                        sig.actions[signo as usize].handler = SIG_DFL;
                    }
                    return;
                }
            }
        }
        // No handler ran: interrupted calls restart.
        self.apply_restart(None);
        if let Some(m) = self.saved_mask.take() {
            lock(&self.proc.sig).mask = m;
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

    /// Tears the task down and turns its process into a zombie.
    fn finish(self) {
        let exit = self.exit.unwrap_or(Exit::Code(0));
        let Task {
            kernel,
            proc,
            mm,
            ctx,
            ..
        } = self;
        proc.set_interrupter(None);
        // The platform thread goes before the parent can see the exit.
        drop(ctx);
        drop(mm);
        lock(&proc.files).clear();
        super::exit::exit_process(&kernel, &proc, exit);
    }
}
