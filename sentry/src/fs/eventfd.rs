//! eventfd: a 64-bit counter behind a descriptor, entirely in the Sentry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::errno::{err, SysResult};
use crate::kernel::events::Seq;
use crate::kernel::process::lock;
use crate::vfs::{FileOps, FileType, Stat};

/// The largest value the counter holds; a write that would pass it waits.
const MAX: u64 = u64::MAX - 1;

/// The st_dev of the Sentry's anonymous files (eventfd, epoll, timerfd, signalfd).
pub const ANON_DEV: u64 = 0xd;

/// A fresh inode number for an anonymous file.
pub fn anon_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The stat of an anonymous file: mode 0600, no file type, as Linux's anon inodes.
pub fn anon_stat(ino: u64) -> Stat {
    let mut s = Stat::synthetic(ANON_DEV, ino, FileType::Regular, 0o600, 0);
    s.mode = 0o600;
    s
}

pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    seq: Seq,
    ino: u64,
}

impl EventFd {
    pub fn new(initval: u64, semaphore: bool) -> EventFd {
        EventFd {
            count: Mutex::new(initval),
            semaphore,
            seq: Seq::default(),
            ino: anon_ino(),
        }
    }
}

impl FileOps for EventFd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if buf.len() < 8 {
            return err(libc::EINVAL);
        }
        let mut c = lock(&self.count);
        if *c == 0 {
            return err(libc::EAGAIN);
        }
        let v = if self.semaphore { 1 } else { *c };
        *c -= v;
        drop(c);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.seq.bump();
        Ok(8)
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        let Some(bytes) = buf.get(..8) else {
            return err(libc::EINVAL);
        };
        let mut v = [0u8; 8];
        v.copy_from_slice(bytes);
        let v = u64::from_ne_bytes(v);
        if v == u64::MAX {
            return err(libc::EINVAL);
        }
        let mut c = lock(&self.count);
        if MAX - *c < v {
            return err(libc::EAGAIN);
        }
        *c += v;
        drop(c);
        if v != 0 {
            self.seq.bump();
        }
        Ok(8)
    }

    fn whole_message(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(anon_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        let c = *lock(&self.count);
        let mut r = 0;
        if c > 0 {
            r |= libc::POLLIN;
        }
        if c < MAX {
            r |= libc::POLLOUT;
        }
        r
    }

    fn event_seq(&self) -> u64 {
        self.seq.get()
    }

    fn wait_seq(&self) -> Option<&crate::kernel::events::Seq> {
        Some(&self.seq)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_semaphore() {
        let e = EventFd::new(0, false);
        let mut b = [0u8; 8];
        assert_eq!(e.read(&mut b, 0), err(libc::EAGAIN));
        assert_eq!(e.write(&3u64.to_ne_bytes(), 0), Ok(8));
        assert_eq!(e.write(&4u64.to_ne_bytes(), 0), Ok(8));
        assert_eq!(e.read(&mut b, 0), Ok(8));
        assert_eq!(u64::from_ne_bytes(b), 7);
        let s = EventFd::new(2, true);
        assert_eq!(s.read(&mut b, 0), Ok(8));
        assert_eq!(u64::from_ne_bytes(b), 1);
        assert_eq!(s.poll() & libc::POLLIN, libc::POLLIN);
    }

    #[test]
    fn limits() {
        let e = EventFd::new(0, false);
        assert_eq!(e.read(&mut [0u8; 7], 0), err(libc::EINVAL));
        assert_eq!(e.write(&[0u8; 4], 0), err(libc::EINVAL));
        assert_eq!(e.write(&u64::MAX.to_ne_bytes(), 0), err(libc::EINVAL));
        assert_eq!(e.write(&MAX.to_ne_bytes(), 0), Ok(8));
        assert_eq!(e.poll() & libc::POLLOUT, 0);
        assert_eq!(e.write(&1u64.to_ne_bytes(), 0), err(libc::EAGAIN));
        assert_eq!(e.write(&0u64.to_ne_bytes(), 0), Ok(8));
    }
}
