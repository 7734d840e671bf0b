//! timerfd: a timer whose expirations are read as a count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::eventfd::{anon_ino, anon_stat};
use crate::errno::{err, SysResult};
use crate::kernel::events::Seq;
use crate::kernel::process::lock;
use crate::kernel::timers::{self, Clock, Expiry, Setting, Timer};
use crate::vfs::{FileOps, Stat};

/// The expirations not yet read.
#[derive(Default)]
struct Ticks {
    count: Mutex<u64>,
    seq: Seq,
}

struct Counter(Arc<Ticks>);

impl Expiry for Counter {
    fn expired(&self, n: u64) {
        {
            let mut c = lock(&self.0.count);
            *c = c.saturating_add(n);
        }
        self.0.seq.bump();
    }
}

pub struct TimerFd {
    pub clock: Clock,
    timer: Arc<Timer>,
    ticks: Arc<Ticks>,
    ino: u64,
}

impl TimerFd {
    pub fn new(clock: Clock) -> TimerFd {
        let ticks = Arc::new(Ticks::default());
        TimerFd {
            clock,
            timer: Timer::new(Box::new(Counter(ticks.clone()))),
            ticks,
            ino: anon_ino(),
        }
    }

    pub fn of(ops: &dyn FileOps) -> Option<&TimerFd> {
        ops.as_any().and_then(|a| a.downcast_ref::<TimerFd>())
    }

    /// timerfd_settime: `value` zero disarms; `abs` reads it on the clock.
    /// Unread expirations of the old setting are discarded.
    pub fn set(&self, value: Duration, interval: Duration, abs: bool) -> Setting {
        let deadline = if value.is_zero() {
            None
        } else if abs {
            Some(self.clock.instant_at(value))
        } else {
            Some(timers::after(value))
        };
        // Reset where no expiry can interleave: an expiry is either counted
        // before the reset or belongs to the new setting.
        let old = self
            .timer
            .set_and(deadline, interval, || *lock(&self.ticks.count) = 0);
        self.ticks.seq.bump();
        old
    }

    pub fn get(&self) -> Setting {
        self.timer.get()
    }
}

impl FileOps for TimerFd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if buf.len() < 8 {
            return err(libc::EINVAL);
        }
        let mut c = lock(&self.ticks.count);
        if *c == 0 {
            return err(libc::EAGAIN);
        }
        let n = std::mem::take(&mut *c);
        drop(c);
        buf[..8].copy_from_slice(&n.to_ne_bytes());
        self.ticks.seq.bump();
        Ok(8)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(anon_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        if *lock(&self.ticks.count) > 0 {
            libc::POLLIN
        } else {
            0
        }
    }

    fn event_seq(&self) -> u64 {
        self.ticks.seq.get()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
