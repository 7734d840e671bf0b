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

struct Waiter {
    id: u64,
    key: u64,
    bitset: u32,
    woken: Arc<AtomicBool>,
}

static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

fn key_of(mm: &SharedMm, addr: u64) -> SysResult<u64> {
    if !addr.is_multiple_of(4) {
        return err(libc::EINVAL);
    }
    mm.lock().file_offset_of(addr).ok_or(Errno(libc::EFAULT))
}

fn read_word(mm: &SharedMm, addr: u64) -> SysResult<u32> {
    let mut b = [0u8; 4];
    mm.read(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Wakes up to `n` waiters on the word at `addr` whose bitset meets `bitset`.
pub fn wake(mm: &SharedMm, addr: u64, n: u32, bitset: u32) -> u32 {
    let Ok(key) = key_of(mm, addr) else { return 0 };
    wake_key(key, n, bitset)
}

fn wake_key(key: u64, n: u32, bitset: u32) -> u32 {
    let mut woken = 0;
    let mut w = lock(&WAITERS);
    w.retain(|x| {
        if woken < n && x.key == key && x.bitset & bitset != 0 {
            x.woken.store(true, Ordering::SeqCst);
            woken += 1;
            false
        } else {
            true
        }
    });
    drop(w);
    if woken > 0 {
        events::notify();
    }
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

/// futex(2).
pub fn futex(t: &mut Task, a: [u64; 6]) -> SysResult<u64> {
    let (addr, op_full, val) = (a[0], a[1] as i32, a[2] as u32);
    let op = op_full & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
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
                });
            }
            let r = t.block(None, deadline, |_| {
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
            Ok(wake_key(key, val, bitset) as u64)
        }
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
                    x.woken.store(true, Ordering::SeqCst);
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
