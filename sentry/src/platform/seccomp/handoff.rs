//! How long each side of the hand-off waits actively before it sleeps.
//!
//! A stub thread and its Sentry thread take turns: one works while the
//! other waits for it. Three ways to wait, cheapest first when they work:
//!
//! 1. poll with `pause`: a hand-off in well under a microsecond, but only
//!    if the peer runs on another CPU at the same time (polling on the
//!    peer's own CPU only delays it);
//! 2. poll with `sched_yield`: on a shared CPU the peer runs at once, and
//!    both threads staying runnable lets the host's load balancer move one
//!    of them to an idle CPU, where the polls become plain polls (a futex
//!    wake, instead, pulls the woken thread onto the waker's CPU: the two
//!    then share a CPU for good);
//! 3. sleep on the futex: the fallback once the budget is spent; a wake-up
//!    costs a few microseconds on the same CPU and ~15 µs across CPUs on
//!    a virtual machine (an inter-processor interrupt).
//!
//! The budget adapts to the waits seen: twice the last one, halving when
//! the waits outgrow the largest budget (a program computing, a call that
//! blocks), so those stop wasting a CPU. Each side tells the other the CPU
//! it last ran on, read with RDTSCP (TSC_AUX holds the CPU number on
//! Linux): waiting on the peer's own CPU skips the `pause` polls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The smallest budget: room for a few yields, so that two threads on one
/// CPU still hand off without a futex.
pub const MIN: Duration = Duration::from_micros(2);
/// The default largest budget (SANDBOX_SPIN_US overrides it; 0 means
/// always sleep at once).
const MAX: Duration = Duration::from_micros(50);
/// The longest `pause` phase: about a SIGSYS round trip, what a Sentry
/// thread waits between two system calls of a busy application.
pub const PAUSE_CAP: Duration = Duration::from_micros(5);
/// Rough costs of one poll of the stub's loops, to turn a time budget into
/// counts (measured on the bench machine, AMD EPYC under KVM: `pause` ~30
/// ns, `sched_yield` ~0.6 µs when nothing else wants the CPU). Only the
/// stub counts: it has no clock.
const PAUSE_POLL_NS: u64 = 40;
const YIELD_POLL_NS: u64 = 600;

/// The largest budget, from SANDBOX_SPIN_US (microseconds) if set.
pub fn max_budget() -> Duration {
    static T: OnceLock<Duration> = OnceLock::new();
    *T.get_or_init(|| {
        std::env::var("SANDBOX_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(MAX, Duration::from_micros)
    })
}

/// One side's adaptive budget.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    cur: Duration,
}

impl Budget {
    pub fn new() -> Budget {
        Budget { cur: max_budget() }
    }

    pub fn get(&self) -> Duration {
        self.cur
    }

    /// Learns from one wait (or, for the stub's budget, one Sentry service
    /// time) that took `took`.
    pub fn update(&mut self, took: Duration) {
        let max = max_budget();
        if max.is_zero() {
            return;
        }
        self.cur = if took <= max {
            // Twice the last wait, decaying slowly from longer ones: one
            // quick call among slow ones does not collapse the budget.
            (took * 2).max(self.cur / 2).clamp(MIN.min(max), max)
        } else {
            (self.cur / 2).max(MIN.min(max))
        };
    }

    /// The stub's loop counts for this budget: `pause` polls, then yields.
    /// The yields alone cover the budget: the stub skips the polls when it
    /// shares the Sentry's CPU (it decides that itself), and must then
    /// still yield to it rather than sleep.
    pub fn stub_counts(&self) -> (u32, u32) {
        if self.cur.is_zero() {
            return (0, 0);
        }
        let polls = self.cur.min(PAUSE_CAP).as_nanos() as u64 / PAUSE_POLL_NS;
        let yields = (self.cur.as_nanos() as u64 / YIELD_POLL_NS).max(1);
        (polls as u32, yields as u32)
    }
}

/// This thread's CPU plus one, as the stub reads it (RDTSCP's TSC_AUX, low
/// 12 bits); 0 when the CPU has no RDTSCP (the stub then never reads it).
pub fn cpu_tag() -> u32 {
    static HAS: OnceLock<bool> = OnceLock::new();
    // CPUID leaf 0x8000_0001 exists on every x86-64 CPU; EDX bit 27: RDTSCP.
    let has = *HAS.get_or_init(|| std::arch::x86_64::__cpuid(0x8000_0001).edx & (1 << 27) != 0);
    if !has {
        return 0;
    }
    let mut aux = 0u32;
    // SAFETY: RDTSCP exists (checked above); it only reads the TSC and TSC_AUX.
    unsafe { std::arch::x86_64::__rdtscp(&mut aux) };
    (aux & 0xfff) + 1
}

/// The Sentry's active wait for `word` to leave `seen`: `pause` polls for
/// up to PAUSE_CAP (when `pause`), then yields, until `budget` has passed
/// since `start`. True if the word moved.
pub fn wait(word: &AtomicU32, seen: u32, pause: bool, budget: Duration, start: Instant) -> bool {
    let pause_for = if pause {
        budget.min(PAUSE_CAP)
    } else {
        Duration::ZERO
    };
    let mut yielding = pause_for.is_zero();
    let mut polls = 0u32;
    loop {
        if word.load(Ordering::Acquire) != seen {
            return true;
        }
        polls = polls.wrapping_add(1);
        // A clock read costs about as much as a poll: only every 16th
        // while polling, every time around a yield.
        if yielding || polls.is_multiple_of(16) {
            let e = start.elapsed();
            if e >= budget {
                return word.load(Ordering::Acquire) != seen;
            }
            if e >= pause_for {
                yielding = true;
                std::thread::yield_now();
                continue;
            }
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_the_waits_and_gives_up_on_long_ones() {
        let max = max_budget();
        if max < MIN * 8 {
            return; // tuned down by the environment: nothing to adapt
        }
        let mut b = Budget::new();
        assert_eq!(b.get(), max);
        // Short waits: the budget shrinks, but by halves.
        b.update(Duration::from_nanos(100));
        assert_eq!(b.get(), max / 2);
        for _ in 0..20 {
            b.update(Duration::from_nanos(100));
        }
        assert_eq!(b.get(), MIN);
        // A longer wait within the largest budget: twice it at once.
        b.update(max / 4);
        assert_eq!(b.get(), max / 2);
        // Waits beyond the largest budget: halves, down to the least.
        b.update(max * 10);
        assert_eq!(b.get(), max / 4);
        for _ in 0..20 {
            b.update(max * 10);
        }
        assert_eq!(b.get(), MIN);
    }

    #[test]
    fn stub_counts_cover_the_budget() {
        let mut b = Budget::new();
        b.cur = Duration::from_nanos(YIELD_POLL_NS * 100);
        assert_eq!(
            b.stub_counts(),
            ((PAUSE_CAP.as_nanos() as u64 / PAUSE_POLL_NS) as u32, 100)
        );
        // The least budget still yields (a stub on the Sentry's CPU skips
        // the polls), and a zero one goes straight to sleep.
        b.cur = MIN;
        let (polls, yields) = b.stub_counts();
        assert_eq!(polls as u64, MIN.as_nanos() as u64 / PAUSE_POLL_NS);
        assert!(yields >= 1);
        b.cur = Duration::ZERO;
        assert_eq!(b.stub_counts(), (0, 0));
    }

    #[test]
    fn wait_sees_a_change_and_gives_up_without_one() {
        let word = AtomicU32::new(1);
        let start = Instant::now();
        assert!(wait(&word, 0, true, Duration::from_micros(10), start));
        let start = Instant::now();
        assert!(!wait(&word, 1, true, Duration::from_micros(20), start));
        assert!(start.elapsed() >= Duration::from_micros(20));
        let other = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(1));
                word.store(2, Ordering::Release);
            });
            wait(&word, 1, false, Duration::from_secs(10), Instant::now())
        });
        assert!(other);
    }

    #[test]
    fn cpu_tag_is_this_threads_cpu() {
        // SAFETY: sched_getcpu has no arguments.
        let cpu = unsafe { libc::sched_getcpu() };
        assert!(cpu >= 0);
        // Pinned, so that the thread cannot move between the two reads.
        // SAFETY: cpu_set_t is plain data; the calls only read and write it.
        let old = unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            assert_eq!(
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one),
                0
            );
            old
        };
        let tag = cpu_tag();
        // SAFETY: restores the mask read above.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &old) };
        let has = std::arch::x86_64::__cpuid(0x8000_0001).edx & (1 << 27) != 0;
        assert_eq!(tag, if has { cpu as u32 + 1 } else { 0 });
    }
}
