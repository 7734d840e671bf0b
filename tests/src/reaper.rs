//! Acting as containerd's shim does: a child subreaper that reaps the
//! container's init after the runtime that created it has exited.

use std::fs;
use std::sync::Once;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Makes this test process a child subreaper, once. Orphans of our
/// children (the container init, once `create` returns) become ours.
pub fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// The parent pid of `pid`, from /proc/PID/status.
pub fn parent_of(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// True if `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

/// Waits (polling) for our child `pid` to exit and reaps it.
/// Returns None if it has not exited within `timeout`.
pub fn reap(pid: i32, timeout: Duration) -> Option<WaitStatus> {
    let start = Instant::now();
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return Some(status),
            Err(e) => panic!("waitpid({pid}): {e} (is it our child?)"),
        }
        if start.elapsed() > timeout {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}
