//! A process (thread group) and the state other tasks can see: its family,
//! its exit status, its signal state, descriptors and working directory.

use std::collections::BTreeSet;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::creds::Creds;
use super::signal::SigState;
use super::thread::Thread;
use crate::spec::Rlimit;
use crate::vfs::{FdTable, Location};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The working directory and file-creation mask.
#[derive(Clone)]
pub struct FsContext {
    pub cwd: Location,
    pub umask: u32,
}

/// Family and life of a process.
pub struct ProcState {
    /// Parent pid; 0 for init and for processes started by `exec` from outside.
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub children: BTreeSet<i32>,
    /// Set once the process has exited: its wait status.
    pub zombie: Option<i32>,
    pub comm: String,
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    pub exe: String,
    pub creds: Creds,
    /// A vfork parent waits until this turns true (exec or exit).
    pub vfork_done: bool,
    /// Whether the process has executed a program since it was forked (the
    /// opposite of Linux's PF_FORKNOEXEC): its parent may then no longer
    /// move it to another process group.
    pub has_execed: bool,
    /// How many programs the process has executed (what /proc/PID/mem
    /// checks to tell the address space it was opened on is gone).
    pub execs: u64,
    /// PR_GET_DUMPABLE: while set, the process's /proc files are its
    /// own; a change of its effective ids clears it (fs.suid_dumpable 0),
    /// exec sets it unless the program is set-id.
    pub dumpable: bool,
    /// Told the exit status when a process without a parent ends.
    pub exit_notify: Option<Sender<i32>>,
    pub rlimits: Vec<Rlimit>,
    pub host_pid: i32,
    /// Job control: stopped by a stop signal until SIGCONT.
    pub stopped: bool,
    /// A stop or continue not yet reported to wait (its wait status).
    pub job_report: Option<i32>,
    /// prctl(PR_SET_PDEATHSIG): the signal sent when the parent dies.
    pub pdeathsig: i32,
    /// prctl(PR_SET_NO_NEW_PRIVS), or the spec's noNewPrivileges: shown in
    /// /proc/PID/status, inherited, never cleared, and deciding what exec
    /// gives back to root (the Sentry itself always keeps the host flag).
    pub no_new_privs: bool,
    /// /proc/PID/oom_score_adj: the spec's process.oomScoreAdj, inherited,
    /// raised by anyone, lowered with CAP_SYS_RESOURCE. The host's OOM
    /// killer sees the Sentry's own value, which the runtime sets from the
    /// spec.
    pub oom_score_adj: i32,
    /// The floor below which lowering needs CAP_SYS_RESOURCE: what a
    /// holder of it last wrote (Linux's oom_score_adj_min), 0 at first.
    pub oom_score_adj_min: i32,
    /// The nice value (getpriority/setpriority); the Sentry does not schedule by it.
    pub nice: i32,
    /// personality(2)'s execution domain and flags (kept and reported).
    pub personality: u32,
    /// CPU time the platform's process used, in ns: sampled from the host
    /// as threads end.
    pub cpu_ns: u64,
    /// CPU time the Sentry spent serving the process's ended tasks (its
    /// "system" time: system calls run in the Sentry, not in the stub).
    pub sentry_cpu_ns: u64,
    /// The part of `sentry_cpu_ns` that ran application code, on a
    /// platform that runs it on the Sentry's threads (kvm: KVM_RUN): the
    /// user time of ended tasks there.
    pub app_cpu_ns: u64,
    /// CPU time of reaped descendants (RUSAGE_CHILDREN, times' cutime).
    pub children_cpu_ns: u64,
}

/// The CPU time the host has charged to the process with host pid `pid`
/// (the platform's stub running the workload), in ns. Linux lets any
/// process read another's process CPU clock.
pub fn host_cpu_ns(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    let clock = ((!pid) << 3) | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// CPU time of the calling Sentry thread (the one serving a task), in ns.
pub fn sentry_thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl ProcState {
    /// CPU time used so far: the platform process's (its live clock, or
    /// the last sample) plus the Sentry's time for its ended tasks. Live
    /// tasks add their own Sentry thread's time ([`sentry_thread_cpu_ns`]).
    pub fn cpu_now(&self) -> u64 {
        let stub = if self.zombie.is_some() {
            self.cpu_ns
        } else {
            host_cpu_ns(self.host_pid).unwrap_or(0).max(self.cpu_ns)
        };
        stub + self.sentry_cpu_ns
    }
}

pub struct Process {
    pub pid: i32,
    /// The container the process belongs to (its root and mounts).
    pub container: Arc<super::container::Container>,
    pub state: Mutex<ProcState>,
    pub sig: Mutex<SigState>,
    pub files: Mutex<FdTable>,
    pub fs: Mutex<FsContext>,
    pub start: Instant,
    /// The live threads, the first being the leader while it lives.
    pub threads: Mutex<Vec<Arc<Thread>>>,
    /// Set by exit_group or a fatal signal: how the whole process ends.
    pub group_exit: Mutex<Option<super::task::Exit>>,
    /// alarm/setitimer and POSIX timers; never inherited by fork.
    pub timers: Mutex<super::timers::ProcessTimers>,
    /// How many forks are copying the address space now: the other
    /// threads stay out of application code meanwhile (kernel/freeze.rs).
    pub frozen: std::sync::atomic::AtomicU32,
    /// The address space, for other processes' /proc/PID/{maps,status}:
    /// weak, so a dead process's memory is not kept alive by /proc.
    pub mm: Mutex<std::sync::Weak<crate::mm::SharedMm>>,
    /// Moves when a child's state changes for wait(2): it exited, stopped
    /// or continued, or an orphan became this process's (init's). A
    /// waiter watches it alone (`Task::block_watching`).
    pub children_seq: super::events::Seq,
    /// This process as a tracer, and its group-stops (kernel/ptrace).
    pub ptrace: super::ptrace::ProcTrace,
    /// /proc/PID/io's figures.
    pub io: super::ioacct::IoCounters,
}

impl Process {
    pub fn new(
        pid: i32,
        container: Arc<super::container::Container>,
        state: ProcState,
        sig: SigState,
        files: FdTable,
        fs: FsContext,
    ) -> std::io::Result<Arc<Process>> {
        Ok(Arc::new(Process {
            pid,
            container,
            state: Mutex::new(state),
            sig: Mutex::new(sig),
            files: Mutex::new(files),
            fs: Mutex::new(fs),
            start: Instant::now(),
            threads: Mutex::new(Vec::new()),
            group_exit: Mutex::new(None),
            timers: Mutex::new(Default::default()),
            frozen: std::sync::atomic::AtomicU32::new(0),
            mm: Mutex::new(std::sync::Weak::new()),
            children_seq: Default::default(),
            ptrace: Default::default(),
            io: Default::default(),
        }))
    }

    /// Wakes every thread (a signal for the process as a whole).
    pub fn wake(&self) {
        for t in lock(&self.threads).iter() {
            t.wake();
        }
        super::events::notify();
    }

    /// The process's address space while it has one (not a zombie's).
    pub fn mm(&self) -> Option<Arc<crate::mm::SharedMm>> {
        lock(&self.mm).upgrade()
    }

    pub fn threads(&self) -> Vec<Arc<Thread>> {
        lock(&self.threads).clone()
    }

    pub fn thread(&self, tid: i32) -> Option<Arc<Thread>> {
        lock(&self.threads).iter().find(|t| t.tid == tid).cloned()
    }

    pub fn is_zombie(&self) -> bool {
        lock(&self.state).zombie.is_some()
    }
}
