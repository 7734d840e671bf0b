//! The ptrace platform: each application process is a *stub* process that
//! the Sentry traces with `PTRACE_SYSEMU`, so every system call the
//! application makes stops the stub before the host kernel executes it, and
//! the Sentry services it instead.
//!
//! A stub owns nothing but one page of code (`syscall; int3`) at
//! [`STUB_PAGE`]; the application's memory is the Sentry's memory file,
//! mapped into the stub by system calls the Sentry *injects* at that page
//! (see [`inject`]). The stub runs under a seccomp filter that allows only
//! those few calls, in case one were ever reached without the Sentry.

mod inject;
mod stub;

pub use stub::StubContext;

use std::os::fd::RawFd;

use super::{Context, Platform, PlatformError};

/// Where the stub's code page lives in every stub (just above USER_MAX).
pub const STUB_PAGE: u64 = super::USER_MAX;

/// The ptrace platform, bound to the memory file the stubs map.
pub struct PtracePlatform {
    memfd: RawFd,
}

impl PtracePlatform {
    /// `memfd` must stay open for the platform's lifetime: stubs inherit it
    /// and map it.
    pub fn new(memfd: RawFd) -> PtracePlatform {
        PtracePlatform { memfd }
    }
}

impl Platform for PtracePlatform {
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(StubContext::spawn(self.memfd)?))
    }

    fn name(&self) -> &'static str {
        "ptrace"
    }
}
