//! inotify_init1, inotify_add_watch, inotify_rm_watch (the events
//! themselves come from fs/inotify.rs, fed by the file system calls).

use super::fs::check_access;
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::inotify::{self, Inotify};
use crate::kernel::task::Task;
use crate::vfs::OpenFile;

pub fn inotify_init1(t: &mut Task, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !(libc::IN_NONBLOCK | libc::IN_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let f = OpenFile::new(
        Inotify::new(),
        None,
        "anon_inode:inotify".into(),
        libc::O_RDONLY | (flags & libc::O_NONBLOCK),
    );
    t.install(f, flags & libc::IN_CLOEXEC != 0)
}

pub fn inotify_add_watch(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let mask = a[2] as u32;
    let i = Inotify::of(&*f.ops).ok_or(Errno(libc::EINVAL))?;
    if mask & !inotify::VALID != 0
        || mask & inotify::ALL_EVENTS == 0
        || (mask & inotify::IN_MASK_ADD != 0 && mask & inotify::IN_MASK_CREATE != 0)
    {
        return err(libc::EINVAL);
    }
    let path = t.path_arg(a[1])?;
    let follow = mask & inotify::IN_DONT_FOLLOW == 0;
    let loc = t.lookup_at(libc::AT_FDCWD as u64, &path, follow)?;
    // Watching needs read permission on the file, as on Linux.
    check_access(t, &loc.inode.stat()?, 4)?;
    i.add_watch(&*loc.inode, mask).map(|wd| wd as u64)
}

pub fn inotify_rm_watch(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let i = Inotify::of(&*f.ops).ok_or(Errno(libc::EINVAL))?;
    i.rm_watch(a[1] as i32).map(|_| 0)
}
