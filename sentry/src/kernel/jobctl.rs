//! Job control: stop signals stop every thread of a process until SIGCONT
//! (or SIGKILL); the parent hears of both through SIGCHLD (unless it asked
//! for SA_NOCLDSTOP) and through wait with WUNTRACED/WCONTINUED.
//!
//! Orphaned process groups (POSIX 3.2.2.2): a group none of whose members
//! has a parent in another group of the same session has nobody left to
//! continue it. Terminal-generated stops (SIGTSTP, SIGTTIN, SIGTTOU) with
//! their default action are discarded there, and when an exit orphans a
//! group that holds a stopped process, the group gets SIGHUP and SIGCONT.

use super::events;
use super::process::{lock, Process};
use super::signal::{self, SigInfo};
use super::task::Task;
use super::Kernel;

/// The wait status of a continued child (what WIFCONTINUED tests).
pub const CONTINUED_STATUS: i32 = 0xffff;

/// The wait status of a child stopped by `signo` (what WIFSTOPPED tests).
pub fn stopped_status(signo: i32) -> i32 {
    (signo << 8) | 0x7f
}

fn is_stop(signo: i32) -> bool {
    matches!(
        signo,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

impl Kernel {
    /// What sending `signo` does at once, whatever its disposition (Linux
    /// decides it when the signal is generated): SIGCONT resumes a stopped
    /// process and cancels pending stops; a stop cancels a pending SIGCONT.
    pub(super) fn job_control_on_send(&self, target: &Process, signo: i32) {
        let drop_pending: fn(&signal::SigInfo) -> bool = if signo == libc::SIGCONT {
            |p| is_stop(p.signo)
        } else if is_stop(signo) {
            |p| p.signo == libc::SIGCONT
        } else {
            return;
        };
        lock(&target.sig).pending.retain(|p| !drop_pending(p));
        for t in target.threads() {
            lock(&t.sig).pending.retain(|p| !drop_pending(p));
        }
        if signo == libc::SIGCONT {
            self.continue_process(target);
        }
    }

    /// A stop signal's default action: the whole process stops.
    pub fn stop_process(&self, p: &Process, signo: i32) {
        {
            let mut st = lock(&p.state);
            if st.stopped || st.zombie.is_some() {
                return;
            }
            st.stopped = true;
            st.job_report = Some(stopped_status(signo));
        }
        p.ptrace.group_stopped(signo);
        // Every other thread notices at its next return to user mode.
        p.wake();
        self.tell_parent(p, signal::CLD_STOPPED, signo);
    }

    /// SIGCONT was sent: a stopped process resumes (whatever the signal's
    /// disposition, as on Linux).
    pub fn continue_process(&self, p: &Process) {
        {
            let mut st = lock(&p.state);
            if !st.stopped {
                return;
            }
            st.stopped = false;
            st.job_report = Some(CONTINUED_STATUS);
        }
        p.wake();
        self.tell_parent(p, signal::CLD_CONTINUED, libc::SIGCONT);
    }

    /// Whether process group `pgid` is orphaned, not counting process
    /// `ignoring` (one that is exiting): no living member has a parent in
    /// another group of the same session.
    pub fn pgrp_orphaned(&self, pgid: i32, ignoring: i32) -> bool {
        let members = self
            .all_processes()
            .into_iter()
            .filter(|m| m.pid != ignoring && !m.is_zombie() && lock(&m.state).pgid == pgid);
        for m in members {
            let (ppid, sid) = {
                let st = lock(&m.state);
                (st.ppid, st.sid)
            };
            let Some(parent) = (ppid != 0).then(|| self.process(ppid)).flatten() else {
                continue;
            };
            let ps = lock(&parent.state);
            if ps.pgid != pgid && ps.sid == sid {
                return false;
            }
        }
        true
    }

    /// An exit (of `leaving`, whose parent was `parent`, or of `leaving`'s
    /// parent, for each of its children) may orphan `pgid`, a group of the
    /// same session as the connection it loses; a newly orphaned group with
    /// a stopped member gets SIGHUP, then SIGCONT.
    pub fn hang_up_if_orphaned(&self, pgid: i32, leaving: i32) {
        let stopped = self.all_processes().iter().any(|m| {
            m.pid != leaving && !m.is_zombie() && {
                let st = lock(&m.state);
                st.pgid == pgid && st.stopped
            }
        });
        if stopped && self.pgrp_orphaned(pgid, leaving) {
            self.signal_group(pgid, SigInfo::new(libc::SIGHUP, signal::SI_KERNEL));
            self.signal_group(pgid, SigInfo::new(libc::SIGCONT, signal::SI_KERNEL));
        }
    }

    fn tell_parent(&self, p: &Process, code: i32, status: i32) {
        let (ppid, uid) = {
            let st = lock(&p.state);
            (st.ppid, st.creds.uid)
        };
        if let Some(parent) = (ppid != 0).then(|| self.process(ppid)).flatten() {
            let quiet =
                lock(&parent.sig).actions[libc::SIGCHLD as usize].flags & signal::SA_NOCLDSTOP != 0;
            if !quiet {
                self.send_signal(&parent, SigInfo::child(p.pid, uid, code, status), false);
            }
            parent.children_seq.bump();
        }
        events::notify();
    }
}

impl Task {
    /// Whether this task's process is stopped.
    pub fn stopped(&self) -> bool {
        lock(&self.proc.state).stopped
    }

    /// Sleeps while the process is stopped; only SIGKILL (or the end of the
    /// process) cuts a stop short. A tracee reports the stop to its tracer
    /// instead, and runs on if the tracer resumes it (kernel/ptrace).
    pub fn wait_while_stopped(&mut self) {
        // Every return to user mode passes here: the common case takes only
        // the process's own lock, never the kernel's event counter.
        if !self.stopped() {
            return;
        }
        loop {
            let seen = events::generation();
            if !self.stopped() || self.thread.zapped() || self.sigkill_pending() {
                return;
            }
            if self.ptrace_group_stop() {
                return;
            }
            events::wait(seen, None);
        }
    }

    pub(super) fn sigkill_pending(&self) -> bool {
        let only_kill = !signal::bit(libc::SIGKILL);
        lock(&self.thread.sig).pending.has_deliverable(only_kill)
            || lock(&self.proc.sig).pending.has_deliverable(only_kill)
    }
}
