//! Time, identity of the system, randomness and resource accounting.

use std::time::{Duration, Instant};

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;

fn utsfield(s: &str) -> [u8; 65] {
    let mut b = [0u8; 65];
    let n = s.len().min(64);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

pub fn uname(t: &mut Task, a: Args) -> SysResult<u64> {
    let host = lock(&t.kernel.hostname).clone();
    let fields = [
        "Linux",
        &host,
        crate::fs::proc::RELEASE,
        crate::fs::proc::VERSION,
        "x86_64",
        "(none)",
    ];
    let mut out = Vec::with_capacity(65 * 6);
    for f in fields {
        out.extend_from_slice(&utsfield(f));
    }
    t.mm.write(a[0], &out)?;
    Ok(0)
}

/// unshare(2). The Sentry keeps one descriptor table, one fs context and one
/// signal-handler table per process, shared by all its threads and never
/// with another process, and has no namespaces of its own. So, as Linux:
/// flags outside unshare's set are EINVAL; CLONE_THREAD, CLONE_SIGHAND and
/// CLONE_VM (and CLONE_NEWUSER, which implies CLONE_THREAD) are EINVAL in
/// a multi-threaded process and change nothing in a single-threaded one;
/// CLONE_FILES, CLONE_FS and CLONE_SYSVSEM succeed (a single-threaded
/// caller shares none of them; a multi-threaded caller's threads go on
/// sharing them, which the Sentry cannot split). New namespaces are refused
/// with EPERM, as a container without CAP_SYS_ADMIN (or a chrooted process,
/// for CLONE_NEWUSER) is refused on Linux.
pub fn unshare(t: &mut Task, a: Args) -> SysResult<u64> {
    let Ok(flags) = i32::try_from(a[0]) else {
        return err(libc::EINVAL);
    };
    const NAMESPACES: i32 = libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWCGROUP
        | 0x80; // CLONE_NEWTIME
    let valid = NAMESPACES
        | libc::CLONE_THREAD
        | libc::CLONE_FS
        | libc::CLONE_SIGHAND
        | libc::CLONE_VM
        | libc::CLONE_FILES
        | libc::CLONE_SYSVSEM;
    if flags & !valid != 0 {
        return err(libc::EINVAL);
    }
    // The implications Linux adds before it checks the flags.
    let mut f = flags;
    if f & libc::CLONE_NEWUSER != 0 {
        f |= libc::CLONE_THREAD | libc::CLONE_FS;
    }
    if f & libc::CLONE_VM != 0 {
        f |= libc::CLONE_SIGHAND;
    }
    if f & libc::CLONE_SIGHAND != 0 {
        f |= libc::CLONE_THREAD;
    }
    if f & (libc::CLONE_THREAD | libc::CLONE_SIGHAND | libc::CLONE_VM) != 0
        && t.proc.threads().len() > 1
    {
        return err(libc::EINVAL);
    }
    if f & NAMESPACES != 0 {
        return err(libc::EPERM);
    }
    Ok(0)
}

pub fn sethostname(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[1] > 64 {
        return err(libc::EINVAL);
    }
    if !lock(&t.proc.state)
        .creds
        .has(crate::kernel::caps::SYS_ADMIN)
    {
        return err(libc::EPERM);
    }
    let mut b = vec![0u8; a[1] as usize];
    t.mm.read(a[0], &mut b)?;
    *lock(&t.kernel.hostname) = String::from_utf8_lossy(&b).into_owned();
    Ok(0)
}

/// A process's CPU time, its live tasks' Sentry time included.
fn cpu_of(proc: &crate::kernel::process::Process) -> u64 {
    crate::kernel::cputimers::sample(proc).total
}

/// A CPU-time clock of the sandbox: the calling process's (PROCESS and
/// THREAD_CPUTIME_ID; a thread reports its whole process, as the host lets
/// the Sentry read only process clocks of the stubs) or, for the negative
/// ids clock_getcpuclockid makes, another process's.
fn cpu_clock(t: &Task, clock: u64) -> Option<SysResult<libc::timespec>> {
    let id = clock as i32;
    let proc = match id {
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => t.proc.clone(),
        id if id < 0 => {
            // CPUCLOCK_PID: !(id >> 3); 0 means the caller. Only SCHED (2)
            // and the per-thread bit are meaningful here.
            if id & 3 == 3 {
                return Some(err(libc::EINVAL));
            }
            let pid = !(id >> 3);
            if pid == 0 {
                t.proc.clone()
            } else if let Some(p) = t.kernel.process(pid) {
                p
            } else {
                match t.kernel.thread(pid) {
                    Some((p, _)) => p,
                    None => return Some(err(libc::EINVAL)),
                }
            }
        }
        _ => return None,
    };
    let ns = cpu_of(&proc);
    Some(Ok(libc::timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }))
}

fn host_clock(clock: u64) -> SysResult<libc::timespec> {
    let id = clock as i32;
    let allowed = [
        libc::CLOCK_REALTIME,
        libc::CLOCK_MONOTONIC,
        libc::CLOCK_PROCESS_CPUTIME_ID,
        libc::CLOCK_THREAD_CPUTIME_ID,
        libc::CLOCK_MONOTONIC_RAW,
        libc::CLOCK_REALTIME_COARSE,
        libc::CLOCK_MONOTONIC_COARSE,
        libc::CLOCK_BOOTTIME,
    ];
    if !allowed.contains(&id) {
        return err(libc::EINVAL);
    }
    // The clocks the vDSO answers read the same lines here, so a program
    // mixing the vDSO and the system call sees one clock.
    if let Some(ns) = crate::vdso::clock_ns(id) {
        return Ok(libc::timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        });
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec. CPU-time clocks measure
    // the Sentry thread serving the task, a fair stand-in for now.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Ok(ts)
}

pub fn clock_gettime(t: &mut Task, a: Args) -> SysResult<u64> {
    crate::vdso::counters::count(crate::vdso::counters::Call::ClockGettime);
    let ts = match cpu_clock(t, a[0]) {
        Some(r) => r?,
        None => host_clock(a[0])?,
    };
    t.mm.write_obj(a[1], &ts)?;
    Ok(0)
}

pub fn clock_getres(t: &mut Task, a: Args) -> SysResult<u64> {
    crate::vdso::counters::count(crate::vdso::counters::Call::ClockGetres);
    match cpu_clock(t, a[0]) {
        Some(r) => {
            r?;
        }
        None => {
            host_clock(a[0])?;
        }
    }
    if a[1] != 0 {
        // The coarse clocks advance by the host's tick, as on Linux.
        let coarse = [libc::CLOCK_REALTIME_COARSE, libc::CLOCK_MONOTONIC_COARSE];
        let tick = crate::vdso::coarse_resolution_ns();
        let ns = if coarse.contains(&(a[0] as i32)) && tick > 0 {
            tick
        } else {
            1
        };
        t.mm.write_obj(
            a[1],
            &libc::timespec {
                tv_sec: (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as i64,
            },
        )?;
    }
    Ok(0)
}

pub fn gettimeofday(t: &mut Task, a: Args) -> SysResult<u64> {
    crate::vdso::counters::count(crate::vdso::counters::Call::Gettimeofday);
    let ts = host_clock(libc::CLOCK_REALTIME as u64)?;
    if a[0] != 0 {
        t.mm.write_obj(
            a[0],
            &libc::timeval {
                tv_sec: ts.tv_sec,
                tv_usec: ts.tv_nsec / 1000,
            },
        )?;
    }
    if a[1] != 0 {
        t.mm.write_obj(a[1], &[0i32; 2])?;
    }
    Ok(0)
}

pub fn time(t: &mut Task, a: Args) -> SysResult<u64> {
    crate::vdso::counters::count(crate::vdso::counters::Call::Time);
    let ts = host_clock(libc::CLOCK_REALTIME as u64)?;
    if a[0] != 0 {
        t.mm.write_obj(a[0], &ts.tv_sec)?;
    }
    Ok(ts.tv_sec as u64)
}

/// nanosleep and clock_nanosleep (relative or TIMER_ABSTIME).
pub fn nanosleep(t: &mut Task, clock: u64, flags: u64, req: u64, rem: u64) -> SysResult<u64> {
    let ts: libc::timespec = t.mm.read_obj(req)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return err(libc::EINVAL);
    }
    let now = host_clock(clock)?;
    let want = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let dur = if flags & libc::TIMER_ABSTIME as u64 != 0 {
        want.saturating_sub(Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec as u32))
    } else {
        want
    };
    let deadline = Instant::now() + dur;
    // Only a signal (it wakes the thread itself) or the deadline ends it.
    match t.block_watching::<()>(&[], Some(deadline), |_| None) {
        Err(e) if e.0 == libc::ETIMEDOUT => Ok(0),
        Err(e) if e.is_restart() => {
            if rem != 0 && flags & libc::TIMER_ABSTIME as u64 == 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                let r = libc::timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: left.subsec_nanos() as i64,
                };
                t.mm.write_obj(rem, &r)?;
            }
            Err(Errno::ERESTARTNOHAND)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(0),
    }
}

pub fn getrandom(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[2] & !(libc::GRND_NONBLOCK | libc::GRND_RANDOM | 0x4) as u64 != 0 {
        return err(libc::EINVAL);
    }
    let n = (a[1] as usize).min(1 << 25);
    let mut buf = vec![0u8; n];
    crate::mm::stack::getrandom(&mut buf);
    t.mm.write(a[0], &buf)?;
    Ok(n as u64)
}

pub fn sysinfo(t: &mut Task, a: Args) -> SysResult<u64> {
    // SAFETY: sysinfo is plain data; only the memory figures are the
    // container's own (glibc's _SC_PHYS_PAGES and _SC_AVPHYS_PAGES read
    // them), set below.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    let m = crate::kernel::resources::memory();
    si.mem_unit = 1;
    si.totalram = m.total;
    si.freeram = m.free;
    // Like CLOCK_BOOTTIME (which the sandbox shares with the host).
    si.uptime = host_clock(libc::CLOCK_BOOTTIME as u64)
        .map(|ts| ts.tv_sec)
        .unwrap_or_else(|_| t.kernel.boot_time.elapsed().as_secs() as i64);
    si.loads = [0; 3];
    si.procs = lock(&t.kernel.procs).len() as u16;
    t.mm.write_obj(a[0], &si)?;
    Ok(0)
}

pub fn getcpu(t: &mut Task, a: Args) -> SysResult<u64> {
    crate::vdso::counters::count(crate::vdso::counters::Call::Getcpu);
    if a[0] != 0 {
        t.mm.write_obj(a[0], &0u32)?;
    }
    if a[1] != 0 {
        t.mm.write_obj(a[1], &0u32)?;
    }
    Ok(0)
}

/// A `struct rusage` with `cpu_ns` of CPU time (all counted as user time:
/// the host's clock does not split it) and `maxrss_kb`.
pub fn rusage(cpu_ns: u64, maxrss_kb: i64) -> libc::rusage {
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    ru.ru_utime = libc::timeval {
        tv_sec: (cpu_ns / 1_000_000_000) as i64,
        tv_usec: ((cpu_ns % 1_000_000_000) / 1000) as i64,
    };
    ru.ru_maxrss = maxrss_kb;
    ru
}

pub fn getrusage(t: &mut Task, a: Args) -> SysResult<u64> {
    let (cpu, rss) = match a[0] as i32 {
        libc::RUSAGE_SELF | libc::RUSAGE_THREAD => {
            let cpu = cpu_of(&t.proc);
            (cpu, (t.mm.lock().mapped_bytes() / 1024) as i64)
        }
        libc::RUSAGE_CHILDREN => (lock(&t.proc.state).children_cpu_ns, 0),
        _ => return err(libc::EINVAL),
    };
    t.mm.write_obj(a[1], &rusage(cpu, rss))?;
    Ok(0)
}

/// Clock ticks (USER_HZ, 100 per second) of `ns`.
fn ticks(ns: u64) -> i64 {
    (ns / 10_000_000) as i64
}

pub fn times(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[0] != 0 {
        let children = lock(&t.proc.state).children_cpu_ns;
        let tms = [ticks(cpu_of(&t.proc)), 0, ticks(children), 0];
        t.mm.write_obj(a[0], &tms)?;
    }
    Ok((t.kernel.boot_time.elapsed().as_millis() / 10) as u64)
}

/// clock_settime: only CLOCK_REALTIME can be set on Linux, and setting it
/// needs CAP_SYS_TIME, which the sandbox never has (the clock is the host's).
pub fn clock_settime(t: &mut Task, a: Args) -> SysResult<u64> {
    let ts: libc::timespec = t.mm.read_obj(a[1])?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return err(libc::EINVAL);
    }
    match a[0] as i32 {
        libc::CLOCK_REALTIME => err(libc::EPERM),
        _ => err(libc::EINVAL),
    }
}
