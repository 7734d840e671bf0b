//! Pipes, entirely inside the Sentry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::errno::{err, SysResult};
use crate::kernel::events;
use crate::kernel::process::lock;
use crate::vfs::{FileOps, FileType, Stat};

const PIPE_BUF: usize = 4096;
const DEFAULT_CAPACITY: usize = 65536;

struct Inner {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

pub struct Pipe {
    inner: Mutex<Inner>,
    ino: u64,
    /// Moves on every change of either end (edge-triggered epoll).
    seq: events::Seq,
}

/// One end of a pipe.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

/// The st_dev of pipes.
const PIPE_DEV: u64 = 0xc;

/// A new pipe: (read end, write end).
pub fn new_pipe() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    static NEXT: AtomicU64 = AtomicU64::new(1000);
    let pipe = Arc::new(Pipe {
        inner: Mutex::new(Inner {
            buf: VecDeque::new(),
            readers: 1,
            writers: 1,
        }),
        ino: NEXT.fetch_add(1, Ordering::Relaxed),
        seq: events::Seq::default(),
    });
    (
        Arc::new(PipeEnd {
            pipe: pipe.clone(),
            write: false,
        }),
        Arc::new(PipeEnd { pipe, write: true }),
    )
}

impl PipeEnd {
    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if self.write {
            return err(libc::EBADF);
        }
        let mut p = lock(&self.pipe.inner);
        if p.buf.is_empty() {
            return if p.writers == 0 {
                Ok(0)
            } else {
                err(libc::EAGAIN)
            };
        }
        let n = buf.len().min(p.buf.len());
        for (dst, src) in buf.iter_mut().zip(p.buf.drain(..n)) {
            *dst = src;
        }
        drop(p);
        self.pipe.seq.bump();
        Ok(n)
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        if !self.write {
            return err(libc::EBADF);
        }
        let mut p = lock(&self.pipe.inner);
        if p.readers == 0 {
            return err(libc::EPIPE);
        }
        let space = DEFAULT_CAPACITY.saturating_sub(p.buf.len());
        // Writes of up to PIPE_BUF bytes are atomic.
        if space == 0 || (buf.len() <= PIPE_BUF && space < buf.len()) {
            return err(libc::EAGAIN);
        }
        let n = buf.len().min(space);
        p.buf.extend(&buf[..n]);
        drop(p);
        self.pipe.seq.bump();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        let mut s = Stat::synthetic(PIPE_DEV, self.pipe.ino, FileType::Fifo, 0o600, 0);
        s.size = lock(&self.pipe.inner).buf.len() as u64;
        Ok(s)
    }

    fn poll(&self) -> i16 {
        let p = lock(&self.pipe.inner);
        let mut r = 0;
        if self.write {
            if p.readers == 0 {
                r |= libc::POLLERR;
            } else if DEFAULT_CAPACITY - p.buf.len() >= PIPE_BUF {
                r |= libc::POLLOUT;
            }
        } else {
            if !p.buf.is_empty() {
                r |= libc::POLLIN;
            }
            if p.writers == 0 {
                r |= libc::POLLHUP;
            }
        }
        r
    }

    fn event_seq(&self) -> u64 {
        self.pipe.seq.get()
    }

    fn release(&self) {
        let mut p = lock(&self.pipe.inner);
        if self.write {
            p.writers -= 1;
        } else {
            p.readers -= 1;
        }
        drop(p);
        self.pipe.seq.bump();
    }
}
