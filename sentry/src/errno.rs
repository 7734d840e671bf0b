//! The error values system calls return to the workload.

/// A Linux errno value (positive), or one of the kernel-internal restart
/// codes that never reach the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub type SysResult<T> = Result<T, Errno>;

impl Errno {
    /// Restart the call if the signal's handler has SA_RESTART (or none ran).
    pub const ERESTARTSYS: Errno = Errno(512);
    /// Always restart, whatever the handler says.
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// Restart only when no handler runs.
    pub const ERESTARTNOHAND: Errno = Errno(514);
    /// Internal: the handler already set the registers (execve, sigreturn).
    pub const EJUSTRETURN: Errno = Errno(4096);

    pub fn is_restart(self) -> bool {
        (512..=516).contains(&self.0)
    }
}

/// Shorthand for an error result.
pub fn err<T>(e: i32) -> SysResult<T> {
    Err(Errno(e))
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Errno {
        Errno(e as i32)
    }
}

/// The result of the last libc call as a SysResult.
pub fn last<T>() -> SysResult<T> {
    Err(Errno(nix::errno::Errno::last_raw()))
}
