//! Priority-inheritance futexes (FUTEX_LOCK_PI, FUTEX_LOCK_PI2,
//! FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI): Linux's owner-TID protocol, without
//! the priority boost (the Sentry does not schedule by priority).
//!
//! The word holds the owner's tid, FUTEX_WAITERS while a thread waits here
//! (so the owner's unlock comes here instead of a user-space cmpxchg), and
//! FUTEX_OWNER_DIED once a robust owner died. As on Linux the kernel hands
//! the lock over: an unlock, or the owner's exit, writes the longest
//! waiter's tid (with FUTEX_WAITERS) into the word, so no late locker can
//! take the lock from under a woken waiter. FUTEX_WAIT_REQUEUE_PI and
//! FUTEX_CMP_REQUEUE_PI are not implemented (ENOSYS).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::futex::{
    key_of, read_word, PiWaiter, Waiter, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, NEXT_ID,
    WAITERS,
};
use super::process::lock;
use super::task::Task;
use crate::errno::{err, Errno, SysResult};
use crate::mm::SharedMm;

/// The absolute deadline of a lock (FUTEX_LOCK_PI: CLOCK_REALTIME;
/// FUTEX_LOCK_PI2: CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME).
fn deadline(t: &Task, addr: u64, clock: libc::clockid_t) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: libc::timespec = t.mm.read_obj(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return err(libc::EINVAL);
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut now) };
    let now = Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec as u32);
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    Ok(Some(Instant::now() + d.saturating_sub(now)))
}

/// FUTEX_LOCK_PI / LOCK_PI2 (`timeout` on `clock`), or FUTEX_TRYLOCK_PI
/// with `try_only`.
pub fn lock_pi(
    t: &mut Task,
    addr: u64,
    timeout: u64,
    clock: libc::clockid_t,
    try_only: bool,
) -> SysResult<u64> {
    let deadline = if try_only {
        None
    } else {
        deadline(t, timeout, clock)?
    };
    let key = key_of(&t.mm, addr)?;
    let tid = t.tid as u32;
    loop {
        let woken = Arc::new(AtomicBool::new(false));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        {
            let mut w = lock(&WAITERS);
            let val = read_word(&t.mm, addr)?;
            let owner = val & FUTEX_TID_MASK;
            if owner == tid {
                return err(libc::EDEADLK);
            }
            if owner == 0 {
                // Free (or left by a robust owner that died): take it,
                // keeping FUTEX_OWNER_DIED for the new owner to see.
                let queued = w.iter().any(|x| x.key == key && x.pi.is_some());
                let new = tid | (val & FUTEX_OWNER_DIED) | if queued { FUTEX_WAITERS } else { 0 };
                if t.mm.compare_exchange_u32(addr, val, new)? == val {
                    for p in w.iter_mut().filter(|x| x.key == key) {
                        if let Some(p) = p.pi.as_mut() {
                            p.owner = tid;
                        }
                    }
                    return Ok(0);
                }
                continue;
            }
            // Held: the owner's unlock must come here from now on.
            if val & FUTEX_WAITERS == 0
                && t.mm.compare_exchange_u32(addr, val, val | FUTEX_WAITERS)? != val
            {
                continue;
            }
            if t.kernel.thread(owner as i32).is_none() {
                // No such owner (and no robust exit to hand it over).
                return err(libc::ESRCH);
            }
            if try_only {
                return err(libc::EWOULDBLOCK);
            }
            w.push(Waiter {
                id,
                key,
                bitset: u32::MAX,
                woken: woken.clone(),
                thread: t.thread.clone(),
                pi: Some(PiWaiter {
                    tid,
                    owner,
                    addr,
                    mm: t.mm.clone(),
                }),
            });
        }
        let r = t.block(None, deadline, |_| {
            woken.load(Ordering::SeqCst).then_some(())
        });
        {
            // Under the waiters' lock, a hand-over either happened (the
            // word names this thread) or cannot happen any more.
            let mut w = lock(&WAITERS);
            w.retain(|x| x.id != id);
            if read_word(&t.mm, addr).is_ok_and(|v| v & FUTEX_TID_MASK == tid) {
                return Ok(0);
            }
        }
        match r {
            // Woken without the lock (its owner left it free): try again.
            Ok(()) => continue,
            // A handler runs and the lock is tried again (Linux never
            // fails FUTEX_LOCK_PI with EINTR).
            Err(e) if e == Errno::ERESTARTSYS => return Err(Errno::ERESTARTNOINTR),
            Err(e) => return Err(e),
        }
    }
}

/// FUTEX_UNLOCK_PI: only the owner may; the longest waiter gets the lock.
pub fn unlock_pi(t: &mut Task, addr: u64) -> SysResult<u64> {
    let key = key_of(&t.mm, addr)?;
    let tid = t.tid as u32;
    loop {
        let mut w = lock(&WAITERS);
        let val = read_word(&t.mm, addr)?;
        if val & FUTEX_TID_MASK != tid {
            return err(libc::EPERM);
        }
        match w.iter().position(|x| x.key == key && x.pi.is_some()) {
            Some(i) => {
                if hand_over(&mut w, i, &t.mm, addr, val) {
                    return Ok(0);
                }
            }
            None => {
                if t.mm.compare_exchange_u32(addr, val, 0)? == val {
                    return Ok(0);
                }
            }
        }
        // The word changed under us (a locker set FUTEX_WAITERS): again.
    }
}

/// Gives the lock whose word at `addr` (in `mm`) holds `val` to waiter `i`;
/// false when the word no longer holds `val`.
fn hand_over(w: &mut Vec<Waiter>, i: usize, mm: &SharedMm, addr: u64, val: u32) -> bool {
    let Some(pi) = &w[i].pi else { return false };
    let new_owner = pi.tid;
    let new = new_owner | FUTEX_WAITERS | (val & FUTEX_OWNER_DIED);
    if mm.compare_exchange_u32(addr, val, new) != Ok(val) {
        return false;
    }
    let key = w[i].key;
    let granted = w.remove(i);
    granted.fire();
    for x in w.iter_mut().filter(|x| x.key == key) {
        if let Some(p) = x.pi.as_mut() {
            p.owner = new_owner;
        }
    }
    super::events::notify();
    true
}

/// Thread `tid` exited or exec'd: the PI locks it still owned that others
/// wait for go to their longest waiter (after the robust list, if any,
/// marked them FUTEX_OWNER_DIED), as Linux's exit_pi_state_list does.
pub fn owner_gone(tid: i32) {
    let tid = tid as u32;
    let mut w = lock(&WAITERS);
    let mut done = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let Some(pi) = &w[i].pi else {
            i += 1;
            continue;
        };
        let key = w[i].key;
        if pi.owner != tid || done.contains(&key) {
            i += 1;
            continue;
        }
        done.push(key);
        let (mm, addr) = (pi.mm.clone(), pi.addr);
        // A few attempts: only lockers setting FUTEX_WAITERS change it.
        for _ in 0..16 {
            let Ok(val) = read_word(&mm, addr) else { break };
            let holder = val & FUTEX_TID_MASK;
            if holder != tid && holder != 0 {
                break;
            }
            if hand_over(&mut w, i, &mm, addr, val) {
                break;
            }
        }
        i = 0;
    }
}
