//! The thread-group side of execve (Linux's de_thread): every other thread
//! of the process ends, and a thread other than the leader takes over the
//! leader's identity (its tid becomes the pid).
//!
//! A non-leader cannot simply keep running in the old image's platform
//! context: on ptrace and seccomp that is a thread of a stub process whose
//! lifetime the leader's Sentry thread owns, on kvm a vCPU of the old
//! address space. Since exec replaces the address space anyway, the thread
//! gets a fresh context and memory manager of its own (as a vfork child
//! does at exec), and the old leader's Sentry thread, which waits in
//! `Task::finish` until a new leader exists, lets the old stub go.

use std::sync::Arc;

use super::process::lock;
use super::task::Task;
use super::thread::Thread;
use crate::errno::{Errno, SysResult};
use crate::mm::{MemoryManager, SharedMm};
use crate::platform::Context;

/// What a non-leader needs to become the leader, made before any other
/// thread is told to die so that a failure leaves the process intact.
pub struct Takeover {
    ctx: Box<dyn Context>,
    thread: Arc<Thread>,
}

/// Prepares the take-over when `t` is not the leader; None for the leader.
pub fn prepare(t: &Task) -> SysResult<Option<Takeover>> {
    if t.tid == t.pid() {
        return Ok(None);
    }
    let ctx = t.kernel.platform.new_context().map_err(|e| {
        tracing::warn!(
            pid = t.pid(),
            tid = t.tid,
            "cannot create a stub for exec: {e}"
        );
        Errno(libc::EAGAIN)
    })?;
    let thread = Thread::new(t.pid(), t.mask()).map_err(|e| {
        tracing::warn!(pid = t.pid(), "cannot create the exec'd thread: {e}");
        Errno(libc::EAGAIN)
    })?;
    Ok(Some(Takeover { ctx, thread }))
}

/// Ends every other thread of the process and waits until they are gone.
/// Fails with ERESTARTSYS when the caller itself must die first (another
/// thread's exec or exit_group won the race; the run loop then ends it).
pub fn kill_others(t: &Task) -> SysResult<()> {
    {
        // exit_group decides under this lock too: one of an exec and a
        // group exit (or of two execs) wins, never both.
        let g = lock(&t.proc.group_exit);
        if g.is_some() || t.thread.zapped() {
            return Err(Errno::ERESTARTSYS);
        }
        for th in t.proc.threads() {
            if th.tid != t.tid {
                th.zap();
            }
        }
    }
    loop {
        let seen = super::events::generation();
        if t.proc.threads().iter().all(|th| th.tid == t.tid) {
            return Ok(());
        }
        if t.thread.zapped() || t.sigkill_pending() {
            return Err(Errno::ERESTARTSYS);
        }
        super::events::wait(seen, None);
    }
}

/// Makes the (now only) thread `t` the leader: a new context and an empty
/// address space, the pid as its tid. Its signal mask and pending signals
/// come along; the old leader's pending signals went with it.
pub fn take_over(t: &mut Task, to: Takeover) {
    let Takeover { ctx, thread } = to;
    let pid = t.pid();
    thread.host_tid.store(
        t.thread.host_tid.load(std::sync::atomic::Ordering::Relaxed),
        std::sync::atomic::Ordering::Relaxed,
    );
    thread.set_interrupter(Some(ctx.interrupter()));
    t.thread.set_interrupter(None);
    {
        let mut st = lock(&t.proc.state);
        st.host_pid = ctx.host_pid();
        st.app_cpu_ns += t.ctx.interrupter().app_cpu_ns().unwrap_or(0);
    }
    // The old context is a thread of the old image: it ends here, while
    // the old leader's Sentry thread still holds the stub it belongs to.
    t.ctx = ctx;
    t.mm = Arc::new(SharedMm::new(MemoryManager::new(t.kernel.memfile.clone())));
    *lock(&t.proc.mm) = Arc::downgrade(&t.mm);
    {
        let mut threads = lock(&t.proc.threads);
        lock(&thread.sig).pending = std::mem::take(&mut lock(&t.thread.sig).pending);
        let mut tids = lock(&t.kernel.tids);
        tids.remove(&t.tid);
        tids.insert(pid, pid);
        threads.retain(|th| th.tid != t.tid);
        threads.insert(0, thread.clone());
    }
    tracing::debug!(
        pid,
        old_tid = t.tid,
        "exec from a thread: it is the leader now"
    );
    super::ptrace::take_over(&t.kernel, &t.thread, &thread);
    t.thread = thread;
    t.tid = pid;
    super::thread::set_current(Some((t.proc.clone(), t.thread.clone())));
    // The old leader's Sentry thread sees the new leader and lets go of
    // the old stub.
    super::events::notify();
}
