//! The seccomp platform: application threads run in stub processes under a
//! seccomp filter whose default action is SECCOMP_RET_TRAP. Every system
//! call and fault of the application raises a signal that the stub's
//! handler takes on a stack shared with the Sentry; the Sentry reads the
//! registers from the signal frame, services the call, writes the result
//! back into the frame, and the handler returns into the application. No
//! ptrace, and no host context switch to the Sentry when both sides spin.
//!
//! - [`layout`]: where the stub's pages live and what they hold;
//! - [`stub`]: the stub's code (handler, command loop, boot);
//! - [`filter`]: its seccomp filter (host calls only from the stub's code,
//!   each narrowed to what the stub needs);
//! - [`handoff`]: how long each side waits actively for the other;
//! - [`process`]: a stub process and its shared file;
//! - [`context`]: the Context the Sentry drives.

mod context;
mod filter;
mod handoff;
pub mod layout;
mod process;
mod stub;

pub use context::SeccompContext;

use std::os::fd::RawFd;

use super::{Context, Platform, PlatformError};

/// The seccomp platform, bound to the memory file the stubs map.
pub struct SeccompPlatform {
    memfd: RawFd,
}

impl SeccompPlatform {
    /// `memfd` must stay open for the platform's lifetime: stubs inherit
    /// it and map it. Fails when the CPU or kernel lacks what the stub
    /// needs (user-mode FSGSBASE, to carry the thread pointers).
    pub fn new(memfd: RawFd) -> Result<SeccompPlatform, PlatformError> {
        const HWCAP2_FSGSBASE: u64 = 1 << 1;
        // SAFETY: getauxval only reads the process's auxiliary vector.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        if hwcap2 & HWCAP2_FSGSBASE == 0 {
            return Err(PlatformError::Other(
                "the seccomp platform needs FSGSBASE (Linux 5.9 or later on a CPU with it): use --platform ptrace".into(),
            ));
        }
        Ok(SeccompPlatform { memfd })
    }
}

impl Platform for SeccompPlatform {
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(SeccompContext::spawn(self.memfd)?))
    }

    fn name(&self) -> &'static str {
        "seccomp"
    }
}
