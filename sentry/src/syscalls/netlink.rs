//! The socket system calls on netlink sockets. The table offers every
//! socket call here first ([`dispatch`]); calls on other sockets go on to
//! `socket` and `sockmsg` untouched.

use super::file::iovecs;
use super::socket::{retry, write_addr};
use super::sockmsg::{gather, scatter, MsgHdr, MAX_RW, MMSGHDR_SIZE};
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::task::Task;
use crate::net::netlink::{NetlinkSocket, NlAddr, Sender};
use crate::vfs::OpenFile;

/// Answers socket call `nr` if it is about netlink (None: it is not).
#[allow(non_upper_case_globals)]
pub fn dispatch(t: &mut Task, nr: i64, a: Args) -> Option<SysResult<u64>> {
    use libc::{
        SYS_accept, SYS_accept4, SYS_bind, SYS_connect, SYS_getpeername, SYS_getsockname,
        SYS_getsockopt, SYS_listen, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_sendmmsg,
        SYS_sendmsg, SYS_sendto, SYS_setsockopt, SYS_shutdown, SYS_socket, SYS_socketpair,
        AF_NETLINK,
    };
    match nr {
        SYS_socket if a[0] as i32 == AF_NETLINK => return Some(socket(t, a)),
        SYS_socketpair if a[0] as i32 == AF_NETLINK => return Some(err(libc::EOPNOTSUPP)),
        SYS_socket | SYS_socketpair => return None,
        _ => {}
    }
    let f = t.file(a[0]).ok()?;
    f.ops.as_any()?.downcast_ref::<NetlinkSocket>()?;
    let r = match nr {
        SYS_bind => bind(t, &f, a),
        SYS_connect => connect(t, &f, a),
        SYS_getsockname => sock(&f)
            .and_then(|s| write_addr(t, a[1], a[2], &s.local_addr().encode()))
            .map(|_| 0),
        SYS_getpeername => sock(&f)
            .and_then(|s| write_addr(t, a[1], a[2], &s.peer_addr().encode()))
            .map(|_| 0),
        SYS_getsockopt => getsockopt(t, &f, a),
        SYS_setsockopt => setsockopt(t, &f, a),
        SYS_sendto => sendto(t, &f, a),
        SYS_sendmsg => sendmsg_at(t, &f, a[1], a[2]),
        SYS_sendmmsg => sendmmsg(t, &f, a),
        SYS_recvfrom => recvfrom(t, &f, a),
        SYS_recvmsg => recvmsg_at(t, &f, a[1], a[2]),
        SYS_recvmmsg => recvmmsg(t, &f, a),
        // Netlink has no connections to listen for, accept or shut down.
        SYS_listen | SYS_accept | SYS_accept4 | SYS_shutdown => err(libc::EOPNOTSUPP),
        _ => return None,
    };
    Some(r)
}

fn sock(f: &OpenFile) -> SysResult<&NetlinkSocket> {
    f.ops
        .as_any()
        .and_then(|a| a.downcast_ref::<NetlinkSocket>())
        .ok_or(Errno(libc::ENOTSOCK))
}

fn socket(t: &mut Task, a: Args) -> SysResult<u64> {
    let ty = a[1] as i32;
    let flags = ty & (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if base != libc::SOCK_RAW && base != libc::SOCK_DGRAM {
        return err(libc::ESOCKTNOSUPPORT);
    }
    // Only rtnetlink is offered; audit, uevents, generic netlink... are not.
    if a[2] as i32 != libc::NETLINK_ROUTE {
        return err(libc::EPROTONOSUPPORT);
    }
    let s = NetlinkSocket::new(base);
    let path = format!("socket:[{}]", s.ino());
    let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    let file = OpenFile::new(s, None, path, libc::O_RDWR | nonblock);
    t.install(file, flags & libc::SOCK_CLOEXEC != 0)
}

/// Reads a sockaddr argument of at most 128 bytes.
fn read_raw(t: &Task, addr: u64, len: u64) -> SysResult<Vec<u8>> {
    if len > 128 || (len as i32) < 0 {
        return err(libc::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm.read(addr, &mut raw)?;
    Ok(raw)
}

fn bind(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let addr = NlAddr::parse(&read_raw(t, a[1], a[2])?)?;
    sock(f)?.bind(addr, t.pid()).map(|_| 0)
}

fn connect(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let raw = read_raw(t, a[1], a[2])?;
    if raw.len() < 2 {
        return err(libc::EINVAL);
    }
    let addr = if u16::from_ne_bytes([raw[0], raw[1]]) == libc::AF_UNSPEC as u16 {
        None
    } else {
        Some(NlAddr::parse(&raw)?)
    };
    sock(f)?.connect(addr, Sender::of(t)).map(|_| 0)
}

fn getsockopt(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let value = sock(f)?.get_option(a[1] as i32, a[2] as i32)?;
    super::socket::write_option(t, a, &value)
}

fn setsockopt(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    if a[4] > 4096 {
        return err(libc::EINVAL);
    }
    let mut value = vec![0u8; a[4] as usize];
    t.mm.read(a[3], &mut value)?;
    let admin = Sender::of(t).net_admin;
    sock(f)?
        .set_option(a[1] as i32, a[2] as i32, &value, admin)
        .map(|_| 0)
}

/// The destination named by a send (None: the connected one).
fn destination(t: &Task, addr: u64, len: u64) -> SysResult<Option<NlAddr>> {
    if addr == 0 || len == 0 {
        return Ok(None);
    }
    NlAddr::parse(&read_raw(t, addr, len)?).map(Some)
}

fn send(
    t: &mut Task,
    f: &OpenFile,
    segments: &[(u64, usize)],
    to: Option<NlAddr>,
    flags: i32,
) -> SysResult<u64> {
    if flags & libc::MSG_OOB != 0 {
        return err(libc::EOPNOTSUPP);
    }
    let s = sock(f)?;
    let total = segments
        .iter()
        .fold(0usize, |a, s| a.saturating_add(s.1))
        .min(MAX_RW);
    // Refused before anything is copied in: one message, at most SO_SNDBUF.
    if total > s.send_limit() {
        return err(libc::EMSGSIZE);
    }
    let data = gather(t, segments, 0, total)?;
    s.send(&data, to, Sender::of(t)).map(|n| n as u64)
}

fn sendto(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let to = destination(t, a[4], a[5])?;
    send(t, f, &[(a[1], a[2] as usize)], to, a[3] as i32)
}

fn sendmsg_at(t: &mut Task, f: &OpenFile, hdr: u64, flags: u64) -> SysResult<u64> {
    let h: MsgHdr = t.mm.read_obj(hdr)?;
    let segments = iovecs(t, h.iov, h.iovlen)?;
    let to = destination(t, h.name, h.namelen as u64)?;
    // Control messages (credentials) are accepted and have no use here.
    send(t, f, &segments, to, flags as i32)
}

fn sendmmsg(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let count = a[2].min(1024);
    for i in 0..count {
        let hdr = a[1] + i * MMSGHDR_SIZE;
        match sendmsg_at(t, f, hdr, a[3]) {
            Ok(n) => t.mm.write_obj(hdr + 56, &(n as u32))?,
            Err(e) if i == 0 => return Err(e),
            Err(_) => return Ok(i),
        }
    }
    Ok(count)
}

/// One datagram, waiting as the file and the flags say.
fn receive(
    t: &mut Task,
    f: &OpenFile,
    max: usize,
    flags: i32,
) -> SysResult<crate::net::netlink::socket::Datagram> {
    if flags & libc::MSG_OOB != 0 {
        return err(libc::EOPNOTSUPP);
    }
    let s = sock(f)?;
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    let (rcvtimeo, _) = s.timeouts();
    retry(t, nonblock, rcvtimeo, |_| s.recv(max, peek))
}

/// Messages come from the kernel: port 0, no groups.
fn kernel_addr() -> Vec<u8> {
    NlAddr::default().encode()
}

fn recvfrom(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    let flags = a[3] as i32;
    let max = (a[2] as usize).min(MAX_RW);
    let d = receive(t, f, max, flags)?;
    t.mm.write(a[1], &d.data)?;
    if a[4] != 0 && a[5] != 0 {
        write_addr(t, a[4], a[5], &kernel_addr())?;
    }
    Ok(if flags & libc::MSG_TRUNC != 0 {
        d.full_len
    } else {
        d.data.len()
    } as u64)
}

fn recvmsg_at(t: &mut Task, f: &OpenFile, hdr: u64, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    let mut h: MsgHdr = t.mm.read_obj(hdr)?;
    let segments = iovecs(t, h.iov, h.iovlen)?;
    let max = segments
        .iter()
        .fold(0usize, |a, s| a.saturating_add(s.1))
        .min(MAX_RW);
    let d = receive(t, f, max, flags)?;
    scatter(t, &segments, &d.data)?;
    if h.name != 0 {
        let bytes = kernel_addr();
        let room = h.namelen as usize;
        t.mm.write(h.name, &bytes[..room.min(bytes.len())])?;
        h.namelen = bytes.len() as u32;
    }
    h.controllen = 0;
    h.flags = if d.data.len() < d.full_len {
        libc::MSG_TRUNC
    } else {
        0
    };
    t.mm.write_obj(hdr, &h)?;
    Ok(if flags & libc::MSG_TRUNC != 0 {
        d.full_len
    } else {
        d.data.len()
    } as u64)
}

fn recvmmsg(t: &mut Task, f: &OpenFile, a: Args) -> SysResult<u64> {
    super::sockmsg::receive_each(t, a, |t, hdr, flags| recvmsg_at(t, f, hdr, flags))
}
