//! Thread names (comm): each thread has its own, as on Linux. The
//! leader's (tid = pid) is the process's (`ProcState::comm`, what
//! /proc/PID/comm, stat and status show and exec sets); the other threads
//! keep theirs in `Thread::comm`, copied from their creator's.

use super::process::{lock, Process};

/// The longest name: TASK_COMM_LEN less its terminator.
pub const MAX_LEN: usize = 15;

/// Thread `tid`'s name ("" if no such thread).
pub fn name(p: &Process, tid: i32) -> String {
    if tid == p.pid {
        return lock(&p.state).comm.clone();
    }
    p.thread(tid)
        .map(|t| lock(&t.comm).clone())
        .unwrap_or_default()
}

/// Names thread `tid` (PR_SET_NAME, a write to /proc/PID/task/TID/comm):
/// up to the first NUL, at most MAX_LEN bytes.
pub fn set(p: &Process, tid: i32, raw: &[u8]) {
    let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
    let name: String = String::from_utf8_lossy(&raw[..raw.len().min(MAX_LEN)])
        .chars()
        .take(MAX_LEN)
        .collect();
    if tid == p.pid {
        lock(&p.state).comm = name;
    } else if let Some(t) = p.thread(tid) {
        *lock(&t.comm) = name;
    }
}
