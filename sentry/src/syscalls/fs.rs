//! System calls on paths: open, stat, the *at family, directories, links,
//! permissions. Every path is resolved by the Sentry's VFS.

use std::sync::Arc;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::inotify;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::path::join;
use crate::vfs::{Create, FileOps, FileType, Inode, Location, OpenCtx, OpenFile, Stat};

/// What an O_PATH descriptor can do: nothing but name a file.
struct PathOnly {
    inode: Arc<dyn Inode>,
}

impl FileOps for PathOnly {
    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        err(libc::EBADF)
    }
}

pub(super) fn creator(t: &Task, mode: u32) -> Create {
    let st = lock(&t.proc.state);
    let umask = lock(&t.proc.fs).umask;
    Create {
        mode: mode & !umask & 0o7777,
        uid: st.creds.euid,
        gid: st.creds.egid,
    }
}

pub(super) fn check_access(t: &Task, st: &Stat, want: u32) -> SysResult<()> {
    let creds = lock(&t.proc.state).creds.clone();
    if creds.may_access(
        st.mode,
        st.uid,
        st.gid,
        want,
        st.file_type() == FileType::Directory,
    ) {
        Ok(())
    } else {
        err(libc::EACCES)
    }
}

/// Linux's may_delete: removing or renaming away a name of `dir` needs
/// write and search permission on it and, in a sticky directory (/tmp),
/// ownership of the file or of the directory, or CAP_FOWNER.
fn may_delete(t: &Task, dir: &Stat, victim: &Stat) -> SysResult<()> {
    check_access(t, dir, 2 | 1)?;
    if dir.mode & libc::S_ISVTX != 0 {
        let c = lock(&t.proc.state).creds.clone();
        if c.euid != victim.uid && c.euid != dir.uid && !c.has(crate::kernel::caps::FOWNER) {
            return err(libc::EPERM);
        }
    }
    Ok(())
}

/// fs.protected_hardlinks (on by default): a hard link to a file one does
/// not own needs a regular, non-set-id file one may read and write, or
/// CAP_FOWNER (Linux's may_linkat).
fn may_link(t: &Task, src: &Stat) -> SysResult<()> {
    let c = lock(&t.proc.state).creds.clone();
    if c.euid == src.uid || c.has(crate::kernel::caps::FOWNER) {
        return Ok(());
    }
    let setgid_exec = src.mode & libc::S_ISGID != 0 && src.mode & 0o010 != 0;
    let safe = src.file_type() == FileType::Regular
        && src.mode & libc::S_ISUID == 0
        && !setgid_exec
        && c.may_access(src.mode, src.uid, src.gid, 4 | 2, false);
    if safe {
        Ok(())
    } else {
        err(libc::EPERM)
    }
}

pub(super) fn writable(loc: &Location) -> SysResult<()> {
    if loc.readonly {
        err(libc::EROFS)
    } else {
        Ok(())
    }
}

pub fn open(t: &mut Task, dirfd: u64, path: u64, flags: u64, mode: u64) -> SysResult<u64> {
    let path = t.path_arg(path)?;
    let flags = flags as i32;
    let follow = flags & libc::O_NOFOLLOW == 0;
    let acc = flags & libc::O_ACCMODE;
    let wants_write = acc == libc::O_WRONLY || acc == libc::O_RDWR || flags & libc::O_TRUNC != 0;
    if flags & libc::O_TMPFILE == libc::O_TMPFILE {
        return open_tmpfile(t, dirfd, &path, flags, mode as u32);
    }
    // Ambiguous, so refused before any lookup (Linux 6.4's build_open_flags):
    // it neither creates a file nor opens a directory.
    if flags & (libc::O_CREAT | libc::O_DIRECTORY) == libc::O_CREAT | libc::O_DIRECTORY {
        return err(libc::EINVAL);
    }
    let mut created = false;
    let (loc, parent) = if flags & libc::O_CREAT != 0 {
        match t.lookup_in(dirfd, &path, follow) {
            Ok(found) => {
                if flags & libc::O_EXCL != 0 {
                    return err(libc::EEXIST);
                }
                found
            }
            Err(e) if e.0 == libc::ENOENT => {
                let (parent, name) = t.parent_at(dirfd, &path)?;
                if name == "." || name == ".." || path.ends_with('/') {
                    return err(libc::EISDIR);
                }
                writable(&parent)?;
                check_access(t, &parent.inode.stat()?, 2 | 1)?;
                let inode = parent.inode.create(&name, creator(t, mode as u32))?;
                inotify::on_child(&*parent.inode, &name, inotify::IN_CREATE, false, 0);
                created = true;
                let loc = Location {
                    path: join(&parent.path, &name),
                    inode,
                    readonly: parent.readonly,
                };
                (loc, Some(parent))
            }
            Err(e) => return Err(e),
        }
    } else {
        t.lookup_in(dirfd, &path, follow)?
    };
    let st = loc.inode.stat()?;
    let ftype = st.file_type();
    if flags & libc::O_PATH != 0 {
        if flags & libc::O_DIRECTORY != 0 && ftype != FileType::Directory {
            return err(libc::ENOTDIR);
        }
        let ops = Arc::new(PathOnly {
            inode: loc.inode.clone(),
        });
        let f = OpenFile::new(
            ops,
            Some(loc.inode),
            loc.path,
            flags & (libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW),
        );
        return t.install(f, flags & libc::O_CLOEXEC != 0);
    }
    if ftype == FileType::Symlink {
        return err(libc::ELOOP);
    }
    // A socket file names a socket; it cannot be opened (connect instead).
    if ftype == FileType::Socket {
        return err(libc::ENXIO);
    }
    if flags & libc::O_DIRECTORY != 0 && ftype != FileType::Directory {
        return err(libc::ENOTDIR);
    }
    if ftype == FileType::Directory && wants_write {
        return err(libc::EISDIR);
    }
    if wants_write && ftype == FileType::Regular {
        writable(&loc)?;
    }
    let want = match acc {
        libc::O_WRONLY => 2,
        libc::O_RDWR => 6,
        _ => 4,
    };
    // The open that created the file may use it whatever its mode says
    // (Linux checks no access for FMODE_CREATED): git writes its objects
    // through a descriptor of a file it creates with mode 0444.
    if !created {
        check_access(t, &st, want)?;
    }
    let ctx = OpenCtx {
        pid: t.pid(),
        mm: &t.mm,
    };
    let truncates = flags & libc::O_TRUNC != 0 && !created && ftype == FileType::Regular;
    // A host pipe reopened through /proc/PID/fd is open already: no FIFO
    // rendezvous (the other end is outside the sandbox).
    let f = if ftype == FileType::Fifo && !crate::fs::host_fd::is_host_fd_node(&*loc.inode) {
        open_fifo(t, loc, &st, flags)?
    } else {
        let ops = loc.inode.clone().open(flags, &ctx)?;
        OpenFile::new(ops, Some(loc.inode), loc.path, description_flags(flags))
    };
    if let Some(dir) = parent {
        let name = f.path.rsplit('/').next().unwrap_or("").to_string();
        let _ = f.parent.set((dir.inode, name));
    }
    if truncates {
        inotify::on_open_file(&f, inotify::IN_MODIFY);
    }
    inotify::on_open_file(&f, inotify::IN_OPEN);
    t.install(f, flags & libc::O_CLOEXEC != 0)
}

impl Task {
    /// Resolves a path argument relative to `dirfd`, with the directory
    /// the file was found in (for inotify's events on that directory).
    pub fn lookup_in(
        &self,
        dirfd: u64,
        path: &str,
        follow: bool,
    ) -> SysResult<(Location, Option<Location>)> {
        let start = if path.starts_with('/') {
            self.proc.container.root.clone()
        } else {
            self.dir_start(dirfd)?
        };
        self.resolver().resolve_in(&start, path, follow)
    }
}

/// The last component of a canonical path.
pub(super) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Reports an event of the file at `loc` (found in `parent`) to inotify.
pub(super) fn notify_loc(loc: &Location, parent: Option<&Location>, mask: u32) {
    inotify::on_file(
        &*loc.inode,
        parent.map(|p| (&*p.inode, base_name(&loc.path))),
        mask,
    );
}

/// open(2) with O_TMPFILE: an unnamed regular file on the file system of
/// the directory `path`; linkat may name it later unless O_EXCL was given.
fn open_tmpfile(t: &mut Task, dirfd: u64, path: &str, flags: i32, mode: u32) -> SysResult<u64> {
    let acc = flags & libc::O_ACCMODE;
    if (acc != libc::O_WRONLY && acc != libc::O_RDWR) || flags & libc::O_CREAT != 0 {
        return err(libc::EINVAL);
    }
    let loc = t.lookup_at(dirfd, path, true)?;
    if !loc.is_dir() {
        return err(libc::ENOTDIR);
    }
    writable(&loc)?;
    check_access(t, &loc.inode.stat()?, 2 | 1)?;
    let inode = loc
        .inode
        .tmpfile(creator(t, mode), flags & libc::O_EXCL == 0)?;
    let ino = inode.stat()?.ino;
    let ctx = OpenCtx {
        pid: t.pid(),
        mm: &t.mm,
    };
    let ops = inode.clone().open(flags & !libc::O_TRUNC, &ctx)?;
    let name = join(&loc.path, &format!("#{ino} (deleted)"));
    let f = OpenFile::new(ops, Some(inode), name, description_flags(flags));
    t.install(f, flags & libc::O_CLOEXEC != 0)
}

/// The flags an open file description keeps: those that only steer the
/// open itself are dropped.
fn description_flags(flags: i32) -> i32 {
    flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC)
}

/// Opens a FIFO: a blocking open for reading waits for a writer and one for
/// writing waits for a reader; a non-blocking open for writing with no
/// reader fails with ENXIO; O_RDWR never waits. An anonymous pipe opened
/// through /proc/PID/fd/N does neither, as Linux's fifo_open spares pipefs
/// inodes: its other side may be gone for good.
fn open_fifo(t: &mut Task, loc: Location, st: &Stat, flags: i32) -> SysResult<Arc<OpenFile>> {
    let pipe = crate::fs::fifo::pipe_for(st.dev, st.ino);
    let anonymous = crate::fs::pipe::is_anonymous(&*loc.inode);
    let nonblock = flags & libc::O_NONBLOCK != 0;
    let (read, write) = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => (true, false),
        libc::O_WRONLY => (false, true),
        _ => (true, true),
    };
    let (readers, _, reader_opens, writer_opens) = pipe.ends();
    if write && !read && nonblock && readers == 0 && !anonymous {
        return err(libc::ENXIO);
    }
    let end = pipe.open_end(read, write);
    let f = OpenFile::new(end, Some(loc.inode), loc.path, description_flags(flags));
    if read != write && !nonblock && !anonymous {
        // Wait for the other side to be open, or to have come and gone.
        t.block(None, None, |_| {
            let (r, w, ro, wo) = pipe.ends();
            let ready = if read {
                w > 0 || wo != writer_opens
            } else {
                r > 0 || ro != reader_opens
            };
            ready.then_some(())
        })?;
    }
    Ok(f)
}

/// The file a stat-like call names (AT_EMPTY_PATH on "" means dirfd itself).
fn stat_target(t: &Task, dirfd: u64, path: u64, flags: u64) -> SysResult<Stat> {
    let p = t.path_arg(path)?;
    if p.is_empty() {
        if flags & libc::AT_EMPTY_PATH as u64 == 0 {
            return err(libc::ENOENT);
        }
        if dirfd as i32 == libc::AT_FDCWD {
            return lock(&t.proc.fs).cwd.inode.stat();
        }
        return t.file_raw(dirfd)?.ops.stat();
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW as u64 == 0;
    t.lookup_at(dirfd, &p, follow)?.inode.stat()
}

pub fn stat_at(t: &mut Task, dirfd: u64, path: u64, buf: u64, flags: u64) -> SysResult<u64> {
    let st = stat_target(t, dirfd, path, flags)?;
    t.mm.write_obj(buf, &st.to_linux())?;
    Ok(0)
}

pub fn statx(t: &mut Task, a: Args) -> SysResult<u64> {
    let st = stat_target(t, a[0], a[1], a[2])?;
    let mut b = [0u8; 256];
    let put32 = |b: &mut [u8; 256], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |b: &mut [u8; 256], o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    put32(&mut b, 0, 0x7ff); // STATX_BASIC_STATS
    put32(&mut b, 4, st.blksize as u32);
    put32(&mut b, 16, st.nlink as u32);
    put32(&mut b, 20, st.uid);
    put32(&mut b, 24, st.gid);
    b[28..30].copy_from_slice(&(st.mode as u16).to_le_bytes());
    put64(&mut b, 32, st.ino);
    put64(&mut b, 40, st.size);
    put64(&mut b, 48, st.blocks);
    for (o, ts) in [(0x40, st.atime), (0x60, st.ctime), (0x70, st.mtime)] {
        put64(&mut b, o, ts.tv_sec as u64);
        put32(&mut b, o + 8, ts.tv_nsec as u32);
    }
    let major = |d: u64| ((d >> 8) & 0xfff) as u32 | ((d >> 32) & !0xfff) as u32;
    let minor = |d: u64| (d & 0xff) as u32 | ((d >> 12) & !0xff) as u32;
    put32(&mut b, 0x80, major(st.rdev));
    put32(&mut b, 0x84, minor(st.rdev));
    put32(&mut b, 0x88, major(st.dev));
    put32(&mut b, 0x8c, minor(st.dev));
    t.mm.write(a[4], &b)?;
    Ok(0)
}

pub fn access(t: &mut Task, dirfd: u64, path: u64, mode: u64, flags: u64) -> SysResult<u64> {
    let p = t.path_arg(path)?;
    if mode & !7 != 0 {
        return err(libc::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW as u64 == 0;
    let loc = t.lookup_at(dirfd, &p, follow)?;
    let st = loc.inode.stat()?;
    if mode & 2 != 0 {
        writable(&loc)?;
    }
    check_access(t, &st, mode as u32).map(|_| 0)
}

pub fn readlink(t: &mut Task, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult<u64> {
    if (size as i64) <= 0 {
        return err(libc::EINVAL);
    }
    let p = t.path_arg(path)?;
    let loc = t.lookup_at(dirfd, &p, false)?;
    let target = loc.inode.readlink()?;
    let bytes = target.as_bytes();
    let n = bytes.len().min(size as usize);
    t.mm.write(buf, &bytes[..n])?;
    Ok(n as u64)
}

pub fn mkdir(t: &mut Task, dirfd: u64, path: u64, mode: u64) -> SysResult<u64> {
    let p = t.path_arg(path)?;
    let (parent, name) = t.parent_at(dirfd, &p)?;
    if name == "."
        || name == ".."
        || parent.inode.lookup(&name).is_ok()
        || t.proc
            .container
            .mounts
            .get(&join(&parent.path, &name))
            .is_some()
    {
        return err(libc::EEXIST);
    }
    writable(&parent)?;
    check_access(t, &parent.inode.stat()?, 3)?;
    parent.inode.mkdir(&name, creator(t, mode as u32))?;
    inotify::on_child(&*parent.inode, &name, inotify::IN_CREATE, true, 0);
    Ok(0)
}

/// mknod(2): regular files, FIFOs and socket files. Device nodes are
/// refused: the sandbox's devices are the Sentry's own.
pub fn mknod(t: &mut Task, dirfd: u64, path: u64, mode: u64) -> SysResult<u64> {
    let mode = mode as u32;
    let ftype = match mode & libc::S_IFMT {
        0 | libc::S_IFREG => FileType::Regular,
        libc::S_IFIFO => FileType::Fifo,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR | libc::S_IFBLK => return err(libc::EPERM),
        _ => return err(libc::EINVAL),
    };
    let p = t.path_arg(path)?;
    let (parent, name) = t.parent_at(dirfd, &p)?;
    if name == "." || name == ".." || parent.inode.lookup(&name).is_ok() {
        return err(libc::EEXIST);
    }
    writable(&parent)?;
    check_access(t, &parent.inode.stat()?, 3)?;
    let c = creator(t, mode & 0o7777);
    if ftype == FileType::Regular {
        parent.inode.create(&name, c)?;
    } else {
        parent.inode.mknod(&name, ftype, c)?;
    }
    inotify::on_child(&*parent.inode, &name, inotify::IN_CREATE, false, 0);
    Ok(0)
}

pub fn unlink(t: &mut Task, dirfd: u64, path: u64, flags: u64) -> SysResult<u64> {
    let p = t.path_arg(path)?;
    let (parent, name) = t.parent_at(dirfd, &p)?;
    let rmdir = flags & libc::AT_REMOVEDIR as u64 != 0;
    if name == "." {
        return err(if rmdir { libc::EINVAL } else { libc::EISDIR });
    }
    if name == ".." {
        return err(libc::ENOTEMPTY);
    }
    if t.proc
        .container
        .mounts
        .get(&join(&parent.path, &name))
        .is_some()
    {
        return err(libc::EBUSY);
    }
    let victim = parent.inode.lookup(&name)?;
    writable(&parent)?;
    may_delete(t, &parent.inode.stat()?, &victim.stat()?)?;
    let who = inotify::identity(&*victim);
    let gone = if rmdir {
        parent.inode.rmdir(&name)?;
        true
    } else {
        if victim.stat()?.file_type() == FileType::Directory {
            return err(libc::EISDIR);
        }
        parent.inode.unlink(&name)?;
        // The link count changed; with the last link gone, so is the file.
        inotify::on_file(&*victim, None, inotify::IN_ATTRIB);
        victim.stat().map_or(true, |s| s.nlink == 0)
    };
    // Linux's order: the name goes, then the file (DELETE_SELF, IGNORED).
    inotify::on_child(&*parent.inode, &name, inotify::IN_DELETE, rmdir, 0);
    if gone {
        inotify::on_gone(who);
    }
    Ok(0)
}

pub fn rename(
    t: &mut Task,
    olddir: u64,
    old: u64,
    newdir: u64,
    new: u64,
    flags: u64,
) -> SysResult<u64> {
    const RENAME_NOREPLACE: u64 = 1;
    const RENAME_EXCHANGE: u64 = 2;
    const RENAME_WHITEOUT: u64 = 4;
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0)
    {
        return err(libc::EINVAL);
    }
    // Whiteouts belong to overlay file systems; the Sentry's file systems
    // answer as Linux's without them do.
    if flags & RENAME_WHITEOUT != 0 {
        return err(libc::EINVAL);
    }
    let (op, np) = (t.path_arg(old)?, t.path_arg(new)?);
    let (from, oname) = t.parent_at(olddir, &op)?;
    let (to, nname) = t.parent_at(newdir, &np)?;
    // Linux's order (do_renameat2): "." or ".." as the source is EBUSY;
    // as the target EEXIST under RENAME_NOREPLACE, else EBUSY.
    let dots = |n: &str| n == "." || n == "..";
    if dots(&oname) {
        return err(libc::EBUSY);
    }
    if dots(&nname) {
        return err(if flags & RENAME_NOREPLACE != 0 {
            libc::EEXIST
        } else {
            libc::EBUSY
        });
    }
    writable(&from)?;
    writable(&to)?;
    if from.inode.fs_id() != to.inode.fs_id() {
        return err(libc::EXDEV);
    }
    if flags & RENAME_NOREPLACE != 0 && to.inode.lookup(&nname).is_ok() {
        return err(libc::EEXIST);
    }
    let target_path = join(&to.path, &nname);
    let source_path = join(&from.path, &oname);
    if target_path.starts_with(&format!("{source_path}/")) {
        return err(libc::EINVAL);
    }
    rename_permitted(t, &from, &oname, &to, &nname)?;
    if flags & RENAME_EXCHANGE != 0 {
        // Both names must exist, and neither may be above the other.
        from.inode.lookup(&oname)?;
        to.inode.lookup(&nname)?;
        if source_path.starts_with(&format!("{target_path}/")) {
            return err(libc::EINVAL);
        }
        let (a, b) = (from.inode.lookup(&oname)?, to.inode.lookup(&nname)?);
        from.inode.exchange(&oname, &*to.inode, &nname)?;
        let is_dir =
            |i: &Arc<dyn Inode>| i.stat().is_ok_and(|s| s.file_type() == FileType::Directory);
        notify_move(&from, &oname, &to, &nname, &a, is_dir(&a));
        notify_move(&to, &nname, &from, &oname, &b, is_dir(&b));
        return Ok(0);
    }
    let moving = inotify::active()
        .then(|| from.inode.lookup(&oname))
        .transpose()?;
    let replaced = to
        .inode
        .lookup(&nname)
        .ok()
        .filter(|r| moving.as_ref().is_none_or(|m| !Arc::ptr_eq(m, r)))
        .and_then(|r| inotify::identity(&*r));
    from.inode.rename(&oname, &*to.inode, &nname)?;
    if let Some(m) = moving {
        let is_dir = m.stat().is_ok_and(|s| s.file_type() == FileType::Directory);
        if replaced.is_some_and(|(key, _)| m.stat().is_ok_and(|s| (s.dev, s.ino) != key)) {
            inotify::on_gone(replaced);
        }
        notify_move(&from, &oname, &to, &nname, &m, is_dir);
    }
    Ok(0)
}

/// Linux's checks in vfs_rename: the source may be deleted from its
/// directory; the target may be deleted if it exists, else created; a
/// directory moving to another parent must itself be writable (its `..`
/// changes).
fn rename_permitted(
    t: &Task,
    from: &Location,
    oname: &str,
    to: &Location,
    nname: &str,
) -> SysResult<()> {
    let source = from.inode.lookup(oname)?.stat()?;
    may_delete(t, &from.inode.stat()?, &source)?;
    let to_dir = to.inode.stat()?;
    match to.inode.lookup(nname) {
        Ok(target) => may_delete(t, &to_dir, &target.stat()?)?,
        Err(_) => check_access(t, &to_dir, 2 | 1)?,
    }
    let moves_dir = source.file_type() == FileType::Directory;
    if moves_dir && !Arc::ptr_eq(&from.inode, &to.inode) {
        check_access(t, &source, 2)?;
    }
    Ok(())
}

/// IN_MOVED_FROM and IN_MOVED_TO (one cookie) and the file's IN_MOVE_SELF.
fn notify_move(
    from: &Location,
    oname: &str,
    to: &Location,
    nname: &str,
    file: &Arc<dyn Inode>,
    is_dir: bool,
) {
    if !inotify::active() {
        return;
    }
    let cookie = inotify::cookie();
    inotify::on_child(&*from.inode, oname, inotify::IN_MOVED_FROM, is_dir, cookie);
    inotify::on_child(&*to.inode, nname, inotify::IN_MOVED_TO, is_dir, cookie);
    inotify::on_file(&**file, None, inotify::IN_MOVE_SELF);
}

pub fn symlink(t: &mut Task, target: u64, dirfd: u64, path: u64) -> SysResult<u64> {
    let target = t.path_arg(target)?;
    let p = t.path_arg(path)?;
    let (parent, name) = t.parent_at(dirfd, &p)?;
    if parent.inode.lookup(&name).is_ok() {
        return err(libc::EEXIST);
    }
    writable(&parent)?;
    check_access(t, &parent.inode.stat()?, 2 | 1)?;
    parent.inode.symlink(&name, &target, creator(t, 0o777))?;
    inotify::on_child(&*parent.inode, &name, inotify::IN_CREATE, false, 0);
    Ok(0)
}

pub fn link(
    t: &mut Task,
    olddir: u64,
    old: u64,
    newdir: u64,
    new: u64,
    flags: u64,
) -> SysResult<u64> {
    if flags & !((libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) as u64) != 0 {
        return err(libc::EINVAL);
    }
    let (op, np) = (t.path_arg(old)?, t.path_arg(new)?);
    let follow = flags & libc::AT_SYMLINK_FOLLOW as u64 != 0;
    let src = if op.is_empty() && flags & libc::AT_EMPTY_PATH as u64 != 0 {
        // The descriptor itself (how an O_TMPFILE file gets its name):
        // only for CAP_DAC_READ_SEARCH, else ENOENT, as Linux's linkat.
        let searcher = lock(&t.proc.state)
            .creds
            .has(crate::kernel::caps::DAC_READ_SEARCH);
        if !searcher {
            return err(libc::ENOENT);
        }
        t.dir_start(olddir)?
    } else {
        t.lookup_at(olddir, &op, follow)?
    };
    if src.inode.stat()?.file_type() == FileType::Directory {
        return err(libc::EPERM);
    }
    let (parent, name) = t.parent_at(newdir, &np)?;
    if parent.inode.fs_id() != src.inode.fs_id() {
        return err(libc::EXDEV);
    }
    may_link(t, &src.inode.stat()?)?;
    if parent.inode.lookup(&name).is_ok() {
        return err(libc::EEXIST);
    }
    writable(&parent)?;
    check_access(t, &parent.inode.stat()?, 2 | 1)?;
    parent.inode.link(&name, &src.inode)?;
    inotify::on_file(&*src.inode, None, inotify::IN_ATTRIB);
    inotify::on_child(&*parent.inode, &name, inotify::IN_CREATE, false, 0);
    Ok(0)
}

pub fn chdir(t: &mut Task, a: Args) -> SysResult<u64> {
    let p = t.path_arg(a[0])?;
    let loc = t.lookup_at(libc::AT_FDCWD as u64, &p, true)?;
    if !loc.is_dir() {
        return err(libc::ENOTDIR);
    }
    check_access(t, &loc.inode.stat()?, 1)?;
    lock(&t.proc.fs).cwd = loc;
    Ok(0)
}

pub fn fchdir(t: &mut Task, a: Args) -> SysResult<u64> {
    let loc = t.dir_start(a[0])?;
    if !loc.is_dir() {
        return err(libc::ENOTDIR);
    }
    lock(&t.proc.fs).cwd = loc;
    Ok(0)
}

pub fn getcwd(t: &mut Task, a: Args) -> SysResult<u64> {
    let path = lock(&t.proc.fs).cwd.path.clone();
    let mut bytes = path.into_bytes();
    bytes.push(0);
    if bytes.len() > a[1] as usize {
        return err(libc::ERANGE);
    }
    t.mm.write(a[0], &bytes)?;
    Ok(bytes.len() as u64)
}

/// The file's owner, or a holder of CAP_FOWNER (chmod and the like).
fn owner_or_root(t: &Task, st: &Stat) -> SysResult<()> {
    let c = lock(&t.proc.state).creds.clone();
    if c.euid == st.uid || c.has(crate::kernel::caps::FOWNER) {
        Ok(())
    } else {
        err(libc::EPERM)
    }
}

pub fn chmod(t: &mut Task, dirfd: u64, path: u64, mode: u64) -> SysResult<u64> {
    let p = t.path_arg(path)?;
    let (loc, parent) = t.lookup_in(dirfd, &p, true)?;
    writable(&loc)?;
    owner_or_root(t, &loc.inode.stat()?)?;
    loc.inode.chmod(mode as u32)?;
    notify_loc(&loc, parent.as_ref(), inotify::IN_ATTRIB);
    Ok(0)
}

pub fn fchmod(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let inode = f.inode.clone().ok_or(Errno(libc::EBADF))?;
    owner_or_root(t, &inode.stat()?)?;
    inode.chmod(a[1] as u32)?;
    inotify::on_open_file(&f, inotify::IN_ATTRIB);
    Ok(0)
}

fn id_arg(v: u64) -> Option<u32> {
    (v as u32 != u32::MAX).then_some(v as u32)
}

/// Linux's chown_ok and chgrp_ok: without CAP_CHOWN, only the owner may
/// "change" the owner to itself and the group to one of its groups.
fn may_chown(t: &Task, st: &Stat, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
    let c = lock(&t.proc.state).creds.clone();
    if c.has(crate::kernel::caps::CHOWN) {
        return Ok(());
    }
    let owner = c.euid == st.uid;
    let uid_ok = uid.is_none_or(|u| owner && u == st.uid);
    let gid_ok = gid.is_none_or(|g| owner && (g == st.gid || c.in_group(g)));
    if uid_ok && gid_ok {
        Ok(())
    } else {
        err(libc::EPERM)
    }
}

pub fn chown(
    t: &mut Task,
    dirfd: u64,
    path: u64,
    uid: u64,
    gid: u64,
    flags: u64,
) -> SysResult<u64> {
    let p = t.path_arg(path)?;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW as u64 == 0;
    let (loc, parent) = if p.is_empty() && flags & libc::AT_EMPTY_PATH as u64 != 0 {
        (t.dir_start(dirfd)?, None)
    } else {
        t.lookup_in(dirfd, &p, follow)?
    };
    writable(&loc)?;
    let (uid, gid) = (id_arg(uid), id_arg(gid));
    may_chown(t, &loc.inode.stat()?, uid, gid)?;
    loc.inode.chown(uid, gid)?;
    notify_loc(&loc, parent.as_ref(), inotify::IN_ATTRIB);
    Ok(0)
}

pub fn fchown(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let inode = f.inode.clone().ok_or(Errno(libc::EBADF))?;
    let (uid, gid) = (id_arg(a[1]), id_arg(a[2]));
    may_chown(t, &inode.stat()?, uid, gid)?;
    inode.chown(uid, gid)?;
    inotify::on_open_file(&f, inotify::IN_ATTRIB);
    Ok(0)
}

pub fn umask(t: &mut Task, a: Args) -> SysResult<u64> {
    let mut fs = lock(&t.proc.fs);
    let old = fs.umask;
    fs.umask = a[0] as u32 & 0o777;
    Ok(old as u64)
}

pub fn truncate(t: &mut Task, a: Args) -> SysResult<u64> {
    let p = t.path_arg(a[0])?;
    if (a[1] as i64) < 0 {
        return err(libc::EINVAL);
    }
    let (loc, parent) = t.lookup_in(libc::AT_FDCWD as u64, &p, true)?;
    // vfs_truncate's order: the file's type, then the mount, then access.
    let st = loc.inode.stat()?;
    match st.file_type() {
        FileType::Directory => return err(libc::EISDIR),
        FileType::Regular => {}
        _ => return err(libc::EINVAL),
    }
    writable(&loc)?;
    check_access(t, &st, 2)?;
    if a[1] > st.size {
        crate::kernel::rlimits::fsize_check_size(&t.kernel, &t.proc, a[1])?;
    }
    loc.inode.truncate(a[1])?;
    notify_loc(&loc, parent.as_ref(), inotify::IN_MODIFY);
    Ok(0)
}

pub fn utimensat(t: &mut Task, a: Args) -> SysResult<u64> {
    let follow = a[3] & libc::AT_SYMLINK_NOFOLLOW as u64 == 0;
    let now = crate::vfs::stat::now();
    let (at, mt) = if a[2] == 0 {
        (Some(now), Some(now))
    } else {
        let ts: [libc::timespec; 2] = t.mm.read_obj(a[2])?;
        let pick = |x: libc::timespec| match x.tv_nsec {
            libc::UTIME_NOW => Ok(Some(now)),
            libc::UTIME_OMIT => Ok(None),
            n if (0..1_000_000_000).contains(&n) => Ok(Some(x)),
            _ => err(libc::EINVAL),
        };
        (pick(ts[0])?, pick(ts[1])?)
    };
    set_times(t, a[0], a[1], follow, at, mt)
}

/// Sets the access and modification times (None: unchanged) of the file
/// at path `path_addr` relative to `dirfd`, or of `dirfd` itself when
/// `path_addr` is NULL (utimensat's own extension).
pub(super) fn set_times(
    t: &mut Task,
    dirfd: u64,
    path_addr: u64,
    follow: bool,
    at: Option<libc::timespec>,
    mt: Option<libc::timespec>,
) -> SysResult<u64> {
    let a = [dirfd, path_addr];
    let (inode, parent) = if a[1] == 0 {
        let f = t.file(a[0])?;
        let inode = f.inode.clone().ok_or(Errno(libc::EBADF))?;
        (inode, f.parent.get().cloned())
    } else {
        let p = t.path_arg(a[1])?;
        let (loc, parent) = t.lookup_in(a[0], &p, follow)?;
        writable(&loc)?;
        let name = base_name(&loc.path).to_string();
        (loc.inode, parent.map(|d| (d.inode, name)))
    };
    inode.set_times(at, mt)?;
    let parent = parent.as_ref().map(|(d, n)| (&**d, n.as_str()));
    inotify::on_file(&*inode, parent, inotify::IN_ATTRIB);
    Ok(0)
}
