//! The Sentry's model of processes: the kernel (process table, signal
//! sending, exit and reaping), tasks and their run loop, signal frames,
//! exec, and the boot sequence that builds a sandbox.

pub mod boot;
pub mod caps;
pub mod comm;
pub mod container;
pub mod control;
pub mod cputimers;
pub mod creds;
pub mod dethread;
pub mod events;
pub mod exec;
pub mod exit;
pub mod freeze;
pub mod futex;
pub mod futex_pi;
pub mod ioacct;
pub mod ipc;
pub mod jobctl;
pub mod pod;
pub mod process;
pub mod ptrace;
pub mod resources;
pub mod rlimits;
pub mod sigframe;
pub mod sigio;
pub mod signal;
pub mod sigquota;
pub mod task;
pub mod thread;
pub mod timers;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::errno::SysResult;
use crate::fs::host_fd::HostFd;
use crate::mm::MemoryFile;
use crate::platform::Platform;
use process::{lock, Process};
use signal::{SigInfo, SIG_DFL};
use sigquota::Quota;

/// The sandbox's kernel: what all tasks share.
pub struct Kernel {
    pub memfile: Arc<MemoryFile>,
    pub platform: Box<dyn Platform>,
    pub hostname: Mutex<String>,
    pub procs: Mutex<BTreeMap<i32, Arc<Process>>>,
    /// Every live thread id → its process's pid.
    pub tids: Mutex<BTreeMap<i32, i32>>,
    next_pid: Mutex<i32>,
    pub boot_time: Instant,
    /// The terminal the runtime gave the workload, if any (/dev/console, /dev/pts/0).
    pub console: Option<Arc<HostFd>>,
    /// Sentry threads running tasks; serve waits for them all at the end.
    pub live_tasks: Mutex<usize>,
}

/// The spec's pids limit (0: none): fork and clone fail with EAGAIN once
/// the workload has this many tasks, as the pids cgroup makes them fail
/// under runc. Set once at boot.
pub static PIDS_MAX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

static KERNEL: OnceLock<Arc<Kernel>> = OnceLock::new();

/// The sandbox's kernel (one per Sentry process).
pub fn get() -> Option<&'static Arc<Kernel>> {
    KERNEL.get()
}

pub const PID_MAX: i32 = 4_194_304;

impl Kernel {
    /// Makes `k` the Sentry's kernel; a Sentry process runs one sandbox.
    pub fn install(k: Kernel) -> Result<Arc<Kernel>, crate::Error> {
        KERNEL
            .set(Arc::new(k))
            .map_err(|_| crate::Error::Protocol("this Sentry already runs a sandbox".into()))?;
        KERNEL
            .get()
            .cloned()
            .ok_or_else(|| crate::Error::Protocol("the kernel vanished".into()))
    }

    pub fn new(
        memfile: Arc<MemoryFile>,
        platform: Box<dyn Platform>,
        hostname: String,
        console: Option<Arc<HostFd>>,
    ) -> Kernel {
        Kernel {
            memfile,
            platform,
            hostname: Mutex::new(hostname),
            procs: Mutex::new(BTreeMap::new()),
            tids: Mutex::new(BTreeMap::new()),
            next_pid: Mutex::new(1),
            boot_time: Instant::now(),
            console,
            live_tasks: Mutex::new(0),
        }
    }

    /// A free pid (1 for the first process).
    pub fn alloc_pid(&self) -> Option<i32> {
        let procs = lock(&self.procs);
        let tids = lock(&self.tids);
        let mut next = lock(&self.next_pid);
        for _ in 0..PID_MAX {
            let pid = *next;
            *next = if pid >= PID_MAX - 1 { 2 } else { pid + 1 };
            if !procs.contains_key(&pid) && !tids.contains_key(&pid) {
                return Some(pid);
            }
        }
        None
    }

    /// The pid handed out last (/proc/loadavg's last field).
    pub fn last_pid(&self) -> i32 {
        (*lock(&self.next_pid) - 1).max(1)
    }

    pub fn process(&self, pid: i32) -> Option<Arc<Process>> {
        lock(&self.procs).get(&pid).cloned()
    }

    pub fn all_processes(&self) -> Vec<Arc<Process>> {
        lock(&self.procs).values().cloned().collect()
    }

    /// Whether init's protection drops `info`: from inside, init (pid 1)
    /// only receives signals it has a handler for, as a pid namespace's
    /// init on Linux; from outside (`kill` of the runtime) SIGKILL and
    /// SIGSTOP also get through.
    fn init_drops(target: &Process, action: &signal::SigAction, signo: i32, outside: bool) -> bool {
        target.container.is_namespace_init(target.pid)
            && action.handler == SIG_DFL
            && !(outside && (signo == libc::SIGKILL || signo == libc::SIGSTOP))
    }

    /// Sends a signal to a process (any of its threads may take it).
    pub fn send_signal(&self, target: &Process, info: SigInfo, outside: bool) {
        // Only a real-time signal with its own information can fail to
        // queue (EAGAIN): the callers that send those use try_send_signal.
        let _ = self.try_send_signal(target, info, outside);
    }

    /// send_signal, failing with EAGAIN when the receiver's user has
    /// RLIMIT_SIGPENDING signals queued and `info` is a real-time signal
    /// with its own information (kernel/sigquota.rs).
    pub fn try_send_signal(&self, target: &Process, info: SigInfo, outside: bool) -> SysResult<()> {
        if info.signo == 0 || target.is_zombie() {
            return Ok(());
        }
        self.job_control_on_send(target, info.signo);
        let quota = Quota::of(target);
        let mut sig = lock(&target.sig);
        let action = sig.actions[info.signo as usize];
        if Self::init_drops(target, &action, info.signo, outside) {
            return Ok(());
        }
        let threads = target.threads();
        let bit = signal::bit(info.signo);
        let blocked_everywhere = !threads.is_empty() && threads.iter().all(|t| t.mask() & bit != 0);
        // A tracer sees even ignored signals (Linux's sig_ignored).
        let traced = threads.iter().any(|t| ptrace::is_traced(t));
        if sig.ignores(info.signo) && !blocked_everywhere && !traced {
            return Ok(());
        }
        sig.pending.queue_counted(info, Some(quota))?;
        drop(sig);
        target.wake();
        Ok(())
    }

    /// Sends a signal to one thread (a thread's timer).
    pub fn send_thread_signal(&self, target: &Process, thread: &thread::Thread, info: SigInfo) {
        let _ = self.try_send_thread_signal(target, thread, info);
    }

    /// Sends a signal to one thread (tkill, tgkill, rt_tgsigqueueinfo);
    /// EAGAIN as [`Kernel::try_send_signal`].
    pub fn try_send_thread_signal(
        &self,
        target: &Process,
        thread: &thread::Thread,
        info: SigInfo,
    ) -> SysResult<()> {
        if info.signo == 0 {
            return Ok(());
        }
        self.job_control_on_send(target, info.signo);
        let quota = Quota::of(target);
        let sig = lock(&target.sig);
        let action = sig.actions[info.signo as usize];
        if Self::init_drops(target, &action, info.signo, false) {
            return Ok(());
        }
        let blocked = thread.mask() & signal::bit(info.signo) != 0;
        if sig.ignores(info.signo) && !blocked && !ptrace::is_traced(thread) {
            return Ok(());
        }
        drop(sig);
        lock(&thread.sig).pending.queue_counted(info, Some(quota))?;
        thread.wake();
        Ok(())
    }

    /// Forces a synchronous signal (a fault) on a thread: unblocked and, if
    /// ignored, reset to the default action, as Linux's force_sig does.
    pub fn force_signal(&self, target: &Process, thread: &thread::Thread, info: SigInfo) {
        let mut sig = lock(&target.sig);
        let mut ts = lock(&thread.sig);
        let s = info.signo;
        if ts.mask & signal::bit(s) != 0 || sig.actions[s as usize].handler == signal::SIG_IGN {
            sig.actions[s as usize].handler = SIG_DFL;
            ts.mask &= !signal::bit(s);
        }
        ts.pending.push_front(info);
    }

    /// The process and thread of a thread id.
    pub fn thread(&self, tid: i32) -> Option<(Arc<Process>, Arc<thread::Thread>)> {
        let pid = *lock(&self.tids).get(&tid)?;
        let p = self.process(pid)?;
        let t = p.thread(tid)?;
        Some((p, t))
    }

    /// Signals every process of a process group; returns whether any matched.
    pub fn signal_group(&self, pgid: i32, info: SigInfo) -> bool {
        let mut found = false;
        for p in self.all_processes() {
            if lock(&p.state).pgid == pgid && !p.is_zombie() {
                found = true;
                self.send_signal(&p, info, false);
            }
        }
        found
    }

    /// Removes a reaped process from the table.
    pub fn release(&self, pid: i32) {
        lock(&self.procs).remove(&pid);
    }

    /// Kills everything (init died, or the sandbox is shutting down).
    pub fn kill_all(&self) {
        for p in self.all_processes() {
            if !p.is_zombie() {
                lock(&p.sig)
                    .pending
                    .queue(SigInfo::new(libc::SIGKILL, signal::SI_KERNEL));
                p.wake();
            }
        }
    }
}
