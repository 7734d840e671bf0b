//! ptrace between the workload's own tasks (strace, gdb, language
//! debuggers), kept entirely in the Sentry's model.
//!
//! The Sentry already owns every task's registers, memory and signals, so
//! tracing is bookkeeping, never host ptrace: a tracee in a ptrace-stop is
//! its Sentry thread parked in [`Task::ptrace_stop`]; the tracer's requests
//! that need the tracee's platform context (registers, FPU state, writes to
//! read-only text) run *on that parked thread* ([`with_stopped`]), since a
//! platform context may only be used by the thread that owns it.
//!
//! Who may trace whom follows Linux with YAMA's scope 1: a process may trace
//! its descendants (and PTRACE_TRACEME names the parent); anything else
//! needs CAP_SYS_PTRACE; a non-root tracer must also share the tracee's
//! uids. Only tasks of the Sentry's own table can be named: the Sentry,
//! its stubs and every other host process do not exist in the pid space
//! the workload sees (ESRCH).

mod hooks;
pub mod user;

pub use hooks::{clone_event, inherit};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use super::process::{lock, Process};
use super::signal::{self, SigInfo};
use super::task::Task;
use super::thread::Thread;
use super::{events, Kernel};
use crate::errno::{Errno, SysResult};

/// PTRACE_EVENT_* numbers (the high byte of a stop's status).
pub const EVENT_FORK: u32 = 1;
pub const EVENT_VFORK: u32 = 2;
pub const EVENT_CLONE: u32 = 3;
pub const EVENT_EXEC: u32 = 4;
pub const EVENT_VFORK_DONE: u32 = 5;
pub const EVENT_EXIT: u32 = 6;
pub const EVENT_STOP: u32 = 128;

/// PTRACE_O_* option bits.
pub const O_TRACESYSGOOD: u32 = 1;
pub const O_TRACEFORK: u32 = 1 << EVENT_FORK;
pub const O_TRACEVFORK: u32 = 1 << EVENT_VFORK;
pub const O_TRACECLONE: u32 = 1 << EVENT_CLONE;
pub const O_TRACEEXEC: u32 = 1 << EVENT_EXEC;
pub const O_TRACEVFORKDONE: u32 = 1 << EVENT_VFORK_DONE;
pub const O_TRACEEXIT: u32 = 1 << EVENT_EXIT;
pub const O_TRACESECCOMP: u32 = 1 << 7;
pub const O_EXITKILL: u32 = 1 << 20;
pub const O_SUSPEND_SECCOMP: u32 = 1 << 21;
/// Every option the Sentry accepts (seccomp events never happen: the
/// workload cannot install a filter the Sentry would report through).
pub const O_ALL: u32 = O_TRACESYSGOOD
    | O_TRACEFORK
    | O_TRACEVFORK
    | O_TRACECLONE
    | O_TRACEEXEC
    | O_TRACEVFORKDONE
    | O_TRACEEXIT
    | O_TRACESECCOMP
    | O_EXITKILL;

/// What GETEVENTMSG returns at syscall-entry and syscall-exit stops.
const EVENTMSG_SYSCALL_ENTRY: u64 = 1;
const EVENTMSG_SYSCALL_EXIT: u64 = 2;

/// How a resumed tracee runs until its next stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// PTRACE_CONT: stops only for signals and events.
    #[default]
    Continue,
    /// PTRACE_SYSCALL: also at each system call's entry and exit.
    Syscall,
    /// PTRACE_SINGLESTEP: after one instruction (hooks.rs).
    SingleStep,
}

/// Why a tracee is in a ptrace-stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    /// A signal is about to be delivered; the tracer may change or drop it.
    Signal,
    SyscallEnter,
    SyscallExit,
    /// A PTRACE_EVENT_* stop (including EVENT_STOP for a seized tracee's
    /// group-stop, its first stop and PTRACE_INTERRUPT).
    Event(u32),
    /// A group-stop of a tracee attached without SEIZE.
    Group,
}

/// How the tracer let a tracee go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// PTRACE_CONT / PTRACE_SYSCALL with a signal to deliver (0: none).
    Run { sig: i32, mode: Mode },
    /// PTRACE_LISTEN: a seized tracee stays in its group-stop, untrapped.
    Listen,
    /// PTRACE_DETACH (or the tracer's exit), with a signal to deliver.
    Detach { sig: i32 },
}

/// A request the tracer runs on the stopped tracee's own Sentry thread.
type Request = Box<dyn FnOnce(&mut Task) + Send>;

/// The stop a tracee is in.
pub struct Stop {
    pub kind: StopKind,
    /// What PTRACE_GETSIGINFO reads (and SETSIGINFO replaces).
    pub info: SigInfo,
}

/// A thread's side of tracing.
#[derive(Default)]
pub struct Tracee {
    /// The tracer's pid (0: not traced).
    pub tracer: i32,
    /// Attached with PTRACE_SEIZE (group-stops are EVENT_STOPs, INTERRUPT works).
    pub seized: bool,
    pub options: u32,
    pub mode: Mode,
    /// Set while the thread is parked in a ptrace-stop.
    pub stop: Option<Stop>,
    /// The stop's wait status, until the tracer's wait collects it.
    pub report: Option<i32>,
    resume: Option<Resume>,
    requests: Vec<Request>,
    /// PTRACE_GETEVENTMSG.
    pub event_msg: u64,
    /// An EVENT_STOP to take at the next return to user mode, with this
    /// signal in its status (SIGTRAP for PTRACE_INTERRUPT, SIGSTOP for a
    /// seized tracee's first stop).
    pub trap: Option<i32>,
    /// The thread ended; its wait status, until the tracer collects it.
    pub exit_report: Option<i32>,
    /// The last group-stop of the process this tracee reported.
    seen_group_stop: u64,
    /// The last group-stop the tracer resumed the tracee from (it runs on
    /// while the rest of its process stays stopped, as on Linux).
    released_group_stop: u64,
}

/// A process's side of tracing: the threads it traces, and its group-stops.
#[derive(Default)]
pub struct ProcTrace {
    /// The threads this process traces, by tid.
    pub tracees: Mutex<BTreeMap<i32, Arc<Thread>>>,
    /// Counts the process's group-stops, so that each tracee reports each
    /// one once.
    group_stops: AtomicU64,
    /// The signal of the latest group-stop.
    stop_signo: AtomicI32,
}

impl ProcTrace {
    /// Records a new group-stop by `signo` (kernel/jobctl.rs).
    pub fn group_stopped(&self, signo: i32) {
        self.stop_signo.store(signo, Ordering::SeqCst);
        self.group_stops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The wait status of a ptrace-stop whose exit code (Linux's name for the
/// status's second byte and up) is `code`.
fn stop_status(code: i32) -> i32 {
    (code << 8) | 0x7f
}

/// Whether `thread` is traced at all (cheap enough for every signal).
pub fn is_traced(thread: &Thread) -> bool {
    thread.traced.load(Ordering::SeqCst)
}

/// Tells the tracer of a thread that one of its tracees changed state:
/// SIGCHLD (CLD_TRAPPED, or `code` for an exit) and a wake-up of its waits.
fn notify_tracer(k: &Kernel, tracer: i32, tid: i32, uid: u32, code: i32, status: i32) {
    if let Some(tp) = k.process(tracer) {
        k.send_signal(&tp, SigInfo::child(tid, uid, code, status), false);
        tp.children_seq.bump();
    }
    events::notify();
}

/// siginfo's si_code for a stop reported to a tracer.
const CLD_TRAPPED: i32 = 4;

impl Task {
    /// Parks the task in a ptrace-stop of `kind` whose status carries
    /// `code` (the signal, or SIGTRAP with an event or 0x80), until the
    /// tracer resumes it. Serves the tracer's requests meanwhile. Returns
    /// how it was resumed, with the stop's siginfo as the tracer left it;
    /// None when the task is not traced, was killed, or lost its tracer.
    pub fn ptrace_stop(
        &mut self,
        kind: StopKind,
        code: i32,
        info: SigInfo,
        msg: Option<u64>,
    ) -> Option<(Resume, SigInfo)> {
        let tracer = {
            let mut st = lock(&self.thread.ptrace);
            if st.tracer == 0 {
                return None;
            }
            if let Some(m) = msg {
                st.event_msg = m;
            }
            st.stop = Some(Stop { kind, info });
            st.report = Some(stop_status(code));
            st.resume = None;
            st.tracer
        };
        let uid = lock(&self.proc.state).creds.uid;
        notify_tracer(
            &self.kernel,
            tracer,
            self.tid,
            uid,
            CLD_TRAPPED,
            code & 0x7f,
        );
        let resume = loop {
            let seen = events::generation();
            let (request, resume, gone) = {
                let mut st = lock(&self.thread.ptrace);
                let request = st.requests.pop();
                (request, st.resume.take(), st.tracer == 0)
            };
            if let Some(r) = request {
                r(self);
                continue;
            }
            if resume.is_some() {
                break resume;
            }
            if gone || self.sigkill_pending() || self.thread.zapped() {
                break None;
            }
            events::wait(seen, None);
        };
        let mut st = lock(&self.thread.ptrace);
        let info = st.stop.take().map_or(info, |s| s.info);
        st.report = None;
        // Requests that came too late find their reply channel closed.
        st.requests.clear();
        // (A detach already forgot the tracer, on the tracer's side: a new
        // tracer may have attached since.)
        if let Some(Resume::Run { mode, .. }) = resume {
            st.mode = mode;
        }
        resume.map(|r| (r, info))
    }
}

impl Tracee {
    /// Forgets the tracer (detach, or the tracer's exit).
    fn detach(&mut self) {
        self.tracer = 0;
        self.seized = false;
        self.options = 0;
        self.mode = Mode::Continue;
        self.trap = None;
        self.report = None;
    }
}

/// Runs `f` on the stopped tracee `thread`'s own Sentry thread (where its
/// registers and platform context live) and returns its result. ESRCH when
/// the caller (process `tracer`) does not trace it or it is not stopped.
pub fn with_stopped<R: Send + 'static>(
    thread: &Thread,
    tracer: i32,
    f: impl FnOnce(&mut Task) -> R + Send + 'static,
) -> SysResult<R> {
    let (tx, rx) = mpsc::channel();
    {
        let mut st = lock(&thread.ptrace);
        if st.tracer != tracer || st.stop.is_none() {
            return Err(Errno(libc::ESRCH));
        }
        st.requests.push(Box::new(move |t: &mut Task| {
            let _ = tx.send(f(t));
        }));
    }
    events::notify();
    // The tracee drops the request (closing the channel) if it dies first.
    rx.recv().map_err(|_| Errno(libc::ESRCH))
}

/// Checks ptrace_check_attach: `thread` is traced by `tracer` and, unless
/// `any_state`, in a ptrace-stop.
pub fn check_stopped(thread: &Thread, tracer: i32, any_state: bool) -> SysResult<()> {
    let st = lock(&thread.ptrace);
    if st.tracer != tracer || (!any_state && st.stop.is_none()) {
        return Err(Errno(libc::ESRCH));
    }
    Ok(())
}

/// Lets a stopped tracee go.
pub fn resume(thread: &Thread, tracer: i32, how: Resume) -> SysResult<()> {
    let mut st = lock(&thread.ptrace);
    if st.tracer != tracer || st.stop.is_none() {
        return Err(Errno(libc::ESRCH));
    }
    st.resume = Some(how);
    drop(st);
    thread.wake();
    Ok(())
}

/// CAP_SYS_PTRACE.
const CAP_SYS_PTRACE: u32 = 19;

/// Whether process `tracer` may trace (or open the memory of) `target`:
/// itself; CAP_SYS_PTRACE; or the same uids and gids with `target` among
/// its descendants (YAMA's scope 1).
pub fn may_trace(k: &Kernel, tracer: &Process, target: &Process) -> bool {
    if tracer.pid == target.pid {
        return true;
    }
    let me = lock(&tracer.state).creds.clone();
    if me.has(CAP_SYS_PTRACE) {
        return true;
    }
    let tc = lock(&target.state).creds.clone();
    let same_ids = [tc.uid, tc.euid, tc.suid].iter().all(|&u| u == me.uid)
        && [tc.gid, tc.egid, tc.sgid].iter().all(|&g| g == me.gid);
    same_ids && is_descendant(k, tracer.pid, target)
}

fn is_descendant(k: &Kernel, ancestor: i32, target: &Process) -> bool {
    let mut pid = lock(&target.state).ppid;
    for _ in 0..super::PID_MAX {
        if pid == ancestor {
            return true;
        }
        match (pid > 1).then(|| k.process(pid)).flatten() {
            Some(p) => pid = lock(&p.state).ppid,
            None => return false,
        }
    }
    false
}

/// Makes process `tracer` the tracer of `thread`; `seize` for
/// PTRACE_SEIZE's semantics. The caller sends PTRACE_ATTACH's SIGSTOP.
pub fn attach(tracer: &Process, thread: &Arc<Thread>, seize: bool, options: u32) -> SysResult<()> {
    {
        let mut st = lock(&thread.ptrace);
        if st.tracer != 0 {
            return Err(Errno(libc::EPERM));
        }
        st.tracer = tracer.pid;
        thread.traced.store(true, Ordering::SeqCst);
        st.seized = seize;
        st.options = options;
        st.mode = Mode::Continue;
        st.exit_report = None;
        // A group-stop already in force is reported to the new tracer.
        st.seen_group_stop = 0;
        st.released_group_stop = 0;
    }
    lock(&tracer.ptrace.tracees).insert(thread.tid, thread.clone());
    thread.wake();
    Ok(())
}

/// Ends tracing of `thread` by process `tracer`'s own choice or exit; a
/// stopped tracee resumes with `sig`.
pub fn detach(tracer: &Process, thread: &Thread, sig: i32) {
    lock(&tracer.ptrace.tracees).remove(&thread.tid);
    let mut st = lock(&thread.ptrace);
    if st.stop.is_some() {
        st.resume = Some(Resume::Detach { sig });
    }
    // At once, not when the tracee wakes: the former tracer's next
    // request already finds it untraced (ESRCH).
    st.detach();
    thread.traced.store(false, Ordering::SeqCst);
    drop(st);
    thread.wake();
}

/// A traced new task that never started leaves its tracer's list.
pub fn abandon(k: &Kernel, thread: &Thread) {
    let tracer = lock(&thread.ptrace).tracer;
    if let Some(tp) = (tracer != 0).then(|| k.process(tracer)).flatten() {
        detach(&tp, thread, 0);
    }
}

/// An exec from a non-leader thread: the thread goes on as `new`, with the
/// leader's tid (kernel/dethread.rs), and its tracing comes along.
pub fn take_over(k: &Kernel, old: &Thread, new: &Arc<Thread>) {
    let moved = std::mem::take(&mut *lock(&old.ptrace));
    old.traced.store(false, Ordering::SeqCst);
    let tracer = moved.tracer;
    if tracer == 0 {
        return;
    }
    *lock(&new.ptrace) = moved;
    new.traced.store(true, Ordering::SeqCst);
    if let Some(tp) = k.process(tracer) {
        let mut tracees = lock(&tp.ptrace.tracees);
        tracees.remove(&old.tid);
        tracees.insert(new.tid, new.clone());
    }
}

/// The tracer process `p` exited: its tracees go free (killed first when
/// they asked for PTRACE_O_EXITKILL).
pub fn tracer_exited(k: &Kernel, p: &Process) {
    let tracees = std::mem::take(&mut *lock(&p.ptrace.tracees));
    for (tid, th) in tracees {
        let kill = lock(&th.ptrace).options & O_EXITKILL != 0;
        if kill {
            if let Some((tp, _)) = k.thread(tid) {
                k.send_signal(&tp, SigInfo::new(libc::SIGKILL, signal::SI_KERNEL), false);
            }
        }
        detach(p, &th, 0);
    }
}

/// What a tracer's wait finds among its tracees (other than its children's
/// exits, which the child path reports): a stop not yet collected, or the
/// end of a traced thread (when `exits`). `matches` selects by tid and the
/// process group (None for a thread that ended). Returns whether any
/// tracee matched, and the (tid, status, uid) found.
pub fn wait_report(
    k: &Kernel,
    tracer: &Process,
    matches: impl Fn(i32, Option<i32>) -> bool,
    exits: bool,
    consume: bool,
) -> (bool, Option<(i32, i32, u32)>) {
    let tracees: Vec<(i32, Arc<Thread>)> = lock(&tracer.ptrace.tracees)
        .iter()
        .map(|(t, th)| (*t, th.clone()))
        .collect();
    let mut any = false;
    for (tid, th) in tracees {
        let owner = k.thread(tid).map(|(p, _)| p);
        let pgid = owner.as_ref().map(|p| lock(&p.state).pgid);
        if !matches(tid, pgid) {
            continue;
        }
        any = true;
        let uid = owner.as_ref().map_or(0, |p| lock(&p.state).creds.uid);
        let mut st = lock(&th.ptrace);
        if let Some(status) = st.report {
            if consume {
                st.report = None;
            }
            return (true, Some((tid, status, uid)));
        }
        if let Some(status) = st.exit_report.filter(|_| exits) {
            if consume {
                st.exit_report = None;
                drop(st);
                lock(&tracer.ptrace.tracees).remove(&tid);
            }
            return (true, Some((tid, status, uid)));
        }
    }
    (any, None)
}

/// A traced thread ends with wait status `status`. Its tracer hears of it,
/// unless it is the leader of the tracer's own child, whose exit the
/// child's zombie reports (then the thread simply leaves the tracer's list).
pub fn thread_exited(k: &Kernel, proc: &Process, thread: &Thread, status: i32) {
    let tracer = {
        let mut st = lock(&thread.ptrace);
        if st.tracer == 0 {
            return;
        }
        let tracer = st.tracer;
        st.stop = None;
        st.report = None;
        st.requests.clear();
        tracer
    };
    let parent = lock(&proc.state).ppid;
    let Some(tp) = k.process(tracer) else { return };
    // A leader ended by another thread's exec leaves no trace: the exec'ing
    // thread takes over its tid (and its entry, `take_over`).
    let replaced = thread.tid == proc.pid && thread.zapped();
    if thread.tid == proc.pid && (parent == tracer || replaced) {
        let mut tracees = lock(&tp.ptrace.tracees);
        if tracees
            .get(&thread.tid)
            .is_some_and(|t| std::ptr::eq(Arc::as_ptr(t), thread))
        {
            tracees.remove(&thread.tid);
        }
        return;
    }
    let mut st = lock(&thread.ptrace);
    st.exit_report = Some(status);
    st.tracer = 0;
    thread.traced.store(false, Ordering::SeqCst);
    drop(st);
    let uid = lock(&proc.state).creds.uid;
    let (code, s) = if status & 0x7f == 0 {
        (signal::CLD_EXITED, (status >> 8) & 0xff)
    } else {
        (signal::CLD_KILLED, status & 0x7f)
    };
    notify_tracer(k, tracer, thread.tid, uid, code, s);
}
