//! Timers: one Sentry thread drives every armed timer of the sandbox
//! (timerfd, alarm/setitimer, POSIX timers) from a deadline queue. A timer
//! that expires tells its `Expiry` (count the tick, queue a signal) and
//! wakes waiters through the kernel's event counter.
//!
//! Deadlines are kept as host `Instant`s (CLOCK_MONOTONIC). Absolute
//! CLOCK_REALTIME/BOOTTIME times are converted when the timer is armed:
//! the sandbox cannot set the clock, so the offset stays put.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::events;
use super::process::{lock, Process};
use super::signal::SigInfo;
use crate::errno::{err, Errno, SysResult};

/// What happens when a timer expires `count` times (more than one when the
/// timer thread ran late on a periodic timer).
pub trait Expiry: Send + Sync {
    fn expired(&self, count: u64);
}

/// The longest delay we schedule: later deadlines are clamped (about 200
/// years), so `Instant` arithmetic never overflows on hostile values.
const MAX_DELAY: Duration = Duration::from_secs(200 * 365 * 86400);

/// The timer thread never wakes more often than this for one periodic
/// timer: a 1ns interval counts its expirations exactly but does not spin.
const MIN_GAP: Duration = Duration::from_micros(100);

/// `now + d`, clamped to MAX_DELAY.
pub fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX_DELAY)).unwrap_or(now)
}

struct State {
    /// The next expiry; None when disarmed.
    deadline: Option<Instant>,
    interval: Duration,
    /// Where the queue has us: (wake time, id), to take us out on re-arm.
    queued: Option<Instant>,
}

pub struct Timer {
    id: u64,
    state: Mutex<State>,
    expiry: Box<dyn Expiry>,
}

impl Timer {
    pub fn new(expiry: Box<dyn Expiry>) -> Arc<Timer> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Timer {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                deadline: None,
                interval: Duration::ZERO,
                queued: None,
            }),
            expiry,
        })
    }

    /// Arms the timer for `deadline` (None disarms) and then every
    /// `interval` (zero: once). Returns the previous setting.
    pub fn set(self: &Arc<Self>, deadline: Option<Instant>, interval: Duration) -> Setting {
        self.set_and(deadline, interval, || {})
    }

    /// `set`, running `reset` where no expiry can interleave (expiries run
    /// under the same lock): a timerfd clears its unread count there.
    pub fn set_and(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        interval: Duration,
        reset: impl FnOnce(),
    ) -> Setting {
        let mut st = lock(&self.state);
        reset();
        let old = Setting::of(&st);
        let q = queue();
        if let Some(w) = st.queued.take() {
            lock(&q.map).remove(&(w, self.id));
        }
        st.deadline = deadline;
        st.interval = interval.min(MAX_DELAY);
        if let Some(d) = deadline {
            st.queued = Some(d);
            lock(&q.map).insert((d, self.id), Arc::downgrade(self));
            q.changed.notify_one();
        }
        old
    }

    /// The time left and the interval.
    pub fn get(&self) -> Setting {
        Setting::of(&lock(&self.state))
    }

    /// Runs the expiry if the deadline has passed; re-queues a periodic timer.
    /// `woke` is the queue entry that was taken out for this call.
    fn fire(self: &Arc<Self>, woke: Instant, now: Instant) {
        let mut st = lock(&self.state);
        if st.queued == Some(woke) {
            st.queued = None;
        }
        let Some(d) = st.deadline else { return };
        if d > now {
            // Re-armed to a later time meanwhile; make sure it is queued.
            if st.queued.is_none() {
                st.queued = Some(d);
                lock(&queue().map).insert((d, self.id), Arc::downgrade(self));
            }
            return;
        }
        let late = now - d;
        let count = if st.interval.is_zero() {
            st.deadline = None;
            1
        } else {
            let iv = st.interval.as_nanos();
            let missed = late.as_nanos() / iv;
            let count = u64::try_from(missed + 1).unwrap_or(u64::MAX);
            let step = (missed + 1).saturating_mul(iv);
            let next = Duration::from_nanos(u64::try_from(step).unwrap_or(u64::MAX));
            let next = d.checked_add(next).unwrap_or(now + MAX_DELAY);
            st.deadline = Some(next);
            let wake = next.max(now + MIN_GAP);
            let mut map = lock(&queue().map);
            if let Some(w) = st.queued.replace(wake) {
                map.remove(&(w, self.id));
            }
            map.insert((wake, self.id), Arc::downgrade(self));
            drop(map);
            count
        };
        // Under the state lock, so a concurrent re-arm (which resets the
        // count of a timerfd) never sees a stale tick land after it.
        self.expiry.expired(count);
        drop(st);
        events::notify();
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = st.queued.take() {
            if let Some(q) = QUEUE.get() {
                lock(&q.map).remove(&(w, self.id));
            }
        }
    }
}

/// A timer's setting as the *gettime calls report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    /// Time to the next expiry; zero when disarmed.
    pub value: Duration,
    pub interval: Duration,
}

impl Setting {
    fn of(st: &State) -> Setting {
        let value = match st.deadline {
            // An armed timer never reports zero, which would read as disarmed.
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        Setting {
            value,
            interval: st.interval,
        }
    }
}

struct Queue {
    map: Mutex<BTreeMap<(Instant, u64), Weak<Timer>>>,
    changed: Condvar,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

/// The queue, with its thread started on first use.
fn queue() -> &'static Queue {
    QUEUE.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("timers".into())
            .stack_size(256 << 10)
            .spawn(run);
        if let Err(e) = spawned {
            tracing::error!("cannot start the timer thread: {e}");
        }
        Queue {
            map: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
        }
    })
}

/// The timer thread: sleeps until the earliest deadline, fires what is due.
fn run() {
    let q = queue();
    loop {
        let due = {
            let mut map = lock(&q.map);
            loop {
                let now = Instant::now();
                match map.first_key_value().map(|(k, _)| k.0) {
                    Some(w) if w <= now => break,
                    Some(w) => {
                        map = q
                            .changed
                            .wait_timeout(map, w - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    None => map = q.changed.wait(map).unwrap_or_else(|p| p.into_inner()),
                }
            }
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = map.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let woke = entry.key().0;
                due.push((woke, entry.remove()));
            }
            due
        };
        let now = Instant::now();
        for (woke, t) in due {
            if let Some(t) = t.upgrade() {
                t.fire(woke, now);
            }
        }
    }
}

// Clocks.

/// The wall clocks timers may measure (CPU-time clocks: cputimers.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Monotonic,
    Boottime,
}

impl Clock {
    pub fn from_id(id: u64) -> SysResult<Clock> {
        match id as i32 {
            libc::CLOCK_REALTIME => Ok(Clock::Realtime),
            libc::CLOCK_MONOTONIC => Ok(Clock::Monotonic),
            libc::CLOCK_BOOTTIME => Ok(Clock::Boottime),
            _ => err(libc::EINVAL),
        }
    }

    fn now(self) -> Duration {
        let id = match self {
            Clock::Realtime => libc::CLOCK_REALTIME,
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Boottime => libc::CLOCK_BOOTTIME,
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec.
        unsafe { libc::clock_gettime(id, &mut ts) };
        Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    }

    /// The host instant at which this clock reads `abs`.
    pub fn instant_at(self, abs: Duration) -> Instant {
        let now = self.now();
        match abs.checked_sub(now) {
            Some(d) => after(d),
            None => Instant::now(),
        }
    }
}

/// A timespec from the workload: negative or unnormalised values are EINVAL.
pub fn duration_of(ts: &libc::timespec) -> SysResult<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno(libc::EINVAL));
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

pub fn timespec_of(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

// Per-process timers.

/// SI_TIMER: the si_code of a POSIX timer's signal.
pub const SI_TIMER: i32 = -2;
/// The most POSIX timers one process may hold.
pub const MAX_POSIX_TIMERS: usize = 4096;

/// Where a process timer's signal goes.
pub struct SignalExpiry {
    pub proc: Weak<Process>,
    pub signo: i32,
    /// SIGEV_THREAD_ID: this thread; otherwise the process.
    pub tid: Option<i32>,
    /// POSIX timers: (timer id, si_value); None for alarm/ITIMER_REAL.
    pub posix: Option<(i32, u64)>,
    /// The overrun count of the timer's latest signal (timer_getoverrun).
    pub overrun: AtomicU64,
}

impl Expiry for SignalExpiry {
    fn expired(&self, count: u64) {
        let Some(proc) = self.proc.upgrade() else {
            return;
        };
        let Some(k) = super::get() else { return };
        let thread = self.tid.and_then(|tid| proc.thread(tid));
        let Some((id, value)) = self.posix else {
            // alarm and ITIMER_REAL: SIGALRM as the kernel sends it.
            k.send_signal(
                &proc,
                SigInfo::new(self.signo, super::signal::SI_KERNEL),
                false,
            );
            return;
        };
        if self.signo == 0 {
            return; // SIGEV_NONE
        }
        // Still pending from an earlier expiry: the expirations add to its
        // overrun instead of queueing another signal.
        let bump = |queue: &mut super::signal::SigQueue| -> Option<u64> {
            let i = queue.infos_mut().find(|i| {
                i.code == SI_TIMER && i.signo == self.signo && i.fields[0] as u32 == id as u32
            })?;
            let over = ((i.fields[0] >> 32) + count).min(i32::MAX as u64);
            i.fields[0] = (id as u32 as u64) | (over << 32);
            Some(over)
        };
        let bumped = match &thread {
            Some(t) => bump(&mut lock(&t.sig).pending),
            None => bump(&mut lock(&proc.sig).pending),
        };
        if let Some(over) = bumped {
            self.overrun.store(over, Ordering::Relaxed);
            return;
        }
        let over = (count - 1).min(i32::MAX as u64);
        self.overrun.store(over, Ordering::Relaxed);
        let mut info = SigInfo::new(self.signo, SI_TIMER);
        info.fields[0] = (id as u32 as u64) | (over << 32);
        info.fields[1] = value;
        match thread {
            Some(t) => k.send_thread_signal(&proc, &t, info),
            None => k.send_signal(&proc, info, false),
        }
    }
}

/// What a POSIX timer measures.
pub enum PosixClock {
    /// A wall clock, run by the timer thread.
    Wall(Clock, Arc<Timer>),
    /// A process's CPU time, run by the CPU timer poller.
    Cpu(Arc<super::cputimers::CpuTimer>),
}

/// A POSIX timer (timer_create).
pub struct PosixTimer {
    pub clock: PosixClock,
    pub expiry: Arc<SignalExpiry>,
    /// The RLIMIT_SIGPENDING count the timer holds for the signal its
    /// expiries queue (kernel/sigquota.rs).
    pub charge: Option<super::sigquota::Charge>,
}

/// Forwards to a shared expiry, so its owner can read its state.
struct Shared<E>(Arc<E>);

impl<E: Expiry> Expiry for Shared<E> {
    fn expired(&self, count: u64) {
        self.0.expired(count)
    }
}

impl PosixTimer {
    /// A timer on a wall clock.
    pub fn new(expiry: SignalExpiry, clock: Clock) -> PosixTimer {
        let expiry = Arc::new(expiry);
        PosixTimer {
            clock: PosixClock::Wall(clock, Timer::new(Box::new(Shared(expiry.clone())))),
            expiry,
            charge: None,
        }
    }

    /// A timer on `target`'s CPU-time clock.
    pub fn new_cpu(expiry: SignalExpiry, target: &Arc<Process>) -> PosixTimer {
        use super::cputimers::{CpuTimer, Measure};
        let expiry = Arc::new(expiry);
        let cpu = CpuTimer::new(target, Measure::Total, Box::new(Shared(expiry.clone())));
        PosixTimer {
            clock: PosixClock::Cpu(cpu),
            expiry,
            charge: None,
        }
    }

    /// timer_settime: `value` from now, or the clock's absolute `value`
    /// with `abs`; zero disarms. Returns the previous setting.
    pub fn arm(&self, value: Duration, interval: Duration, abs: bool) -> Setting {
        match &self.clock {
            PosixClock::Wall(clock, timer) => {
                let deadline = if value.is_zero() {
                    None
                } else if abs {
                    Some(clock.instant_at(value))
                } else {
                    Some(after(value))
                };
                timer.set(deadline, interval)
            }
            PosixClock::Cpu(cpu) if abs && !value.is_zero() => {
                let at = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
                cpu.set_at(Some(at), interval)
            }
            PosixClock::Cpu(cpu) => cpu.set(value, interval),
        }
    }

    pub fn get(&self) -> Setting {
        match &self.clock {
            PosixClock::Wall(_, timer) => timer.get(),
            PosixClock::Cpu(cpu) => cpu.get(),
        }
    }
}

/// The timers of one process. Dropping them stops them.
#[derive(Default)]
pub struct ProcessTimers {
    /// ITIMER_REAL, shared by alarm; survives execve.
    pub real: Option<Arc<Timer>>,
    /// ITIMER_VIRTUAL and ITIMER_PROF; they survive execve too.
    pub virt: Option<Arc<super::cputimers::CpuTimer>>,
    pub prof: Option<Arc<super::cputimers::CpuTimer>>,
    pub posix: BTreeMap<i32, PosixTimer>,
}

impl ProcessTimers {
    /// execve: POSIX timers go, interval timers stay.
    pub fn exec(&mut self) {
        self.posix.clear();
    }

    /// The lowest free POSIX timer id.
    pub fn free_id(&self) -> Option<i32> {
        if self.posix.len() >= MAX_POSIX_TIMERS {
            return None;
        }
        (0..).find(|i| !self.posix.contains_key(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    struct Count(Arc<AtomicU64>);
    impl Expiry for Count {
        fn expired(&self, n: u64) {
            self.0.fetch_add(n, Ordering::SeqCst);
        }
    }

    fn wait_for(c: &AtomicU64, at_least: u64) {
        let end = Instant::now() + Duration::from_secs(5);
        while c.load(Ordering::SeqCst) < at_least && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn one_shot_fires_once() {
        let c = Arc::new(AtomicU64::new(0));
        let t = Timer::new(Box::new(Count(c.clone())));
        t.set(Some(after(Duration::from_millis(5))), Duration::ZERO);
        wait_for(&c, 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.load(Ordering::SeqCst), 1);
        assert_eq!(t.get(), Setting::default());
    }

    #[test]
    fn periodic_counts_every_interval() {
        let c = Arc::new(AtomicU64::new(0));
        let t = Timer::new(Box::new(Count(c.clone())));
        t.set(Some(Instant::now()), Duration::from_millis(2));
        wait_for(&c, 5);
        assert!(c.load(Ordering::SeqCst) >= 5);
        let old = t.set(None, Duration::ZERO);
        assert_eq!(old.interval, Duration::from_millis(2));
        let n = c.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(c.load(Ordering::SeqCst), n);
    }

    #[test]
    fn tiny_interval_counts_without_spinning() {
        let c = Arc::new(AtomicU64::new(0));
        let t = Timer::new(Box::new(Count(c.clone())));
        t.set(Some(Instant::now()), Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(10));
        drop(t);
        // ~10ms of 1ns periods: millions of expirations, counted in bulk.
        assert!(c.load(Ordering::SeqCst) > 1_000_000);
    }

    #[test]
    fn dropped_timer_never_fires() {
        let c = Arc::new(AtomicU64::new(0));
        let t = Timer::new(Box::new(Count(c.clone())));
        t.set(Some(after(Duration::from_millis(5))), Duration::ZERO);
        drop(t);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn hostile_durations_do_not_overflow() {
        let c = Arc::new(AtomicU64::new(0));
        let t = Timer::new(Box::new(Count(c.clone())));
        t.set(Some(after(Duration::MAX)), Duration::MAX);
        assert!(t.get().value > Duration::from_secs(100 * 365 * 86400));
        let _ = Clock::Realtime.instant_at(Duration::MAX);
        let bad = libc::timespec {
            tv_sec: -1,
            tv_nsec: 0,
        };
        assert!(duration_of(&bad).is_err());
    }
}
