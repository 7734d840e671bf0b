//! Positional scatter/gather I/O: preadv, pwritev, and their "2" variants
//! with per-call RWF_* flags and offset -1 meaning "the file position".

use super::file::{iovecs, read_to_user, write_from_user_with};
use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;

const RWF_HIPRI: u64 = 0x1;
const RWF_DSYNC: u64 = 0x2;
const RWF_SYNC: u64 = 0x4;
const RWF_NOWAIT: u64 = 0x8;
const RWF_APPEND: u64 = 0x10;
/// What the Sentry implements; other flags (RWF_NOAPPEND, RWF_ATOMIC,
/// RWF_DONTCACHE, unknown bits) are EOPNOTSUPP, as Linux answers for flags
/// it or the file does not support.
const RWF_KNOWN: u64 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;

/// preadv(fd, iov, iovcnt, pos_l, pos_h): on x86_64 `pos_l` is the whole
/// offset.
pub fn preadv(t: &mut Task, a: Args) -> SysResult<u64> {
    if (a[3] as i64) < 0 {
        return err(libc::EINVAL);
    }
    read(t, a, 0)
}

pub fn pwritev(t: &mut Task, a: Args) -> SysResult<u64> {
    if (a[3] as i64) < 0 {
        return err(libc::EINVAL);
    }
    write(t, a, 0)
}

/// preadv2(fd, iov, iovcnt, pos_l, pos_h, flags).
pub fn preadv2(t: &mut Task, a: Args) -> SysResult<u64> {
    if (a[3] as i64) < -1 {
        return err(libc::EINVAL);
    }
    read(t, a, a[5])
}

pub fn pwritev2(t: &mut Task, a: Args) -> SysResult<u64> {
    if (a[3] as i64) < -1 {
        return err(libc::EINVAL);
    }
    write(t, a, a[5])
}

/// The offset argument: -1 (only the "2" variants get here with it) is
/// the file position, anything else a position on a seekable file.
fn offset(f: &crate::vfs::OpenFile, off: u64) -> SysResult<Option<u64>> {
    if off as i64 == -1 {
        return Ok(None);
    }
    if !f.ops.seekable() {
        return err(libc::ESPIPE);
    }
    Ok(Some(off))
}

fn read(t: &mut Task, a: Args, flags: u64) -> SysResult<u64> {
    if flags & !RWF_KNOWN != 0 {
        return err(libc::EOPNOTSUPP);
    }
    let f = t.file(a[0])?;
    if !f.readable() {
        return err(libc::EBADF);
    }
    let off = offset(&f, a[3])?;
    let iov = iovecs(t, a[1], a[2])?;
    let nonblock = f.nonblocking() || flags & RWF_NOWAIT != 0;
    read_to_user(t, &f, &iov, off, nonblock)
}

fn write(t: &mut Task, a: Args, flags: u64) -> SysResult<u64> {
    if flags & !RWF_KNOWN != 0 {
        return err(libc::EOPNOTSUPP);
    }
    let f = t.file(a[0])?;
    if !f.writable() {
        return err(libc::EBADF);
    }
    let mut off = offset(&f, a[3])?;
    let iov = iovecs(t, a[1], a[2])?;
    let nonblock = f.nonblocking() || flags & RWF_NOWAIT != 0;
    // RWF_APPEND, like O_APPEND, writes at the end whatever the offset; the
    // file position moves only when the call uses it (offset -1).
    let append = flags & RWF_APPEND != 0 && f.ops.seekable();
    let positioned = off.is_none();
    if append {
        off = Some(f.ops.stat()?.size);
    }
    let n = write_from_user_with(t, &f, &iov, off, nonblock)?;
    if append && positioned {
        if let Some(o) = off {
            *lock(&f.pos) = o + n;
        }
    }
    if flags & (RWF_DSYNC | RWF_SYNC) != 0 && n > 0 {
        f.ops.sync()?;
    }
    Ok(n)
}
