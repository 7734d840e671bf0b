//! signalfd: reading signals as records instead of running handlers.
//!
//! Like Linux, the signals a read takes and the readiness a poll sees are
//! those of the calling thread (its own queue, then its process's), not of
//! the thread that created the descriptor.

use std::sync::atomic::{AtomicU64, Ordering};

use super::eventfd::{anon_ino, anon_stat};
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::signal::{self, SigInfo, UNBLOCKABLE};
use crate::kernel::thread;
use crate::kernel::timers::SI_TIMER;
use crate::vfs::{FileOps, Stat};

/// sizeof(struct signalfd_siginfo).
pub const RECORD: usize = 128;
/// si_code of sigqueue(3).
const SI_QUEUE: i32 = -1;

pub struct SignalFd {
    mask: AtomicU64,
    ino: u64,
}

impl SignalFd {
    pub fn new(mask: u64) -> SignalFd {
        SignalFd {
            mask: AtomicU64::new(mask & !UNBLOCKABLE),
            ino: anon_ino(),
        }
    }

    pub fn of(ops: &dyn crate::vfs::FileOps) -> Option<&SignalFd> {
        ops.as_any().and_then(|a| a.downcast_ref::<SignalFd>())
    }

    /// signalfd on an existing descriptor: a new mask (SIGKILL and SIGSTOP
    /// are silently left out).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !UNBLOCKABLE, Ordering::SeqCst);
        crate::kernel::events::notify();
    }

    fn mask(&self) -> u64 {
        self.mask.load(Ordering::SeqCst)
    }
}

/// struct signalfd_siginfo from a queued siginfo.
pub fn record(info: &SigInfo) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    let mut put32 = |off: usize, v: u32| r[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    put32(0, info.signo as u32);
    put32(4, info.errno as u32);
    put32(8, info.code as u32);
    let lo = info.fields[0] as u32;
    let hi = (info.fields[0] >> 32) as u32;
    let is_fault = info.code > 0
        && info.code != signal::SI_KERNEL
        && matches!(
            info.signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        );
    if info.code == SI_TIMER {
        // ssi_tid is the timer id, ssi_overrun the overrun, then si_value.
        put32(24, lo);
        put32(32, hi);
        put32(44, info.fields[1] as u32);
    } else if is_fault {
        // ssi_addr
        r[72..80].copy_from_slice(&info.fields[0].to_ne_bytes());
    } else if info.signo == libc::SIGCHLD && info.code > 0 {
        put32(12, lo);
        put32(16, hi);
        put32(40, info.fields[1] as u32);
    } else {
        // kill, tkill, sigqueue: the sender's pid and uid.
        put32(12, lo);
        put32(16, hi);
        if info.code == SI_QUEUE {
            put32(44, info.fields[1] as u32);
        }
    }
    if info.code == SI_TIMER || info.code == SI_QUEUE {
        r[48..56].copy_from_slice(&info.fields[1].to_ne_bytes());
    }
    r
}

impl FileOps for SignalFd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if buf.len() < RECORD {
            return err(libc::EINVAL);
        }
        let Some((proc, thread)) = thread::current() else {
            return err(libc::EAGAIN);
        };
        let set = self.mask();
        let mut n = 0;
        while n + RECORD <= buf.len() {
            let info = {
                let mut ps = lock(&proc.sig);
                let mut ts = lock(&thread.sig);
                ts.pending.take_in(set).or_else(|| ps.pending.take_in(set))
            };
            let Some(info) = info else { break };
            buf[n..n + RECORD].copy_from_slice(&record(&info));
            n += RECORD;
        }
        if n == 0 {
            return err(libc::EAGAIN);
        }
        crate::kernel::events::notify();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(anon_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        let Some((proc, thread)) = thread::current() else {
            return 0;
        };
        let set = self.mask();
        let pending = lock(&proc.sig).pending.mask() | lock(&thread.sig).pending.mask();
        if pending & set != 0 {
            libc::POLLIN
        } else {
            0
        }
    }

    fn event_seq(&self) -> u64 {
        signal::QUEUED.load(Ordering::SeqCst)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r = record(&SigInfo::user(libc::SIGUSR1, 42, 7));
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 10);
        assert_eq!(u32::from_ne_bytes(r[12..16].try_into().unwrap()), 42);
        assert_eq!(u32::from_ne_bytes(r[16..20].try_into().unwrap()), 7);
        let mut t = SigInfo::new(libc::SIGRTMIN(), SI_TIMER);
        t.fields[0] = 3 | (5 << 32);
        t.fields[1] = 99;
        let r = record(&t);
        assert_eq!(i32::from_ne_bytes(r[8..12].try_into().unwrap()), SI_TIMER);
        assert_eq!(u32::from_ne_bytes(r[24..28].try_into().unwrap()), 3);
        assert_eq!(u32::from_ne_bytes(r[32..36].try_into().unwrap()), 5);
        assert_eq!(u64::from_ne_bytes(r[48..56].try_into().unwrap()), 99);
        assert!(SignalFd::new(u64::MAX).mask() & UNBLOCKABLE == 0);
    }
}
