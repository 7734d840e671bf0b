//! The kernel's event counter: every change a blocked task might wait for
//! (pipe data, a child's exit, a signal) bumps it and wakes the waiters,
//! who re-check their own condition. Simple and free of lost wake-ups.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

static GENERATION: Mutex<u64> = Mutex::new(0);
static CHANGED: Condvar = Condvar::new();

/// The current generation: read it before checking a condition.
pub fn generation() -> u64 {
    *GENERATION.lock().unwrap_or_else(|p| p.into_inner())
}

/// Something changed: wake every waiter.
pub fn notify() {
    let mut g = GENERATION.lock().unwrap_or_else(|p| p.into_inner());
    *g = g.wrapping_add(1);
    CHANGED.notify_all();
}

/// Sleeps until the generation moves past `seen` or `deadline` passes.
pub fn wait(seen: u64, deadline: Option<Instant>) {
    let mut g = GENERATION.lock().unwrap_or_else(|p| p.into_inner());
    while *g == seen {
        match deadline {
            None => g = CHANGED.wait(g).unwrap_or_else(|p| p.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return;
                }
                g = CHANGED
                    .wait_timeout(g, d - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}

/// One object's change counter (a file's `event_seq`): bumping it also
/// wakes every waiter, so a file changes state with one call.
#[derive(Default)]
pub struct Seq(std::sync::atomic::AtomicU64);

impl Seq {
    pub fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        notify();
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
