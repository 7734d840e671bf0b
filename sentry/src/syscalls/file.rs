//! System calls on descriptors: read, write and friends, dup, fcntl, pipes,
//! directory listing, poll.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::inotify;
use crate::fs::pipe::new_pipe;
use crate::kernel::process::lock;
use crate::kernel::rlimits;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::Task;
use crate::vfs::file::WaitOn;
use crate::vfs::{FileType, OpenFile};

/// Largest single transfer (Linux's MAX_RW_COUNT).
const MAX_RW: usize = 0x7fff_f000;
/// Transfers go through a Sentry buffer of at most this size per step.
pub(super) const CHUNK: usize = 1 << 20;

/// Waits until `f` polls ready for `events` (or a signal arrives).
pub fn wait_ready(t: &mut Task, f: &OpenFile, events: i16) -> SysResult<()> {
    let host = match f.ops.wait_on() {
        WaitOn::Host(fd) => Some((fd, events)),
        WaitOn::Kernel => None,
    };
    let mask = events | libc::POLLHUP | libc::POLLERR;
    t.block_on_files(&[&*f.ops], host, None, |_| {
        (f.ops.poll() & mask != 0).then_some(())
    })
}

/// Reads into a Sentry buffer, blocking as the file's flags say.
pub(super) fn read_file(
    t: &mut Task,
    f: &OpenFile,
    len: usize,
    off: Option<u64>,
) -> SysResult<Vec<u8>> {
    read_file_with(t, f, len, off, f.nonblocking())
}

/// Like `read_file`; `nonblock` overrides O_NONBLOCK (RWF_NOWAIT,
/// SPLICE_F_NONBLOCK).
pub(super) fn read_file_with(
    t: &mut Task,
    f: &OpenFile,
    len: usize,
    off: Option<u64>,
    nonblock: bool,
) -> SysResult<Vec<u8>> {
    if !f.readable() {
        return err(libc::EBADF);
    }
    let mut buf = vec![0u8; len.min(MAX_RW).min(CHUNK)];
    loop {
        let pos = match off {
            Some(o) => o,
            None if f.ops.seekable() => *lock(&f.pos),
            None => 0,
        };
        match f.ops.read(&mut buf, pos) {
            Ok(n) => {
                if off.is_none() && f.ops.seekable() {
                    *lock(&f.pos) = pos + n as u64;
                }
                buf.truncate(n);
                t.proc.io.read_chars(n);
                if n > 0 {
                    inotify::on_open_file(f, inotify::IN_ACCESS);
                }
                return Ok(buf);
            }
            Err(e) if e.0 == libc::EAGAIN && !nonblock => wait_ready(t, f, libc::POLLIN)?,
            Err(e) => return Err(e),
        }
    }
}

/// Whether RLIMIT_FSIZE applies to writes to `f` (a regular file while a
/// limit is set).
fn fsize_limited(t: &Task, f: &OpenFile) -> bool {
    rlimits::soft(&t.proc, libc::RLIMIT_FSIZE) != rlimits::INFINITY
        && f.ops.seekable()
        && f.ops
            .stat()
            .is_ok_and(|s| s.file_type() == FileType::Regular)
}

/// Writes all of `data` (or as much as a non-blocking file takes).
/// `fresh`: nothing has been written yet by this call, so reaching
/// RLIMIT_FSIZE is EFBIG and SIGXFSZ rather than a short count.
pub(super) fn write_file(
    t: &mut Task,
    f: &OpenFile,
    data: &[u8],
    off: Option<u64>,
    fresh: bool,
) -> SysResult<usize> {
    write_file_with(t, f, data, off, fresh, f.nonblocking())
}

/// Like `write_file`; `nonblock` overrides O_NONBLOCK.
pub(super) fn write_file_with(
    t: &mut Task,
    f: &OpenFile,
    data: &[u8],
    off: Option<u64>,
    fresh: bool,
    nonblock: bool,
) -> SysResult<usize> {
    let n = write_some(t, f, data, off, fresh, nonblock)?;
    t.proc.io.wrote_chars(n);
    if n > 0 {
        inotify::on_open_file(f, inotify::IN_MODIFY);
    }
    Ok(n)
}

fn write_some(
    t: &mut Task,
    f: &OpenFile,
    data: &[u8],
    off: Option<u64>,
    fresh: bool,
    nonblock: bool,
) -> SysResult<usize> {
    if !f.writable() {
        return err(libc::EBADF);
    }
    let limited = !data.is_empty() && fsize_limited(t, f);
    let mut done = 0;
    while done < data.len() || data.is_empty() {
        let pos = match off {
            Some(o) => o + done as u64,
            None if f.ops.seekable() => {
                if f.flags() & libc::O_APPEND != 0 {
                    f.ops.stat()?.size
                } else {
                    *lock(&f.pos)
                }
            }
            None => 0,
        };
        let mut chunk = &data[done..];
        if limited {
            // Clamped to RLIMIT_FSIZE: the call's first byte past the limit
            // is EFBIG (and SIGXFSZ); after some bytes, a short count.
            let limit = rlimits::soft(&t.proc, libc::RLIMIT_FSIZE);
            if pos >= limit && (done > 0 || !fresh) {
                return Ok(done);
            }
            let allow = rlimits::fsize_allow(&t.kernel, &t.proc, pos, chunk.len())?;
            chunk = &chunk[..allow];
        }
        match f.ops.write(chunk, pos) {
            Ok(n) => {
                if off.is_none() && f.ops.seekable() {
                    *lock(&f.pos) = pos + n as u64;
                }
                done += n;
                if data.is_empty() || f.ops.whole_message() {
                    break;
                }
            }
            Err(e) if e.0 == libc::EAGAIN && !nonblock => match wait_ready(t, f, libc::POLLOUT) {
                Ok(()) => {}
                Err(e) if done > 0 => {
                    let _ = e;
                    return Ok(done);
                }
                Err(e) => return Err(e),
            },
            Err(e) if e.0 == libc::EAGAIN && done > 0 => return Ok(done),
            Err(e) if e.0 == libc::EPIPE => {
                t.kernel.send_signal(
                    &t.proc.clone(),
                    SigInfo::user(libc::SIGPIPE, t.pid(), 0),
                    false,
                );
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
    }
    Ok(done)
}

pub fn read(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    // Directories answer EISDIR from their own read.
    let data = read_file(t, &f, a[2] as usize, None)?;
    t.mm.write(a[1], &data)?;
    Ok(data.len() as u64)
}

/// Writes application memory `segments` to `f`, gathered through a Sentry
/// buffer of at most CHUNK bytes, so a huge length never becomes a huge
/// allocation. Writes of up to CHUNK bytes stay one write (pipe atomicity).
pub(super) fn write_from_user(
    t: &mut Task,
    f: &OpenFile,
    segments: &[(u64, usize)],
    off: Option<u64>,
) -> SysResult<u64> {
    write_from_user_with(t, f, segments, off, f.nonblocking())
}

/// A write by a caller without CAP_FSETID takes the set-user-ID bit off a
/// regular file, and the set-group-ID bit when the group may execute it
/// (Linux's file_remove_privs), so nobody else's write leaves a set-id
/// program behind. Root in a container holds CAP_FSETID: the file is not
/// looked at then.
fn remove_setid_bits(t: &Task, f: &OpenFile) {
    if lock(&t.proc.state).creds.has(crate::kernel::caps::FSETID) {
        return;
    }
    let Some(inode) = &f.inode else {
        return;
    };
    let Ok(st) = inode.stat() else {
        return;
    };
    if st.file_type() != FileType::Regular {
        return;
    }
    let mut kill = 0;
    if st.mode & libc::S_ISUID != 0 {
        kill |= libc::S_ISUID;
    }
    if st.mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP {
        kill |= libc::S_ISGID;
    }
    if kill != 0 && inode.chmod(st.mode & 0o7777 & !kill).is_ok() {
        inotify::on_open_file(f, inotify::IN_ATTRIB);
    }
}

/// Like `write_from_user`; `nonblock` overrides O_NONBLOCK.
pub(super) fn write_from_user_with(
    t: &mut Task,
    f: &OpenFile,
    segments: &[(u64, usize)],
    off: Option<u64>,
    nonblock: bool,
) -> SysResult<u64> {
    let total: usize = segments
        .iter()
        .map(|s| s.1)
        .fold(0usize, |a, b| a.saturating_add(b))
        .min(MAX_RW);
    if total > 0 {
        remove_setid_bits(t, f);
    }
    let mut done = 0usize;
    let mut seg = 0;
    let mut seg_off = 0usize;
    loop {
        let want = (total - done).min(CHUNK);
        let mut buf = Vec::with_capacity(want);
        while buf.len() < want && seg < segments.len() {
            let (base, len) = segments[seg];
            let n = (len - seg_off).min(want - buf.len());
            let start = buf.len();
            if let Err(e) = t.mm.read_append(base + seg_off as u64, n, &mut buf) {
                buf.truncate(start);
                if buf.is_empty() {
                    return if done > 0 { Ok(done as u64) } else { Err(e) };
                }
                seg = segments.len();
                break;
            }
            seg_off += n;
            if seg_off == len {
                seg += 1;
                seg_off = 0;
            }
        }
        let at = off.map(|o| o + done as u64);
        let result = write_file_with(t, f, &buf, at, done == 0, nonblock);
        match result {
            Ok(n) => {
                done += n;
                if n < buf.len() || done >= total || seg >= segments.len() {
                    return Ok(done as u64);
                }
            }
            Err(e) => return if done > 0 { Ok(done as u64) } else { Err(e) },
        }
    }
}

pub fn write(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    write_from_user(t, &f, &[(a[1], a[2] as usize)], None)
}

pub fn pread(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    if !f.ops.seekable() {
        return err(libc::ESPIPE);
    }
    if (a[3] as i64) < 0 {
        return err(libc::EINVAL);
    }
    let data = read_file(t, &f, a[2] as usize, Some(a[3]))?;
    t.mm.write(a[1], &data)?;
    Ok(data.len() as u64)
}

pub fn pwrite(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    if !f.ops.seekable() {
        return err(libc::ESPIPE);
    }
    if (a[3] as i64) < 0 {
        return err(libc::EINVAL);
    }
    write_from_user(t, &f, &[(a[1], a[2] as usize)], Some(a[3]))
}

pub(super) fn iovecs(t: &Task, addr: u64, cnt: u64) -> SysResult<Vec<(u64, usize)>> {
    if cnt > 1024 {
        return err(libc::EINVAL);
    }
    let mut v = Vec::with_capacity(cnt as usize);
    for i in 0..cnt {
        let base = t.mm.read_u64(addr + i * 16)?;
        let len = t.mm.read_u64(addr + i * 16 + 8)?;
        if len > isize::MAX as u64 {
            return err(libc::EINVAL);
        }
        v.push((base, len as usize));
    }
    Ok(v)
}

pub fn readv(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let iov = iovecs(t, a[1], a[2])?;
    read_to_user(t, &f, &iov, None, f.nonblocking())
}

/// Reads from `f` (at `off`, or its position) into application memory
/// `segments`, in one read of at most CHUNK bytes.
pub(super) fn read_to_user(
    t: &mut Task,
    f: &OpenFile,
    segments: &[(u64, usize)],
    off: Option<u64>,
    nonblock: bool,
) -> SysResult<u64> {
    let total = segments
        .iter()
        .fold(0usize, |acc, v| acc.saturating_add(v.1));
    let data = read_file_with(t, f, total, off, nonblock)?;
    let mut done = 0;
    for &(base, len) in segments {
        let n = len.min(data.len() - done);
        t.mm.write(base, &data[done..done + n])?;
        done += n;
    }
    Ok(data.len() as u64)
}

pub fn writev(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let iov = iovecs(t, a[1], a[2])?;
    write_from_user(t, &f, &iov, None)
}

pub fn close(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = lock(&t.proc.files).remove(a[0] as i32)?;
    super::locks::closed(t.pid(), &f);
    Ok(0)
}

/// close_range(2)'s flags: CLOSE_RANGE_UNSHARE (the table is the
/// process's own already: no process shares another's) and
/// CLOSE_RANGE_CLOEXEC (mark instead of close).
const CLOSE_RANGE_UNSHARE: u64 = 2;
const CLOSE_RANGE_CLOEXEC: u64 = 4;

pub fn close_range(t: &mut Task, a: Args) -> SysResult<u64> {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return err(libc::EINVAL);
    }
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        lock(&t.proc.files).cloexec_range(first, last);
        return Ok(0);
    }
    let closed = lock(&t.proc.files).close_range(first, last);
    // As close(2) does for each: the process's record locks on the file go.
    for f in &closed {
        super::locks::closed(t.pid(), f);
    }
    Ok(0)
}

pub fn fstat(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file_raw(a[0])?;
    let st = f.ops.stat()?;
    t.mm.write_obj(a[1], &st.to_linux())?;
    Ok(0)
}

pub fn lseek(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    if !f.ops.seekable() {
        return err(libc::ESPIPE);
    }
    if f.ops.fixed_position() {
        return match a[2] as i32 {
            libc::SEEK_SET | libc::SEEK_CUR | libc::SEEK_END => Ok(0),
            _ => err(libc::EINVAL),
        };
    }
    let off = a[1] as i64;
    let whence = a[2] as i32;
    if whence == libc::SEEK_DATA || whence == libc::SEEK_HOLE {
        return seek_data_hole(&f, off, whence);
    }
    let mut pos = lock(&f.pos);
    let base = match whence {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => *pos as i64,
        libc::SEEK_END if f.ops.seek_end() => f.ops.stat()?.size as i64,
        _ => return err(libc::EINVAL),
    };
    let new = base.checked_add(off).ok_or(Errno(libc::EINVAL))?;
    if new < 0 {
        return err(libc::EINVAL);
    }
    *pos = new as u64;
    if new == 0 {
        *lock(&f.dir_snapshot) = None;
    }
    Ok(new as u64)
}

/// lseek's SEEK_DATA and SEEK_HOLE on a regular file, as Linux's generic
/// llseek answers them: the whole file is data and its end the only hole
/// (a file system may report a hole as data); at or past the end (offsets
/// compared unsigned, so a negative one too) there is neither: ENXIO.
fn seek_data_hole(f: &OpenFile, off: i64, whence: i32) -> SysResult<u64> {
    let st = f.ops.stat()?;
    if st.file_type() != FileType::Regular {
        return err(libc::EINVAL);
    }
    let size = st.size;
    if off as u64 >= size {
        return err(libc::ENXIO);
    }
    let new = if whence == libc::SEEK_DATA {
        off as u64
    } else {
        size
    };
    *lock(&f.pos) = new;
    Ok(new)
}

pub fn ioctl(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    match a[1] {
        // FIOCLEX / FIONCLEX
        0x5451 => lock(&t.proc.files)
            .set_cloexec(a[0] as i32, true)
            .map(|_| 0),
        0x5450 => lock(&t.proc.files)
            .set_cloexec(a[0] as i32, false)
            .map(|_| 0),
        // FIOASYNC: O_ASYNC on or off.
        0x5452 => {
            let on = t.mm.read_obj::<i32>(a[2])? != 0;
            let fl = f.flags();
            f.set_status_flags(if on {
                fl | libc::O_ASYNC
            } else {
                fl & !libc::O_ASYNC
            });
            if on {
                crate::kernel::sigio::register(&t.kernel, &f, a[0] as i32);
            }
            Ok(0)
        }
        // FIOSETOWN, SIOCSPGRP: the SIGIO owner, as F_SETOWN.
        0x8901 | 0x8902 => {
            f.set_owner(t.mm.read_obj::<i32>(a[2])?);
            Ok(0)
        }
        // FIOGETOWN, SIOCGPGRP.
        0x8903 | 0x8904 => {
            t.mm.write_obj(a[2], &f.owner())?;
            Ok(0)
        }
        // FIONBIO
        0x5421 => {
            let on = t.mm.read_obj::<i32>(a[2])? != 0;
            let fl = f.flags();
            f.set_status_flags(if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            });
            Ok(0)
        }
        req => f.ops.ioctl(t, req, a[2]),
    }
}

pub fn pipe2(t: &mut Task, addr: u64, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return err(libc::EINVAL);
    }
    let (r, w) = new_pipe();
    let ino = r.ino();
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let nb = flags & libc::O_NONBLOCK;
    let rf = OpenFile::new(r, None, format!("pipe:[{ino}]"), libc::O_RDONLY | nb);
    let wf = OpenFile::new(w, None, format!("pipe:[{ino}]"), libc::O_WRONLY | nb);
    let limit = t.nofile();
    let mut files = lock(&t.proc.files);
    let rfd = files.install(rf, cloexec, limit)?;
    let wfd = match files.install(wf, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = files.remove(rfd);
            return Err(e);
        }
    };
    drop(files);
    let fds = [rfd, wfd];
    if let Err(e) = t.mm.write_obj(addr, &fds) {
        let mut files = lock(&t.proc.files);
        let _ = files.remove(rfd);
        let _ = files.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

pub fn dup(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file_raw(a[0])?;
    t.install(f, false)
}

pub fn dup3(t: &mut Task, old: u64, new: u64, flags: u64, dup2: bool) -> SysResult<u64> {
    let f = t.file_raw(old)?;
    if old == new {
        return if dup2 { Ok(new) } else { err(libc::EINVAL) };
    }
    if flags & !(libc::O_CLOEXEC as u64) != 0 {
        return err(libc::EINVAL);
    }
    let limit = t.nofile();
    let replaced = lock(&t.proc.files).install_at(new as i32, f, flags != 0, limit)?;
    drop(replaced);
    Ok(new)
}

/// fcntl commands and f_owner_ex types the libc crate lacks (Linux's values).
const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_SETOWN_EX: i32 = 15;
const F_GETOWN_EX: i32 = 16;
const F_OWNER_TID: i32 = 0;
const F_OWNER_PID: i32 = 1;
const F_OWNER_PGRP: i32 = 2;

pub fn fcntl(t: &mut Task, a: Args) -> SysResult<u64> {
    let fd = a[0] as i32;
    let f = t.file_raw(a[0])?;
    // An O_PATH descriptor allows the descriptor commands alone (Linux's
    // check_fcntl_cmd).
    let path_ok = [
        libc::F_DUPFD,
        libc::F_DUPFD_CLOEXEC,
        libc::F_GETFD,
        libc::F_SETFD,
        libc::F_GETFL,
    ];
    if f.flags() & libc::O_PATH != 0 && !path_ok.contains(&(a[1] as i32)) {
        return err(libc::EBADF);
    }
    match a[1] as i32 {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let limit = t.nofile();
            let cloexec = a[1] as i32 == libc::F_DUPFD_CLOEXEC;
            let min = i32::try_from(a[2]).map_err(|_| Errno(libc::EINVAL))?;
            if min as u64 >= limit {
                return err(libc::EINVAL);
            }
            lock(&t.proc.files)
                .install_from(min, f, cloexec, limit)
                .map(|fd| fd as u64)
        }
        libc::F_GETFD => lock(&t.proc.files).cloexec(fd).map(|c| c as u64),
        libc::F_SETFD => lock(&t.proc.files)
            .set_cloexec(fd, a[2] & 1 != 0)
            .map(|_| 0),
        libc::F_GETFL => Ok(f.flags() as u64),
        libc::F_SETFL => {
            f.set_status_flags(a[2] as i32);
            if a[2] as i32 & libc::O_ASYNC != 0 {
                crate::kernel::sigio::register(&t.kernel, &f, fd);
            }
            Ok(0)
        }
        libc::F_GETOWN => Ok(f.owner() as i64 as u64),
        libc::F_SETOWN => {
            f.set_owner(a[2] as i32);
            Ok(0)
        }
        F_GETOWN_EX => {
            // struct f_owner_ex { int type; pid_t pid; }
            let owner = f.owner();
            let (ty, pid) = if owner < 0 {
                (F_OWNER_PGRP, -owner)
            } else {
                (F_OWNER_PID, owner)
            };
            t.mm.write_obj(a[2], &[ty, pid])?;
            Ok(0)
        }
        F_SETOWN_EX => {
            let [ty, pid]: [i32; 2] = t.mm.read_obj(a[2])?;
            let owner = match ty {
                F_OWNER_TID | F_OWNER_PID => pid,
                F_OWNER_PGRP => -pid,
                _ => return err(libc::EINVAL),
            };
            f.set_owner(owner);
            Ok(0)
        }
        F_GETSIG => Ok(f.sigio_signal() as u64),
        F_SETSIG => {
            let sig = i32::try_from(a[2]).map_err(|_| Errno(libc::EINVAL))?;
            if !(0..=64).contains(&sig) {
                return err(libc::EINVAL);
            }
            f.set_sigio_signal(sig);
            Ok(0)
        }
        cmd @ (libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW) => super::locks::fcntl_lock(t, &f, cmd, a[2]),
        libc::F_GET_SEALS => super::memfd::get_seals(&f),
        libc::F_ADD_SEALS => super::memfd::add_seals(&f, a[2]),
        libc::F_GETPIPE_SZ | libc::F_SETPIPE_SZ => {
            let pipe = f
                .ops
                .as_any()
                .and_then(|a| a.downcast_ref::<crate::fs::pipe::PipeEnd>())
                .ok_or(Errno(libc::EBADF))?;
            if a[1] as i32 == libc::F_GETPIPE_SZ {
                return Ok(pipe.capacity() as u64);
            }
            let want = usize::try_from(a[2] as u32).map_err(|_| Errno(libc::EINVAL))?;
            // Linux rounds the size first (too big: EINVAL), then checks
            // the privilege to exceed pipe-max-size.
            if want > i32::MAX as usize {
                return err(libc::EINVAL);
            }
            if want > crate::fs::pipe::MAX_CAPACITY
                && !lock(&t.proc.state)
                    .creds
                    .has(crate::kernel::caps::SYS_RESOURCE)
            {
                return err(libc::EPERM);
            }
            pipe.set_capacity(want).map(|n| n as u64)
        }
        _ => err(libc::EINVAL),
    }
}

pub fn fsync(t: &mut Task, a: Args) -> SysResult<u64> {
    t.file(a[0])?.ops.sync().map(|_| 0)
}

pub fn ftruncate(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file(a[0])?;
    if !f.writable() {
        return err(libc::EINVAL);
    }
    if (a[1] as i64) < 0 {
        return err(libc::EINVAL);
    }
    if f.ops
        .stat()
        .is_ok_and(|s| s.file_type() == FileType::Regular && a[1] > s.size)
    {
        rlimits::fsize_check_size(&t.kernel, &t.proc, a[1])?;
    }
    f.ops.truncate(a[1])?;
    inotify::on_open_file(&f, inotify::IN_MODIFY);
    Ok(0)
}

pub fn getdents64(t: &mut Task, a: Args) -> SysResult<u64> {
    dirents(t, a, false)
}

/// getdents (the old call, 78), which static programs of older libcs
/// make: `struct linux_dirent`, the type in the record's last byte.
pub fn getdents(t: &mut Task, a: Args) -> SysResult<u64> {
    dirents(t, a, true)
}

fn dirents(t: &mut Task, a: Args, old: bool) -> SysResult<u64> {
    let f = t.file(a[0])?;
    let inode = f.inode.clone().ok_or(Errno(libc::ENOTDIR))?;
    let mut snap = lock(&f.dir_snapshot);
    if snap.is_none() {
        let mut entries = vec![
            crate::vfs::DirEntry {
                name: ".".into(),
                ino: inode.stat()?.ino,
                ftype: FileType::Directory,
            },
            crate::vfs::DirEntry {
                name: "..".into(),
                ino: 1,
                ftype: FileType::Directory,
            },
        ];
        entries.extend(inode.readdir()?);
        *snap = Some(entries);
    }
    let entries = snap.as_ref().ok_or(Errno(libc::EIO))?;
    let mut pos = lock(&f.pos);
    let cap = (a[2] as usize).min(1 << 20);
    let mut out = Vec::new();
    let mut idx = *pos as usize;
    while let Some(e) = entries.get(idx) {
        // linux_dirent64: ino, off, reclen, type, name, NUL, padding.
        // linux_dirent: ino, off, reclen, name, NUL, padding, type last.
        let reclen = if old {
            (18 + e.name.len() + 2).div_ceil(8) * 8
        } else {
            (19 + e.name.len() + 1).div_ceil(8) * 8
        };
        if out.len() + reclen > cap {
            if out.is_empty() {
                return err(libc::EINVAL);
            }
            break;
        }
        let start = out.len();
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&((idx + 1) as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        if !old {
            out.push(e.ftype.dirent_type());
        }
        out.extend_from_slice(e.name.as_bytes());
        out.resize(start + reclen, 0);
        if old {
            out[start + reclen - 1] = e.ftype.dirent_type();
        }
        idx += 1;
    }
    *pos = idx as u64;
    drop(pos);
    drop(snap);
    t.mm.write(a[1], &out)?;
    Ok(out.len() as u64)
}

pub fn sendfile(t: &mut Task, a: Args) -> SysResult<u64> {
    let out = t.file(a[0])?;
    let inp = t.file(a[1])?;
    if !inp.readable() || !out.writable() {
        return err(libc::EBADF);
    }
    // Linux reads sendfile's input with splice_read, which pipes lack
    // (busybox cat tries sendfile first and falls back on EINVAL), and
    // refuses an append-only output (do_splice_direct).
    if super::splice::pipe_of(&inp).is_some() || out.flags() & libc::O_APPEND != 0 {
        return err(libc::EINVAL);
    }
    let off = if a[2] != 0 {
        Some(t.mm.read_u64(a[2])?)
    } else {
        None
    };
    let data = read_file(t, &inp, (a[3] as usize).min(CHUNK), off)?;
    if data.is_empty() {
        return Ok(0);
    }
    let n = write_file(t, &out, &data, None, true)?;
    if let Some(o) = off {
        t.mm.write_obj(a[2], &(o + n as u64))?;
    } else if n < data.len() && inp.ops.seekable() {
        *lock(&inp.pos) -= (data.len() - n) as u64;
    }
    Ok(n as u64)
}

pub fn poll(t: &mut Task, addr: u64, nfds: u64, timeout_ms: i64) -> SysResult<u64> {
    let deadline =
        (timeout_ms >= 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
    poll_until(t, addr, nfds, deadline)
}

pub fn ppoll(t: &mut Task, a: Args) -> SysResult<u64> {
    let deadline = if a[2] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[2])?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return err(libc::EINVAL);
        }
        Some(Instant::now() + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    } else {
        None
    };
    if a[3] != 0 {
        let mask: u64 = t.mm.read_obj(a[3])?;
        t.saved_mask = Some(t.mask());
        t.set_mask(mask);
    }
    let r = poll_until(t, a[0], a[1], deadline);
    if !matches!(r, Err(e) if e.is_restart()) {
        if let Some(m) = t.saved_mask.take() {
            t.set_mask(m);
        }
    }
    r.map_err(|e| {
        if e.is_restart() {
            Errno::ERESTARTNOHAND
        } else {
            e
        }
    })
}

fn poll_until(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>) -> SysResult<u64> {
    if nfds > t.nofile() {
        return err(libc::EINVAL);
    }
    let mut fds: Vec<libc::pollfd> = (0..nfds)
        .map(|i| t.mm.read_obj(addr + i * 8))
        .collect::<SysResult<_>>()?;
    let files: Vec<Option<Arc<OpenFile>>> = fds
        .iter()
        .map(|p| {
            if p.fd < 0 {
                None
            } else {
                t.file(p.fd as u64).ok()
            }
        })
        .collect();
    // Wait on the first host descriptor if any (stdio), else on kernel events.
    let host = files.iter().flatten().find_map(|f| match f.ops.wait_on() {
        WaitOn::Host(fd) => Some((fd, libc::POLLIN)),
        WaitOn::Kernel => None,
    });
    let scan = |fds: &mut Vec<libc::pollfd>| -> u64 {
        let mut n = 0;
        for (p, f) in fds.iter_mut().zip(files.iter()) {
            p.revents = match f {
                None if p.fd >= 0 => libc::POLLNVAL,
                None => 0,
                Some(f) => f.ops.poll() & (p.events | libc::POLLHUP | libc::POLLERR),
            };
            if p.revents != 0 {
                n += 1;
            }
        }
        n
    };
    let ops: Vec<&dyn crate::vfs::FileOps> = files.iter().flatten().map(|f| &*f.ops).collect();
    let result = t.block_on_files(&ops, host, deadline, |_| {
        let n = scan(&mut fds);
        (n > 0).then_some(n)
    });
    let n = match result {
        Ok(n) => n,
        Err(e) if e.0 == libc::ETIMEDOUT => 0,
        Err(e) => {
            return Err(if e.is_restart() {
                Errno::ERESTARTNOHAND
            } else {
                e
            })
        }
    };
    for (i, p) in fds.iter().enumerate() {
        t.mm.write(addr + i as u64 * 8 + 6, &p.revents.to_le_bytes())?;
    }
    Ok(n)
}

/// Writes zeros over [off, end) of `f`, a chunk at a time.
fn zero_range(f: &OpenFile, off: u64, end: u64) -> SysResult<()> {
    let zeros = vec![0u8; CHUNK.min((end - off) as usize)];
    let mut pos = off;
    while pos < end {
        let n = ((end - pos) as usize).min(zeros.len());
        pos += f.ops.write(&zeros[..n], pos)? as u64;
    }
    Ok(())
}

/// fallocate: space is not reserved (the Sentry's files have no blocks),
/// but sizes and zeroed ranges are as Linux leaves them.
pub fn fallocate(t: &mut Task, a: Args) -> SysResult<u64> {
    const KEEP_SIZE: i32 = 0x01;
    const PUNCH_HOLE: i32 = 0x02;
    const ZERO_RANGE: i32 = 0x10;
    let f = t.file(a[0])?;
    let (mode, off, len) = (a[1] as i32, a[2] as i64, a[3] as i64);
    if off < 0 || len <= 0 {
        return err(libc::EINVAL);
    }
    if !f.writable() {
        return err(libc::EBADF);
    }
    match f.ops.stat()?.file_type() {
        FileType::Regular => {}
        FileType::Directory => return err(libc::EISDIR),
        FileType::Fifo => return err(libc::ESPIPE),
        _ => return err(libc::ENODEV),
    }
    let (off, end) = (
        off as u64,
        off.checked_add(len).ok_or(Errno(libc::EFBIG))? as u64,
    );
    let size = f.ops.stat()?.size;
    if mode & KEEP_SIZE == 0 && end > size && (mode == 0 || mode == ZERO_RANGE) {
        rlimits::fsize_check_size(&t.kernel, &t.proc, end)?;
    }
    match mode {
        0 => {
            if end > size {
                f.ops.truncate(end)?;
            }
        }
        KEEP_SIZE => {}
        m if m == PUNCH_HOLE | KEEP_SIZE => {
            if off < size {
                zero_range(&f, off, end.min(size))?;
            }
        }
        ZERO_RANGE | 0x11 => {
            if off < size {
                zero_range(&f, off, end.min(size))?;
            }
            if mode & KEEP_SIZE == 0 && end > size {
                f.ops.truncate(end)?;
            }
        }
        // A hole punched without KEEP_SIZE, and the collapse/insert modes.
        PUNCH_HOLE => return err(libc::EINVAL),
        _ => return err(libc::EOPNOTSUPP),
    }
    inotify::on_open_file(&f, inotify::IN_MODIFY);
    Ok(0)
}

/// copy_file_range: a copy through the Sentry between two regular files.
pub fn copy_file_range(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[5] != 0 {
        return err(libc::EINVAL);
    }
    let inp = t.file(a[0])?;
    let out = t.file(a[2])?;
    if !inp.readable() || !out.writable() || out.flags() & libc::O_APPEND != 0 {
        return err(libc::EBADF);
    }
    let (si, so) = (inp.ops.stat()?, out.ops.stat()?);
    if si.file_type() == FileType::Directory || so.file_type() == FileType::Directory {
        return err(libc::EISDIR);
    }
    if si.file_type() != FileType::Regular || so.file_type() != FileType::Regular {
        return err(libc::EINVAL);
    }
    let read_off = |ptr: u64, f: &OpenFile| -> SysResult<u64> {
        if ptr == 0 {
            return Ok(*lock(&f.pos));
        }
        let v: i64 = t.mm.read_obj(ptr)?;
        u64::try_from(v).map_err(|_| Errno(libc::EINVAL))
    };
    let (mut ioff, mut ooff) = (read_off(a[1], &inp)?, read_off(a[3], &out)?);
    let mut len = (a[4] as usize).min(MAX_RW) as u64;
    if len > 0 {
        len = rlimits::fsize_allow(&t.kernel, &t.proc, ooff, len as usize)? as u64;
    }
    // Overlapping ranges of one file are refused.
    if (si.dev, si.ino) == (so.dev, so.ino) && ioff < ooff + len && ooff < ioff + len {
        return err(libc::EINVAL);
    }
    let mut done = 0u64;
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = inp.ops.read(&mut buf[..want], ioff)?;
        if n == 0 {
            break;
        }
        let w = out.ops.write(&buf[..n], ooff)?;
        ioff += w as u64;
        ooff += w as u64;
        done += w as u64;
        if w < n {
            break;
        }
    }
    let write_off = |ptr: u64, f: &OpenFile, v: u64| -> SysResult<()> {
        if ptr == 0 {
            *lock(&f.pos) = v;
            Ok(())
        } else {
            t.mm.write_obj(ptr, &(v as i64))
        }
    };
    write_off(a[1], &inp, ioff)?;
    write_off(a[3], &out, ooff)?;
    Ok(done)
}
