//! One stub process: its pid, the stub file (the command pages and areas
//! it shares with the Sentry) and which areas its threads use.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use super::layout::*;
use super::{filter, stub};
use crate::platform::PlatformError;

pub struct StubProcess {
    pub pid: i32,
    /// The memory file's descriptor number (the same in the stub).
    pub memfd: i32,
    /// The Sentry's read-write mapping of the whole stub file.
    base: *mut u8,
    /// Areas handed to a thread (and not yet given back).
    used: Mutex<Vec<bool>>,
}

// SAFETY: `base` is a shared mapping owned by this value for its whole
// life; every access through it is volatile or atomic, because the stub
// (and the application in it) writes the same memory concurrently.
unsafe impl Send for StubProcess {}
// SAFETY: see Send.
unsafe impl Sync for StubProcess {}

fn os_err(what: &str) -> PlatformError {
    PlatformError::Other(format!("{what}: {}", std::io::Error::last_os_error()))
}

impl StubProcess {
    /// Forks a new stub process that maps memory file `memfd`; returns once
    /// its first thread has booted and waits in its handler.
    pub fn spawn(memfd: i32) -> Result<StubProcess, PlatformError> {
        if stub::code_len() > CODE_LEN {
            return Err(PlatformError::Other(
                "the stub code outgrew its page".into(),
            ));
        }
        // SAFETY: memfd_create with a static NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"sandbox-stub".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(os_err("memfd_create for a stub"));
        }
        // SAFETY: fd was just created and is owned by nobody else.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain ftruncate on our own descriptor.
        if unsafe { libc::ftruncate(file.as_raw_fd(), FILE_LEN as i64) } != 0 {
            return Err(os_err("size the stub file"));
        }
        // SAFETY: a fresh shared mapping of the whole file at an address the
        // kernel picks.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                FILE_LEN as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_err("map the stub file"));
        }
        let mut p = StubProcess {
            pid: 0,
            memfd,
            base: base as *mut u8,
            used: Mutex::new(vec![false; MAX_THREADS as usize]),
        };
        p.write_boot_filter(memfd)?;
        let st = p.state(0);
        // SAFETY: st points into our mapping; nothing else uses it yet.
        unsafe { (*st).alive.store(1, Ordering::SeqCst) };
        // SAFETY: the child runs only raw system calls and the assembly
        // boot (stub::child) and never returns into Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PlatformError::Spawn(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { stub::child(file.as_raw_fd(), memfd) }
        }
        p.pid = pid;
        lock(&p.used)[0] = true;
        Ok(p)
    }

    /// Leaves the seccomp program where the boot finds it (thread 0's
    /// state page, as a `sock_fprog` pointing at the stub's address).
    fn write_boot_filter(&self, memfd: i32) -> Result<(), PlatformError> {
        let prog = filter::program(memfd)
            .map_err(|e| PlatformError::Other(format!("stub seccomp filter: {e}")))?;
        if prog.len() > BOOT_FILTER_MAX {
            return Err(PlatformError::Other("stub seccomp filter too long".into()));
        }
        let page = self.state(0) as *mut u8;
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: (area_addr(0) + ST_BOOT_FILTER as u64) as *mut libc::sock_filter,
        };
        // SAFETY: both writes stay inside thread 0's state page (checked
        // against BOOT_FILTER_MAX above); no stub exists yet.
        unsafe {
            std::ptr::write_unaligned(page.add(ST_BOOT_FPROG) as *mut libc::sock_fprog, fprog);
            std::ptr::copy_nonoverlapping(
                prog.as_ptr(),
                page.add(ST_BOOT_FILTER) as *mut libc::sock_filter,
                prog.len(),
            );
        }
        Ok(())
    }

    /// The Sentry's pointer to thread `i`'s command page.
    pub fn cmd(&self, i: u64) -> *mut Command {
        debug_assert!(i < MAX_THREADS);
        // SAFETY: i < MAX_THREADS keeps the page inside the mapping.
        unsafe { self.base.add((i * PAGE) as usize) as *mut Command }
    }

    /// The Sentry's pointer to thread `i`'s state page.
    pub fn state(&self, i: u64) -> *mut State {
        debug_assert!(i < MAX_THREADS);
        // SAFETY: i < MAX_THREADS keeps the area inside the mapping.
        unsafe { self.base.add((CMD_LEN + i * AREA_SIZE) as usize) as *mut State }
    }

    /// Translates `len` bytes at stub address `addr`, which the stub
    /// reported and so must lie inside thread `i`'s area, to the Sentry's
    /// mapping; None if they do not.
    pub fn translate(&self, i: u64, addr: u64, len: u64) -> Option<*mut u8> {
        let lo = area_addr(i);
        let end = addr.checked_add(len)?;
        if addr < lo || end > lo + AREA_SIZE {
            return None;
        }
        // SAFETY: the range is inside area i, inside the mapping.
        Some(unsafe { self.base.add((CMD_LEN + (addr - RW_BASE)) as usize) })
    }

    /// Takes a free area for a new thread: one no thread holds and whose
    /// last host thread has exited (the kernel cleared its `alive` word).
    pub fn take_area(&self) -> Option<u64> {
        let mut used = lock(&self.used);
        for (i, u) in used.iter_mut().enumerate() {
            // SAFETY: i < MAX_THREADS.
            let st = unsafe { &*self.state(i as u64) };
            if !*u && st.alive.load(Ordering::SeqCst) == 0 {
                *u = true;
                return Some(i as u64);
            }
        }
        None
    }

    pub fn give_area(&self, i: u64) {
        if let Some(u) = lock(&self.used).get_mut(i as usize) {
            *u = false;
        }
    }

    /// Whether the stub process has exited (it is our child: a zombie
    /// until we reap it).
    pub fn exited(&self) -> bool {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child, without reaping it.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
            )
        };
        // SAFETY: si_pid is valid for a filled-in child status.
        r != 0 || unsafe { info.si_pid() } == self.pid
    }

    /// How the stub ended, for an error message.
    pub fn how_it_died(&self) -> String {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child, without reaping it.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
            )
        };
        if r != 0 {
            return "gone".into();
        }
        // SAFETY: si_status and si_code are valid for a child status.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        if code == libc::CLD_EXITED {
            format!("exited with {status}")
        } else {
            format!("killed by signal {status}")
        }
    }

    pub fn kill(&self) {
        // SAFETY: kill of our own child, not yet reaped (so not recycled).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        if self.pid > 0 {
            self.kill();
            let mut status = 0;
            // SAFETY: reaps our own child.
            unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
        }
        // SAFETY: unmaps exactly the mapping made in spawn; no pointer into
        // it outlives this value (contexts hold an Arc to it).
        unsafe { libc::munmap(self.base as *mut libc::c_void, FILE_LEN as usize) };
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
