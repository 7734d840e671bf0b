//! The virtual file system: inodes and open file descriptions that every
//! file system implements, path resolution over the sandbox's mount table,
//! and the descriptor table.
//!
//! Paths are resolved by the Sentry one component at a time: "..", symbolic
//! links and mount points are all decided here, against the sandbox's own
//! root, so no host path walk ever sees more than a single name.

pub mod fd_table;
pub mod file;
pub mod locks;
pub mod mount;
pub mod path;
pub mod stat;

use std::any::Any;
use std::sync::Arc;

pub use fd_table::FdTable;
pub use file::{FileOps, OpenFile};
pub use mount::Mounts;
pub use path::{Location, Resolver};
pub use stat::{DirEntry, FileType, Stat};

use crate::errno::{err, SysResult};

/// Who opens a file: what /proc needs to answer for the caller.
pub struct OpenCtx<'a> {
    pub pid: i32,
    pub mm: &'a crate::mm::SharedMm,
}

/// Who is creating a file: its owner and the mode after the umask.
#[derive(Clone, Copy, Debug)]
pub struct Create {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A file, directory or other object in some file system.
pub trait Inode: Send + Sync + Any {
    fn stat(&self) -> SysResult<Stat>;

    /// Opens an open file description (`flags` are the O_* flags).
    fn open(self: Arc<Self>, flags: i32, ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>>;

    fn lookup(&self, _name: &str) -> SysResult<Arc<dyn Inode>> {
        err(libc::ENOTDIR)
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        err(libc::ENOTDIR)
    }
    fn readlink(&self) -> SysResult<String> {
        err(libc::EINVAL)
    }
    /// Creates a regular file `name` in this directory.
    fn create(&self, _name: &str, _c: Create) -> SysResult<Arc<dyn Inode>> {
        err(libc::EROFS)
    }
    fn mkdir(&self, _name: &str, _c: Create) -> SysResult<()> {
        err(libc::EROFS)
    }
    fn symlink(&self, _name: &str, _target: &str, _c: Create) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Creates a special file `name` (a socket or a FIFO) in this directory.
    fn mknod(&self, _name: &str, _ftype: FileType, _c: Create) -> SysResult<()> {
        err(libc::EPERM)
    }
    fn unlink(&self, _name: &str) -> SysResult<()> {
        err(libc::EROFS)
    }
    fn rmdir(&self, _name: &str) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Renames `old` in this directory to `new` in `new_dir` (same file system).
    fn rename(&self, _old: &str, _new_dir: &dyn Inode, _new: &str) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Swaps `old` in this directory with `new` in `new_dir` (same file
    /// system; renameat2's RENAME_EXCHANGE). Both must exist.
    fn exchange(&self, _old: &str, _new_dir: &dyn Inode, _new: &str) -> SysResult<()> {
        err(libc::EINVAL)
    }
    /// Makes `name` in this directory a new link to `target`.
    fn link(&self, _name: &str, _target: &Arc<dyn Inode>) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Creates an unnamed regular file on this directory's file system
    /// (open's O_TMPFILE); `linkable` says whether linkat may name it later.
    fn tmpfile(&self, _c: Create, _linkable: bool) -> SysResult<Arc<dyn Inode>> {
        err(libc::EOPNOTSUPP)
    }
    /// A magic link (/proc/PID/fd/N): the file it stands for, with its
    /// path, which path resolution enters directly instead of reading
    /// the link's text.
    fn magic_target(&self) -> Option<(String, Arc<dyn Inode>)> {
        None
    }
    fn chmod(&self, _mode: u32) -> SysResult<()> {
        err(libc::EROFS)
    }
    fn chown(&self, _uid: Option<u32>, _gid: Option<u32>) -> SysResult<()> {
        err(libc::EROFS)
    }
    fn truncate(&self, _len: u64) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Sets access and modification times (None leaves one unchanged).
    fn set_times(
        &self,
        _atime: Option<libc::timespec>,
        _mtime: Option<libc::timespec>,
    ) -> SysResult<()> {
        err(libc::EROFS)
    }
    /// Extended attributes. The system call layer checks names, sizes and
    /// permissions; a file system decides which namespaces it keeps.
    /// Without any, Linux says EOPNOTSUPP (and lists nothing).
    fn getxattr(&self, _name: &str) -> SysResult<Vec<u8>> {
        err(libc::EOPNOTSUPP)
    }
    /// `flags`: XATTR_CREATE or XATTR_REPLACE, or 0.
    fn setxattr(&self, _name: &str, _value: &[u8], _flags: i32) -> SysResult<()> {
        err(libc::EOPNOTSUPP)
    }
    fn listxattr(&self) -> SysResult<Vec<String>> {
        Ok(Vec::new())
    }
    fn removexattr(&self, _name: &str) -> SysResult<()> {
        err(libc::EOPNOTSUPP)
    }
    /// statfs figures of the file system, when it has its own (host file
    /// systems, tmpfs); None: the system call layer fills in generic ones.
    fn statfs(&self) -> Option<stat::FsStat> {
        None
    }
    /// Identifies the file system, so rename and link across them fail with EXDEV.
    fn fs_id(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
}
