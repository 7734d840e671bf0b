//! How many of the calls the vDSO answers reached the Sentry as system
//! calls anyway (a vDSO fallback, a program that calls them with `syscall`,
//! or no vDSO). Logged when the sandbox ends, so a test can show that a
//! program's clock reads never trapped. Only these handlers count: other
//! system calls pay nothing.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy)]
pub enum Call {
    ClockGettime,
    ClockGetres,
    Gettimeofday,
    Time,
    Getcpu,
}

const NAMES: [&str; 5] = [
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "getcpu",
];

static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Counts one system call the vDSO could have answered.
pub fn count(call: Call) {
    COUNTS[call as usize].fetch_add(1, Ordering::Relaxed);
}

/// `clock_gettime=N clock_getres=N gettimeofday=N time=N getcpu=N`.
pub fn summary() -> String {
    NAMES
        .iter()
        .zip(&COUNTS)
        .map(|(n, c)| format!("{n}={}", c.load(Ordering::Relaxed)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_call() {
        count(Call::Getcpu);
        let s = summary();
        assert!(s.starts_with("clock_gettime="), "{s}");
        assert!(s.contains(" getcpu="), "{s}");
        assert!(!s.contains(" getcpu=0"), "{s}");
    }
}
