//! tmpfs: an in-memory file system (also the skeleton of /dev and masked
//! directories). File data lives in the memory file (`mm/file_pages.rs`),
//! so shared mappings of a tmpfs file or memfd map the file's own pages;
//! it is bounded by the mount's size limit.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::errno::{err, Errno, SysResult};
use crate::mm::{FilePages, Mappable, MemoryFile};
use crate::vfs::stat::now;
use crate::vfs::{Create, DirEntry, FileOps, FileType, Inode, OpenCtx, Stat};

/// statfs's f_type of a tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

pub struct TmpFs {
    id: usize,
    next_ino: AtomicU64,
    used: AtomicU64,
    limit: u64,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: libc::timespec,
    mtime: libc::timespec,
    ctime: libc::timespec,
}

enum Body {
    Dir(Mutex<BTreeMap<String, Arc<dyn Inode>>>),
    File(Arc<FilePages>),
    Symlink(String),
    /// A socket or FIFO: a name other objects are found by.
    Special,
}

pub struct TmpInode {
    fs: Arc<TmpFs>,
    ino: u64,
    meta: Mutex<Meta>,
    body: Body,
    /// A memfd's seals (F_SEAL_*); None for every other file.
    seals: Mutex<Option<u32>>,
    /// Serialises size changes (write past the end, truncate) so the
    /// mount's usage stays exact.
    size_lock: Mutex<()>,
    /// An O_TMPFILE file opened without O_EXCL, not yet linked: linkat
    /// may give it a name although it has no link (Linux's I_LINKABLE).
    linkable: std::sync::atomic::AtomicBool,
    /// Extended attributes (user., trusted. and security. names).
    xattrs: Mutex<BTreeMap<String, Vec<u8>>>,
}

/// Linux's largest file size (MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// A new regular file's body: its pages live in the memory file.
fn file_body() -> SysResult<Body> {
    let file = MemoryFile::global().map_err(|e| {
        tracing::warn!("no memory file for a tmpfs file: {e}");
        Errno(libc::ENOMEM)
    })?;
    Ok(Body::File(Arc::new(FilePages::new(file, 0, None))))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A tmpfs without a size= option gets half of memory, as on Linux: never
/// an unbounded one (a write at a huge offset must fail, not allocate).
fn default_limit() -> u64 {
    // SAFETY: sysinfo fills the struct it is given.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sysinfo(&mut si) } == 0 {
        (si.totalram as u64).saturating_mul(si.mem_unit as u64) / 2
    } else {
        1 << 30
    }
}

impl TmpFs {
    /// A new tmpfs; returns its root directory.
    pub fn new_root(size: Option<u64>, mode: u32) -> Arc<TmpInode> {
        let fs = Arc::new(TmpFs {
            id: super::new_fs_id(),
            next_ino: AtomicU64::new(2),
            used: AtomicU64::new(0),
            limit: size.unwrap_or_else(default_limit),
        });
        TmpInode::new(
            &fs,
            FileType::Directory,
            mode,
            0,
            0,
            Body::Dir(Mutex::new(BTreeMap::new())),
        )
    }

    pub fn id(&self) -> usize {
        self.id
    }

    /// The file system of memfds (no root, no size limit beyond tmpfs's default).
    pub fn for_memfds() -> Arc<TmpFs> {
        Arc::new(TmpFs {
            id: super::new_fs_id(),
            next_ino: AtomicU64::new(2),
            used: AtomicU64::new(0),
            limit: default_limit(),
        })
    }
}

impl TmpInode {
    fn new(
        fs: &Arc<TmpFs>,
        ftype: FileType,
        perm: u32,
        uid: u32,
        gid: u32,
        body: Body,
    ) -> Arc<TmpInode> {
        let t = now();
        Arc::new(TmpInode {
            fs: fs.clone(),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta {
                mode: ftype.mode_bits() | (perm & 0o7777),
                uid,
                gid,
                nlink: if ftype == FileType::Directory { 2 } else { 1 },
                atime: t,
                mtime: t,
                ctime: t,
            }),
            body,
            seals: Mutex::new(None),
            size_lock: Mutex::new(()),
            linkable: std::sync::atomic::AtomicBool::new(false),
            xattrs: Mutex::new(BTreeMap::new()),
        })
    }

    /// A memfd: a regular file in no directory; `sealing` says whether
    /// F_ADD_SEALS may add seals (else F_SEAL_SEAL is set from the start).
    pub fn new_memfd(fs: &Arc<TmpFs>, sealing: bool) -> SysResult<Arc<TmpInode>> {
        let inode = TmpInode::new(fs, FileType::Regular, 0o777, 0, 0, file_body()?);
        *lock(&inode.seals) = Some(if sealing { 0 } else { libc::F_SEAL_SEAL as u32 });
        Ok(inode)
    }

    /// The file's pages, for a shared mapping (regular files only).
    pub fn mappable(&self, writable: bool) -> SysResult<Arc<dyn Mappable>> {
        if writable && self.sealed(libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) {
            return err(libc::EPERM);
        }
        match &self.body {
            Body::File(d) => Ok(d.clone()),
            _ => err(libc::ENODEV),
        }
    }

    /// Whether a shared mapping holds the file's pages now.
    fn shared_mappings(&self) -> bool {
        matches!(&self.body, Body::File(d) if Arc::strong_count(d) > 1)
    }

    /// F_GET_SEALS: None (EINVAL) unless this is a memfd.
    pub fn seals(&self) -> Option<u32> {
        *lock(&self.seals)
    }

    /// F_ADD_SEALS.
    pub fn add_seals(&self, add: u32) -> SysResult<()> {
        let known = (libc::F_SEAL_SEAL
            | libc::F_SEAL_SHRINK
            | libc::F_SEAL_GROW
            | libc::F_SEAL_WRITE
            | libc::F_SEAL_FUTURE_WRITE) as u32;
        if add & !known != 0 {
            return err(libc::EINVAL);
        }
        let mut seals = lock(&self.seals);
        match seals.as_mut() {
            None => err(libc::EINVAL),
            Some(s) if *s & libc::F_SEAL_SEAL as u32 != 0 => err(libc::EPERM),
            // F_SEAL_WRITE while shared mappings exist is EBUSY (Linux's
            // mapping_deny_writable). Every shared mapping holds the pages,
            // so any counts: on Linux a read-only shared mapping of a
            // read-write descriptor counts too (it may be mprotect'ed
            // writable); one of a read-only descriptor does not, here it
            // does.
            Some(_) if add & libc::F_SEAL_WRITE as u32 != 0 && self.shared_mappings() => {
                err(libc::EBUSY)
            }
            Some(s) => {
                *s |= add;
                Ok(())
            }
        }
    }

    /// tmpfs keeps user., trusted. and security. attributes; user. ones
    /// only on regular files and directories (Linux: EPERM elsewhere).
    fn xattr_namespace(&self, name: &str) -> SysResult<()> {
        if name.starts_with("user.") {
            return match &self.body {
                Body::File(_) | Body::Dir(_) => Ok(()),
                _ => err(libc::EPERM),
            };
        }
        if name.starts_with("trusted.") || name.starts_with("security.") {
            return Ok(());
        }
        err(libc::EOPNOTSUPP)
    }

    fn sealed(&self, seal: i32) -> bool {
        lock(&self.seals).is_some_and(|s| s & seal as u32 != 0)
    }

    fn children(&self) -> SysResult<&Mutex<BTreeMap<String, Arc<dyn Inode>>>> {
        match &self.body {
            Body::Dir(c) => Ok(c),
            _ => err(libc::ENOTDIR),
        }
    }

    /// Adds an inode of another kind (a device node) under `name`.
    pub fn add_child(&self, name: &str, inode: Arc<dyn Inode>) {
        if let Ok(c) = self.children() {
            lock(c).insert(name.to_string(), inode);
        }
    }

    pub fn fs_arc(&self) -> Arc<TmpFs> {
        self.fs.clone()
    }

    fn insert_new(&self, name: &str, inode: Arc<dyn Inode>) -> SysResult<()> {
        let mut c = lock(self.children()?);
        if c.contains_key(name) {
            return err(libc::EEXIST);
        }
        c.insert(name.to_string(), inode);
        self.touch();
        Ok(())
    }

    /// `other` as an inode of this same tmpfs (rename, link and exchange
    /// never cross file systems: EXDEV).
    fn same_fs<'a>(&self, other: &'a dyn Inode) -> SysResult<&'a TmpInode> {
        other
            .as_any()
            .downcast_ref::<TmpInode>()
            .filter(|o| Arc::ptr_eq(&o.fs, &self.fs))
            .ok_or(Errno(libc::EXDEV))
    }

    fn touch(&self) {
        let t = now();
        let mut m = lock(&self.meta);
        m.mtime = t;
        m.ctime = t;
    }

    fn file_read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let Body::File(data) = &self.body else {
            return err(libc::EISDIR);
        };
        Ok(data.read(buf, off))
    }

    fn file_write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        let Body::File(data) = &self.body else {
            return err(libc::EISDIR);
        };
        if self.sealed(libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) {
            return err(libc::EPERM);
        }
        let _size = lock(&self.size_lock);
        let end = off
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno(libc::EFBIG))?;
        let size = data.size();
        if end > size && self.sealed(libc::F_SEAL_GROW) {
            return err(libc::EPERM);
        }
        if end > size {
            self.reserve(end - size)?;
        }
        if let Err(e) = data.write(buf, off) {
            if end > size {
                self.fs.used.fetch_sub(end - size, Ordering::Relaxed);
            }
            return Err(e);
        }
        drop(_size);
        self.touch();
        Ok(buf.len())
    }

    fn reserve(&self, more: u64) -> SysResult<()> {
        let used = self.fs.used.fetch_add(more, Ordering::Relaxed);
        if used.saturating_add(more) > self.fs.limit {
            self.fs.used.fetch_sub(more, Ordering::Relaxed);
            return err(libc::ENOSPC);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> SysResult<()> {
        let Body::File(data) = &self.body else {
            return err(libc::EISDIR);
        };
        let _size = lock(&self.size_lock);
        if len > MAX_FILE_SIZE {
            return err(libc::EFBIG);
        }
        let size = data.size();
        if (len < size && self.sealed(libc::F_SEAL_SHRINK))
            || (len > size && self.sealed(libc::F_SEAL_GROW))
        {
            return err(libc::EPERM);
        }
        if len > size {
            self.reserve(len - size)?;
        } else {
            self.fs.used.fetch_sub(size - len, Ordering::Relaxed);
        }
        data.set_size(len);
        drop(_size);
        self.touch();
        Ok(())
    }
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        if let Body::File(d) = &self.body {
            self.fs.used.fetch_sub(d.size(), Ordering::Relaxed);
        }
    }
}

impl Inode for TmpInode {
    fn stat(&self) -> SysResult<Stat> {
        let m = lock(&self.meta);
        let size = match &self.body {
            Body::File(d) => d.size(),
            Body::Symlink(t) => t.len() as u64,
            Body::Dir(_) => 4096,
            Body::Special => 0,
        };
        Ok(Stat {
            dev: self.fs.id as u64,
            ino: self.ino,
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        })
    }

    fn open(self: Arc<Self>, flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        if flags & libc::O_TRUNC != 0
            && matches!(self.body, Body::File(_))
            && flags & libc::O_ACCMODE != libc::O_RDONLY
        {
            self.set_len(0)?;
        }
        Ok(Arc::new(TmpFile { inode: self }))
    }

    fn lookup(&self, name: &str) -> SysResult<Arc<dyn Inode>> {
        lock(self.children()?)
            .get(name)
            .cloned()
            .ok_or(Errno(libc::ENOENT))
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let c = lock(self.children()?);
        let mut out = Vec::with_capacity(c.len());
        for (name, inode) in c.iter() {
            let st = inode.stat()?;
            out.push(DirEntry {
                name: name.clone(),
                ino: st.ino,
                ftype: st.file_type(),
            });
        }
        Ok(out)
    }

    fn readlink(&self) -> SysResult<String> {
        match &self.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => err(libc::EINVAL),
        }
    }

    fn create(&self, name: &str, c: Create) -> SysResult<Arc<dyn Inode>> {
        let inode = TmpInode::new(
            &self.fs,
            FileType::Regular,
            c.mode,
            c.uid,
            c.gid,
            file_body()?,
        );
        self.insert_new(name, inode.clone())?;
        Ok(inode)
    }

    fn mknod(&self, name: &str, ftype: FileType, c: Create) -> SysResult<()> {
        let inode = TmpInode::new(&self.fs, ftype, c.mode, c.uid, c.gid, Body::Special);
        self.insert_new(name, inode)
    }

    fn mkdir(&self, name: &str, c: Create) -> SysResult<()> {
        let inode = TmpInode::new(
            &self.fs,
            FileType::Directory,
            c.mode,
            c.uid,
            c.gid,
            Body::Dir(Mutex::new(BTreeMap::new())),
        );
        self.insert_new(name, inode)
    }

    fn symlink(&self, name: &str, target: &str, c: Create) -> SysResult<()> {
        let inode = TmpInode::new(
            &self.fs,
            FileType::Symlink,
            0o777,
            c.uid,
            c.gid,
            Body::Symlink(target.to_string()),
        );
        self.insert_new(name, inode)
    }

    fn unlink(&self, name: &str) -> SysResult<()> {
        let mut c = lock(self.children()?);
        let victim = c.get(name).ok_or(Errno(libc::ENOENT))?;
        if victim.stat()?.file_type() == FileType::Directory {
            return err(libc::EISDIR);
        }
        if let Some(t) = victim.as_any().downcast_ref::<TmpInode>() {
            let mut m = lock(&t.meta);
            m.nlink = m.nlink.saturating_sub(1);
        }
        c.remove(name);
        drop(c);
        self.touch();
        Ok(())
    }

    fn rmdir(&self, name: &str) -> SysResult<()> {
        let mut c = lock(self.children()?);
        let victim = c.get(name).ok_or(Errno(libc::ENOENT))?;
        if victim.stat()?.file_type() != FileType::Directory {
            return err(libc::ENOTDIR);
        }
        if !victim.readdir()?.is_empty() {
            return err(libc::ENOTEMPTY);
        }
        c.remove(name);
        drop(c);
        self.touch();
        Ok(())
    }

    fn rename(&self, old: &str, new_dir: &dyn Inode, new: &str) -> SysResult<()> {
        let to = self.same_fs(new_dir)?;
        let moving = self.lookup(old)?;
        if let Ok(existing) = to.lookup(new) {
            if Arc::ptr_eq(&existing, &moving) {
                return Ok(());
            }
            let is_dir = existing.stat()?.file_type() == FileType::Directory;
            let moving_dir = moving.stat()?.file_type() == FileType::Directory;
            match (moving_dir, is_dir) {
                (true, false) => return err(libc::ENOTDIR),
                (false, true) => return err(libc::EISDIR),
                (true, true) if !existing.readdir()?.is_empty() => return err(libc::ENOTEMPTY),
                _ => {}
            }
        }
        lock(self.children()?).remove(old);
        lock(to.children()?).insert(new.to_string(), moving);
        self.touch();
        to.touch();
        Ok(())
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = self.same_fs(&**target)?;
        // A file whose last link is gone cannot get a new one, unless it
        // is an O_TMPFILE file made linkable.
        if lock(&t.meta).nlink == 0 && !t.linkable.swap(false, Ordering::Relaxed) {
            return err(libc::ENOENT);
        }
        self.insert_new(name, target.clone())?;
        let mut m = lock(&t.meta);
        m.nlink += 1;
        m.ctime = now();
        Ok(())
    }

    fn tmpfile(&self, c: Create, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        self.children()?;
        let inode = TmpInode::new(
            &self.fs,
            FileType::Regular,
            c.mode,
            c.uid,
            c.gid,
            file_body()?,
        );
        lock(&inode.meta).nlink = 0;
        inode.linkable.store(linkable, Ordering::Relaxed);
        Ok(inode)
    }

    fn exchange(&self, old: &str, new_dir: &dyn Inode, new: &str) -> SysResult<()> {
        let to = self.same_fs(new_dir)?;
        let a = self.lookup(old)?;
        let b = to.lookup(new)?;
        if std::ptr::eq(self, to) {
            let mut c = lock(self.children()?);
            c.insert(old.to_string(), b);
            c.insert(new.to_string(), a);
        } else {
            lock(self.children()?).insert(old.to_string(), b);
            lock(to.children()?).insert(new.to_string(), a);
        }
        self.touch();
        to.touch();
        Ok(())
    }

    fn chmod(&self, mode: u32) -> SysResult<()> {
        let mut m = lock(&self.meta);
        m.mode = (m.mode & libc::S_IFMT) | (mode & 0o7777);
        m.ctime = now();
        Ok(())
    }

    fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
        let mut m = lock(&self.meta);
        if let Some(u) = uid {
            m.uid = u;
        }
        if let Some(g) = gid {
            m.gid = g;
        }
        m.ctime = now();
        Ok(())
    }

    fn truncate(&self, len: u64) -> SysResult<()> {
        self.set_len(len)
    }

    fn set_times(
        &self,
        atime: Option<libc::timespec>,
        mtime: Option<libc::timespec>,
    ) -> SysResult<()> {
        let mut m = lock(&self.meta);
        if let Some(a) = atime {
            m.atime = a;
        }
        if let Some(t) = mtime {
            m.mtime = t;
        }
        m.ctime = now();
        Ok(())
    }

    fn getxattr(&self, name: &str) -> SysResult<Vec<u8>> {
        self.xattr_namespace(name)?;
        lock(&self.xattrs)
            .get(name)
            .cloned()
            .ok_or(Errno(libc::ENODATA))
    }

    fn setxattr(&self, name: &str, value: &[u8], flags: i32) -> SysResult<()> {
        self.xattr_namespace(name)?;
        let mut x = lock(&self.xattrs);
        let exists = x.contains_key(name);
        if flags & libc::XATTR_CREATE != 0 && exists {
            return err(libc::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return err(libc::ENODATA);
        }
        x.insert(name.to_string(), value.to_vec());
        drop(x);
        lock(&self.meta).ctime = now();
        Ok(())
    }

    fn listxattr(&self) -> SysResult<Vec<String>> {
        Ok(lock(&self.xattrs).keys().cloned().collect())
    }

    fn removexattr(&self, name: &str) -> SysResult<()> {
        self.xattr_namespace(name)?;
        lock(&self.xattrs)
            .remove(name)
            .ok_or(Errno(libc::ENODATA))?;
        lock(&self.meta).ctime = now();
        Ok(())
    }

    fn statfs(&self) -> Option<crate::vfs::stat::FsStat> {
        let mut s = crate::vfs::stat::FsStat::default();
        let used = self.fs.used.load(Ordering::Relaxed);
        s.f_type = TMPFS_MAGIC;
        s.f_bsize = 4096;
        s.f_frsize = 4096;
        s.f_blocks = self.fs.limit / 4096;
        s.f_bfree = self.fs.limit.saturating_sub(used) / 4096;
        s.f_bavail = s.f_bfree;
        // Linux's default inode limit for tmpfs: half the pages of memory.
        let inodes = self.fs.limit / 4096 / 2 + 1;
        let made = self.fs.next_ino.load(Ordering::Relaxed);
        s.f_files = inodes;
        s.f_ffree = inodes.saturating_sub(made);
        s.f_namelen = 255;
        Some(s)
    }

    fn fs_id(&self) -> usize {
        self.fs.id
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open tmpfs file or directory.
pub struct TmpFile {
    inode: Arc<TmpInode>,
}

impl FileOps for TmpFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.inode.file_read(buf, off)
    }
    fn write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        self.inode.file_write(buf, off)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }
    fn truncate(&self, len: u64) -> SysResult<()> {
        self.inode.set_len(len)
    }
    fn mappable(&self, writable: bool) -> SysResult<Arc<dyn Mappable>> {
        self.inode.mappable(writable)
    }
}
