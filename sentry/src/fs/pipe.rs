//! Pipes, entirely inside the Sentry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::errno::{err, SysResult};
use crate::kernel::events;
use crate::kernel::process::lock;
use crate::vfs::{FileOps, FileType, Inode, OpenCtx, Stat};

const PIPE_BUF: usize = 4096;
const DEFAULT_CAPACITY: usize = 65536;
/// The largest capacity an unprivileged F_SETPIPE_SZ may ask for
/// (/proc/sys/fs/pipe-max-size).
pub const MAX_CAPACITY: usize = 1 << 20;

struct Inner {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
    /// How many times each side was ever opened: a FIFO's blocking open
    /// waits for the other side to come (and maybe go again).
    reader_opens: u64,
    writer_opens: u64,
    capacity: usize,
}

pub struct Pipe {
    inner: Mutex<Inner>,
    ino: u64,
    /// Moves on every change of either end (edge-triggered epoll).
    seq: events::Seq,
}

/// One end of a pipe (a FIFO opened O_RDWR is both ends at once).
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
}

/// The st_dev of pipes.
const PIPE_DEV: u64 = 0xc;

impl Pipe {
    /// A pipe with no ends open yet; `ino` None picks a pipefs number.
    pub fn new(ino: Option<u64>) -> Arc<Pipe> {
        static NEXT: AtomicU64 = AtomicU64::new(1000);
        Arc::new(Pipe {
            inner: Mutex::new(Inner {
                buf: VecDeque::new(),
                readers: 0,
                writers: 0,
                reader_opens: 0,
                writer_opens: 0,
                capacity: DEFAULT_CAPACITY,
            }),
            ino: ino.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed)),
            seq: events::Seq::default(),
        })
    }

    /// Opens an end: for reading, writing or both.
    pub fn open_end(self: &Arc<Pipe>, read: bool, write: bool) -> Arc<PipeEnd> {
        let mut p = lock(&self.inner);
        if read {
            p.readers += 1;
            p.reader_opens += 1;
        }
        if write {
            p.writers += 1;
            p.writer_opens += 1;
        }
        drop(p);
        self.seq.bump();
        Arc::new(PipeEnd {
            pipe: self.clone(),
            read,
            write,
        })
    }

    /// (open readers, open writers, reader opens ever, writer opens ever).
    pub fn ends(&self) -> (usize, usize, u64, u64) {
        let p = lock(&self.inner);
        (p.readers, p.writers, p.reader_opens, p.writer_opens)
    }
}

/// A new pipe: (read end, write end).
pub fn new_pipe() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    let pipe = Pipe::new(None);
    (pipe.open_end(true, false), pipe.open_end(false, true))
}

impl PipeEnd {
    /// The pipe as a node /proc/PID/fd/N enters: opening it opens another
    /// end of the same pipe, as Linux does for an anonymous pipe.
    pub fn reopenable(&self) -> Arc<dyn Inode> {
        super::fifo::register(PIPE_DEV, self.pipe.ino, &self.pipe);
        Arc::new(PipeNode {
            pipe: self.pipe.clone(),
        })
    }

    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }

    pub fn capacity(&self) -> usize {
        lock(&self.pipe.inner).capacity
    }

    /// Whether both ends name the same pipe (splice and tee refuse that).
    pub fn same_pipe(&self, other: &PipeEnd) -> bool {
        Arc::ptr_eq(&self.pipe, &other.pipe)
    }

    /// How many bytes a write could add now (splice reads no more than
    /// that from its source, so nothing read is ever left without a home).
    pub fn free_space(&self) -> usize {
        let p = lock(&self.pipe.inner);
        p.capacity.saturating_sub(p.buf.len())
    }

    /// tee's read: copies queued bytes without consuming them; EAGAIN when
    /// empty with writers, 0 at end of file.
    pub fn peek(&self, buf: &mut [u8]) -> SysResult<usize> {
        if !self.read {
            return err(libc::EBADF);
        }
        let p = lock(&self.pipe.inner);
        if p.buf.is_empty() {
            return if p.writers == 0 {
                Ok(0)
            } else {
                err(libc::EAGAIN)
            };
        }
        let n = buf.len().min(p.buf.len());
        for (dst, src) in buf.iter_mut().zip(p.buf.iter()) {
            *dst = *src;
        }
        Ok(n)
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EBUSY if
    /// the data already queued would not fit. Returns the new capacity.
    pub fn set_capacity(&self, want: usize) -> SysResult<usize> {
        let size = want
            .max(4096)
            .checked_next_power_of_two()
            .ok_or(crate::errno::Errno(libc::EINVAL))?;
        let mut p = lock(&self.pipe.inner);
        if p.buf.len() > size {
            return err(libc::EBUSY);
        }
        p.capacity = size;
        drop(p);
        self.pipe.seq.bump();
        Ok(size)
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if !self.read {
            return err(libc::EBADF);
        }
        // A read of nothing returns at once, even from an empty pipe with
        // writers (pipe_read), so a blocking caller never waits for data.
        if buf.is_empty() {
            return Ok(0);
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
        // A write of nothing succeeds at once, into a full pipe or one
        // without readers (pipe_write: no EPIPE, no SIGPIPE).
        if buf.is_empty() {
            return Ok(0);
        }
        let mut p = lock(&self.pipe.inner);
        if p.readers == 0 {
            return err(libc::EPIPE);
        }
        let space = p.capacity.saturating_sub(p.buf.len());
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
            // Room is reported with or without a reader (Linux's
            // pipe_poll), POLLERR besides when there is none.
            if p.readers == 0 {
                r |= libc::POLLERR;
            }
            if p.capacity.saturating_sub(p.buf.len()) >= PIPE_BUF {
                // Linux's pipe_poll reports the NORM bits with POLLIN and
                // POLLOUT: a poll for POLLRDNORM or POLLWRNORM alone waits
                // for them.
                r |= libc::POLLOUT | libc::POLLWRNORM;
            }
        }
        if self.read {
            if !p.buf.is_empty() {
                r |= libc::POLLIN | libc::POLLRDNORM;
            }
            // A FIFO nobody has opened for writing yet has not hung up.
            if p.writers == 0 && p.writer_opens > 0 {
                r |= libc::POLLHUP;
            }
        }
        r
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn ioctl(&self, t: &mut crate::kernel::task::Task, req: u64, arg: u64) -> SysResult<u64> {
        match req {
            libc::FIONREAD => {
                let n = lock(&self.pipe.inner).buf.len() as i32;
                t.mm.write_obj(arg, &n)?;
                Ok(0)
            }
            _ => err(libc::ENOTTY),
        }
    }

    fn event_seq(&self) -> u64 {
        self.pipe.seq.get()
    }

    fn wait_seq(&self) -> Option<&events::Seq> {
        Some(&self.pipe.seq)
    }

    fn release(&self) {
        let mut p = lock(&self.pipe.inner);
        if self.write {
            p.writers -= 1;
        }
        if self.read {
            p.readers -= 1;
        }
        drop(p);
        self.pipe.seq.bump();
    }
}

/// An anonymous pipe reached through /proc/PID/fd/N (a FIFO: open goes
/// through the FIFO rules to the registered pipe; `open` here serves
/// callers that skip them).
struct PipeNode {
    pipe: Arc<Pipe>,
}

/// Whether `inode` is an anonymous pipe as /proc/PID/fd/N names it (not a
/// named FIFO): opening it never waits for the other side (fifo_open's
/// pipefs case).
pub fn is_anonymous(inode: &dyn Inode) -> bool {
    inode.as_any().is::<PipeNode>()
}

impl Inode for PipeNode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat::synthetic(
            PIPE_DEV,
            self.pipe.ino,
            FileType::Fifo,
            0o600,
            0,
        ))
    }
    fn open(self: Arc<Self>, flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let (read, write) = match flags & libc::O_ACCMODE {
            libc::O_RDONLY => (true, false),
            libc::O_WRONLY => (false, true),
            _ => (true, true),
        };
        Ok(self.pipe.open_end(read, write))
    }
    fn fs_id(&self) -> usize {
        PIPE_DEV as usize
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
