//! The host file system, reached only through confined openers: every host
//! walk is a single name below a directory descriptor, opened with openat2
//! and RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS, so no
//! host path resolution ever follows a link or leaves the directory. ".."
//! and symbolic links are resolved by the Sentry (vfs::path), inside the
//! sandbox's own root.

use std::any::Any;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use super::host_cache;
use crate::errno::{err, last, Errno, SysResult};
use crate::mm::Mappable;
use crate::vfs::{Create, DirEntry, FileOps, FileType, Inode, OpenCtx, Stat};

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

fn cname(name: &str) -> SysResult<CString> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return err(libc::EINVAL);
    }
    CString::new(name).map_err(|_| Errno(libc::EINVAL))
}

/// openat2 of one name below `dir`, never following links.
fn open_beneath(dir: RawFd, name: &str, flags: i32, mode: u32) -> SysResult<OwnedFd> {
    let c = cname(name)?;
    let how = OpenHow {
        flags: (flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 {
            mode as u64
        } else {
            0
        },
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: openat2 reads the NUL-terminated name and the open_how struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return last();
    }
    // SAFETY: the kernel returned a new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Linux's limits on one attribute's value and on a file's list of names.
const XATTR_SIZE_MAX: usize = 65536;
const XATTR_LIST_MAX: usize = 65536;

fn check(r: libc::c_int) -> SysResult<()> {
    if r < 0 {
        last()
    } else {
        Ok(())
    }
}

/// A host file a host mount starts at, opened while host paths can still
/// be opened: a directory's O_PATH descriptor, or a file's directory and
/// its name there (a file's own O_PATH descriptor cannot tell its parent,
/// which some operations need).
pub enum HandedFile {
    Dir(OwnedFd),
    File { dir: OwnedFd, name: String },
}

impl HandedFile {
    pub fn open(path: &std::path::Path) -> std::io::Result<HandedFile> {
        let open_dir = |p: &std::path::Path| -> std::io::Result<OwnedFd> {
            let fd = nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            // SAFETY: fresh descriptor from open.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        if std::fs::symlink_metadata(path)?.is_dir() {
            return open_dir(path).map(HandedFile::Dir);
        }
        let invalid = || std::io::Error::from_raw_os_error(libc::EINVAL);
        let dir = path.parent().ok_or_else(invalid)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(invalid)?;
        Ok(HandedFile::File {
            dir: open_dir(dir)?,
            name: name.to_string(),
        })
    }
}

/// A host file system instance (the root, or one bind mount).
pub struct HostFs {
    id: usize,
    readonly: bool,
}

/// One host file, held by an O_PATH descriptor.
pub struct HostInode {
    fs: Arc<HostFs>,
    /// Shared with the inodes looked up below it (their `parent`).
    fd: Arc<OwnedFd>,
    /// The directory it was found in and its name there (None for a mount root
    /// that is a directory), for operations O_PATH descriptors cannot do.
    parent: Option<(Arc<OwnedFd>, String)>,
    /// For the node /proc/PID/fd/N enters: the open description's host
    /// descriptor and its flags, so the file can be reopened once its name
    /// is gone (reopening by name would fail, and the jail has neither
    /// /proc nor open_by_handle_at).
    described: Option<(Arc<OwnedFd>, i32)>,
    /// What never changes for the file `fd` holds: its type, device and
    /// inode number. Noted by the first stat, so that opening the file
    /// does not stat it again and again (mode, size and times are always
    /// asked afresh).
    ident: OnceLock<Ident>,
}

/// A host file's type, device and inode number.
#[derive(Clone, Copy)]
struct Ident {
    ftype: FileType,
    key: (u64, u64),
}

impl HostInode {
    /// Opens a host path as the root of a host mount (before the jail).
    pub fn open_root(path: &std::path::Path, readonly: bool) -> std::io::Result<Arc<HostInode>> {
        HostInode::from_handed(HandedFile::open(path)?, readonly)
    }

    /// The root of a host mount from descriptors opened outside the jail
    /// (by this process before it, or by the runtime for a container that
    /// joins a running sandbox).
    pub fn from_handed(file: HandedFile, readonly: bool) -> std::io::Result<Arc<HostInode>> {
        let fs = Arc::new(HostFs {
            id: super::new_fs_id(),
            readonly,
        });
        let (fd, parent) = match file {
            HandedFile::Dir(fd) => (fd, None),
            HandedFile::File { dir, name } => {
                let fd = open_beneath(dir.as_raw_fd(), &name, libc::O_PATH, 0)
                    .map_err(|e| std::io::Error::from_raw_os_error(e.0))?;
                (fd, Some((Arc::new(dir), name)))
            }
        };
        Ok(Arc::new(HostInode {
            fs,
            fd: Arc::new(fd),
            parent,
            described: None,
            ident: OnceLock::new(),
        }))
    }

    fn writable(&self) -> SysResult<()> {
        if self.fs.readonly {
            err(libc::EROFS)
        } else {
            Ok(())
        }
    }

    fn dir_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The file's type and identity: from the first stat, or one now.
    fn ident(&self) -> SysResult<Ident> {
        match self.ident.get() {
            Some(id) => Ok(*id),
            None => self.stat().map(|st| Ident {
                ftype: st.file_type(),
                key: (st.dev, st.ino),
            }),
        }
    }

    /// Opens this file for I/O with `flags`.
    fn reopen(&self, flags: i32) -> SysResult<OwnedFd> {
        if self.ident()?.ftype == FileType::Directory {
            let fd = nix::fcntl::openat(
                Some(self.dir_fd()),
                ".",
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            // SAFETY: fresh descriptor from openat.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if self.is_tmpfile() {
            // Held open read-write since O_TMPFILE; the description's
            // flags decide what the workload may do with it.
            let fd = nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(0))?;
            // SAFETY: fresh descriptor from F_DUPFD_CLOEXEC.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            if flags & libc::O_TRUNC != 0 {
                nix::unistd::ftruncate(&fd, 0)?;
            }
            return Ok(fd);
        }
        let (dir, name) = self.parent.as_ref().ok_or(Errno(libc::EIO))?;
        let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_TRUNC;
        match open_beneath(dir.as_raw_fd(), name, flags & keep, 0) {
            // The name is gone (or names another file now): the open
            // description still reaches the file.
            Ok(fd) if !self.is_same_file(&fd) => self.reopen_described(flags).or(Ok(fd)),
            Err(e) if e.0 == libc::ENOENT => self.reopen_described(flags).map_err(|_| e),
            r => r,
        }
    }

    fn is_same_file(&self, fd: &OwnedFd) -> bool {
        let key = nix::sys::stat::fstat(fd.as_raw_fd()).map(|s| (s.st_dev, s.st_ino));
        matches!((key, self.ident()), (Ok(a), Ok(b)) if a == b.key)
    }

    /// A new descriptor of the open description behind a /proc/PID/fd
    /// node, if it serves `flags`: reading from any readable description,
    /// writing only with the description's own access mode and O_APPEND
    /// (they are the host descriptor's); never O_TRUNC. Positions are the
    /// Sentry's (pread/pwrite), so sharing the host description is safe.
    fn reopen_described(&self, flags: i32) -> SysResult<OwnedFd> {
        let (fd, had) = self.described.as_ref().ok_or(Errno(libc::ENOENT))?;
        let (want, have) = (flags & libc::O_ACCMODE, had & libc::O_ACCMODE);
        let serves = if want == libc::O_RDONLY {
            have != libc::O_WRONLY
        } else {
            want == have && (flags ^ had) & libc::O_APPEND == 0
        };
        if !serves || flags & libc::O_TRUNC != 0 {
            return err(libc::ENOENT);
        }
        let dup = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(0))?;
        // SAFETY: fresh descriptor from F_DUPFD_CLOEXEC.
        Ok(unsafe { OwnedFd::from_raw_fd(dup) })
    }

    /// The node /proc/PID/fd/N of a rootfs file's open description enters:
    /// the file, reopenable even once its last name is gone.
    pub fn reopenable(f: &crate::vfs::OpenFile) -> Option<Arc<dyn Inode>> {
        let inode = f.inode.as_ref()?.as_any().downcast_ref::<HostInode>()?;
        let file = f.ops.as_any()?.downcast_ref::<HostFile>()?;
        Some(Arc::new(HostInode {
            fs: inode.fs.clone(),
            fd: inode.fd.clone(),
            parent: inode.parent.clone(),
            described: Some((file.fd.clone(), f.flags())),
            ident: inode.ident.clone(),
        }))
    }

    /// Creates a regular file, socket or FIFO `name` (`kind` is its S_IF*
    /// bits) beneath this directory, owned as `c` says.
    fn make_node(&self, name: &str, kind: u32, c: Create) -> SysResult<()> {
        self.writable()?;
        let n = cname(name)?;
        // SAFETY: mknodat with a NUL-terminated single name, no device number.
        check(unsafe { libc::mknodat(self.dir_fd(), n.as_ptr(), kind | (c.mode & 0o7777), 0) })?;
        self.give_to(&n, c);
        Ok(())
    }

    /// Hands a new entry to its creator; best effort, like a rootless runtime.
    fn give_to(&self, n: &CString, c: Create) {
        // SAFETY: fchownat on a NUL-terminated name beneath our directory,
        // without following a symlink.
        unsafe {
            libc::fchownat(
                self.dir_fd(),
                n.as_ptr(),
                c.uid,
                c.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
    }

    /// An O_TMPFILE file: a regular file known by its descriptor only
    /// (a mount root that is a file keeps its parent).
    fn is_tmpfile(&self) -> bool {
        self.parent.is_none() && self.ident().is_ok_and(|id| id.ftype != FileType::Directory)
    }

    /// A descriptor extended attributes can be read and written through
    /// (O_PATH ones cannot): the file itself, opened read-only beneath its
    /// directory. Only regular files and directories carry user.
    /// attributes (Linux: EPERM for the others).
    fn xattr_fd(&self) -> SysResult<OwnedFd> {
        match self.stat()?.file_type() {
            FileType::Regular | FileType::Directory => self.reopen(libc::O_RDONLY),
            _ => err(libc::EPERM),
        }
    }

    fn parent_op(&self) -> SysResult<(RawFd, CString)> {
        let (dir, name) = self.parent.as_ref().ok_or(Errno(libc::EBUSY))?;
        Ok((dir.as_raw_fd(), cname(name)?))
    }
}

impl Inode for HostInode {
    fn stat(&self) -> SysResult<Stat> {
        // SAFETY: libc::stat is plain data.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstatat on our descriptor with an empty path fills `st`.
        check(unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                &mut st,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        let stat = Stat::from_host(&st);
        let _ = self.ident.set(Ident {
            ftype: stat.file_type(),
            key: (stat.dev, stat.ino),
        });
        Ok(stat)
    }

    fn open(self: Arc<Self>, flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let id = self.ident()?;
        match id.ftype {
            FileType::Directory => Ok(Arc::new(HostDir { inode: self })),
            FileType::Regular => {
                if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
                    self.writable()?;
                }
                Ok(Arc::new(HostFile {
                    fd: Arc::new(self.reopen(flags)?),
                    key: id.key,
                }))
            }
            // Host devices, fifos and sockets are never opened for the workload.
            _ => err(libc::EACCES),
        }
    }

    fn lookup(&self, name: &str) -> SysResult<Arc<dyn Inode>> {
        let fd = open_beneath(self.dir_fd(), name, libc::O_PATH, 0)?;
        let dir = self.fd.clone();
        Ok(Arc::new(HostInode {
            fs: self.fs.clone(),
            fd: Arc::new(fd),
            parent: Some((dir, name.to_string())),
            described: None,
            ident: OnceLock::new(),
        }))
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let fd = nix::fcntl::openat(
            Some(self.dir_fd()),
            ".",
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let mut dir = nix::dir::Dir::from_fd(fd)?;
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            // The VFS adds "." and ".." itself.
            if name == "." || name == ".." {
                continue;
            }
            let ftype = match e.file_type() {
                Some(nix::dir::Type::Directory) => FileType::Directory,
                Some(nix::dir::Type::Symlink) => FileType::Symlink,
                Some(nix::dir::Type::CharacterDevice) => FileType::CharDevice,
                Some(nix::dir::Type::BlockDevice) => FileType::BlockDevice,
                Some(nix::dir::Type::Fifo) => FileType::Fifo,
                Some(nix::dir::Type::Socket) => FileType::Socket,
                _ => FileType::Regular,
            };
            out.push(DirEntry {
                name,
                ino: e.ino(),
                ftype,
            });
        }
        Ok(out)
    }

    fn readlink(&self) -> SysResult<String> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: readlinkat writes at most buf.len() bytes.
        let n = unsafe {
            libc::readlinkat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
            )
        };
        if n < 0 {
            // With an empty path the host answers ENOENT for a descriptor
            // that is not a symlink; readlink(2) on such a path is EINVAL.
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::ENOENT) {
                return err(libc::EINVAL);
            }
            return last();
        }
        buf.truncate(n as usize);
        String::from_utf8(buf).map_err(|_| Errno(libc::EINVAL))
    }

    fn create(&self, name: &str, c: Create) -> SysResult<Arc<dyn Inode>> {
        self.make_node(name, libc::S_IFREG, c)?;
        self.lookup(name)
    }

    fn mknod(&self, name: &str, ftype: FileType, c: Create) -> SysResult<()> {
        if !matches!(ftype, FileType::Socket | FileType::Fifo) {
            return err(libc::EPERM);
        }
        self.make_node(name, ftype.mode_bits(), c)
    }

    fn mkdir(&self, name: &str, c: Create) -> SysResult<()> {
        self.writable()?;
        let n = cname(name)?;
        // SAFETY: mkdirat with a NUL-terminated name.
        check(unsafe { libc::mkdirat(self.dir_fd(), n.as_ptr(), c.mode & 0o7777) })?;
        self.give_to(&n, c);
        Ok(())
    }

    fn symlink(&self, name: &str, target: &str, c: Create) -> SysResult<()> {
        self.writable()?;
        let n = cname(name)?;
        let t = CString::new(target).map_err(|_| Errno(libc::EINVAL))?;
        // SAFETY: symlinkat with NUL-terminated strings; the target is stored, not followed.
        check(unsafe { libc::symlinkat(t.as_ptr(), self.dir_fd(), n.as_ptr()) })?;
        self.give_to(&n, c);
        Ok(())
    }

    fn unlink(&self, name: &str) -> SysResult<()> {
        self.writable()?;
        let n = cname(name)?;
        // SAFETY: unlinkat with a NUL-terminated name.
        check(unsafe { libc::unlinkat(self.dir_fd(), n.as_ptr(), 0) })
    }

    fn rmdir(&self, name: &str) -> SysResult<()> {
        self.writable()?;
        let n = cname(name)?;
        // SAFETY: unlinkat with a NUL-terminated name.
        check(unsafe { libc::unlinkat(self.dir_fd(), n.as_ptr(), libc::AT_REMOVEDIR) })
    }

    fn rename(&self, old: &str, new_dir: &dyn Inode, new: &str) -> SysResult<()> {
        self.writable()?;
        let to = new_dir
            .as_any()
            .downcast_ref::<HostInode>()
            .ok_or(Errno(libc::EXDEV))?;
        let (o, n) = (cname(old)?, cname(new)?);
        // SAFETY: renameat with NUL-terminated names below our descriptors.
        check(unsafe { libc::renameat(self.dir_fd(), o.as_ptr(), to.dir_fd(), n.as_ptr()) })
    }

    fn exchange(&self, old: &str, new_dir: &dyn Inode, new: &str) -> SysResult<()> {
        self.writable()?;
        let to = new_dir
            .as_any()
            .downcast_ref::<HostInode>()
            .ok_or(Errno(libc::EXDEV))?;
        let (o, n) = (cname(old)?, cname(new)?);
        // SAFETY: renameat2 with NUL-terminated single names below our
        // descriptors; RENAME_EXCHANGE follows no link.
        check(unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                self.dir_fd(),
                o.as_ptr(),
                to.dir_fd(),
                n.as_ptr(),
                libc::RENAME_EXCHANGE,
            ) as libc::c_int
        })
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> SysResult<()> {
        self.writable()?;
        let t = target
            .as_any()
            .downcast_ref::<HostInode>()
            .ok_or(Errno(libc::EXDEV))?;
        let n = cname(name)?;
        if t.parent.is_none() {
            // An O_TMPFILE file: link the descriptor itself (the host
            // refuses one opened with O_EXCL, as Linux must).
            // SAFETY: linkat of our own descriptor (AT_EMPTY_PATH) to a
            // NUL-terminated single name below our directory.
            return check(unsafe {
                libc::linkat(
                    t.fd.as_raw_fd(),
                    c"".as_ptr(),
                    self.dir_fd(),
                    n.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            });
        }
        let (tdir, tname) = t.parent_op()?;
        // SAFETY: linkat with NUL-terminated names below our descriptors.
        check(unsafe { libc::linkat(tdir, tname.as_ptr(), self.dir_fd(), n.as_ptr(), 0) })
    }

    fn tmpfile(&self, c: Create, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        self.writable()?;
        let excl = if linkable { 0 } else { libc::O_EXCL };
        let how = OpenHow {
            flags: (libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC | excl) as u64,
            mode: (c.mode & 0o7777) as u64,
            resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
        };
        // SAFETY: openat2 of "." (this very directory) with an open_how
        // struct; nothing is resolved beyond the directory itself.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.dir_fd(),
                c".".as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return last();
        }
        // SAFETY: the kernel returned a new descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        // SAFETY: fchownat of our own new descriptor; best effort, as give_to.
        unsafe {
            libc::fchownat(
                fd.as_raw_fd(),
                c"".as_ptr(),
                c.uid,
                c.gid,
                libc::AT_EMPTY_PATH,
            )
        };
        Ok(Arc::new(HostInode {
            fs: self.fs.clone(),
            fd: Arc::new(fd),
            parent: None,
            described: None,
            ident: OnceLock::new(),
        }))
    }

    fn chmod(&self, mode: u32) -> SysResult<()> {
        self.writable()?;
        if self.is_tmpfile() {
            // SAFETY: fchmod of the O_TMPFILE descriptor we hold.
            return check(unsafe { libc::fchmod(self.fd.as_raw_fd(), mode & 0o7777) });
        }
        let (dir, name) = self.parent_op()?;
        // SAFETY: fchmodat with a NUL-terminated name.
        check(unsafe { libc::fchmodat(dir, name.as_ptr(), mode & 0o7777, 0) })
    }

    fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
        self.writable()?;
        let u = uid.unwrap_or(u32::MAX);
        let g = gid.unwrap_or(u32::MAX);
        // SAFETY: fchownat on our O_PATH descriptor with an empty path.
        check(unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                u,
                g,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    fn truncate(&self, len: u64) -> SysResult<()> {
        self.writable()?;
        if self.is_tmpfile() {
            return Ok(nix::unistd::ftruncate(&*self.fd, len as i64)?);
        }
        let fd = self.reopen(libc::O_WRONLY)?;
        // SAFETY: ftruncate on a descriptor we own.
        check(unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) })?;
        let st = self.stat()?;
        crate::mm::image_cache::forget(st.dev, st.ino);
        if let Some(cache) = host_cache::lookup((st.dev, st.ino)) {
            cache.truncated(len);
        }
        Ok(())
    }

    fn set_times(
        &self,
        atime: Option<libc::timespec>,
        mtime: Option<libc::timespec>,
    ) -> SysResult<()> {
        self.writable()?;
        let omit = libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        };
        let times = [atime.unwrap_or(omit), mtime.unwrap_or(omit)];
        if self.is_tmpfile() {
            // SAFETY: utimensat with a null path sets the times of the
            // descriptor itself (futimens).
            return check(unsafe {
                libc::utimensat(self.fd.as_raw_fd(), std::ptr::null(), times.as_ptr(), 0)
            });
        }
        let (dir, name) = self.parent_op()?;
        // SAFETY: utimensat with a NUL-terminated name and two timespecs.
        check(unsafe {
            libc::utimensat(
                dir,
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    fn getxattr(&self, name: &str) -> SysResult<Vec<u8>> {
        if !name.starts_with("user.") {
            return err(libc::ENODATA);
        }
        let fd = self.xattr_fd()?;
        let n = CString::new(name).map_err(|_| Errno(libc::EINVAL))?;
        let mut buf = vec![0u8; XATTR_SIZE_MAX];
        // SAFETY: fgetxattr on our descriptor writes at most buf.len() bytes.
        let r = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                n.as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if r < 0 {
            return last();
        }
        buf.truncate(r as usize);
        Ok(buf)
    }

    fn setxattr(&self, name: &str, value: &[u8], flags: i32) -> SysResult<()> {
        self.writable()?;
        if !name.starts_with("user.") {
            return err(libc::EOPNOTSUPP);
        }
        let fd = self.xattr_fd()?;
        let n = CString::new(name).map_err(|_| Errno(libc::EINVAL))?;
        // SAFETY: fsetxattr on our descriptor reads value.len() bytes.
        check(unsafe {
            libc::fsetxattr(
                fd.as_raw_fd(),
                n.as_ptr(),
                value.as_ptr() as *const libc::c_void,
                value.len(),
                flags,
            )
        })
    }

    fn listxattr(&self) -> SysResult<Vec<String>> {
        let ftype = self.stat()?.file_type();
        if !matches!(ftype, FileType::Regular | FileType::Directory) {
            return Ok(Vec::new());
        }
        let fd = self.xattr_fd()?;
        let mut buf = vec![0u8; XATTR_LIST_MAX];
        // SAFETY: flistxattr on our descriptor writes at most buf.len() bytes.
        let r = unsafe {
            libc::flistxattr(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
            )
        };
        if r < 0 {
            return last();
        }
        buf.truncate(r as usize);
        Ok(buf
            .split(|&b| b == 0)
            .filter_map(|n| std::str::from_utf8(n).ok())
            .filter(|n| n.starts_with("user."))
            .map(str::to_string)
            .collect())
    }

    fn removexattr(&self, name: &str) -> SysResult<()> {
        self.writable()?;
        if !name.starts_with("user.") {
            return err(libc::EOPNOTSUPP);
        }
        let fd = self.xattr_fd()?;
        let n = CString::new(name).map_err(|_| Errno(libc::EINVAL))?;
        // SAFETY: fremovexattr on our descriptor with a NUL-terminated name.
        check(unsafe { libc::fremovexattr(fd.as_raw_fd(), n.as_ptr()) })
    }

    fn statfs(&self) -> Option<crate::vfs::stat::FsStat> {
        let mut s = crate::vfs::stat::FsStat::default();
        // SAFETY: fstatfs on our O_PATH descriptor fills `s`, which has
        // the kernel's struct statfs layout (and libc's size).
        let r = unsafe {
            libc::fstatfs(
                self.fd.as_raw_fd(),
                &mut s as *mut crate::vfs::stat::FsStat as *mut libc::statfs,
            )
        };
        (r == 0).then_some(s)
    }

    fn fs_id(&self) -> usize {
        self.fs.id
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open host regular file. While the file is mapped shared, its reads,
/// writes and truncates also go through its page cache (`host_cache.rs`).
pub struct HostFile {
    fd: Arc<OwnedFd>,
    key: host_cache::Key,
}

impl FileOps for HostFile {
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if let Some(cache) = host_cache::lookup(self.key) {
            return Ok(cache.read(buf, off));
        }
        Ok(nix::sys::uio::pread(&*self.fd, buf, off as i64)?)
    }
    fn write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        crate::mm::image_cache::forget(self.key.0, self.key.1);
        let n = nix::sys::uio::pwrite(&*self.fd, buf, off as i64)?;
        if let Some(cache) = host_cache::lookup(self.key) {
            cache.wrote(&buf[..n], off);
        }
        Ok(n)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat::from_host(&nix::sys::stat::fstat(
            self.fd.as_raw_fd(),
        )?))
    }
    /// A host file changed by anyone gets new times. While it is mapped
    /// shared, writes through the mappings change it without: no identity.
    fn content_id(&self) -> Option<crate::mm::image_cache::ContentId> {
        if host_cache::lookup(self.key).is_some() {
            return None;
        }
        let st = self.stat().ok()?;
        Some(crate::mm::image_cache::ContentId {
            dev: st.dev,
            ino: st.ino,
            size: st.size,
            mtime: (st.mtime.tv_sec, st.mtime.tv_nsec),
            ctime: (st.ctime.tv_sec, st.ctime.tv_nsec),
        })
    }
    fn truncate(&self, len: u64) -> SysResult<()> {
        crate::mm::image_cache::forget(self.key.0, self.key.1);
        nix::unistd::ftruncate(&*self.fd, len as i64)?;
        if let Some(cache) = host_cache::lookup(self.key) {
            cache.truncated(len);
        }
        Ok(())
    }
    fn sync(&self) -> SysResult<()> {
        if let Some(cache) = host_cache::lookup(self.key) {
            cache.sync()?;
        }
        Ok(nix::unistd::fsync(self.fd.as_raw_fd())?)
    }
    fn mappable(&self, writable: bool) -> SysResult<Arc<dyn Mappable>> {
        Ok(host_cache::get_or_create(self.key, &self.fd, writable)?)
    }
}

/// An open host directory (listed through its inode).
pub struct HostDir {
    inode: Arc<HostInode>,
}

impl FileOps for HostDir {
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        err(libc::EISDIR)
    }
    fn write(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        err(libc::EISDIR)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }
}
