//! Process timers: alarm, setitimer/getitimer, and the POSIX timer_* calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::events::{read_itimerspec, write_itimerspec};
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::cputimers::{CpuTimer, Measure};
use crate::kernel::process::lock;
use crate::kernel::signal::NSIG;
use crate::kernel::task::Task;
use crate::kernel::timers::{self, Clock, PosixTimer, Setting, SignalExpiry, Timer};

const ITIMER_REAL: i32 = 0;
const ITIMER_VIRTUAL: i32 = 1;
const ITIMER_PROF: i32 = 2;

/// ITIMER_REAL of the calling process, made on first use.
fn real_timer(t: &Task) -> Arc<Timer> {
    let mut timers = lock(&t.proc.timers);
    timers
        .real
        .get_or_insert_with(|| {
            Timer::new(Box::new(SignalExpiry {
                proc: Arc::downgrade(&t.proc),
                signo: libc::SIGALRM,
                tid: None,
                posix: None,
                overrun: AtomicU64::new(0),
            }))
        })
        .clone()
}

fn arm(timer: &Arc<Timer>, value: Duration, interval: Duration) -> Setting {
    let deadline = (!value.is_zero()).then(|| timers::after(value));
    timer.set(deadline, interval)
}

pub fn alarm(t: &mut Task, secs: u64) -> SysResult<u64> {
    let secs = secs as u32;
    let old = arm(
        &real_timer(t),
        Duration::from_secs(secs as u64),
        Duration::ZERO,
    );
    // A pending alarm never reads as 0 seconds; half seconds round up.
    let v = old.value;
    let mut left = v.as_secs();
    if (left == 0 && !v.is_zero()) || v.subsec_micros() >= 500_000 {
        left += 1;
    }
    Ok(left)
}

fn duration_of_timeval(tv: &libc::timeval) -> SysResult<Duration> {
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
        return err(libc::EINVAL);
    }
    Ok(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

fn timeval_of(d: Duration) -> libc::timeval {
    let mut usec = d.subsec_micros() as i64;
    // An armed timer with under a microsecond left still reads as armed.
    if d.as_secs() == 0 && usec == 0 && !d.is_zero() {
        usec = 1;
    }
    libc::timeval {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_usec: usec,
    }
}

/// ITIMER_VIRTUAL (SIGVTALRM on user time) or ITIMER_PROF (SIGPROF on
/// user and system time) of the calling process, made on first use.
fn cpu_itimer(t: &Task, which: i32) -> Arc<CpuTimer> {
    let (measure, signo) = if which == ITIMER_VIRTUAL {
        (Measure::User, libc::SIGVTALRM)
    } else {
        (Measure::Total, libc::SIGPROF)
    };
    let mut timers = lock(&t.proc.timers);
    let slot = if which == ITIMER_VIRTUAL {
        &mut timers.virt
    } else {
        &mut timers.prof
    };
    slot.get_or_insert_with(|| {
        let expiry = SignalExpiry {
            proc: Arc::downgrade(&t.proc),
            signo,
            tid: None,
            posix: None,
            overrun: AtomicU64::new(0),
        };
        CpuTimer::new(&t.proc, measure, Box::new(expiry))
    })
    .clone()
}

fn current_itimer(t: &Task, which: i32) -> SysResult<Setting> {
    let timers = lock(&t.proc.timers);
    let timer = match which {
        ITIMER_REAL => return Ok(timers.real.as_ref().map(|r| r.get()).unwrap_or_default()),
        ITIMER_VIRTUAL => timers.virt.clone(),
        ITIMER_PROF => timers.prof.clone(),
        _ => return err(libc::EINVAL),
    };
    drop(timers);
    // Read outside the timers' lock: sampling the clock takes others.
    Ok(timer.map(|c| c.get()).unwrap_or_default())
}

fn write_itimerval(t: &Task, addr: u64, s: Setting) -> SysResult<()> {
    let v = libc::itimerval {
        it_interval: timeval_of(s.interval),
        it_value: timeval_of(s.value),
    };
    t.mm.write_obj(addr, &v)
}

pub fn getitimer(t: &mut Task, a: Args) -> SysResult<u64> {
    let cur = current_itimer(t, a[0] as i32)?;
    write_itimerval(t, a[1], cur)?;
    Ok(0)
}

/// setitimer: ITIMER_REAL on the wall clock, ITIMER_VIRTUAL and
/// ITIMER_PROF on the process's CPU time (kernel/cputimers.rs).
pub fn setitimer(t: &mut Task, a: Args) -> SysResult<u64> {
    let which = a[0] as i32;
    let (value, interval) = if a[1] != 0 {
        let v: libc::itimerval = t.mm.read_obj(a[1])?;
        (
            duration_of_timeval(&v.it_value)?,
            duration_of_timeval(&v.it_interval)?,
        )
    } else {
        // A null new value disarms, as Linux still allows.
        (Duration::ZERO, Duration::ZERO)
    };
    let old = match which {
        ITIMER_REAL => arm(&real_timer(t), value, interval),
        ITIMER_VIRTUAL | ITIMER_PROF => cpu_itimer(t, which).set(value, interval),
        _ => return err(libc::EINVAL),
    };
    if a[2] != 0 {
        write_itimerval(t, a[2], old)?;
    }
    Ok(0)
}

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;

pub fn timer_create(t: &mut Task, a: Args) -> SysResult<u64> {
    // A wall clock, or the CPU time of a process (a thread's CPU clock
    // measures its whole process, as clock_gettime reports it).
    let clock = match a[0] as i32 {
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => Err(t.proc.clone()),
        id if id < 0 => Err(cpu_clock_owner(t, id)?),
        _ => Ok(Clock::from_id(a[0])?),
    };
    // struct sigevent: sigev_value, sigev_signo, sigev_notify, then the
    // thread id of SIGEV_THREAD_ID.
    let ev = if a[1] != 0 {
        let mut raw = [0u8; 20];
        t.mm.read(a[1], &mut raw)?;
        let word = |o: usize| i32::from_ne_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        let mut v = [0u8; 8];
        v.copy_from_slice(&raw[..8]);
        Some((u64::from_ne_bytes(v), word(8), word(12), word(16)))
    } else {
        None
    };
    // Every timer counts against RLIMIT_SIGPENDING, as Linux's
    // preallocated signal does, whatever its notification.
    let quota = crate::kernel::sigquota::Quota::of(&t.proc);
    let charge = crate::kernel::sigquota::charge(quota, false).ok_or(Errno(libc::EAGAIN))?;
    let mut timers = lock(&t.proc.timers);
    let id = timers.free_id().ok_or(Errno(libc::EAGAIN))?;
    let (value, signo, notify, tid) = ev.unwrap_or((id as u64, libc::SIGALRM, SIGEV_SIGNAL, 0));
    let valid_signo = (1..=NSIG as i32).contains(&signo);
    let (signo, tid) = match notify {
        SIGEV_NONE => (0, None),
        SIGEV_SIGNAL | SIGEV_THREAD if valid_signo => (signo, None),
        SIGEV_THREAD_ID if valid_signo && t.proc.thread(tid).is_some() => (signo, Some(tid)),
        _ => return err(libc::EINVAL),
    };
    let expiry = SignalExpiry {
        proc: Arc::downgrade(&t.proc),
        signo,
        tid,
        posix: Some((id, value)),
        overrun: AtomicU64::new(0),
    };
    let mut timer = match clock {
        Ok(clock) => PosixTimer::new(expiry, clock),
        Err(target) => PosixTimer::new_cpu(expiry, &target),
    };
    timer.charge = Some(charge);
    timers.posix.insert(id, timer);
    drop(timers);
    if let Err(e) = t.mm.write_obj(a[2], &id) {
        lock(&t.proc.timers).posix.remove(&id);
        return Err(e);
    }
    Ok(0)
}

/// The process whose CPU clock a clock_getcpuclockid id names (a pid's
/// clock or a thread's; 0 is the caller); EINVAL for anything else.
fn cpu_clock_owner(t: &Task, id: i32) -> SysResult<Arc<crate::kernel::process::Process>> {
    // CPUCLOCK_PID: !(id >> 3); the low bits are the kind (3 is invalid).
    if id & 3 == 3 {
        return err(libc::EINVAL);
    }
    let pid = !(id >> 3);
    if pid == 0 {
        return Ok(t.proc.clone());
    }
    t.kernel
        .process(pid)
        .or_else(|| t.kernel.thread(pid).map(|(p, _)| p))
        .filter(|p| !p.is_zombie())
        .ok_or(Errno(libc::EINVAL))
}

/// Runs `f` on the POSIX timer `id` of the calling process (EINVAL if none).
fn with_timer<R>(t: &Task, id: u64, f: impl FnOnce(&PosixTimer) -> R) -> SysResult<R> {
    let id = i32::try_from(id as i64).map_err(|_| Errno(libc::EINVAL))?;
    let timers = lock(&t.proc.timers);
    timers.posix.get(&id).map(f).ok_or(Errno(libc::EINVAL))
}

pub fn timer_settime(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[2] == 0 {
        return err(libc::EINVAL);
    }
    let (interval, value) = read_itimerspec(t, a[2])?;
    let abs = a[1] as i32 & libc::TIMER_ABSTIME != 0;
    let old = with_timer(t, a[0], |p| {
        p.expiry.overrun.store(0, Ordering::Relaxed);
        p.arm(value, interval, abs)
    })?;
    if a[3] != 0 {
        write_itimerspec(t, a[3], old)?;
    }
    Ok(0)
}

pub fn timer_gettime(t: &mut Task, a: Args) -> SysResult<u64> {
    let cur = with_timer(t, a[0], |p| p.get())?;
    write_itimerspec(t, a[1], cur)?;
    Ok(0)
}

pub fn timer_getoverrun(t: &mut Task, a: Args) -> SysResult<u64> {
    with_timer(t, a[0], |p| p.expiry.overrun.load(Ordering::Relaxed))
}

pub fn timer_delete(t: &mut Task, a: Args) -> SysResult<u64> {
    let id = i32::try_from(a[0] as i64).map_err(|_| Errno(libc::EINVAL))?;
    let gone = lock(&t.proc.timers).posix.remove(&id);
    // Dropped outside the lock: dropping disarms it.
    match gone {
        Some(p) => {
            drop(p);
            Ok(0)
        }
        None => err(libc::EINVAL),
    }
}
