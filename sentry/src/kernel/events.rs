//! The kernel's event counter: every change a blocked task might wait for
//! (pipe data, a child's exit, a signal) bumps it and wakes the waiters,
//! who re-check their own condition. Simple and free of lost wake-ups.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// The generation, and how many threads sleep on it: a change with no
/// sleeper (the common case once most waits watch their own objects,
/// `Seq::watch`) costs no futex wake.
struct Counter {
    generation: u64,
    sleepers: usize,
}

static GENERATION: Mutex<Counter> = Mutex::new(Counter {
    generation: 0,
    sleepers: 0,
});
static CHANGED: Condvar = Condvar::new();

/// The current generation: read it before checking a condition.
pub fn generation() -> u64 {
    GENERATION
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .generation
}

/// Something changed: wake every waiter.
pub fn notify() {
    let mut g = GENERATION.lock().unwrap_or_else(|p| p.into_inner());
    g.generation = g.generation.wrapping_add(1);
    if g.sleepers > 0 {
        CHANGED.notify_all();
    }
}

/// Sleeps until the generation moves past `seen` or `deadline` passes.
pub fn wait(seen: u64, deadline: Option<Instant>) {
    let mut g = GENERATION.lock().unwrap_or_else(|p| p.into_inner());
    // Counted under the lock notify takes: a change either comes before
    // the check below or sees this sleeper.
    g.sleepers += 1;
    while g.generation == seen {
        match deadline {
            None => g = CHANGED.wait(g).unwrap_or_else(|p| p.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                g = CHANGED
                    .wait_timeout(g, d - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
    g.sleepers -= 1;
}

/// One object's change counter (a file's `event_seq`): bumping it also
/// wakes every waiter, so a file changes state with one call.
///
/// Waiters come in two kinds. Most sleep on the kernel-wide counter and
/// re-check on every change anywhere. A task blocked on files that all
/// have a `Seq` (epoll over sockets and pipes: a server's loop) instead
/// watches those counters ([`Seq::watch`]) and sleeps on its own thread's
/// wake descriptor, so only a change of one of its files, or a signal,
/// wakes it: other tasks' I/O no longer does.
#[derive(Default)]
pub struct Seq {
    n: std::sync::atomic::AtomicU64,
    watchers: Mutex<Vec<std::sync::Arc<super::thread::Thread>>>,
    /// How many watchers, so a bump without any takes no lock.
    watching: std::sync::atomic::AtomicUsize,
}

impl Seq {
    pub fn bump(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.n.fetch_add(1, SeqCst);
        // SeqCst on both sides: a watcher counted itself before it
        // checked its condition, so either it saw this change or it is
        // seen here.
        if self.watching.load(SeqCst) > 0 {
            for t in self
                .watchers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                t.unpark();
            }
        }
        notify();
    }

    pub fn get(&self) -> u64 {
        self.n.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wakes `t` (through its wake descriptor) at each bump until
    /// [`Seq::unwatch`].
    pub fn watch(&self, t: &std::sync::Arc<super::thread::Thread>) {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t.clone());
        self.watching
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn unwatch(&self, t: &std::sync::Arc<super::thread::Thread>) {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = w.iter().position(|x| std::sync::Arc::ptr_eq(x, t)) {
            w.swap_remove(i);
            self.watching
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
