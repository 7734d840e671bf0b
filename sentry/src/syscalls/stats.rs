//! Per-system-call counts and Sentry time, for finding where a workload's
//! time goes (issue 13): with `SANDBOX_SYSCALL_STATS=1` in the runtime's
//! environment, every call the Sentry serves is counted with the time its
//! handler took (blocking included), and at the end of the sandbox the
//! table goes to the runtime's log (`--log`), busiest first, one line per
//! call number (`ausyscall N` or asm/unistd_64.h name them). Off, the cost
//! is one relaxed load per call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Call numbers counted (x86-64's are below 512).
const CALLS: usize = 512;

static ON: AtomicBool = AtomicBool::new(false);
static COUNT: [AtomicU64; CALLS] = [const { AtomicU64::new(0) }; CALLS];
static NANOS: [AtomicU64; CALLS] = [const { AtomicU64::new(0) }; CALLS];

/// Reads the switch from the environment (at boot, before the jail).
pub fn init() {
    let on = std::env::var("SANDBOX_SYSCALL_STATS").is_ok_and(|v| v == "1");
    ON.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Counts one call of `nr` that took `took` in the Sentry.
pub fn record(nr: u64, took: Duration) {
    let Some(i) = usize::try_from(nr).ok().filter(|&i| i < CALLS) else {
        return;
    };
    COUNT[i].fetch_add(1, Ordering::Relaxed);
    NANOS[i].fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
}

/// The table, busiest (by total time) first: (nr, calls, total time).
pub fn table() -> Vec<(usize, u64, Duration)> {
    let mut rows: Vec<(usize, u64, Duration)> = (0..CALLS)
        .filter_map(|i| {
            let n = COUNT[i].load(Ordering::Relaxed);
            (n > 0).then(|| (i, n, Duration::from_nanos(NANOS[i].load(Ordering::Relaxed))))
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    rows
}

/// Logs the table (when counting is on).
pub fn report() {
    if !enabled() {
        return;
    }
    let rows = table();
    let calls: u64 = rows.iter().map(|r| r.1).sum();
    tracing::info!(calls, "system call statistics (nr, calls, total, mean)");
    for (nr, n, total) in rows {
        tracing::info!(
            nr,
            calls = n,
            total_us = total.as_micros() as u64,
            mean_ns = (total.as_nanos() / u128::from(n.max(1))) as u64,
            "syscall"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_orders_by_time() {
        record(39, Duration::from_micros(1));
        record(39, Duration::from_micros(1));
        record(0, Duration::from_micros(10));
        record(100_000, Duration::from_secs(1));
        let t = table();
        let getpid = t.iter().find(|r| r.0 == 39).expect("getpid counted");
        assert!(getpid.1 >= 2);
        let read_at = t.iter().position(|r| r.0 == 0).expect("read counted");
        let getpid_at = t.iter().position(|r| r.0 == 39).expect("getpid counted");
        assert!(read_at < getpid_at || t[read_at].2 >= t[getpid_at].2);
    }
}
