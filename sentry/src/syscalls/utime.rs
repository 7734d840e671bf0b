//! The older ways of setting a file's times: utime (whole seconds),
//! utimes and futimesat (microseconds). All end in utimensat's core; a NULL
//! times pointer means "now" for both, as it does there.

use super::fs::set_times;
use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::task::Task;

/// utime(path, struct utimbuf *): times in whole seconds.
pub fn utime(t: &mut Task, a: Args) -> SysResult<u64> {
    let (at, mt) = if a[1] == 0 {
        let now = crate::vfs::stat::now();
        (now, now)
    } else {
        let secs: [i64; 2] = t.mm.read_obj(a[1])?;
        (
            libc::timespec {
                tv_sec: secs[0],
                tv_nsec: 0,
            },
            libc::timespec {
                tv_sec: secs[1],
                tv_nsec: 0,
            },
        )
    };
    with_path(t, libc::AT_FDCWD as u64, a[0], at, mt)
}

/// utimes(path, struct timeval[2]).
pub fn utimes(t: &mut Task, a: Args) -> SysResult<u64> {
    futimesat(t, [libc::AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// futimesat(dirfd, path, struct timeval[2]).
pub fn futimesat(t: &mut Task, a: Args) -> SysResult<u64> {
    let (at, mt) = if a[2] == 0 {
        let now = crate::vfs::stat::now();
        (now, now)
    } else {
        let tv: [libc::timeval; 2] = t.mm.read_obj(a[2])?;
        (to_timespec(tv[0])?, to_timespec(tv[1])?)
    };
    with_path(t, a[0], a[1], at, mt)
}

/// A timeval as a timespec; microseconds outside [0, 1e6) are EINVAL.
fn to_timespec(tv: libc::timeval) -> SysResult<libc::timespec> {
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return err(libc::EINVAL);
    }
    Ok(libc::timespec {
        tv_sec: tv.tv_sec,
        tv_nsec: tv.tv_usec * 1000,
    })
}

/// These calls always name a path (NULL is EFAULT, unlike utimensat's
/// "the descriptor itself") and follow a final symbolic link.
fn with_path(
    t: &mut Task,
    dirfd: u64,
    path: u64,
    at: libc::timespec,
    mt: libc::timespec,
) -> SysResult<u64> {
    if path == 0 {
        return err(libc::EFAULT);
    }
    set_times(t, dirfd, path, true, Some(at), Some(mt))
}
