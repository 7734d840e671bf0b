//! RLIMIT_SIGPENDING: how many signals a user may have queued, counted
//! per real uid across the sandbox (Linux counts per user in a user
//! namespace; the sandbox is one).
//!
//! As on Linux, every queued signal counts while it is pending (a standard
//! signal already pending is not queued, so not counted, again), and so
//! does every POSIX timer from creation to deletion (it holds the signal
//! its expiries queue). Only queuing beyond the limit fails, and only for
//! a real-time signal carrying its own information (sigqueue, tgkill,
//! rt_[tg]sigqueueinfo): EAGAIN. Other signals over the limit are queued
//! uncounted, and standard signals sent by kill or the kernel are counted
//! even over the limit.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::process::{lock, Process};

static COUNTS: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

/// Whose count a signal joins, and its limit (the receiver's real uid and
/// soft RLIMIT_SIGPENDING; a timer's creator's).
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub uid: u32,
    pub limit: u64,
}

impl Quota {
    pub fn of(proc: &Process) -> Quota {
        let st = lock(&proc.state);
        Quota {
            uid: st.creds.uid,
            limit: st.rlimit(libc::RLIMIT_SIGPENDING).0,
        }
    }
}

/// One counted signal (or timer); the count drops with it.
#[derive(Debug)]
pub struct Charge {
    uid: u32,
}

/// Counts one more for `q`'s user unless that goes beyond its limit
/// (`force`: count it anyway).
pub fn charge(q: Quota, force: bool) -> Option<Charge> {
    let mut counts = lock(&COUNTS);
    let n = counts.entry(q.uid).or_insert(0);
    if !force && *n >= q.limit {
        return None;
    }
    *n += 1;
    Some(Charge { uid: q.uid })
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut counts = lock(&COUNTS);
        if let Some(n) = counts.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

/// The signals counted for `uid` now (for tests).
#[cfg(test)]
pub fn count(uid: u32) -> u64 {
    lock(&COUNTS).get(&uid).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_to_the_limit_and_drops_with_the_charges() {
        let q = Quota {
            uid: 4_000_123,
            limit: 2,
        };
        let a = charge(q, false).expect("first");
        let b = charge(q, false).expect("second");
        assert!(charge(q, false).is_none(), "beyond the limit");
        let forced = charge(q, true).expect("forced past the limit");
        assert_eq!(count(q.uid), 3);
        drop((a, forced));
        assert_eq!(count(q.uid), 1);
        let c = charge(q, false).expect("room again");
        drop((b, c));
        assert_eq!(count(q.uid), 0);
    }
}
