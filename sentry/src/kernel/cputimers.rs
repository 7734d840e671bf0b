//! CPU-time clocks of a process and the timers that run on them
//! (ITIMER_VIRTUAL, ITIMER_PROF, POSIX timers on CPU-time clocks).
//!
//! A process's CPU time has two parts: the platform process (the stub that
//! runs the workload's code: its user time is what ITIMER_VIRTUAL counts)
//! and the Sentry threads that serve its system calls (its "system" time).
//! On kvm there is no stub: the workload's code runs inside KVM_RUN on the
//! Sentry threads themselves, and the platform measures that part of their
//! time per thread ([`crate::platform::Interrupter::app_cpu_ns`]).
//! Neither part tells the Sentry when it crosses a value, so armed CPU
//! timers are polled: one Sentry thread, running only while some CPU timer
//! is armed, samples the clocks of the processes concerned every few
//! milliseconds (Linux checks CPU timers at its scheduler tick, every 1 to
//! 10 ms) and fires what has expired. A process spinning in user mode is
//! thus caught without any trap into the Sentry.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::process::{lock, Process};
use super::timers::{Expiry, Setting};

/// The host's CPU clock kinds (CPUCLOCK_*), for MAKE_*_CPUCLOCK.
const CPUCLOCK_VIRT: i32 = 1;
const CPUCLOCK_SCHED: i32 = 2;
const CPUCLOCK_PERTHREAD: i32 = 4;

/// The poller's longest sleep (and so a CPU timer's usual lateness), and
/// its shortest.
const MAX_POLL: Duration = Duration::from_millis(4);
const MIN_POLL: Duration = Duration::from_micros(500);

fn read_clock(id: i32) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    let r = unsafe { libc::clock_gettime(id, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// A host process's CPU clock of `kind` (Linux lets any process read
/// another's process clocks).
fn host_process_clock(pid: i32, kind: i32) -> Option<u64> {
    (pid > 0).then(|| read_clock(((!pid) << 3) | kind))?
}

/// The CPU time of one of the Sentry's own threads (a thread clock can
/// only be read inside its own thread group, which the Sentry's threads are).
pub fn sentry_thread_ns(host_tid: i32) -> u64 {
    if host_tid <= 0 {
        return 0;
    }
    read_clock(((!host_tid) << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD).unwrap_or(0)
}

/// The calling thread's host tid, which a task records so the Sentry's
/// other threads can read its CPU clock.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// A process's CPU time, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// User time: the platform process running the workload's code.
    pub user: u64,
    /// User and system time: the platform process's whole clock plus the
    /// Sentry's time serving the process (ended tasks and live ones).
    pub total: u64,
}

/// Samples `proc`'s CPU clocks now.
pub fn sample(proc: &Process) -> CpuSample {
    let (host_pid, ended_stub, sentry_ended, app_ended, zombie) = {
        let st = lock(&proc.state);
        (
            st.host_pid,
            st.cpu_ns,
            st.sentry_cpu_ns,
            st.app_cpu_ns,
            st.zombie.is_some(),
        )
    };
    if zombie {
        return CpuSample {
            user: ended_stub + app_ended,
            total: ended_stub + sentry_ended,
        };
    }
    let stub = host_process_clock(host_pid, CPUCLOCK_SCHED)
        .unwrap_or(0)
        .max(ended_stub);
    let stub_user = host_process_clock(host_pid, CPUCLOCK_VIRT)
        .unwrap_or(0)
        .min(stub);
    let threads = proc.threads();
    let live: u64 = threads
        .iter()
        .map(|t| sentry_thread_ns(t.host_tid.load(Ordering::Relaxed)))
        .sum();
    // Where application code runs on the Sentry's threads (kvm), its user
    // time is the part of those threads' time the platform measured.
    let app_live: u64 = threads.iter().filter_map(|t| t.app_cpu_ns()).sum();
    let total = stub + sentry_ended + live;
    CpuSample {
        user: (stub_user + app_ended + app_live).min(total),
        total,
    }
}

/// Which of a process's CPU clocks a timer runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// User time (ITIMER_VIRTUAL).
    User,
    /// User and system time (ITIMER_PROF, CPU-time clocks).
    Total,
}

impl Measure {
    fn of(self, s: CpuSample) -> u64 {
        match self {
            Measure::User => s.user,
            Measure::Total => s.total,
        }
    }
}

#[derive(Default)]
struct CpuState {
    /// The clock value of the next expiry; None when disarmed.
    deadline: Option<u64>,
    interval: u64,
}

/// A timer on a process's CPU clock.
pub struct CpuTimer {
    target: Weak<Process>,
    measure: Measure,
    state: Mutex<CpuState>,
    expiry: Box<dyn Expiry>,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl CpuTimer {
    /// A disarmed timer on `target`'s `measure` clock.
    pub fn new(target: &Arc<Process>, measure: Measure, expiry: Box<dyn Expiry>) -> Arc<CpuTimer> {
        Arc::new(CpuTimer {
            target: Arc::downgrade(target),
            measure,
            state: Mutex::new(CpuState::default()),
            expiry,
        })
    }

    /// The clock this timer runs on, now (0 once the process is gone).
    pub fn now(&self) -> u64 {
        self.target
            .upgrade()
            .map(|p| self.measure.of(sample(&p)))
            .unwrap_or(0)
    }

    /// Arms the timer to expire when its clock reads `at` (None disarms),
    /// then every `interval`. Returns the previous setting.
    pub fn set_at(self: &Arc<Self>, at: Option<u64>, interval: Duration) -> Setting {
        if at.is_some() && self.measure == Measure::User {
            if let Some(p) = self.target.upgrade() {
                // Before `now`: kvm measures guest time only on demand.
                for t in p.threads() {
                    t.measure_app_cpu();
                }
            }
        }
        let now = self.now();
        let mut st = lock(&self.state);
        let old = Self::setting(&st, now);
        st.deadline = at;
        st.interval = ns(interval);
        drop(st);
        if at.is_some() {
            poller().add(self);
        }
        old
    }

    /// Arms the timer `value` of CPU time from now (zero disarms).
    pub fn set(self: &Arc<Self>, value: Duration, interval: Duration) -> Setting {
        let at = (!value.is_zero()).then(|| self.now().saturating_add(ns(value)));
        self.set_at(at, interval)
    }

    pub fn get(&self) -> Setting {
        let now = self.now();
        Self::setting(&lock(&self.state), now)
    }

    fn setting(st: &CpuState, now: u64) -> Setting {
        let value = match st.deadline {
            // Due but not fired yet still reads as armed.
            Some(d) => Duration::from_nanos(d.saturating_sub(now).max(1)),
            None => Duration::ZERO,
        };
        Setting {
            value,
            interval: Duration::from_nanos(st.interval),
        }
    }

    fn armed(&self) -> bool {
        lock(&self.state).deadline.is_some()
    }

    /// Fires if the clock reached the deadline; returns the CPU time left
    /// to the next expiry, or None when disarmed.
    fn check(&self, now: u64) -> Option<u64> {
        let (count, left) = {
            let mut st = lock(&self.state);
            let d = st.deadline?;
            if now < d {
                return Some(d - now);
            }
            match (now - d).checked_div(st.interval) {
                None => {
                    st.deadline = None;
                    (1, None)
                }
                Some(missed) => {
                    let next = d.saturating_add((missed + 1).saturating_mul(st.interval));
                    st.deadline = Some(next);
                    (missed + 1, Some(next.saturating_sub(now)))
                }
            }
        };
        // Outside the lock: the expiry sends a signal, which takes others.
        self.expiry.expired(count);
        super::events::notify();
        left
    }
}

/// The armed CPU timers, and the thread that polls them.
struct Poller {
    timers: Mutex<Vec<Weak<CpuTimer>>>,
    wake: Condvar,
}

static POLLER: OnceLock<Poller> = OnceLock::new();

fn poller() -> &'static Poller {
    POLLER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("cputimers".into())
            .stack_size(256 << 10)
            .spawn(poll_loop);
        if let Err(e) = spawned {
            tracing::error!("cannot start the CPU timer thread: {e}");
        }
        Poller {
            timers: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }
    })
}

impl Poller {
    /// Starts polling `t` (once, however often it is re-armed).
    fn add(&self, t: &Arc<CpuTimer>) {
        let mut list = lock(&self.timers);
        if !list
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(t)))
        {
            list.push(Arc::downgrade(t));
        }
        self.wake.notify_one();
    }
}

fn poll_loop() {
    let p = poller();
    loop {
        let armed: Vec<Arc<CpuTimer>> = {
            let mut list = lock(&p.timers);
            loop {
                // Dropped and disarmed timers leave (a re-arm adds again).
                list.retain(|w| w.upgrade().is_some_and(|t| t.armed()));
                if !list.is_empty() {
                    break;
                }
                list = p.wake.wait(list).unwrap_or_else(|e| e.into_inner());
            }
            list.iter().filter_map(|w| w.upgrade()).collect()
        };
        // One sample per process per round, however many timers it has.
        let mut samples: BTreeMap<usize, CpuSample> = BTreeMap::new();
        let mut soonest = ns(MAX_POLL);
        for t in &armed {
            let Some(proc) = t.target.upgrade() else {
                lock(&t.state).deadline = None;
                continue;
            };
            let key = Arc::as_ptr(&proc) as usize;
            let s = *samples.entry(key).or_insert_with(|| sample(&proc));
            if let Some(left) = t.check(t.measure.of(s)) {
                soonest = soonest.min(left);
            }
        }
        drop(armed);
        let pause = Duration::from_nanos(soonest).clamp(MIN_POLL, MAX_POLL);
        let list = lock(&p.timers);
        let _ = p.wake.wait_timeout(list, pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn own_thread_clock_advances() {
        let tid = gettid();
        let a = sentry_thread_ns(tid);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        let b = sentry_thread_ns(tid);
        assert!(b > a, "{a} then {b}");
        assert_eq!(sentry_thread_ns(0), 0);
    }

    struct Count(Arc<AtomicU64>);
    impl Expiry for Count {
        fn expired(&self, n: u64) {
            self.0.fetch_add(n, Ordering::SeqCst);
        }
    }

    #[test]
    fn check_counts_missed_intervals() {
        let c = Arc::new(AtomicU64::new(0));
        let t = CpuTimer {
            target: Weak::new(),
            measure: Measure::Total,
            state: Mutex::new(CpuState {
                deadline: Some(100),
                interval: 10,
            }),
            expiry: Box::new(Count(c.clone())),
        };
        assert_eq!(t.check(50), Some(50));
        assert_eq!(c.load(Ordering::SeqCst), 0);
        // 100, 110, 120 and 130 have passed: four expiries, next at 140.
        assert_eq!(t.check(135), Some(5));
        assert_eq!(c.load(Ordering::SeqCst), 4);
        lock(&t.state).interval = 0;
        assert_eq!(t.check(140), None);
        assert_eq!(c.load(Ordering::SeqCst), 5);
        assert_eq!(t.check(1000), None);
    }
}
