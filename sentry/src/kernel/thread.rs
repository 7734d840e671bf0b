//! A thread as other threads see it: its tid, its signal mask and pending
//! signals, and how to wake it wherever it waits or runs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::process::lock;
use super::signal::ThreadSig;
use crate::platform::Interrupter;

pub struct Thread {
    pub tid: i32,
    pub sig: Mutex<ThreadSig>,
    /// Set when another thread execs: this one ends quietly.
    zapped: AtomicBool,
    wake_fd: OwnedFd,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    /// set_robust_list's head: the locks to release if the thread dies.
    pub robust_list: std::sync::atomic::AtomicU64,
    /// The host tid of the Sentry thread running this task (its CPU clock
    /// is the task's system time); 0 until it runs.
    pub host_tid: std::sync::atomic::AtomicI32,
    /// Inside the platform's `run` (application code may be running);
    /// see kernel/freeze.rs.
    pub in_user: AtomicBool,
    /// This thread as a tracee (kernel/ptrace).
    pub ptrace: Mutex<super::ptrace::Tracee>,
    /// Whether it has a tracer: the hot paths (every system call, every
    /// signal check) look here before taking `ptrace`'s lock.
    pub traced: AtomicBool,
    /// The thread's name unless it leads its process (kernel/comm.rs).
    pub comm: Mutex<String>,
}

impl Thread {
    pub fn new(tid: i32, mask: u64) -> std::io::Result<Arc<Thread>> {
        // SAFETY: eventfd with constant flags.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Thread {
            tid,
            sig: Mutex::new(ThreadSig {
                mask,
                ..Default::default()
            }),
            zapped: AtomicBool::new(false),
            robust_list: std::sync::atomic::AtomicU64::new(0),
            host_tid: std::sync::atomic::AtomicI32::new(0),
            in_user: AtomicBool::new(false),
            ptrace: Mutex::new(Default::default()),
            traced: AtomicBool::new(false),
            comm: Mutex::new(String::new()),
            // SAFETY: a fresh descriptor we own.
            wake_fd: unsafe { OwnedFd::from_raw_fd(fd) },
            interrupter: Mutex::new(None),
        }))
    }

    /// The descriptor a task polls beside a host descriptor to learn of signals.
    pub fn wake_fd(&self) -> i32 {
        self.wake_fd.as_raw_fd()
    }

    pub fn set_interrupter(&self, i: Option<Arc<dyn Interrupter>>) {
        *lock(&self.interrupter) = i;
    }

    /// The CPU time the thread spent in application code, where the
    /// platform measures it per thread (see [`Interrupter::app_cpu_ns`]).
    pub fn app_cpu_ns(&self) -> Option<u64> {
        lock(&self.interrupter).as_ref()?.app_cpu_ns()
    }

    /// Asks the platform to measure [`Thread::app_cpu_ns`] from now on.
    pub fn measure_app_cpu(&self) {
        if let Some(i) = lock(&self.interrupter).as_ref() {
            i.measure_app_cpu();
        }
    }

    /// Ends this thread without ending its process (de_thread for exec).
    pub fn zap(&self) {
        self.zapped.store(true, Ordering::SeqCst);
        self.wake();
    }

    pub fn zapped(&self) -> bool {
        self.zapped.load(Ordering::SeqCst)
    }

    pub fn mask(&self) -> u64 {
        lock(&self.sig).mask
    }

    /// Makes the thread look at its signals, wherever it waits or runs.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes to our eventfd; a full counter is harmless.
        unsafe {
            libc::write(
                self.wake_fd.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
        if let Some(i) = lock(&self.interrupter).as_ref() {
            i.interrupt();
        }
        super::events::notify();
    }

    /// Wakes the thread from a wait on its wake descriptor alone (a futex
    /// wait), without the kernel-wide event: no other waiter re-checks.
    pub fn unpark(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes to our eventfd; a full counter is harmless.
        unsafe {
            libc::write(
                self.wake_fd.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
    }

    /// Empties the wake descriptor after a wait.
    pub fn drain_wake(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes from our non-blocking eventfd.
        unsafe {
            libc::read(
                self.wake_fd.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            )
        };
    }
}

thread_local! {
    /// The process and thread the calling Sentry thread runs (each task has
    /// its own Sentry thread), for files whose behaviour depends on the
    /// caller, as signalfd's does.
    static CURRENT: std::cell::RefCell<Option<(Arc<super::process::Process>, Arc<Thread>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Records (or, with None, forgets) the task this Sentry thread runs.
pub fn set_current(cur: Option<(Arc<super::process::Process>, Arc<Thread>)>) {
    CURRENT.with(|c| *c.borrow_mut() = cur);
}

/// The process and thread of the calling task, if a task runs here.
pub fn current() -> Option<(Arc<super::process::Process>, Arc<Thread>)> {
    CURRENT.with(|c| c.borrow().clone())
}
