//! splice, tee and vmsplice: moving bytes to and from pipes without the
//! workload copying them. Pipes live in the Sentry, so these are copies
//! through a Sentry buffer with Linux's argument rules; a transfer into a
//! pipe first waits for room and then reads no more than fits, so no byte
//! taken from the source is ever lost.

use std::sync::Arc;

use super::file::{
    iovecs, read_file_with, read_to_user, wait_ready, write_file_with, write_from_user_with, CHUNK,
};
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::pipe::PipeEnd;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::OpenFile;

const SPLICE_F_NONBLOCK: u64 = 0x2;
/// SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT: MOVE,
/// MORE and GIFT are hints.
const SPLICE_F_ALL: u64 = 0xf;

pub(super) fn pipe_of(f: &OpenFile) -> Option<&PipeEnd> {
    f.ops.as_any().and_then(|a| a.downcast_ref::<PipeEnd>())
}

/// A user offset argument (loff_t *): None when NULL; negative is EINVAL.
fn user_offset(t: &Task, addr: u64) -> SysResult<Option<u64>> {
    if addr == 0 {
        return Ok(None);
    }
    let off: i64 = t.mm.read_obj(addr)?;
    if off < 0 {
        return err(libc::EINVAL);
    }
    Ok(Some(off as u64))
}

/// Waits until the pipe behind `f` has room; returns how much. A pipe
/// without readers is EPIPE with SIGPIPE, as a write would be.
fn wait_room(t: &mut Task, f: &Arc<OpenFile>, p: &PipeEnd, nonblock: bool) -> SysResult<usize> {
    loop {
        if f.ops.poll() & libc::POLLERR != 0 {
            // An empty write reports the missing reader (and sends SIGPIPE).
            write_file_with(t, f, &[], None, true, true)?;
            return err(libc::EPIPE);
        }
        let room = p.free_space();
        if room > 0 {
            return Ok(room);
        }
        if nonblock {
            return err(libc::EAGAIN);
        }
        wait_ready(t, f, libc::POLLOUT)?;
    }
}

/// splice(fd_in, off_in, fd_out, off_out, len, flags).
pub fn splice(t: &mut Task, a: Args) -> SysResult<u64> {
    let (len, flags) = (a[4] as usize, a[5]);
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    let inp = t.file(a[0])?;
    let out = t.file(a[2])?;
    if !inp.readable() || !out.writable() {
        return err(libc::EBADF);
    }
    let (ipipe, opipe) = (pipe_of(&inp), pipe_of(&out));
    if (ipipe.is_some() && a[1] != 0) || (opipe.is_some() && a[3] != 0) {
        return err(libc::ESPIPE);
    }
    match (ipipe, opipe) {
        (None, None) => return err(libc::EINVAL),
        (Some(i), Some(o)) if i.same_pipe(o) => return err(libc::EINVAL),
        (Some(_), None) if out.flags() & libc::O_APPEND != 0 => return err(libc::EINVAL),
        _ => {}
    }
    if (a[1] != 0 && !inp.ops.seekable()) || (a[3] != 0 && !out.ops.seekable()) {
        return err(libc::ESPIPE);
    }
    let in_off = user_offset(t, a[1])?;
    let out_off = user_offset(t, a[3])?;
    // The pipe side blocks unless SPLICE_F_NONBLOCK or its own O_NONBLOCK;
    // the other side keeps its own flag.
    let flag = flags & SPLICE_F_NONBLOCK != 0;
    let in_nb = if ipipe.is_some() {
        flag || inp.nonblocking()
    } else {
        inp.nonblocking()
    };
    let out_nb = if opipe.is_some() {
        flag || out.nonblocking()
    } else {
        out.nonblocking()
    };
    let mut want = len.min(CHUNK);
    if let Some(o) = opipe {
        want = want.min(wait_room(t, &out, o, out_nb)?);
    }
    // From a pipe into a file or socket, the bytes are taken from the pipe
    // only once written: a short or failed write (RLIMIT_FSIZE's EFBIG, a
    // full disk) leaves the rest queued, as Linux's splice writes from the
    // pipe's buffers in place. (They were lost before, and a splice of the
    // rest then waited forever on an empty pipe.)
    if let (Some(i), None) = (ipipe, opipe) {
        let mut buf = vec![0u8; want];
        let have = loop {
            match i.peek(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.0 == libc::EAGAIN && !in_nb => wait_ready(t, &inp, libc::POLLIN)?,
                Err(e) => return Err(e),
            }
        };
        if have == 0 {
            return Ok(0);
        }
        let n = write_file_with(t, &out, &buf[..have], out_off, true, out_nb)?;
        // Consumes what was written (queued, so this read does not wait).
        read_file_with(t, &inp, n, None, true)?;
        if let Some(o) = out_off {
            t.mm.write_obj(a[3], &(o + n as u64))?;
        }
        return Ok(n as u64);
    }
    let data = read_file_with(t, &inp, want, in_off, in_nb)?;
    if data.is_empty() {
        return Ok(0);
    }
    let n = write_file_with(t, &out, &data, out_off, true, out_nb)?;
    // A short write to a file leaves the rest of a file source unread.
    if n < data.len() && in_off.is_none() && inp.ops.seekable() {
        *lock(&inp.pos) -= (data.len() - n) as u64;
    }
    if let Some(o) = in_off {
        t.mm.write_obj(a[1], &(o + n as u64))?;
    }
    if let Some(o) = out_off {
        t.mm.write_obj(a[3], &(o + n as u64))?;
    }
    Ok(n as u64)
}

/// tee(fd_in, fd_out, len, flags): copies bytes queued in one pipe into
/// another without consuming them.
pub fn tee(t: &mut Task, a: Args) -> SysResult<u64> {
    let (len, flags) = (a[2] as usize, a[3]);
    if flags & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let inp = t.file(a[0])?;
    let out = t.file(a[1])?;
    if !inp.readable() || !out.writable() {
        return err(libc::EBADF);
    }
    let (Some(i), Some(o)) = (pipe_of(&inp), pipe_of(&out)) else {
        return err(libc::EINVAL);
    };
    if i.same_pipe(o) {
        return err(libc::EINVAL);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0 || inp.nonblocking() || out.nonblocking();
    let mut buf = vec![0u8; len.min(CHUNK)];
    // Input first, then room for it, as Linux waits.
    loop {
        match i.peek(&mut buf[..1]) {
            Ok(0) => return Ok(0),
            Ok(_) => break,
            Err(e) if e.0 == libc::EAGAIN && !nonblock => wait_ready(t, &inp, libc::POLLIN)?,
            Err(e) => return Err(e),
        }
    }
    let room = wait_room(t, &out, o, nonblock)?;
    let n = i.peek(&mut buf[..room.min(len).min(CHUNK)])?;
    let n = write_file_with(t, &out, &buf[..n], None, true, nonblock)?;
    Ok(n as u64)
}

/// vmsplice(fd, iov, nr_segs, flags): application memory into a pipe's
/// write end, or a pipe's read end into application memory.
pub fn vmsplice(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[3] & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    let f = t.file(a[0])?;
    if pipe_of(&f).is_none() {
        return err(libc::EBADF);
    }
    let iov = iovecs(t, a[1], a[2])?;
    let nonblock = a[3] & SPLICE_F_NONBLOCK != 0 || f.nonblocking();
    if f.writable() {
        write_from_user_with(t, &f, &iov, None, nonblock)
    } else if f.readable() {
        read_to_user(t, &f, &iov, None, nonblock)
    } else {
        Err(Errno(libc::EBADF))
    }
}
