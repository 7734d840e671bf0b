//! Flushing and caching hints: sync, syncfs, sync_file_range, fadvise64.
//! The Sentry keeps no dirty cache of its own beyond what a file's `sync`
//! flushes, so these validate their arguments as Linux does and then flush
//! (or, for hints, do nothing).

use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::task::Task;
use crate::vfs::FileType;

/// sync(): never fails. Host files are written through to the host as
/// they are written; tmpfs has nothing to flush.
pub fn sync(_t: &mut Task) -> SysResult<u64> {
    Ok(0)
}

/// syncfs(fd): flushes the file system `fd` is on; here, that file.
pub fn syncfs(t: &mut Task, a: Args) -> SysResult<u64> {
    t.file(a[0])?.ops.sync().map(|_| 0)
}

const SYNC_FILE_RANGE_ALL: u64 = 0x7;

/// sync_file_range(fd, offset, nbytes, flags).
pub fn sync_file_range(t: &mut Task, a: Args) -> SysResult<u64> {
    let (off, len) = (a[1] as i64, a[2] as i64);
    if a[3] & !SYNC_FILE_RANGE_ALL != 0 || off < 0 || len < 0 || off.checked_add(len).is_none() {
        return err(libc::EINVAL);
    }
    let f = t.file(a[0])?;
    // Linux refuses what has no pages of its own (pipes, sockets).
    match f.ops.stat()?.file_type() {
        FileType::Regular | FileType::Directory | FileType::Symlink | FileType::BlockDevice => {}
        _ => return err(libc::ESPIPE),
    }
    if a[3] & libc::SYNC_FILE_RANGE_WRITE as u64 != 0 {
        f.ops.sync()?;
    }
    Ok(0)
}

/// The highest advice number (POSIX_FADV_NOREUSE).
const FADV_MAX: u64 = 5;

/// fadvise64(fd, offset, len, advice): a hint the Sentry takes and ignores.
pub fn fadvise64(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    if f.ops.stat()?.file_type() == FileType::Fifo {
        return err(libc::ESPIPE);
    }
    if a[3] > FADV_MAX || (a[2] as i64) < 0 {
        return err(libc::EINVAL);
    }
    Ok(0)
}
