//! The memory overlay: the container's root as a read-only lower layer (the
//! bundle's rootfs on the host) under a sandbox-private tmpfs upper layer.
//! Nothing the workload does reaches the host's rootfs: a file is copied
//! up into the tmpfs the first time it is changed, deletions of lower
//! files are remembered as whiteouts, and a directory made where a lower
//! one was deleted is opaque (hides the lower one's entries), as Linux's
//! overlayfs does. Used with `--overlay=memory`, the
//! `dev.sandbox.overlay=memory` annotation, or when the host rootfs is on
//! a read-only mount while the spec asks for a writable root.
//!
//! Differences from overlayfs: renaming a directory that exists in the
//! lower layer gives EXDEV (overlayfs without redirect_dir does the same;
//! programs fall back to copying), and a description opened for reading
//! before its file was copied up keeps reading the lower file.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::tmpfs::TmpFs;
use crate::errno::{err, Errno, SysResult};
use crate::vfs::{Create, DirEntry, FileOps, FileType, Inode, OpenCtx, Stat};

/// Marks inode numbers of files that exist only in the upper layer, so
/// they never collide with the lower layer's (which files keep).
const UPPER_INO: u64 = 1 << 62;

pub struct OverlayFs {
    id: usize,
    /// Names deleted from lower directories, by upper directory inode.
    whiteouts: Mutex<BTreeMap<u64, HashSet<String>>>,
    /// Upper directories that hide the lower directory of the same path.
    opaque: Mutex<HashSet<u64>>,
    /// Serialises copy-ups, so two threads never copy the same file.
    copy_up: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct OverlayInode {
    fs: Arc<OverlayFs>,
    /// The directory it was found in and its name there (None for the root).
    parent: Option<(Arc<OverlayInode>, String)>,
    upper: Mutex<Option<Arc<dyn Inode>>>,
    lower: Option<Arc<dyn Inode>>,
    /// The inode number the file shows: its lower file's, kept when it is
    /// copied up (None: a file made in the upper layer).
    origin_ino: Option<u64>,
}

impl OverlayFs {
    /// The overlay root over `lower` (the host rootfs), with a tmpfs upper
    /// layer of at most `size` bytes (None: tmpfs's default).
    pub fn new_root(lower: Arc<dyn Inode>, size: Option<u64>) -> SysResult<Arc<OverlayInode>> {
        let st = lower.stat()?;
        let upper = TmpFs::new_root(size, st.mode & 0o7777);
        upper.chown(Some(st.uid), Some(st.gid))?;
        let fs = Arc::new(OverlayFs {
            id: super::new_fs_id(),
            whiteouts: Mutex::new(BTreeMap::new()),
            opaque: Mutex::new(HashSet::new()),
            copy_up: Mutex::new(()),
        });
        Ok(Arc::new(OverlayInode {
            fs,
            parent: None,
            upper: Mutex::new(Some(upper)),
            lower: Some(lower),
            origin_ino: Some(st.ino),
        }))
    }

    fn is_whiteout(&self, dir_ino: u64, name: &str) -> bool {
        lock(&self.whiteouts)
            .get(&dir_ino)
            .is_some_and(|s| s.contains(name))
    }

    fn set_whiteout(&self, dir_ino: u64, name: &str, on: bool) {
        let mut w = lock(&self.whiteouts);
        if on {
            w.entry(dir_ino).or_default().insert(name.to_string());
        } else if let Some(s) = w.get_mut(&dir_ino) {
            s.remove(name);
        }
    }
}

fn ino_of(inode: &dyn Inode) -> SysResult<u64> {
    Ok(inode.stat()?.ino)
}

impl OverlayInode {
    /// The upper inode, found again if another lookup copied this file up.
    fn upper(&self) -> Option<Arc<dyn Inode>> {
        let mut u = lock(&self.upper);
        if u.is_none() {
            if let Some((parent, name)) = &self.parent {
                if let Some(pu) = parent.upper() {
                    *u = pu.lookup(name).ok();
                }
            }
        }
        u.clone()
    }

    /// The layer that shows this file: upper if it has been copied up.
    fn top(&self) -> SysResult<Arc<dyn Inode>> {
        match (self.upper(), &self.lower) {
            (Some(u), _) => Ok(u),
            (None, Some(l)) => Ok(l.clone()),
            (None, None) => err(libc::ENOENT),
        }
    }

    /// Whether the lower directory's entries show through this directory.
    fn lower_visible(&self) -> bool {
        match self.upper() {
            Some(u) => ino_of(&*u).is_ok_and(|i| !lock(&self.fs.opaque).contains(&i)),
            None => true,
        }
    }

    fn upper_ino(&self) -> SysResult<u64> {
        ino_of(&*self.copy_up()?)
    }

    /// Makes sure the file exists in the upper layer (copying it and its
    /// directories up) and returns its upper inode.
    fn copy_up(&self) -> SysResult<Arc<dyn Inode>> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let (parent, name) = self.parent.as_ref().ok_or(Errno(libc::ENOENT))?;
        let pu = parent.copy_up()?;
        let lower = self.lower.as_ref().ok_or(Errno(libc::ENOENT))?;
        let _serial = lock(&self.fs.copy_up);
        if let Ok(u) = pu.lookup(name) {
            // Copied up meanwhile through another lookup of the same name.
            *lock(&self.upper) = Some(u.clone());
            return Ok(u);
        }
        let st = lower.stat()?;
        let c = Create {
            mode: st.mode & 0o7777,
            uid: st.uid,
            gid: st.gid,
        };
        let upper = match st.file_type() {
            FileType::Directory => {
                pu.mkdir(name, c)?;
                pu.lookup(name)?
            }
            FileType::Regular => {
                let u = pu.create(name, c)?;
                if let Err(e) = copy_data(lower, &u, st.size) {
                    let _ = pu.unlink(name);
                    return Err(e);
                }
                u
            }
            FileType::Symlink => {
                pu.symlink(name, &lower.readlink()?, c)?;
                pu.lookup(name)?
            }
            t @ (FileType::Fifo | FileType::Socket) => {
                pu.mknod(name, t, c)?;
                pu.lookup(name)?
            }
            _ => return err(libc::EPERM),
        };
        // Ownership as the lower file has it; times too (best effort:
        // file systems that cannot keep them still work).
        let _ = upper.chown(Some(st.uid), Some(st.gid));
        let _ = upper.set_times(Some(st.atime), Some(st.mtime));
        *lock(&self.upper) = Some(upper.clone());
        Ok(upper)
    }

    fn child(self: &Arc<Self>, name: &str) -> SysResult<Arc<OverlayInode>> {
        let upper = self.upper();
        if let Some(u) = &upper {
            if self.fs.is_whiteout(ino_of(&**u)?, name) {
                return err(libc::ENOENT);
            }
        }
        let up_child = match &upper {
            Some(u) => match u.lookup(name) {
                Ok(c) => Some(c),
                Err(Errno(libc::ENOENT)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let low_child = match (&self.lower, self.lower_visible()) {
            (Some(l), true) => match l.lookup(name) {
                Ok(c) => Some(c),
                Err(Errno(libc::ENOENT)) => None,
                Err(e) => return Err(e),
            },
            _ => None,
        };
        let origin_ino = match (&low_child, &up_child) {
            (Some(l), Some(u)) if l.stat()?.file_type() == u.stat()?.file_type() => {
                Some(l.stat()?.ino)
            }
            (Some(l), None) => Some(l.stat()?.ino),
            _ => None,
        };
        // A lower file shows only where no upper one hides it; lower and
        // upper directories merge (unless the upper one is opaque).
        let low_child = match (&up_child, low_child) {
            (None, l) => l,
            (Some(u), Some(l))
                if u.stat()?.file_type() == FileType::Directory
                    && l.stat()?.file_type() == FileType::Directory =>
            {
                Some(l)
            }
            (Some(_), _) => None,
        };
        if up_child.is_none() && low_child.is_none() {
            return err(libc::ENOENT);
        }
        Ok(Arc::new(OverlayInode {
            fs: self.fs.clone(),
            parent: Some((self.clone(), name.to_string())),
            upper: Mutex::new(up_child),
            lower: low_child,
            origin_ino,
        }))
    }

    /// This inode's `Arc`, found through its parent (the VFS hands
    /// directory operations `&self`).
    fn this(&self) -> SysResult<Arc<OverlayInode>> {
        match &self.parent {
            Some((p, name)) => p.child(name),
            None => err(libc::ENOENT),
        }
    }

    /// The upper layer's root directory.
    fn root_upper(&self) -> Option<Arc<dyn Inode>> {
        match &self.parent {
            Some((p, _)) => p.root_upper(),
            None => self.upper(),
        }
    }

    /// Whether `name` exists in the lower directory under this one.
    fn in_lower(&self, name: &str) -> bool {
        self.lower_visible() && self.lower.as_ref().is_some_and(|l| l.lookup(name).is_ok())
    }

    /// Prepares creating `name` here: the directory is copied up and a
    /// whiteout of the name is lifted. Returns the upper directory and
    /// whether a whiteout was lifted (a directory made there is opaque).
    fn make_room(&self, name: &str) -> SysResult<(Arc<dyn Inode>, bool)> {
        let u = self.copy_up()?;
        let ino = ino_of(&*u)?;
        let was_whiteout = self.fs.is_whiteout(ino, name);
        if !was_whiteout && self.in_lower(name) {
            return err(libc::EEXIST);
        }
        Ok((u, was_whiteout))
    }

    fn created(&self, name: &str) -> SysResult<()> {
        let ino = self.upper_ino()?;
        self.fs.set_whiteout(ino, name, false);
        Ok(())
    }

    /// Removes `name` (a file, or a directory when `dir`).
    fn remove(&self, name: &str, dir: bool) -> SysResult<()> {
        let me = self.this_or_root()?;
        let victim = me.child(name)?;
        let is_dir = victim.stat()?.file_type() == FileType::Directory;
        match (dir, is_dir) {
            (true, false) => return err(libc::ENOTDIR),
            (false, true) => return err(libc::EISDIR),
            (true, true) if !victim.readdir()?.is_empty() => return err(libc::ENOTEMPTY),
            _ => {}
        }
        let u = self.copy_up()?;
        let lower_has = self.in_lower(name);
        if victim.upper().is_some() {
            if dir {
                // Its whiteouts and opaqueness go with it.
                if let Some(vu) = victim.upper() {
                    let vino = ino_of(&*vu)?;
                    lock(&self.fs.whiteouts).remove(&vino);
                    lock(&self.fs.opaque).remove(&vino);
                }
                u.rmdir(name)?;
            } else {
                u.unlink(name)?;
            }
        }
        if lower_has {
            self.fs.set_whiteout(ino_of(&*u)?, name, true);
        }
        Ok(())
    }

    fn this_or_root(&self) -> SysResult<Arc<OverlayInode>> {
        match &self.parent {
            Some(_) => self.this(),
            None => Ok(Arc::new(OverlayInode {
                fs: self.fs.clone(),
                parent: None,
                upper: Mutex::new(self.upper()),
                lower: self.lower.clone(),
                origin_ino: self.origin_ino,
            })),
        }
    }
}

/// Copies a lower file's bytes into its new upper copy.
fn copy_data(lower: &Arc<dyn Inode>, upper: &Arc<dyn Inode>, size: u64) -> SysResult<()> {
    if size == 0 {
        return Ok(());
    }
    let (src, dst) = with_ctx(|ctx| {
        Ok((
            lower.clone().open(libc::O_RDONLY, ctx)?,
            upper.clone().open(libc::O_WRONLY, ctx)?,
        ))
    })?;
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    loop {
        let n = src.read(&mut buf, off)?;
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < n {
            done += dst.write(&buf[done..n], off + done as u64)?;
        }
        off += n as u64;
    }
}

/// Runs `f` with an open context for the overlay's own opens of regular
/// files (which never look at it: only /proc files do).
fn with_ctx<R>(f: impl FnOnce(&OpenCtx) -> SysResult<R>) -> SysResult<R> {
    use std::sync::OnceLock;
    static MM: OnceLock<Option<crate::mm::SharedMm>> = OnceLock::new();
    let mm = MM.get_or_init(|| {
        crate::mm::MemoryFile::global()
            .ok()
            .map(|f| crate::mm::SharedMm::new(crate::mm::MemoryManager::new(f)))
    });
    let mm = mm.as_ref().ok_or(Errno(libc::ENOMEM))?;
    f(&OpenCtx { pid: 0, mm })
}

impl Inode for OverlayInode {
    fn stat(&self) -> SysResult<Stat> {
        let mut st = self.top()?.stat()?;
        // One device for the whole overlay; a file keeps its lower inode
        // number when it is copied up.
        st.dev = self.fs.id as u64;
        st.ino = self.origin_ino.unwrap_or(st.ino | UPPER_INO);
        Ok(st)
    }

    fn open(self: Arc<Self>, flags: i32, ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let top = self.top()?;
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if writes && top.stat()?.file_type() == FileType::Regular {
            return self.copy_up()?.open(flags, ctx);
        }
        // A directory is listed through the description's inode, which is
        // this overlay inode (getdents asks it for the merged listing).
        top.open(flags, ctx)
    }

    fn lookup(&self, name: &str) -> SysResult<Arc<dyn Inode>> {
        Ok(self.this_or_root()?.child(name)?)
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let upper = self.upper();
        let whiteouts = match &upper {
            Some(u) => lock(&self.fs.whiteouts)
                .get(&ino_of(&**u)?)
                .cloned()
                .unwrap_or_default(),
            None => HashSet::new(),
        };
        if let Some(u) = &upper {
            for e in u.readdir()? {
                seen.insert(e.name.clone());
                out.push(e);
            }
        }
        if let (Some(l), true) = (&self.lower, self.lower_visible()) {
            for e in l.readdir()? {
                if !seen.contains(&e.name) && !whiteouts.contains(&e.name) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    fn readlink(&self) -> SysResult<String> {
        self.top()?.readlink()
    }

    fn create(&self, name: &str, c: Create) -> SysResult<Arc<dyn Inode>> {
        let (u, _) = self.make_room(name)?;
        u.create(name, c)?;
        self.created(name)?;
        self.lookup(name)
    }

    fn mkdir(&self, name: &str, c: Create) -> SysResult<()> {
        let (u, was_whiteout) = self.make_room(name)?;
        u.mkdir(name, c)?;
        if was_whiteout {
            // A lower directory of this name was deleted: hide its entries.
            let ino = ino_of(&*u.lookup(name)?)?;
            lock(&self.fs.opaque).insert(ino);
        }
        self.created(name)
    }

    fn symlink(&self, name: &str, target: &str, c: Create) -> SysResult<()> {
        let (u, _) = self.make_room(name)?;
        u.symlink(name, target, c)?;
        self.created(name)
    }

    fn mknod(&self, name: &str, ftype: FileType, c: Create) -> SysResult<()> {
        let (u, _) = self.make_room(name)?;
        u.mknod(name, ftype, c)?;
        self.created(name)
    }

    fn unlink(&self, name: &str) -> SysResult<()> {
        self.remove(name, false)
    }

    fn rmdir(&self, name: &str) -> SysResult<()> {
        self.remove(name, true)
    }

    fn rename(&self, old: &str, new_dir: &dyn Inode, new: &str) -> SysResult<()> {
        let to = new_dir
            .as_any()
            .downcast_ref::<OverlayInode>()
            .filter(|d| Arc::ptr_eq(&d.fs, &self.fs))
            .ok_or(Errno(libc::EXDEV))?;
        let me = self.this_or_root()?;
        let moving = me.child(old)?;
        if moving.stat()?.file_type() == FileType::Directory && moving.lower.is_some() {
            return err(libc::EXDEV);
        }
        let from_upper = self.copy_up()?;
        moving.copy_up()?;
        let to_upper = to.copy_up()?;
        let lower_had_old = self.in_lower(old);
        // A lower file at the target name is hidden by the upper entry the
        // rename makes; a non-empty (merged) directory there refuses.
        if let Ok(existing) = to.this_or_root()?.child(new) {
            let existing_dir = existing.stat()?.file_type() == FileType::Directory;
            let moving_dir = moving.stat()?.file_type() == FileType::Directory;
            match (moving_dir, existing_dir) {
                (true, false) => return err(libc::ENOTDIR),
                (false, true) => return err(libc::EISDIR),
                (true, true) if !existing.readdir()?.is_empty() => return err(libc::ENOTEMPTY),
                _ => {}
            }
        }
        from_upper.rename(old, &*to_upper, new)?;
        let to_ino = ino_of(&*to_upper)?;
        self.fs.set_whiteout(to_ino, new, false);
        if lower_had_old {
            self.fs.set_whiteout(ino_of(&*from_upper)?, old, true);
        }
        Ok(())
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = target
            .as_any()
            .downcast_ref::<OverlayInode>()
            .filter(|t| Arc::ptr_eq(&t.fs, &self.fs))
            .ok_or(Errno(libc::EXDEV))?;
        let tu = t.copy_up()?;
        let (u, _) = self.make_room(name)?;
        u.link(name, &tu)?;
        self.created(name)
    }

    fn chmod(&self, mode: u32) -> SysResult<()> {
        self.copy_up()?.chmod(mode)
    }

    fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
        self.copy_up()?.chown(uid, gid)
    }

    fn truncate(&self, len: u64) -> SysResult<()> {
        self.copy_up()?.truncate(len)
    }

    fn set_times(
        &self,
        atime: Option<libc::timespec>,
        mtime: Option<libc::timespec>,
    ) -> SysResult<()> {
        self.copy_up()?.set_times(atime, mtime)
    }

    fn getxattr(&self, name: &str) -> SysResult<Vec<u8>> {
        self.top()?.getxattr(name)
    }

    fn setxattr(&self, name: &str, value: &[u8], flags: i32) -> SysResult<()> {
        self.copy_up()?.setxattr(name, value, flags)
    }

    fn listxattr(&self) -> SysResult<Vec<String>> {
        self.top()?.listxattr()
    }

    fn removexattr(&self, name: &str) -> SysResult<()> {
        self.copy_up()?.removexattr(name)
    }

    /// The upper layer's figures (its size limit and use), as overlayfs
    /// reports its upper file system's.
    fn statfs(&self) -> Option<crate::vfs::stat::FsStat> {
        self.root_upper()?.statfs()
    }

    fn fs_id(&self) -> usize {
        self.fs.id
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Create = Create {
        mode: 0o644,
        uid: 0,
        gid: 0,
    };

    fn write(dir: &dyn Inode, name: &str, data: &[u8]) {
        let f = match dir.lookup(name) {
            Ok(f) => f,
            Err(_) => dir.create(name, C).expect("create"),
        };
        let ops = with_ctx(|ctx| f.open(libc::O_WRONLY | libc::O_TRUNC, ctx)).expect("open");
        ops.truncate(0).expect("truncate");
        ops.write(data, 0).expect("write");
    }

    fn read(dir: &dyn Inode, name: &str) -> SysResult<Vec<u8>> {
        let f = dir.lookup(name)?;
        let ops = with_ctx(|ctx| f.open(libc::O_RDONLY, ctx))?;
        let mut buf = vec![0u8; 256];
        let n = ops.read(&mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn names(dir: &dyn Inode) -> Vec<String> {
        let mut v: Vec<String> = dir
            .readdir()
            .expect("readdir")
            .into_iter()
            .map(|e| e.name)
            .collect();
        v.sort();
        v
    }

    /// A lower tree: /a (file "lower a"), /d/x (file), /e (empty dir).
    fn layers() -> (Arc<dyn Inode>, Arc<OverlayInode>) {
        let lower: Arc<dyn Inode> = TmpFs::new_root(None, 0o755);
        write(&*lower, "a", b"lower a");
        lower.mkdir("d", C).expect("mkdir");
        write(&*lower.lookup("d").expect("d"), "x", b"lower x");
        lower.mkdir("e", C).expect("mkdir");
        let root = OverlayFs::new_root(lower.clone(), None).expect("overlay");
        (lower, root)
    }

    #[test]
    fn reads_the_lower_layer_and_writes_never_reach_it() {
        let (lower, root) = layers();
        assert_eq!(read(&*root, "a").expect("read"), b"lower a");
        write(&*root, "a", b"upper a");
        assert_eq!(read(&*root, "a").expect("read"), b"upper a");
        assert_eq!(read(&*lower, "a").expect("read"), b"lower a");
        let d = root.lookup("d").expect("d");
        write(&*d, "new", b"n");
        assert_eq!(names(&*d), vec!["new", "x"]);
        assert!(lower.lookup("d").expect("d").lookup("new").is_err());
    }

    #[test]
    fn deleting_a_lower_file_hides_it_and_recreating_shows_the_new_one() {
        let (lower, root) = layers();
        root.unlink("a").expect("unlink");
        assert_eq!(root.lookup("a").err(), Some(Errno(libc::ENOENT)));
        assert!(!names(&*root).contains(&"a".to_string()));
        assert!(lower.lookup("a").is_ok());
        write(&*root, "a", b"again");
        assert_eq!(read(&*root, "a").expect("read"), b"again");
    }

    #[test]
    fn a_directory_made_where_a_lower_one_was_removed_is_opaque() {
        let (_lower, root) = layers();
        assert_eq!(root.rmdir("d"), Err(Errno(libc::ENOTEMPTY)));
        root.lookup("d").expect("d").unlink("x").expect("unlink");
        root.rmdir("d").expect("rmdir");
        root.mkdir("d", C).expect("mkdir");
        assert!(names(&*root.lookup("d").expect("d")).is_empty());
    }

    #[test]
    fn rename_moves_a_lower_file_and_whiteouts_its_old_name() {
        let (lower, root) = layers();
        let e = root.lookup("e").expect("e");
        root.rename("a", &*e, "moved").expect("rename");
        assert_eq!(read(&*e, "moved").expect("read"), b"lower a");
        assert!(root.lookup("a").is_err());
        assert!(lower.lookup("a").is_ok());
        assert_eq!(root.rename("d", &*e, "dd"), Err(Errno(libc::EXDEV)));
    }

    #[test]
    fn stat_keeps_the_lower_inode_number_across_copy_up() {
        let (_lower, root) = layers();
        let before = root.lookup("a").expect("a").stat().expect("stat").ino;
        root.lookup("a").expect("a").chmod(0o600).expect("chmod");
        let after = root.lookup("a").expect("a").stat().expect("stat");
        assert_eq!(after.ino, before);
        assert_eq!(after.mode & 0o7777, 0o600);
    }
}
