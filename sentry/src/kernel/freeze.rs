//! Freezing a process's other threads while fork copies its memory, and
//! every thread of the sandbox while it is paused (`sandbox pause`).
//!
//! Linux's fork copies an address space atomically: threads that keep
//! running after it cannot change what the child sees. The Sentry copies
//! page by page, so the process's other threads must not run application
//! code meanwhile, or the child could get a torn copy (a lock word from
//! after an update, the data it guards from before) that no Linux fork
//! could give. A thread runs application code only inside the platform's
//! `run`; it marks itself `in_user` first and then checks whether its
//! process is frozen (and the freezer sets the flag first and then checks
//! `in_user`), so one of the two always sees the other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::events;
use super::process::Process;
use super::thread::Thread;

/// How long fork waits for a thread that does not stop running
/// application code (a platform that lost it); after that it copies anyway.
const PATIENCE: Duration = Duration::from_secs(2);

/// Set while the whole sandbox is paused: no thread enters application
/// code until `resume_sandbox`.
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Whether `proc`'s threads must stay out of application code now.
fn held(proc: &Process) -> bool {
    proc.frozen.load(Ordering::SeqCst) != 0 || PAUSED.load(Ordering::SeqCst)
}

/// `sandbox pause`: stops every thread of every process at its next exit
/// from application code (interrupting those running it) and returns once
/// none runs it, or after a bounded wait. Threads blocked in a system call
/// stay blocked; when the call completes they wait too, so the workload
/// makes no progress of its own until `resume_sandbox`, as under runc's
/// cgroup freezer. SIGKILL still ends a paused process.
pub fn pause_sandbox(k: &super::Kernel) -> bool {
    PAUSED.store(true, Ordering::SeqCst);
    let threads: Vec<_> = k.all_processes().iter().flat_map(|p| p.threads()).collect();
    for t in &threads {
        if t.in_user.load(Ordering::SeqCst) {
            t.wake();
        }
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = events::generation();
        if !threads.iter().any(|t| t.in_user.load(Ordering::SeqCst)) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            tracing::warn!("a thread kept running through pause");
            return false;
        }
        events::wait(seen, Some((now + Duration::from_millis(1)).min(deadline)));
    }
}

/// `sandbox resume`: lets every paused thread go on.
pub fn resume_sandbox() {
    PAUSED.store(false, Ordering::SeqCst);
    events::notify();
}

/// Keeps `proc`'s threads other than `me` out of application code until
/// dropped.
pub struct Frozen<'a> {
    proc: &'a Process,
}

impl<'a> Frozen<'a> {
    pub fn new(proc: &'a Process, me: &Thread) -> Frozen<'a> {
        proc.frozen.fetch_add(1, Ordering::SeqCst);
        let others: Vec<_> = proc
            .threads()
            .into_iter()
            .filter(|t| t.tid != me.tid)
            .collect();
        let deadline = Instant::now() + PATIENCE;
        for t in &others {
            if t.in_user.load(Ordering::SeqCst) {
                t.wake();
            }
        }
        loop {
            let seen = events::generation();
            let running = others.iter().any(|t| t.in_user.load(Ordering::SeqCst));
            if !running {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(pid = proc.pid, "a thread kept running through fork");
                break;
            }
            // Threads leaving the platform do not notify: look again soon.
            events::wait(seen, Some((now + Duration::from_millis(1)).min(deadline)));
        }
        Frozen { proc }
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.proc.frozen.fetch_sub(1, Ordering::SeqCst);
        events::notify();
    }
}

/// Marks `thread` as about to run application code, waiting first while
/// its process is frozen (SIGKILL or a zap still gets through: `stop`
/// says when to give up waiting).
pub fn enter_user(proc: &Process, thread: &Thread, stop: impl Fn() -> bool) {
    loop {
        thread.in_user.store(true, Ordering::SeqCst);
        if !held(proc) {
            return;
        }
        thread.in_user.store(false, Ordering::SeqCst);
        loop {
            let seen = events::generation();
            if !held(proc) || stop() {
                break;
            }
            events::wait(seen, None);
        }
        if stop() {
            // Going back in only to be stopped: the copy does not care.
            thread.in_user.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// Marks `thread` as back in the Sentry.
pub fn leave_user(thread: &Thread) {
    thread.in_user.store(false, Ordering::SeqCst);
}
