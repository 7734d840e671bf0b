//! flock(2) and fcntl's record locks (F_GETLK/F_SETLK/F_SETLKW and the
//! open-file-description F_OFD_* forms) over `vfs::locks`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::locks::{self, Flavor, Lock, Owner};
use crate::vfs::OpenFile;

/// Whether any process ever took a POSIX record lock: until then, close
/// need not look for locks to drop.
static RECORD_LOCKS_USED: AtomicBool = AtomicBool::new(false);

fn identity(f: &OpenFile) -> SysResult<(u64, u64)> {
    let st = f.ops.stat()?;
    Ok((st.dev, st.ino))
}

pub fn flock(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let op = a[1] as i32;
    let nonblock = op & libc::LOCK_NB != 0;
    let write = match op & !libc::LOCK_NB {
        libc::LOCK_SH => false,
        libc::LOCK_EX => true,
        libc::LOCK_UN => {
            let file = identity(&f)?;
            locks::unlock(file, Flavor::Flock, Owner::File(f.id), 0, u64::MAX);
            return Ok(0);
        }
        _ => return err(libc::EINVAL),
    };
    let file = identity(&f)?;
    let want = Lock {
        owner: Owner::File(f.id),
        write,
        start: 0,
        end: u64::MAX,
    };
    f.locked.store(true, Ordering::Relaxed);
    // A conversion drops the old lock first, as Linux does.
    locks::unlock(file, Flavor::Flock, want.owner, 0, u64::MAX);
    take(t, file, Flavor::Flock, want, nonblock, libc::EWOULDBLOCK)
}

/// Takes `want`, waiting (unless `nonblock`) while another owner conflicts.
fn take(
    t: &mut Task,
    file: (u64, u64),
    flavor: Flavor,
    want: Lock,
    nonblock: bool,
    busy: i32,
) -> SysResult<u64> {
    match locks::try_set(file, flavor, want) {
        Ok(()) => return Ok(0),
        Err(e) if e.0 == libc::EAGAIN && !nonblock => {}
        Err(e) if e.0 == libc::EAGAIN => return err(busy),
        Err(e) => return Err(e),
    }
    t.block(None, None, |_| match locks::try_set(file, flavor, want) {
        Err(e) if e.0 == libc::EAGAIN => None,
        r => Some(r),
    })?
    .map(|_| 0)
}

/// `struct flock` as x86_64 lays it out.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Flock {
    l_type: i16,
    l_whence: i16,
    _pad: u32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    _pad2: u32,
}

/// The byte range a `struct flock` names, as [start, end).
fn range(f: &OpenFile, fl: &Flock) -> SysResult<(u64, u64)> {
    let base: i64 = match fl.l_whence as i32 {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => *lock(&f.pos) as i64,
        libc::SEEK_END => f.ops.stat()?.size as i64,
        _ => return err(libc::EINVAL),
    };
    let start = base.checked_add(fl.l_start).ok_or(Errno(libc::EOVERFLOW))?;
    let (start, end) = match fl.l_len {
        0 => (start, i64::MAX),
        len if len > 0 => (start, start.checked_add(len).ok_or(Errno(libc::EOVERFLOW))?),
        len => (start.checked_add(len).ok_or(Errno(libc::EINVAL))?, start),
    };
    if start < 0 {
        return err(libc::EINVAL);
    }
    let end = if end == i64::MAX {
        u64::MAX
    } else {
        end as u64
    };
    Ok((start as u64, end))
}

/// fcntl's lock commands.
pub fn fcntl_lock(t: &mut Task, f: &Arc<OpenFile>, cmd: i32, arg: u64) -> SysResult<u64> {
    let mut fl: Flock = t.mm.read_obj(arg)?;
    let ofd = matches!(
        cmd,
        libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW
    );
    if ofd && fl.l_pid != 0 {
        return err(libc::EINVAL);
    }
    let owner = if ofd {
        Owner::File(f.id)
    } else {
        Owner::Process(t.pid())
    };
    let (start, end) = range(f, &fl)?;
    let file = identity(f)?;
    let write = match fl.l_type as i32 {
        libc::F_RDLCK => false,
        libc::F_WRLCK => true,
        libc::F_UNLCK if !matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) => {
            locks::unlock(file, Flavor::Record, owner, start, end);
            return Ok(0);
        }
        _ => return err(libc::EINVAL),
    };
    let want = Lock {
        owner,
        write,
        start,
        end,
    };
    if matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) {
        match locks::conflict(file, Flavor::Record, &want) {
            None => fl.l_type = libc::F_UNLCK as i16,
            Some(c) => {
                fl.l_type = if c.write {
                    libc::F_WRLCK
                } else {
                    libc::F_RDLCK
                } as i16;
                fl.l_whence = libc::SEEK_SET as i16;
                fl.l_start = c.start as i64;
                fl.l_len = if c.end == u64::MAX {
                    0
                } else {
                    (c.end - c.start) as i64
                };
                fl.l_pid = match c.owner {
                    Owner::Process(pid) => pid,
                    Owner::File(_) => -1,
                };
            }
        }
        t.mm.write_obj(arg, &fl)?;
        return Ok(0);
    }
    // A lock needs the matching access mode.
    if (write && !f.writable()) || (!write && !f.readable()) {
        return err(libc::EBADF);
    }
    if ofd {
        f.locked.store(true, Ordering::Relaxed);
    } else {
        RECORD_LOCKS_USED.store(true, Ordering::Relaxed);
    }
    let nonblock = matches!(cmd, libc::F_SETLK | libc::F_OFD_SETLK);
    take(t, file, Flavor::Record, want, nonblock, libc::EAGAIN)
}

/// A process closing any descriptor of a file drops all its POSIX record
/// locks on that file (POSIX's rule, which OFD locks were made to avoid).
pub fn closed(pid: i32, f: &OpenFile) {
    if RECORD_LOCKS_USED.load(Ordering::Relaxed) {
        if let Ok(file) = identity(f) {
            locks::release(Owner::Process(pid), Some(file));
        }
    }
}
