//! /proc/PID/mem: a process's address space as a file, the offset being
//! the address (what debuggers and checkpointers read and write).
//!
//! The file holds the address space it was opened on, weakly: once that
//! process has executed another program (or exited) the old space is gone
//! and reads and writes return 0, as Linux's mem_rw does when
//! mmget_not_zero fails. Reads and writes respect the mappings'
//! protections (Linux forces them, as ptrace does: a write into read-only
//! memory is EIO here), except a write into a stopped tracee of the
//! writer, which is forced through read-only text on the tracee's own
//! Sentry thread, like POKETEXT (gdb plants breakpoints with pwrite); an
//! unmapped address is EIO. Opening another process's takes the right to
//! trace it (kernel/ptrace's `may_trace`) and Linux's PTRACE_MODE_ATTACH
//! (`may_attach`: the same ids and dumpable).

use std::any::Any;
use std::sync::{Arc, Weak};

use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::{lock, Process};
use crate::kernel::ptrace;
use crate::mm::SharedMm;
use crate::vfs::{FileOps, FileType, Inode, OpenCtx, Stat};

/// The /proc/PID/mem inode of process `p`.
pub(super) fn mem_file(dev: u64, salt: u64, p: &Arc<Process>) -> Arc<dyn Inode> {
    Arc::new(MemInode {
        dev,
        ino: (salt << 8) | 0x6d,
        process: Arc::downgrade(p),
    })
}

struct MemInode {
    dev: u64,
    ino: u64,
    process: Weak<Process>,
}

impl Inode for MemInode {
    fn stat(&self) -> SysResult<Stat> {
        let mut st = Stat::synthetic(self.dev, self.ino, FileType::Regular, 0o600, 0);
        // The process's own while dumpable, root's otherwise (as every
        // /proc/PID file).
        if let Some(p) = self.process.upgrade() {
            let s = lock(&p.state);
            if s.dumpable {
                (st.uid, st.gid) = (s.creds.euid, s.creds.egid);
            }
        }
        Ok(st)
    }

    fn open(self: Arc<Self>, flags: i32, ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let p = self.process.upgrade().ok_or(Errno(libc::ESRCH))?;
        if ctx.pid != p.pid {
            let (me, _) = crate::kernel::thread::current().ok_or(Errno(libc::EACCES))?;
            let k = crate::kernel::get().ok_or(Errno(libc::ESRCH))?;
            if !may_attach(&p) || !ptrace::may_trace(k, &me, &p) {
                return err(libc::EACCES);
            }
        }
        let mm = p.mm().ok_or(Errno(libc::ESRCH))?;
        let execs = lock(&p.state).execs;
        Ok(Arc::new(MemFile {
            mm: Arc::downgrade(&mm),
            process: self.process.clone(),
            execs,
            stat: self.stat()?,
            writable: flags & libc::O_ACCMODE != libc::O_RDONLY,
        }))
    }

    fn fs_id(&self) -> usize {
        self.dev as usize
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// CAP_SYS_PTRACE (capability(7)).
const CAP_SYS_PTRACE: u32 = 19;

/// Linux's PTRACE_MODE_ATTACH for another process: the caller's ids match
/// all of the target's and the target is dumpable, or the caller holds
/// CAP_SYS_PTRACE.
fn may_attach(target: &Process) -> bool {
    let Some((cur, _)) = crate::kernel::thread::current() else {
        return false;
    };
    let me = lock(&cur.state).creds.clone();
    if me.has(CAP_SYS_PTRACE) {
        return true;
    }
    let (t, dumpable) = {
        let s = lock(&target.state);
        (s.creds.clone(), s.dumpable)
    };
    dumpable
        && [t.uid, t.euid, t.suid].iter().all(|&u| u == me.uid)
        && [t.gid, t.egid, t.sgid].iter().all(|&g| g == me.gid)
}

struct MemFile {
    mm: Weak<SharedMm>,
    /// The process and how many programs it had executed at open: exec
    /// reuses the memory manager, so the count tells the image changed.
    process: Weak<Process>,
    execs: u64,
    stat: Stat,
    writable: bool,
}

impl MemFile {
    /// The address space the file was opened on, while it still exists.
    fn live_mm(&self) -> Option<Arc<SharedMm>> {
        let p = self.process.upgrade()?;
        if lock(&p.state).execs != self.execs {
            return None;
        }
        self.mm.upgrade()
    }

    /// A write into a tracee of the writer that is stopped: forced through
    /// the page protections on the tracee's thread. None when there is no
    /// such thread.
    fn write_stopped_tracee(&self, data: &[u8], off: u64) -> Option<SysResult<usize>> {
        let target = self.process.upgrade()?;
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

impl FileOps for MemFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let Some(mm) = self.live_mm() else {
            return Ok(0);
        };
        copy_pages(off, buf.len(), |at, range| mm.read(at, &mut buf[range]))
    }

    fn write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        if !self.writable {
            return err(libc::EBADF);
        }
        let Some(mm) = self.live_mm() else {
            return Ok(0);
        };
        if let Some(r) = self.write_stopped_tracee(buf, off) {
            return r;
        }
        copy_pages(off, buf.len(), |at, range| mm.write(at, &buf[range]))
    }

    fn seekable(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }
}

/// Copies `len` bytes at address `addr` page by page with `copy(address,
/// buffer range)`: the bytes done before the first page that fails, or EIO
/// when the first one fails.
fn copy_pages(
    addr: u64,
    len: usize,
    mut copy: impl FnMut(u64, std::ops::Range<usize>) -> SysResult<()>,
) -> SysResult<usize> {
    const PAGE: u64 = 4096;
    let mut done = 0usize;
    while done < len {
        let at = addr.checked_add(done as u64).ok_or(Errno(libc::EIO))?;
        let n = ((PAGE - at % PAGE) as usize).min(len - done);
        if copy(at, done..done + n).is_err() {
            return if done > 0 { Ok(done) } else { err(libc::EIO) };
        }
        done += n;
    }
    Ok(done)
}
