//! /proc/PID/mem: the process's memory at file offset = address. Opening
//! it takes the right to trace the process (kernel/ptrace's may_trace);
//! the open file keeps the address space it was opened on, as Linux's
//! does. Debuggers read and write through it (gdb plants breakpoints with
//! pwrite): a write into a stopped tracee of the writer is forced through
//! read-only text, on the tracee's own Sentry thread, like POKETEXT.

use std::sync::{Arc, Weak};

use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::{lock, Process};
use crate::kernel::ptrace;
use crate::mm::SharedMm;
use crate::vfs::{FileOps, FileType, Inode, OpenCtx, Stat};

const PAGE: u64 = 4096;

pub struct MemInode {
    dev: u64,
    ino: u64,
    proc: Weak<Process>,
}

/// /proc/PID/mem (and /proc/PID/task/TID/mem) of `p`.
pub fn mem_file(dev: u64, salt: u64, p: &Arc<Process>) -> Arc<dyn Inode> {
    Arc::new(MemInode {
        dev,
        ino: (salt << 8) | 0x6d,
        proc: Arc::downgrade(p),
    })
}

impl Inode for MemInode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat::synthetic(
            self.dev,
            self.ino,
            FileType::Regular,
            0o600,
            0,
        ))
    }

    fn open(self: Arc<Self>, _flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let target = self.proc.upgrade().ok_or(Errno(libc::ESRCH))?;
        let (me, _) = crate::kernel::thread::current().ok_or(Errno(libc::EACCES))?;
        let k = crate::kernel::get().ok_or(Errno(libc::ESRCH))?;
        if !ptrace::may_trace(k, &me, &target) {
            return err(libc::EACCES);
        }
        // A zombie has no memory left to show.
        let mm = target.mm().ok_or(Errno(libc::EIO))?;
        Ok(Arc::new(MemFile {
            mm,
            proc: Arc::downgrade(&target),
            stat: self.stat()?,
        }))
    }

    fn fs_id(&self) -> usize {
        self.dev as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

struct MemFile {
    mm: Arc<SharedMm>,
    proc: Weak<Process>,
    stat: Stat,
}

/// Splits `[addr, addr+len)` at page boundaries.
fn pages(addr: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = addr.checked_add(done as u64)?;
        let n = ((PAGE - at % PAGE) as usize).min(len - done);
        let item = (at, done, n);
        done += n;
        Some(item)
    })
}

impl FileOps for MemFile {
    /// Page by page: a read stops at the first page it cannot read, and
    /// fails with EIO only when that is the first.
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let mut got = 0;
        for (at, start, n) in pages(off, buf.len()) {
            if self.mm.read(at, &mut buf[start..start + n]).is_err() {
                break;
            }
            got += n;
        }
        if got == 0 && !buf.is_empty() {
            return err(libc::EIO);
        }
        Ok(got)
    }

    fn write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let data = buf.to_vec();
        if let Some(r) = self.write_stopped_tracee(&data, off) {
            return r;
        }
        let mut put = 0;
        for (at, start, n) in pages(off, buf.len()) {
            if self.mm.write(at, &buf[start..start + n]).is_err() {
                break;
            }
            put += n;
        }
        if put == 0 && !buf.is_empty() {
            return err(libc::EIO);
        }
        Ok(put)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }
}

impl MemFile {
    /// A write into a tracee of the writer that is stopped: forced through
    /// the page protections on the tracee's thread. None when there is no
    /// such thread.
    fn write_stopped_tracee(&self, data: &[u8], off: u64) -> Option<SysResult<usize>> {
        let target = self.proc.upgrade()?;
        let (me, _) = crate::kernel::thread::current()?;
        let thread = target.threads().into_iter().find(|t| {
            let st = lock(&t.ptrace);
            st.tracer == me.pid && st.stop.is_some()
        })?;
        let data = data.to_vec();
        let len = data.len();
        let r = ptrace::with_stopped(&thread, me.pid, move |t| {
            t.mm.write_force(&mut *t.ctx, off, &data)
        });
        Some(match r {
            Ok(Ok(())) => Ok(len),
            Ok(Err(_)) => err(libc::EIO),
            Err(e) => Err(e),
        })
    }
}
