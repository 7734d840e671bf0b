//! /proc: the Sentry's own view of the sandbox. Pids are sandbox pids, and
//! nothing here reads the host's /proc: every file is rendered from the
//! Sentry's state (processes, threads, descriptors, mounts, limits), so
//! the figures agree with what the system calls report.

mod mem;
mod net;
mod pid;
mod sysctl;
mod system;

pub use system::cpus;

use std::cell::Cell;
use std::sync::Arc;

use super::synthetic::{dir, link};
use crate::vfs::Inode;

/// The kernel version the workload sees.
pub const RELEASE: &str = "6.1.0-sandbox";
pub const VERSION: &str = "#1 SMP sandbox Sentry";

/// Linux's USER_HZ: the unit of the tick counts in /proc.
const HZ: u64 = 100;

thread_local! {
    /// The sandbox pid of the task this Sentry thread runs (for /proc/self).
    pub static CURRENT_PID: Cell<i32> = const { Cell::new(0) };
}

fn current_pid() -> i32 {
    CURRENT_PID.with(|c| c.get())
}

/// The thread id of the task this Sentry thread runs (/proc/thread-self).
fn current_tid() -> i32 {
    crate::kernel::thread::current()
        .map(|(_, t)| t.tid)
        .unwrap_or_else(current_pid)
}

fn text(s: String) -> Vec<u8> {
    s.into_bytes()
}

/// The host's CLOCK_BOOTTIME, which the sandbox shares (sysinfo and
/// clock_gettime report it too), in seconds.
fn uptime_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    } else {
        crate::kernel::get()
            .map(|k| k.boot_time.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// Builds the root of /proc.
pub fn new_procfs() -> Arc<dyn Inode> {
    let dev = super::new_fs_id() as u64;
    dir(dev, "/proc", 0, move || {
        let mut v: Vec<(String, Arc<dyn Inode>)> = vec![
            (
                "self".into(),
                link(dev, "self", 0, || current_pid().to_string()),
            ),
            (
                "thread-self".into(),
                link(dev, "thread-self", 0, || {
                    format!("{}/task/{}", current_pid(), current_tid())
                }),
            ),
            (
                "mounts".into(),
                link(dev, "mounts", 0, || "self/mounts".into()),
            ),
            ("sys".into(), sysctl::new_sys(dev)),
            ("net".into(), link(dev, "net", 0, || "self/net".into())),
        ];
        v.extend(system::files(dev));
        if let Some(k) = crate::kernel::get() {
            for p in k.all_processes() {
                v.push((p.pid.to_string(), pid::pid_dir(dev, p)));
            }
        }
        v
    })
}
