//! Event descriptors: eventfd, epoll, timerfd, signalfd.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::epoll::{self, Ctl, Epoll};
use crate::fs::eventfd::EventFd;
use crate::fs::signalfd::SignalFd;
use crate::fs::timerfd::TimerFd;
use crate::kernel::task::Task;
use crate::kernel::timers::{self, Clock};
use crate::vfs::{FileOps, FileType, OpenFile};

/// Installs a new Sentry-internal file; `nonblock`/`cloexec` come from the
/// creation flags (EFD_*, EPOLL_*, TFD_*, SFD_* share O_NONBLOCK/O_CLOEXEC).
fn install_anon(t: &Task, ops: Arc<dyn FileOps>, name: &str, flags: i32) -> SysResult<u64> {
    let file = OpenFile::new(
        ops,
        None,
        format!("anon_inode:{name}"),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
    );
    t.install(file, flags & libc::O_CLOEXEC != 0)
}

// eventfd

pub fn eventfd2(t: &mut Task, initval: u64, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !(libc::EFD_SEMAPHORE | libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let ev = EventFd::new(initval as u32 as u64, flags & libc::EFD_SEMAPHORE != 0);
    install_anon(t, Arc::new(ev), "[eventfd]", flags)
}

// epoll

pub fn epoll_create(t: &mut Task, size: u64) -> SysResult<u64> {
    if size as i32 <= 0 {
        return err(libc::EINVAL);
    }
    epoll_create1(t, 0)
}

pub fn epoll_create1(t: &mut Task, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return err(libc::EINVAL);
    }
    install_anon(t, Arc::new(Epoll::new()), "[eventpoll]", flags)
}

/// Bits EPOLLEXCLUSIVE may come with.
const EXCLUSIVE_OK: u32 = libc::EPOLLIN as u32
    | libc::EPOLLOUT as u32
    | libc::EPOLLRDNORM as u32
    | libc::EPOLLRDBAND as u32
    | libc::EPOLLWRNORM as u32
    | libc::EPOLLWRBAND as u32
    | epoll::EPOLLERR
    | epoll::EPOLLHUP
    | epoll::EPOLLWAKEUP
    | epoll::EPOLLET
    | epoll::EPOLLEXCLUSIVE;

/// epoll_ctl, checking in Linux's order: the event (EFAULT), both
/// descriptors (EBADF), pollability (EPERM), then EINVAL, ELOOP, EEXIST/ENOENT.
pub fn epoll_ctl(t: &mut Task, a: Args) -> SysResult<u64> {
    let op = a[1] as i32;
    let (events, data) = if op != libc::EPOLL_CTL_DEL {
        let mut raw = [0u8; 12];
        t.mm.read(a[3], &mut raw)?;
        let mut ev = [0u8; 4];
        ev.copy_from_slice(&raw[..4]);
        let mut d = [0u8; 8];
        d.copy_from_slice(&raw[4..]);
        (u32::from_ne_bytes(ev), u64::from_ne_bytes(d))
    } else {
        (0, 0)
    };
    let epf = t.file(a[0])?;
    let target = t.file(a[2])?;
    // Regular files and directories cannot be polled: Linux says EPERM.
    if let Some(inode) = &target.inode {
        if matches!(
            inode.stat().map(|s| s.file_type()),
            Ok(FileType::Regular | FileType::Directory)
        ) {
            return err(libc::EPERM);
        }
    }
    let Some(ep) = Epoll::of(&*epf.ops) else {
        return err(libc::EINVAL);
    };
    if Arc::ptr_eq(&epf, &target) {
        return err(libc::EINVAL);
    }
    if op != libc::EPOLL_CTL_DEL && events & epoll::EPOLLEXCLUSIVE != 0 {
        if op == libc::EPOLL_CTL_MOD {
            return err(libc::EINVAL);
        }
        if op == libc::EPOLL_CTL_ADD && events & !EXCLUSIVE_OK != 0 {
            return err(libc::EINVAL);
        }
    }
    let ctl = match op {
        libc::EPOLL_CTL_ADD => Ctl::Add,
        libc::EPOLL_CTL_MOD => Ctl::Mod,
        libc::EPOLL_CTL_DEL => Ctl::Del,
        _ => return err(libc::EINVAL),
    };
    ep.ctl(ctl, a[2] as i32, &target, events, data)?;
    Ok(0)
}

/// The most events one epoll_wait may ask for (INT_MAX / sizeof(epoll_event)).
const MAX_EVENTS: u64 = (i32::MAX / 12) as u64;
/// How often a wait that includes host descriptors (stdio) also re-scans
/// the Sentry's own files: a task polls one host descriptor at a time.
const HOST_RESCAN: Duration = Duration::from_millis(20);

fn epoll_wait_until(
    t: &mut Task,
    epfd: u64,
    addr: u64,
    max: u64,
    deadline: Option<Instant>,
) -> SysResult<u64> {
    if max as i32 <= 0 || max > MAX_EVENTS {
        return err(libc::EINVAL);
    }
    let f = t.file(epfd)?;
    let Some(ep) = Epoll::of(&*f.ops) else {
        return err(libc::EINVAL);
    };
    loop {
        let host = ep.host_wait();
        let step = match (host, deadline) {
            (Some(_), Some(d)) => Some(d.min(Instant::now() + HOST_RESCAN)),
            (Some(_), None) => Some(Instant::now() + HOST_RESCAN),
            (None, d) => d,
        };
        let watched = if host.is_none() { ep.watchable() } else { None };
        let r = match &watched {
            // Every file keeps a counter: sleep until one of them (or the
            // list itself) moves. A file that stops keeping one (a socket
            // that now reaches the network) or a change of the list sends
            // the waiter round again to choose anew.
            Some(files) => {
                let mut seqs: Vec<&crate::kernel::events::Seq> =
                    files.iter().filter_map(|f| f.ops.wait_seq()).collect();
                let list = ep.list_seq();
                let mark = list.get();
                seqs.push(list);
                t.block_watching(&seqs, step, |_| {
                    let v = ep.collect(max as usize);
                    if !v.is_empty() {
                        return Some(Some(v));
                    }
                    let stale =
                        list.get() != mark || files.iter().any(|f| f.ops.wait_seq().is_none());
                    stale.then_some(None)
                })
            }
            None => t
                .block(host, step, |_| {
                    let v = ep.collect(max as usize);
                    (!v.is_empty()).then_some(v)
                })
                .map(Some),
        };
        match r {
            Ok(None) => continue,
            Ok(Some(v)) => {
                let mut out = Vec::with_capacity(v.len() * 12);
                for (ev, data) in &v {
                    out.extend_from_slice(&ev.to_ne_bytes());
                    out.extend_from_slice(&data.to_ne_bytes());
                }
                t.mm.write(addr, &out)?;
                return Ok(v.len() as u64);
            }
            Err(e) if e.0 == libc::ETIMEDOUT => {
                if host.is_some() && deadline.is_none_or(|d| Instant::now() < d) {
                    continue;
                }
                return Ok(0);
            }
            // epoll_wait is never restarted, whatever SA_RESTART says.
            Err(e) if e.is_restart() => return err(libc::EINTR),
            Err(e) => return Err(e),
        }
    }
}

/// epoll_wait's timeout in milliseconds: negative waits forever.
fn ms_deadline(ms: u64) -> Option<Instant> {
    let ms = ms as i32;
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

pub fn epoll_wait(t: &mut Task, a: Args) -> SysResult<u64> {
    epoll_wait_until(t, a[0], a[1], a[2], ms_deadline(a[3]))
}

/// epoll_pwait and epoll_pwait2: the wait runs with `sigmask` in force,
/// restored after the call (after the handler when a signal interrupts).
fn with_sigmask(
    t: &mut Task,
    mask_addr: u64,
    size: u64,
    wait: impl FnOnce(&mut Task) -> SysResult<u64>,
) -> SysResult<u64> {
    if mask_addr != 0 {
        if size != 8 {
            return err(libc::EINVAL);
        }
        let mask: u64 = t.mm.read_obj(mask_addr)?;
        t.saved_mask = Some(t.mask());
        t.set_mask(mask);
    }
    let r = wait(t);
    if r != err(libc::EINTR) {
        if let Some(m) = t.saved_mask.take() {
            t.set_mask(m);
        }
    }
    r
}

pub fn epoll_pwait(t: &mut Task, a: Args) -> SysResult<u64> {
    let deadline = ms_deadline(a[3]);
    with_sigmask(t, a[4], a[5], |t| {
        epoll_wait_until(t, a[0], a[1], a[2], deadline)
    })
}

pub fn epoll_pwait2(t: &mut Task, a: Args) -> SysResult<u64> {
    let deadline = if a[3] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[3])?;
        Some(timers::after(timers::duration_of(&ts)?))
    } else {
        None
    };
    with_sigmask(t, a[4], a[5], |t| {
        epoll_wait_until(t, a[0], a[1], a[2], deadline)
    })
}

// timerfd

pub fn timerfd_create(t: &mut Task, a: Args) -> SysResult<u64> {
    let flags = a[1] as i32;
    if flags & !(libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let clock = match a[0] as i32 {
        // The alarm clocks need CAP_WAKE_ALARM, which containers lack.
        libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM => return err(libc::EPERM),
        _ => Clock::from_id(a[0])?,
    };
    install_anon(t, Arc::new(TimerFd::new(clock)), "[timerfd]", flags)
}

/// struct itimerspec as (interval, value).
pub fn read_itimerspec(t: &Task, addr: u64) -> SysResult<(Duration, Duration)> {
    let its: libc::itimerspec = t.mm.read_obj(addr)?;
    Ok((
        timers::duration_of(&its.it_interval)?,
        timers::duration_of(&its.it_value)?,
    ))
}

pub fn write_itimerspec(t: &Task, addr: u64, s: timers::Setting) -> SysResult<()> {
    let its = libc::itimerspec {
        it_interval: timers::timespec_of(s.interval),
        it_value: timers::timespec_of(s.value),
    };
    t.mm.write_obj(addr, &its)
}

fn timerfd_of(f: &OpenFile) -> SysResult<&TimerFd> {
    TimerFd::of(&*f.ops).ok_or(Errno(libc::EINVAL))
}

pub fn timerfd_settime(t: &mut Task, a: Args) -> SysResult<u64> {
    let (interval, value) = read_itimerspec(t, a[2])?;
    let flags = a[1] as i32;
    if flags & !(libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET) != 0 {
        return err(libc::EINVAL);
    }
    let f = t.file(a[0])?;
    let tfd = timerfd_of(&f)?;
    // TFD_TIMER_CANCEL_ON_SET is accepted: the sandbox cannot set the clock,
    // so the cancellation never happens.
    let old = tfd.set(value, interval, flags & libc::TFD_TIMER_ABSTIME != 0);
    if a[3] != 0 {
        write_itimerspec(t, a[3], old)?;
    }
    Ok(0)
}

pub fn timerfd_gettime(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let cur = timerfd_of(&f)?.get();
    write_itimerspec(t, a[1], cur)?;
    Ok(0)
}

// signalfd

pub fn signalfd4(t: &mut Task, fd: u64, mask: u64, size: u64, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if size != 8 || flags & !(libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(mask)?;
    if fd as i32 == -1 {
        return install_anon(t, Arc::new(SignalFd::new(mask)), "[signalfd]", flags);
    }
    let f = t.file(fd)?;
    let sfd = SignalFd::of(&*f.ops).ok_or(Errno(libc::EINVAL))?;
    sfd.set_mask(mask);
    Ok(fd as i32 as u64)
}
