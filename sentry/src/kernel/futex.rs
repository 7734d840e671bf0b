//! Futexes, implemented by the Sentry. A futex is named by the memory-file
//! offset of its word, so private and shared futexes (across fork, through
//! MAP_SHARED) are the same mechanism.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::events;
use super::process::lock;
use super::task::Task;
use crate::errno::{err, Errno, SysResult};
use crate::mm::SharedMm;

pub(super) struct Waiter {
    pub id: u64,
    pub key: u64,
    pub bitset: u32,
    pub woken: Arc<AtomicBool>,
    /// The waiting thread, woken directly: a futex wait sleeps on its
    /// thread's wake descriptor, not on the kernel's event counter, so the
    /// I/O of other tasks never wakes a thread pool parked in futexes.
    pub thread: Arc<super::thread::Thread>,
    /// A FUTEX_LOCK_PI waiter (kernel/futex_pi.rs).
    pub pi: Option<PiWaiter>,
}

impl Waiter {
    /// Marks the waiter woken and wakes its thread.
    pub fn fire(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// What a PI lock's hand-over needs to know of a waiter.
pub(super) struct PiWaiter {
    pub tid: u32,
    /// The lock's owner as last seen (whose exit hands the lock over).
    pub owner: u32,
    /// The word, in the waiter's address space.
    pub addr: u64,
    pub mm: Arc<SharedMm>,
}

pub(super) static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
pub(super) static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_LOCK_PI: i32 = 6;
const FUTEX_UNLOCK_PI: i32 = 7;
const FUTEX_TRYLOCK_PI: i32 = 8;
const FUTEX_LOCK_PI2: i32 = 13;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

pub(super) fn key_of(mm: &SharedMm, addr: u64) -> SysResult<u64> {
    if !addr.is_multiple_of(4) {
        return err(libc::EINVAL);
    }
    mm.lock().file_offset_of(addr).ok_or(Errno(libc::EFAULT))
}

pub(super) fn read_word(mm: &SharedMm, addr: u64) -> SysResult<u32> {
    let mut b = [0u8; 4];
    mm.read(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Wakes up to `n` waiters on the word at `addr` whose bitset meets `bitset`.
pub fn wake(mm: &SharedMm, addr: u64, n: u32, bitset: u32) -> u32 {
    let Ok(key) = key_of(mm, addr) else { return 0 };
    wake_key(key, n, bitset)
}

/// A wake count as Linux's wake loops read it: a signed count, checked only
/// after the first matching waiter is woken, so 0 or a negative count wakes
/// one (FUTEX_WAKE, FUTEX_WAKE_BITSET and both halves of FUTEX_WAKE_OP).
fn wake_count(n: u32) -> u32 {
    if (n as i32) <= 0 {
        1
    } else {
        n
    }
}

fn wake_key(key: u64, n: u32, bitset: u32) -> u32 {
    let mut woken = 0;
    let mut w = lock(&WAITERS);
    w.retain(|x| {
        if woken < n && x.key == key && x.bitset & bitset != 0 {
            x.fire();
            woken += 1;
            false
        } else {
            true
        }
    });
    drop(w);
    woken
}

/// The deadline of a wait: FUTEX_WAIT takes a relative timeout, the bitset
/// variant an absolute one on CLOCK_MONOTONIC or CLOCK_REALTIME.
fn deadline(t: &Task, op: i32, flags: i32, addr: u64) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: libc::timespec = t.mm.read_obj(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return err(libc::EINVAL);
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    if op == FUTEX_WAIT {
        return Ok(Some(Instant::now() + d));
    }
    let clock = if flags & FUTEX_CLOCK_REALTIME != 0 {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut now) };
    let now = Duration::new(now.tv_sec.max(0) as u64, now.tv_nsec as u32);
    Ok(Some(Instant::now() + d.saturating_sub(now)))
}

/// FUTEX_WAKE_OP: changes the word at `addr2` by `encoded`'s operation,
/// wakes `n` waiters on `addr`, and, if the old value of the word at
/// `addr2` passes `encoded`'s comparison, `n2` waiters there. The update is
/// made under the waiters' lock (atomic with respect to other futex calls,
/// not to plain atomics in the workload's other threads).
fn wake_op(t: &Task, addr: u64, n: u32, n2: u32, addr2: u64, encoded: u32) -> SysResult<u64> {
    let op = (encoded >> 28) & 0xf;
    let cmp = (encoded >> 24) & 0xf;
    // Both arguments are signed 12-bit fields.
    let mut oparg = (((encoded >> 12) & 0xfff) as i32) << 20 >> 20;
    let cmparg = ((encoded & 0xfff) as i32) << 20 >> 20;
    if op & 8 != 0 {
        if !(0..32).contains(&oparg) {
            return err(libc::EINVAL);
        }
        oparg = 1 << oparg;
    }
    let key = key_of(&t.mm, addr)?;
    let key2 = key_of(&t.mm, addr2)?;
    let old = {
        let _w = lock(&WAITERS);
        let old = read_word(&t.mm, addr2)? as i32;
        let new = match op & 7 {
            0 => oparg,                   // FUTEX_OP_SET
            1 => old.wrapping_add(oparg), // FUTEX_OP_ADD
            2 => old | oparg,             // FUTEX_OP_OR
            3 => old & !oparg,            // FUTEX_OP_ANDN
            4 => old ^ oparg,             // FUTEX_OP_XOR
            _ => return err(libc::ENOSYS),
        };
        t.mm.write(addr2, &new.to_le_bytes())?;
        old
    };
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return err(libc::ENOSYS),
    };
    let mut woken = wake_key(key, wake_count(n), u32::MAX);
    if hit {
        woken += wake_key(key2, wake_count(n2), u32::MAX);
    }
    Ok(woken as u64)
}

/// futex(2).
pub fn futex(t: &mut Task, a: [u64; 6]) -> SysResult<u64> {
    let (addr, op_full, val) = (a[0], a[1] as i32, a[2] as u32);
    let op = op_full & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    // Of the PI operations, Linux takes FUTEX_CLOCK_REALTIME only with
    // FUTEX_LOCK_PI2 (FUTEX_LOCK_PI's timeout is always CLOCK_REALTIME).
    if op_full & FUTEX_CLOCK_REALTIME != 0
        && matches!(op, FUTEX_LOCK_PI | FUTEX_UNLOCK_PI | FUTEX_TRYLOCK_PI)
    {
        return err(libc::ENOSYS);
    }
    match op {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if op == FUTEX_WAIT {
                u32::MAX
            } else {
                a[5] as u32
            };
            if bitset == 0 {
                return err(libc::EINVAL);
            }
            let deadline = deadline(t, op, op_full, a[3])?;
            let key = key_of(&t.mm, addr)?;
            let woken = Arc::new(AtomicBool::new(false));
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            {
                // Checking the word under the waiters' lock makes the check
                // and the queueing atomic with respect to wakers.
                let mut w = lock(&WAITERS);
                if read_word(&t.mm, addr)? != val {
                    return err(libc::EAGAIN);
                }
                w.push(Waiter {
                    id,
                    key,
                    bitset,
                    woken: woken.clone(),
                    thread: t.thread.clone(),
                    pi: None,
                });
            }
            // Sleeps on the thread's wake descriptor (no host descriptor):
            // FUTEX_WAKE, a signal, a stop or the process's end wake it.
            let r = t.block(Some((-1, 0)), deadline, |_| {
                woken.load(Ordering::SeqCst).then_some(())
            });
            if r.is_err() {
                lock(&WAITERS).retain(|x| x.id != id);
                if woken.load(Ordering::SeqCst) {
                    return Ok(0);
                }
            }
            match r {
                Ok(()) => Ok(0),
                Err(e) if e.0 == libc::ETIMEDOUT => err(libc::ETIMEDOUT),
                Err(e) => Err(e),
            }
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if op == FUTEX_WAKE {
                u32::MAX
            } else {
                a[5] as u32
            };
            if bitset == 0 {
                return err(libc::EINVAL);
            }
            let key = key_of(&t.mm, addr)?;
            // A PI futex is unlocked with FUTEX_UNLOCK_PI, never woken.
            if lock(&WAITERS)
                .iter()
                .any(|x| x.key == key && x.pi.is_some())
            {
                return err(libc::EINVAL);
            }
            Ok(wake_key(key, wake_count(val), bitset) as u64)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            let clock = if op == FUTEX_LOCK_PI || op_full & FUTEX_CLOCK_REALTIME != 0 {
                libc::CLOCK_REALTIME
            } else {
                libc::CLOCK_MONOTONIC
            };
            super::futex_pi::lock_pi(t, addr, a[3], clock, op == FUTEX_TRYLOCK_PI)
        }
        FUTEX_UNLOCK_PI => super::futex_pi::unlock_pi(t, addr),
        libc::FUTEX_WAKE_OP => wake_op(t, addr, val, a[3] as u32, a[4], a[5] as u32),
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let n_requeue = a[3] as u32;
            let key = key_of(&t.mm, addr)?;
            let key2 = key_of(&t.mm, a[4])?;
            let mut w = lock(&WAITERS);
            if op == FUTEX_CMP_REQUEUE && read_word(&t.mm, addr)? != a[5] as u32 {
                return err(libc::EAGAIN);
            }
            let (mut woken, mut moved) = (0u32, 0u32);
            w.retain_mut(|x| {
                if x.key != key {
                    return true;
                }
                if woken < val {
                    x.fire();
                    woken += 1;
                    return false;
                }
                if moved < n_requeue {
                    x.key = key2;
                    moved += 1;
                }
                true
            });
            drop(w);
            events::notify();
            Ok((woken + moved) as u64)
        }
        _ => {
            tracing::debug!(pid = t.pid(), op, "futex operation not implemented");
            err(libc::ENOSYS)
        }
    }
}

/// `sizeof(struct robust_list_head)`: what set_robust_list insists on.
pub const ROBUST_LIST_HEAD_LEN: u64 = 24;
pub(super) const FUTEX_WAITERS: u32 = 0x8000_0000;
pub(super) const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub(super) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Linux stops walking a list after this many entries (ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;

/// A dying thread's robust futexes (glibc's robust and process-shared
/// mutexes): each lock it still holds is marked FUTEX_OWNER_DIED and one
/// waiter is woken, who then gets EOWNERDEAD. Called at thread exit (every
/// thread of an exit_group or a fatal signal goes through it) and at execve.
/// The list is the workload's: a bad pointer ends the walk, a loop ends
/// after ROBUST_LIST_LIMIT entries, as on Linux.
pub fn exit_robust_list(mm: &SharedMm, head: u64, tid: i32) {
    // Bit 0 of an entry pointer marks a priority-inheritance futex.
    let split = |raw: u64| (raw & !1, raw & 1 != 0);
    let Ok(first) = mm.read_u64(head) else { return };
    let Ok(offset) = mm.read_u64(head.wrapping_add(8)) else {
        return;
    };
    let Ok(pending_raw) = mm.read_u64(head.wrapping_add(16)) else {
        return;
    };
    let (pending, pending_pi) = split(pending_raw);
    let mut entry = split(first);
    let mut seen = 0;
    while entry.0 != head && seen < ROBUST_LIST_LIMIT {
        // The next pointer is read before the entry's lock is released:
        // once released, another thread may free the entry.
        let next = mm.read_u64(entry.0).map(split);
        // The entry being locked or unlocked right now is done last.
        if entry.0 != pending {
            futex_death(mm, entry.0.wrapping_add(offset), tid, entry.1, false);
        }
        match next {
            Ok(n) => entry = n,
            Err(_) => break,
        }
        seen += 1;
    }
    if pending != 0 {
        futex_death(mm, pending.wrapping_add(offset), tid, pending_pi, true);
    }
}

/// Releases one robust futex word of a dead owner `tid`.
fn futex_death(mm: &SharedMm, word: u64, tid: i32, pi: bool, pending: bool) {
    if !word.is_multiple_of(4) {
        return;
    }
    let Ok(mut val) = read_word(mm, word) else {
        return;
    };
    // The owner died between releasing the lock and waking a waiter
    // (list_op_pending still names it): wake one so the lock is not lost.
    if pending && !pi && val == 0 {
        wake(mm, word, 1, u32::MAX);
        return;
    }
    // A few attempts: the word changes only when a locker sets
    // FUTEX_WAITERS; the workload cannot keep us looping.
    for _ in 0..16 {
        if val & FUTEX_TID_MASK != tid as u32 {
            return;
        }
        let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        match mm.compare_exchange_u32(word, val, new) {
            Ok(found) if found == val => {
                // PI futexes are handed over to a waiter by
                // futex_pi::owner_gone, which the caller runs next.
                if !pi && val & FUTEX_WAITERS != 0 {
                    wake(mm, word, 1, u32::MAX);
                }
                return;
            }
            Ok(found) => val = found,
            Err(_) => return,
        }
    }
}

pub fn set_robust_list(t: &mut Task, a: [u64; 6]) -> SysResult<u64> {
    if a[1] != ROBUST_LIST_HEAD_LEN {
        return err(libc::EINVAL);
    }
    t.thread.robust_list.store(a[0], Ordering::Relaxed);
    Ok(0)
}

/// get_robust_list(tid, head_ptr, len_ptr): any thread of the sandbox.
pub fn get_robust_list(t: &mut Task, a: [u64; 6]) -> SysResult<u64> {
    let head = if a[0] == 0 {
        t.thread.robust_list.load(Ordering::Relaxed)
    } else {
        let tid = i32::try_from(a[0]).map_err(|_| crate::errno::Errno(libc::ESRCH))?;
        let (_, thread) = t
            .kernel
            .thread(tid)
            .ok_or(crate::errno::Errno(libc::ESRCH))?;
        thread.robust_list.load(Ordering::Relaxed)
    };
    t.mm.write_obj(a[1], &head)?;
    t.mm.write_obj(a[2], &ROBUST_LIST_HEAD_LEN)?;
    Ok(0)
}
