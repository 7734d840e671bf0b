//! Support for the integration tests in `tests/tests/`.
//!
//! Every test runs a real program through a real OCI runtime binary: the
//! `sandbox` binary under test, and `runc` (or the host itself) as the control
//! that proves the expectation is right and that the check can fail.
//!
//! - [`tempdir`]: temporary directories that refuse to delete through a leaked mount.
//! - [`bundle`]: a busybox root filesystem and an OCI `config.json` with Docker-like defaults.
//! - [`runner`]: running a runtime (or a native control) with a timeout, capturing its output.
//! - [`cleanup`]: the check that nothing of a container is left behind.
//! - [`console`]: receiving the pty master a runtime sends to `--console-socket`.
//! - [`cprog`]: C test programs built with gcc, static and dynamic.
//! - [`netns`]: a network namespace with a veth pair, as Docker's bridge leaves one.
//! - [`reaper`]: acting as containerd's shim does (a child subreaper).

pub mod bundle;
pub mod cleanup;
pub mod console;
pub mod cprog;
pub mod netns;
pub mod reaper;
pub mod runner;
pub mod tempdir;

pub use bundle::Bundle;
pub use cleanup::assert_clean;
pub use runner::{
    native_command, native_in_chroot, run_bounded, run_quietly, DeleteOnPanic, Output, Runtime,
};
pub use tempdir::TempDir;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name unique to this test process and call: `st<pid>-<nnn>-<tag>`.
///
/// The counter is fixed-width, so one name is never a substring of another
/// (the cleanup check searches for the name as a substring).
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("st{}-{:04}-{}", std::process::id(), n, tag)
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; whether
/// it held in the end.
pub fn wait_until(cond: impl Fn() -> bool, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cond()
}
