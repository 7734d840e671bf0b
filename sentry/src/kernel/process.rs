//! A process (thread group) and the state other tasks can see: its family,
//! its exit status, its signal state, descriptors and working directory.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::creds::Creds;
use super::signal::SigState;
use crate::platform::Interrupter;
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
    /// Told the exit status when a process without a parent ends.
    pub exit_notify: Option<Sender<i32>>,
    pub rlimits: Vec<Rlimit>,
    pub host_pid: i32,
}

pub struct Process {
    pub pid: i32,
    pub state: Mutex<ProcState>,
    pub sig: Mutex<SigState>,
    pub files: Mutex<FdTable>,
    pub fs: Mutex<FsContext>,
    pub start: Instant,
    wake_fd: OwnedFd,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
}

impl Process {
    pub fn new(
        pid: i32,
        state: ProcState,
        sig: SigState,
        files: FdTable,
        fs: FsContext,
    ) -> std::io::Result<Arc<Process>> {
        // SAFETY: eventfd with constant flags.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Process {
            pid,
            state: Mutex::new(state),
            sig: Mutex::new(sig),
            files: Mutex::new(files),
            fs: Mutex::new(fs),
            start: Instant::now(),
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

    /// Makes the process look at its signals: wakes it wherever it waits
    /// or runs.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes to our eventfd; failure (counter full) is harmless.
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

    pub fn is_zombie(&self) -> bool {
        lock(&self.state).zombie.is_some()
    }
}
