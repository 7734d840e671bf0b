//! Sending and receiving on sockets: sendto/recvfrom, sendmsg/recvmsg
//! (with SCM_RIGHTS and SCM_CREDENTIALS control messages) and their
//! multi-message forms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::file::iovecs;
use super::socket::{
    ensure_bound, find_target, read_addr, retry, retry_on, sender_creds, socket_of, Named,
};
use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::Task;
use crate::net::socket::{Arrival, Outgoing, Received, Ucred, MAX_RIGHTS};
use crate::net::{inet, Kind, SockAddr, Socket};
use crate::vfs::OpenFile;

/// Largest single transfer (Linux's MAX_RW_COUNT).
pub(super) const MAX_RW: usize = 0x7fff_f000;
/// A stream send goes through a Sentry buffer of at most this size per step.
const CHUNK: usize = 1 << 20;
/// The most control data a sendmsg may carry (net.core.optmem_max).
const MAX_CONTROL: usize = 20480;
const CMSG_HDR: usize = 16;

fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// What a sendmsg's control data asks for.
#[derive(Default)]
struct Control {
    rights: Vec<Arc<OpenFile>>,
    creds: Option<Ucred>,
}

fn parse_control(t: &Task, raw: &[u8]) -> SysResult<Control> {
    let mut c = Control::default();
    let mut off = 0;
    while raw.len() - off >= CMSG_HDR {
        let word = |at: usize, n: usize| -> SysResult<&[u8]> {
            raw.get(off + at..off + at + n).ok_or(Errno(libc::EINVAL))
        };
        let len = u64::from_ne_bytes(word(0, 8)?.try_into().map_err(|_| Errno(libc::EINVAL))?);
        let level = i32::from_ne_bytes(word(8, 4)?.try_into().map_err(|_| Errno(libc::EINVAL))?);
        let kind = i32::from_ne_bytes(word(12, 4)?.try_into().map_err(|_| Errno(libc::EINVAL))?);
        let len = usize::try_from(len).map_err(|_| Errno(libc::EINVAL))?;
        if len < CMSG_HDR || len > raw.len() - off {
            return err(libc::EINVAL);
        }
        let data = &raw[off + CMSG_HDR..off + len];
        match (level, kind) {
            (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                let n = data.len() / 4;
                if n == 0 || c.rights.len() + n > MAX_RIGHTS {
                    return err(libc::EINVAL);
                }
                for fd in data.chunks_exact(4) {
                    let fd = i32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
                    c.rights.push(t.file(fd as u32 as u64)?);
                }
            }
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
                if data.len() < 12 {
                    return err(libc::EINVAL);
                }
                let get =
                    |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                let claimed = Ucred {
                    pid: get(0) as i32,
                    uid: get(4),
                    gid: get(8),
                };
                check_claimed_creds(t, claimed)?;
                c.creds = Some(claimed);
            }
            _ => return err(libc::EINVAL),
        }
        off += cmsg_align(len).min(raw.len() - off);
    }
    Ok(c)
}

/// Checks an inet sendmsg's control data. Inet sockets carry neither
/// descriptors nor credentials (EINVAL); the IP-level messages (IP_PKTINFO,
/// IP_TTL, IP_TOS and their IPv6 forms) pick a source, hop limit or class,
/// which loopback delivery has no use for, so they are accepted and ignored.
fn inet_control(raw: &[u8]) -> SysResult<()> {
    let mut off = 0;
    while raw.len() - off >= CMSG_HDR {
        let word = |at: usize| -> SysResult<[u8; 8]> {
            raw.get(off + at..off + at + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or(Errno(libc::EINVAL))
        };
        let len = usize::try_from(u64::from_ne_bytes(word(0)?)).map_err(|_| Errno(libc::EINVAL))?;
        let level = i32::from_ne_bytes([raw[off + 8], raw[off + 9], raw[off + 10], raw[off + 11]]);
        if len < CMSG_HDR || len > raw.len() - off {
            return err(libc::EINVAL);
        }
        if !matches!(level, libc::IPPROTO_IP | libc::IPPROTO_IPV6) {
            return err(libc::EINVAL);
        }
        off += cmsg_align(len).min(raw.len() - off);
    }
    Ok(())
}

/// A sender may claim its own pid (any with CAP_SYS_ADMIN) and one of its
/// own real, effective or saved ids (any with CAP_SETUID / CAP_SETGID), as
/// Linux's scm_check_creds.
fn check_claimed_creds(t: &Task, c: Ucred) -> SysResult<()> {
    use crate::kernel::caps;
    let st = lock(&t.proc.state);
    let cr = &st.creds;
    let pid_ok = c.pid == t.pid() || cr.has(caps::SYS_ADMIN);
    let uid_ok = [cr.uid, cr.euid, cr.suid].contains(&c.uid) || cr.has(caps::SETUID);
    let gid_ok = [cr.gid, cr.egid, cr.sgid].contains(&c.gid) || cr.has(caps::SETGID);
    if !pid_ok || !uid_ok || !gid_ok {
        return err(libc::EPERM);
    }
    Ok(())
}

/// Reads `want` bytes of the iovec `segments` starting `skip` bytes in.
pub(super) fn gather(
    t: &Task,
    segments: &[(u64, usize)],
    skip: usize,
    want: usize,
) -> SysResult<Vec<u8>> {
    let mut out = Vec::with_capacity(want);
    let mut pos = 0usize;
    for &(base, len) in segments {
        if out.len() == want {
            break;
        }
        let seg_end = pos.saturating_add(len);
        if seg_end > skip {
            let from = skip.saturating_sub(pos);
            let n = (len - from).min(want - out.len());
            let start = out.len();
            out.resize(start + n, 0);
            t.mm.read(base + from as u64, &mut out[start..])?;
        }
        pos = seg_end;
    }
    Ok(out)
}

/// Writes `data` across the iovec `segments`.
pub(super) fn scatter(t: &Task, segments: &[(u64, usize)], data: &[u8]) -> SysResult<()> {
    let mut done = 0;
    for &(base, len) in segments {
        if done == data.len() {
            break;
        }
        let n = len.min(data.len() - done);
        t.mm.write(base, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

struct SendArgs {
    segments: Vec<(u64, usize)>,
    flags: i32,
    dest: Dest,
    control: Control,
}

fn send(t: &mut Task, f: &OpenFile, sock: &Arc<Socket>, args: SendArgs) -> SysResult<u64> {
    if args.flags & libc::MSG_OOB != 0 {
        return err(libc::EOPNOTSUPP);
    }
    ensure_bound(t, sock)?;
    let total = args
        .segments
        .iter()
        .fold(0usize, |a, s| a.saturating_add(s.1))
        .min(MAX_RW);
    let records = sock.kind != crate::net::Kind::Stream;
    if records && total > 2 * crate::net::socket::DEFAULT_BUF {
        return err(libc::EMSGSIZE);
    }
    // A UDP socket's pending error (a refused datagram) fails the next send.
    if sock.is_inet() && records {
        match sock.take_error() {
            0 => {}
            e => return Err(Errno(e)),
        }
    }
    let to = match &args.dest {
        Dest::Peer => None,
        Dest::To(s) => Some(s.clone()),
        Dest::Nowhere { refused } => {
            // A connected socket learns of the port unreachable (Linux's
            // ICMP error reaches only sockets connected to the sender).
            if *refused {
                sock.set_error(libc::ECONNREFUSED);
            }
            return Ok(total as u64);
        }
        Dest::Dns => {
            let buf = gather(t, &args.segments, 0, total)?;
            return crate::net::dns::query(sock, &buf).map(|n| n as u64);
        }
        Dest::Net(addr) => {
            let buf = gather(t, &args.segments, 0, total)?;
            let nonblock = f.nonblocking() || args.flags & libc::MSG_DONTWAIT != 0;
            let (_, sndtimeo) = sock.timeouts();
            let addr = *addr;
            return retry(t, nonblock, sndtimeo, |_| sock.send_datagram(&buf, addr))
                .map(|n| n as u64);
        }
    };
    let nonblock = f.nonblocking() || args.flags & libc::MSG_DONTWAIT != 0;
    let (_, sndtimeo) = sock.timeouts();
    let creds = args.control.creds.unwrap_or_else(|| sender_creds(t));
    let mut done = 0usize;
    loop {
        let want = if records {
            total
        } else {
            (total - done).min(CHUNK)
        };
        let buf = match gather(t, &args.segments, done, want) {
            Ok(b) => b,
            Err(e) if done > 0 => {
                let _ = e;
                return Ok(done as u64);
            }
            Err(e) => return Err(e),
        };
        // Descriptors ride with the first bytes only.
        let rights: &[Arc<OpenFile>] = if done == 0 { &args.control.rights } else { &[] };
        let r = retry(t, nonblock, sndtimeo, |_| {
            sock.send(Outgoing {
                data: &buf,
                rights,
                creds,
                to: to.clone(),
            })
        });
        match r {
            Ok(n) => {
                done += n;
                if records || done >= total || n == 0 {
                    return Ok(done as u64);
                }
            }
            Err(e) if e.0 == libc::EPIPE => {
                if args.flags & libc::MSG_NOSIGNAL == 0 {
                    t.kernel.send_signal(
                        &t.proc.clone(),
                        SigInfo::user(libc::SIGPIPE, t.pid(), 0),
                        false,
                    );
                }
                return if done > 0 { Ok(done as u64) } else { Err(e) };
            }
            Err(e) => return if done > 0 { Ok(done as u64) } else { Err(e) },
        }
    }
}

/// Where a send goes.
enum Dest {
    /// The connected peer.
    Peer,
    To(Arc<Socket>),
    /// An inet datagram for a port nobody holds: UDP drops it; `refused`
    /// when it went to the socket's connected peer.
    Nowhere {
        refused: bool,
    },
    /// A datagram for an address beyond the sandbox: the TCP/IP stack's.
    Net(std::net::SocketAddr),
    /// A query for Docker's embedded resolver (`net::dns`).
    Dns,
}

/// The destination of a sendto/sendmsg with name `addr` (if any).
fn destination(t: &Task, sock: &Socket, addr: u64, len: u64) -> SysResult<Dest> {
    let named = if addr == 0 || len == 0 {
        None
    } else {
        Some(read_addr(t, sock, addr, len)?)
    };
    if sock.is_ping() {
        // An echo request goes to the named host, or the connected one.
        return match named {
            Some(Named::Addr(SockAddr::Inet(a))) => Ok(Dest::Net(a)),
            _ => match sock.remote() {
                Some(SockAddr::Inet(a)) => Ok(Dest::Net(a)),
                _ => err(libc::EDESTADDRREQ),
            },
        };
    }
    if sock.is_host() {
        // The host's kernel routes it (and refuses what it must).
        return Ok(match named {
            Some(Named::Addr(SockAddr::Inet(a))) => Dest::Net(a),
            _ => Dest::Peer,
        });
    }
    if sock.kind != Kind::Dgram {
        return match (named, sock.is_inet()) {
            // TCP ignores a name; a connected Unix stream refuses one.
            (None, _) | (Some(_), true) => Ok(Dest::Peer),
            (Some(_), false) => err(if sock.peer_addr().is_ok() {
                libc::EISCONN
            } else {
                libc::EOPNOTSUPP
            }),
        };
    }
    let target = match named {
        Some(Named::Autobind) => return err(libc::EINVAL),
        Some(Named::Addr(a)) => a,
        None => match sock.remote() {
            Some(r) => r,
            None if sock.is_inet() => return err(libc::EDESTADDRREQ),
            None => return Ok(Dest::Peer),
        },
    };
    if let SockAddr::Inet(a) = &target {
        if crate::net::dns::relays(a) {
            return Ok(Dest::Dns);
        }
        if !crate::net::inet::is_local(&a.ip()) {
            if !crate::net::stack::present() {
                return err(libc::ENETUNREACH);
            }
            return Ok(Dest::Net(*a));
        }
    }
    // The sender's port picks among SO_REUSEPORT receivers, so it is
    // chosen now (send would bind it anyway).
    let from = if sock.is_inet() {
        ensure_bound(t, &sock.arc()?)?;
        match sock.local_addr() {
            SockAddr::Inet(a) => Some(a),
            _ => None,
        }
    } else {
        None
    };
    match find_target(t, sock.kind, &target, from) {
        Ok(s) => Ok(Dest::To(s)),
        Err(e) if e.0 == libc::ECONNREFUSED && sock.is_inet() => {
            let canon = |a: &SockAddr| match a {
                SockAddr::Inet(a) => Some((inet::arrival(a.ip()).to_canonical(), a.port())),
                _ => None,
            };
            let refused = sock.remote().is_some_and(|r| canon(&r) == canon(&target));
            Ok(Dest::Nowhere { refused })
        }
        Err(e) => Err(e),
    }
}

pub fn sendto(t: &mut Task, a: Args) -> SysResult<u64> {
    let (f, sock) = socket_of(t, a[0])?;
    let dest = destination(t, &sock, a[4], a[5])?;
    let args = SendArgs {
        segments: vec![(a[1], a[2] as usize)],
        flags: a[3] as i32,
        dest,
        control: Control::default(),
    };
    send(t, &f, &sock, args)
}

/// A `struct msghdr` as the workload laid it out.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    _pad1: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: i32,
    _pad2: u32,
}

fn sendmsg_at(t: &mut Task, fd: u64, hdr_addr: u64, flags: u64) -> SysResult<u64> {
    let (f, sock) = socket_of(t, fd)?;
    let h: MsgHdr = t.mm.read_obj(hdr_addr)?;
    let segments = iovecs(t, h.iov, h.iovlen)?;
    let dest = destination(t, &sock, h.name, h.namelen as u64)?;
    let control = if h.control != 0 && h.controllen > 0 {
        let len = usize::try_from(h.controllen).map_err(|_| Errno(libc::ENOBUFS))?;
        if len > MAX_CONTROL {
            return err(libc::ENOBUFS);
        }
        let mut raw = vec![0u8; len];
        t.mm.read(h.control, &mut raw)?;
        if sock.is_inet() {
            inet_control(&raw)?;
            Control::default()
        } else {
            parse_control(t, &raw)?
        }
    } else {
        Control::default()
    };
    let args = SendArgs {
        segments,
        flags: flags as i32,
        dest,
        control,
    };
    send(t, &f, &sock, args)
}

pub fn sendmsg(t: &mut Task, a: Args) -> SysResult<u64> {
    sendmsg_at(t, a[0], a[1], a[2])
}

/// `struct mmsghdr`: a msghdr and the length sent or received.
pub(super) const MMSGHDR_SIZE: u64 = 64;

pub fn sendmmsg(t: &mut Task, a: Args) -> SysResult<u64> {
    let count = a[2].min(1024);
    for i in 0..count {
        let hdr = a[1] + i * MMSGHDR_SIZE;
        match sendmsg_at(t, a[0], hdr, a[3]) {
            Ok(n) => t.mm.write_obj(hdr + 56, &(n as u32))?,
            Err(e) if i == 0 => return Err(e),
            Err(_) => return Ok(i),
        }
    }
    Ok(count)
}

/// One receive: waits as the flags and the socket say; MSG_WAITALL on a
/// stream keeps reading until the buffer is full, end of file or a signal.
fn receive(t: &mut Task, fd: u64, max: usize, flags: i32) -> SysResult<Received> {
    let (f, sock) = socket_of(t, fd)?;
    if flags & libc::MSG_OOB != 0 {
        return err(libc::EINVAL);
    }
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    let (rcvtimeo, _) = sock.timeouts();
    let mut got = retry_on(t, Some(&*sock), nonblock, rcvtimeo, |_| {
        sock.recv(max, peek)
    })?;
    let waitall = flags & libc::MSG_WAITALL != 0 && sock.kind == crate::net::Kind::Stream;
    while waitall
        && !peek
        && !nonblock
        && got.rights.is_empty()
        && !got.data.is_empty()
        && got.data.len() < max
    {
        match retry_on(t, Some(&*sock), false, rcvtimeo, |_| {
            sock.recv(max - got.data.len(), false)
        }) {
            Ok(more) if more.data.is_empty() => break,
            Ok(more) => {
                got.data.extend_from_slice(&more.data);
                got.full_len = got.data.len();
                got.rights = more.rights;
            }
            Err(_) => break,
        }
    }
    Ok(got)
}

/// Installs received descriptors and builds the control data that fits in
/// `room` bytes. Returns the bytes and whether anything was cut off.
fn build_control(
    t: &Task,
    got: Received,
    passcred: bool,
    room: usize,
    cloexec: bool,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut truncated = false;
    let header = |out: &mut Vec<u8>, len: usize, kind: i32| {
        out.extend_from_slice(&(len as u64).to_ne_bytes());
        out.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
    };
    if passcred {
        let len = CMSG_HDR + 12;
        if room >= len {
            header(&mut out, len, libc::SCM_CREDENTIALS);
            out.extend_from_slice(&got.creds.pid.to_ne_bytes());
            out.extend_from_slice(&got.creds.uid.to_ne_bytes());
            out.extend_from_slice(&got.creds.gid.to_ne_bytes());
            out.resize(cmsg_align(len).min(room), 0);
        } else {
            truncated = true;
        }
    }
    if !got.rights.is_empty() {
        let left = room.saturating_sub(out.len());
        let fit = left.saturating_sub(CMSG_HDR) / 4;
        let mut fds = Vec::new();
        let limit = t.nofile();
        let mut files = lock(&t.proc.files);
        for f in got.rights.iter().take(fit) {
            match files.install(f.clone(), cloexec, limit) {
                Ok(fd) => fds.push(fd),
                Err(_) => break,
            }
        }
        drop(files);
        if fds.len() < got.rights.len() {
            truncated = true;
        }
        if !fds.is_empty() {
            let len = CMSG_HDR + 4 * fds.len();
            header(&mut out, len, libc::SCM_RIGHTS);
            for fd in fds {
                out.extend_from_slice(&fd.to_ne_bytes());
            }
            out.resize(cmsg_align(len).min(room.max(len)), 0);
        }
    }
    (out, truncated)
}

pub fn recvfrom(t: &mut Task, a: Args) -> SysResult<u64> {
    let flags = a[3] as i32;
    let max = (a[2] as usize).min(MAX_RW);
    let (_, sock) = socket_of(t, a[0])?;
    let got = receive(t, a[0], max, flags)?;
    t.mm.write(a[1], &got.data)?;
    let from = sender(&sock, &got);
    let n = if flags & libc::MSG_TRUNC != 0 {
        got.full_len
    } else {
        got.data.len()
    };
    if a[4] != 0 && a[5] != 0 {
        write_sender(t, a[4], a[5], &from)?;
    }
    Ok(n as u64)
}

/// The sender to report: TCP reports none (its peer is getpeername's).
fn sender(sock: &Socket, got: &Received) -> SockAddr {
    if sock.is_inet() && sock.kind == Kind::Stream {
        return SockAddr::Unix(crate::net::UnixAddr::Unnamed);
    }
    got.from.clone()
}

/// A received message's sender: an unnamed sender has no address at all.
fn write_sender(t: &Task, addr: u64, lenp: u64, from: &SockAddr) -> SysResult<()> {
    if from.is_unnamed() {
        return t.mm.write_obj(lenp, &0u32);
    }
    super::socket::write_addr(t, addr, lenp, &from.encode())
}

fn recvmsg_at(t: &mut Task, fd: u64, hdr_addr: u64, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    let mut h: MsgHdr = t.mm.read_obj(hdr_addr)?;
    let segments = iovecs(t, h.iov, h.iovlen)?;
    let max = segments
        .iter()
        .fold(0usize, |a, s| a.saturating_add(s.1))
        .min(MAX_RW);
    let (_, sock) = socket_of(t, fd)?;
    let got = receive(t, fd, max, flags)?;
    scatter(t, &segments, &got.data)?;
    let n = if flags & libc::MSG_TRUNC != 0 {
        got.full_len
    } else {
        got.data.len()
    };
    let mut msg_flags = 0;
    if got.truncated {
        msg_flags |= libc::MSG_TRUNC;
    }
    if h.name != 0 {
        let from = sender(&sock, &got);
        let bytes = if from.is_unnamed() {
            Vec::new()
        } else {
            from.encode()
        };
        let room = h.namelen as usize;
        t.mm.write(h.name, &bytes[..room.min(bytes.len())])?;
        h.namelen = bytes.len() as u32;
    }
    let room = if h.control == 0 {
        0
    } else {
        usize::try_from(h.controllen)
            .unwrap_or(usize::MAX)
            .min(MAX_CONTROL * 4)
    };
    let cloexec = flags & libc::MSG_CMSG_CLOEXEC != 0;
    // What IP said of a datagram, for the control messages asked for
    // (IP_PKTINFO, IP_RECVTTL, IPV6_RECVHOPLIMIT, …); one that came from
    // elsewhere (the DNS relay's answers) arrived over loopback.
    let arrival = (sock.is_inet() && sock.kind == Kind::Dgram).then(|| {
        got.ip.unwrap_or(Arrival {
            v6: matches!(&got.from, SockAddr::Inet(a) if inet::is_v6(&a.ip())),
            ..Arrival::default()
        })
    });
    let (mut control, mut truncated) = build_control(t, got, sock.passcred(), room, cloexec);
    if let Some(arrival) = arrival {
        truncated |= sock.ip_control(&arrival, &mut control, room);
    }
    if truncated {
        msg_flags |= libc::MSG_CTRUNC;
    }
    if !control.is_empty() {
        t.mm.write(h.control, &control)?;
    }
    h.controllen = control.len() as u64;
    h.flags = msg_flags;
    t.mm.write_obj(hdr_addr, &h)?;
    Ok(n as u64)
}

pub fn recvmsg(t: &mut Task, a: Args) -> SysResult<u64> {
    recvmsg_at(t, a[0], a[1], a[2])
}

pub fn recvmmsg(t: &mut Task, a: Args) -> SysResult<u64> {
    let fd = a[0];
    receive_each(t, a, |t, hdr, flags| recvmsg_at(t, fd, hdr, flags))
}

/// recvmmsg's loop over the `struct mmsghdr` array at a[1] (a[2] of them,
/// flags a[3]) with `one` receiving into each: the count received, or the
/// first call's error. MSG_WAITFORONE makes the calls after the first
/// non-blocking. The timeout at a[4], as Linux's do_recvmmsg reads it, is
/// looked at only after each message: once it has passed, the call returns
/// what it has (a first message that came late ends the call at once), and
/// the time left is written back when anything was received. It bounds no
/// wait itself (recvmmsg(2), BUGS).
pub(super) fn receive_each(
    t: &mut Task,
    a: Args,
    mut one: impl FnMut(&mut Task, u64, u64) -> SysResult<u64>,
) -> SysResult<u64> {
    let count = a[2].min(1024);
    let mut flags = a[3];
    let deadline = if a[4] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[4])?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return err(libc::EINVAL);
        }
        let span = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        // A deadline past what Instant can hold is no deadline.
        Some(Instant::now().checked_add(span))
    } else {
        None
    };
    let mut left: Option<Duration> = None;
    let mut received = count;
    for i in 0..count {
        let hdr = a[1] + i * MMSGHDR_SIZE;
        match one(t, hdr, flags) {
            Ok(n) => t.mm.write_obj(hdr + 56, &(n as u32))?,
            Err(e) if i == 0 => return Err(e),
            Err(_) => {
                received = i;
                break;
            }
        }
        if flags & libc::MSG_WAITFORONE as u64 != 0 {
            flags |= libc::MSG_DONTWAIT as u64;
        }
        if let Some(Some(end)) = deadline {
            let rest = end.saturating_duration_since(Instant::now());
            left = Some(rest);
            if rest.is_zero() {
                received = i + 1;
                break;
            }
        }
    }
    if let Some(rest) = left {
        let ts = libc::timespec {
            tv_sec: rest.as_secs() as libc::time_t,
            tv_nsec: rest.subsec_nanos() as libc::c_long,
        };
        t.mm.write_obj(a[4], &ts)?;
    }
    Ok(received)
}
