//! Socket system calls: creating, naming, connecting and configuring
//! sockets. Only Unix domain sockets exist; they live in the Sentry
//! (`net::unix`). Sending and receiving are in `sockmsg`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fs::{check_access, creator, writable};
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::net::addr::{Requested, SOCKADDR_UN_LEN};
use crate::net::names::{self, NameKey};
use crate::net::unix::Ucred;
use crate::net::{Kind, UnixAddr, UnixSocket};
use crate::vfs::{FileType, OpenFile};

/// The socket behind descriptor `fd` (ENOTSOCK for any other file).
pub(super) fn socket_of(t: &Task, fd: u64) -> SysResult<(Arc<OpenFile>, Arc<UnixSocket>)> {
    let f = t.file(fd)?;
    let sock = f.ops.as_socket().ok_or(Errno(libc::ENOTSOCK))?.arc()?;
    Ok((f, sock))
}

/// The caller as SO_PEERCRED reports it (effective ids).
pub(super) fn peer_creds(t: &Task) -> Ucred {
    let st = lock(&t.proc.state);
    Ucred {
        pid: t.pid(),
        uid: st.creds.euid,
        gid: st.creds.egid,
    }
}

/// The caller as SCM_CREDENTIALS reports it by default (real ids).
pub(super) fn sender_creds(t: &Task) -> Ucred {
    let st = lock(&t.proc.state);
    Ucred {
        pid: t.pid(),
        uid: st.creds.uid,
        gid: st.creds.gid,
    }
}

/// Splits SOCK_NONBLOCK/SOCK_CLOEXEC off a socket type.
fn type_and_flags(ty: u64) -> SysResult<(Kind, i32, bool)> {
    let ty = ty as i32;
    let flags = ty & (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    // Linux turns a raw Unix socket into a datagram socket.
    let base = if base == libc::SOCK_RAW {
        libc::SOCK_DGRAM
    } else {
        base
    };
    let kind = Kind::from_type(base)?;
    let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    Ok((kind, nonblock, flags & libc::SOCK_CLOEXEC != 0))
}

fn check_domain(domain: u64, protocol: u64) -> SysResult<()> {
    if domain as i32 != libc::AF_UNIX {
        // No network stack yet: IP, netlink and packet sockets do not exist.
        return err(libc::EAFNOSUPPORT);
    }
    if protocol != 0 && protocol as i32 != libc::PF_UNIX {
        return err(libc::EPROTONOSUPPORT);
    }
    Ok(())
}

pub(super) fn open_file(sock: Arc<UnixSocket>, nonblock: i32) -> Arc<OpenFile> {
    let path = format!("socket:[{}]", sock.ino());
    OpenFile::new(sock, None, path, libc::O_RDWR | nonblock)
}

pub fn socket(t: &mut Task, a: Args) -> SysResult<u64> {
    check_domain(a[0], a[2])?;
    let (kind, nonblock, cloexec) = type_and_flags(a[1])?;
    t.install(open_file(UnixSocket::new(kind), nonblock), cloexec)
}

pub fn socketpair(t: &mut Task, a: Args) -> SysResult<u64> {
    check_domain(a[0], a[2])?;
    let (kind, nonblock, cloexec) = type_and_flags(a[1])?;
    let (x, y) = UnixSocket::pair(kind, peer_creds(t));
    let limit = t.nofile();
    let mut files = lock(&t.proc.files);
    let fx = files.install(open_file(x, nonblock), cloexec, limit)?;
    let fy = match files.install(open_file(y, nonblock), cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = files.remove(fx);
            return Err(e);
        }
    };
    drop(files);
    if let Err(e) = t.mm.write_obj(a[3], &[fx, fy]) {
        let mut files = lock(&t.proc.files);
        let _ = files.remove(fx);
        let _ = files.remove(fy);
        return Err(e);
    }
    Ok(0)
}

/// Reads a `sockaddr_un` argument.
pub(super) fn read_addr(t: &Task, addr: u64, len: u64) -> SysResult<Requested> {
    if len > SOCKADDR_UN_LEN as u64 || (len as i32) < 0 {
        return err(libc::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm.read(addr, &mut raw)?;
    UnixAddr::parse(&raw)
}

/// Writes an address result: at most the caller's buffer length, and the
/// full length back through `lenp`.
pub(super) fn write_addr(t: &Task, addr: u64, lenp: u64, bytes: &[u8]) -> SysResult<()> {
    if addr == 0 || lenp == 0 {
        return Ok(());
    }
    let room: i32 = t.mm.read_obj(lenp)?;
    let room = usize::try_from(room).map_err(|_| Errno(libc::EINVAL))?;
    t.mm.write(addr, &bytes[..room.min(bytes.len())])?;
    t.mm.write_obj(lenp, &(bytes.len() as u32))
}

/// The socket bound to `addr`, for connect and sendto.
pub(super) fn find_target(t: &Task, addr: &UnixAddr) -> SysResult<Arc<UnixSocket>> {
    let key = match addr {
        UnixAddr::Unnamed => return err(libc::EINVAL),
        UnixAddr::Abstract(name) => NameKey::Abstract(name.clone()),
        UnixAddr::Path(p) => {
            let loc = t.lookup_at(libc::AT_FDCWD as u64, p, true)?;
            let st = loc.inode.stat()?;
            if st.file_type() != FileType::Socket {
                return err(libc::ECONNREFUSED);
            }
            check_access(t, &st, 2)?;
            NameKey::Node {
                dev: st.dev,
                ino: st.ino,
            }
        }
    };
    names::lookup(&key).ok_or(Errno(libc::ECONNREFUSED))
}

pub fn bind(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    let requested = read_addr(t, a[1], a[2])?;
    if sock.is_bound() {
        return err(libc::EINVAL);
    }
    let named = match requested {
        Requested::Autobind => None,
        Requested::Addr(UnixAddr::Unnamed) => return err(libc::EINVAL),
        Requested::Addr(UnixAddr::Abstract(name)) => {
            Some((UnixAddr::Abstract(name.clone()), NameKey::Abstract(name)))
        }
        Requested::Addr(UnixAddr::Path(p)) => {
            let (parent, name) = t.parent_at(libc::AT_FDCWD as u64, &p)?;
            writable(&parent)?;
            check_access(t, &parent.inode.stat()?, 3)?;
            let mode = creator(t, 0o777);
            match parent.inode.mknod(&name, FileType::Socket, mode) {
                Err(e) if e.0 == libc::EEXIST => return err(libc::EADDRINUSE),
                r => r?,
            }
            let st = parent.inode.lookup(&name)?.stat()?;
            Some((
                UnixAddr::Path(p),
                NameKey::Node {
                    dev: st.dev,
                    ino: st.ino,
                },
            ))
        }
    };
    sock.bind(named).map(|_| 0)
}

pub fn listen(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    sock.listen(a[1] as i32, peer_creds(t)).map(|_| 0)
}

/// Runs `op` until it stops answering EAGAIN: at once for a non-blocking
/// call, else waiting for the kernel's events, a signal or `timeout`
/// (SO_RCVTIMEO/SO_SNDTIMEO: then EAGAIN, and a signal gives EINTR, as
/// Linux does for sockets with a timeout).
pub(super) fn retry<T>(
    t: &mut Task,
    nonblock: bool,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut Task) -> SysResult<T>,
) -> SysResult<T> {
    match op(t) {
        Err(e) if e.0 == libc::EAGAIN && !nonblock => {}
        r => return r,
    }
    let deadline = timeout.map(|d| Instant::now() + d);
    let r = t.block(None, deadline, |t| match op(t) {
        Err(e) if e.0 == libc::EAGAIN => None,
        r => Some(r),
    });
    match r {
        Ok(r) => r,
        Err(e) if e.0 == libc::ETIMEDOUT => err(libc::EAGAIN),
        Err(e) if e.is_restart() && timeout.is_some() => err(libc::EINTR),
        Err(e) => Err(e),
    }
}

pub fn connect(t: &mut Task, a: Args) -> SysResult<u64> {
    let (f, sock) = socket_of(t, a[0])?;
    // AF_UNSPEC dissolves a datagram socket's association.
    if a[2] >= 2 && t.mm.read_obj::<u16>(a[1])? == libc::AF_UNSPEC as u16 {
        return sock.disconnect().map(|_| 0);
    }
    let target = match read_addr(t, a[1], a[2])? {
        Requested::Autobind => return err(libc::EINVAL),
        Requested::Addr(addr) => find_target(t, &addr)?,
    };
    let creds = peer_creds(t);
    let (_, sndtimeo) = sock.timeouts();
    retry(t, f.nonblocking(), sndtimeo, |_| {
        sock.connect(&target, creds)
    })
    .map(|_| 0)
}

pub fn accept(t: &mut Task, a: Args, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let (f, sock) = socket_of(t, a[0])?;
    let (rcvtimeo, _) = sock.timeouts();
    let conn = retry(t, f.nonblocking(), rcvtimeo, |_| sock.accept())?;
    let peer = conn.peer_addr().unwrap_or(UnixAddr::Unnamed);
    let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    let fd = t.install(open_file(conn, nonblock), flags & libc::SOCK_CLOEXEC != 0)?;
    if let Err(e) = write_addr(t, a[1], a[2], &peer.encode()) {
        let _ = lock(&t.proc.files).remove(fd as i32);
        return Err(e);
    }
    Ok(fd)
}

pub fn getsockname(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    write_addr(t, a[1], a[2], &sock.local_addr().encode()).map(|_| 0)
}

pub fn getpeername(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    write_addr(t, a[1], a[2], &sock.peer_addr()?.encode()).map(|_| 0)
}

pub fn shutdown(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    sock.shutdown(a[1] as i32).map(|_| 0)
}

pub fn getsockopt(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    if a[1] as i32 != libc::SOL_SOCKET {
        return err(libc::EOPNOTSUPP);
    }
    let value = sock.get_option(a[2] as i32)?;
    let room: i32 = t.mm.read_obj(a[4])?;
    let room = usize::try_from(room).map_err(|_| Errno(libc::EINVAL))?;
    let n = room.min(value.len());
    t.mm.write(a[3], &value[..n])?;
    t.mm.write_obj(a[4], &(n as u32))?;
    Ok(0)
}

pub fn setsockopt(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    if a[1] as i32 != libc::SOL_SOCKET {
        return err(libc::EOPNOTSUPP);
    }
    if a[4] > 4096 {
        return err(libc::EINVAL);
    }
    let mut value = vec![0u8; a[4] as usize];
    t.mm.read(a[3], &mut value)?;
    sock.set_option(a[2] as i32, &value).map(|_| 0)
}
