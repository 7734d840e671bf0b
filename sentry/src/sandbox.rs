//! The runtime's handle on one sandbox: the order of operations that turns a
//! spec into a running workload.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;

use crate::error::Error;
use crate::spec::SandboxSpec;

/// One sandbox, from its host resources to its exit.
pub struct Sandbox {
    inner: crate::kernel::boot::Boot,
}

impl Sandbox {
    /// Opens the host resources the spec names (the root filesystem and the
    /// sources of bind mounts) as directory/file descriptors. Call this
    /// before the jail takes the host's file system away.
    pub fn open(spec: &SandboxSpec) -> Result<Sandbox, Error> {
        Ok(Sandbox {
            inner: crate::kernel::boot::Boot::open(spec)?,
        })
    }

    /// Resolves and loads the init process with `stdio` (host descriptors
    /// for fds 0, 1, 2). Fails when the program is missing or not
    /// executable. Call after the jail, before reporting "created".
    pub fn create_init(&mut self, stdio: [OwnedFd; 3]) -> Result<(), Error> {
        self.inner.create_init(stdio)
    }

    /// Installs the Sentry's seccomp filter, waits for `start` on the control
    /// socket, then runs the workload until its init exits, serving `exec`
    /// and signal requests meanwhile. Returns the exit status as a shell
    /// reports it: the exit code, or 128 + the signal that killed init.
    pub fn serve(self, control: UnixListener) -> Result<i32, Error> {
        let r = self.inner.serve(control);
        crate::syscalls::stats::report();
        r
    }
}
