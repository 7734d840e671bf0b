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
use crate::net::addr::Requested;
use crate::net::hostnet::{self, HostSocket};
use crate::net::inet;
use crate::net::names::{self, NameKey, PortSpace};
use crate::net::socket::{External, Ucred};
use crate::net::stack;
use crate::net::{Family, Kind, SockAddr, Socket, UnixAddr};
use crate::vfs::{FileType, OpenFile};

/// The socket behind descriptor `fd` (ENOTSOCK for any other file).
pub(super) fn socket_of(t: &Task, fd: u64) -> SysResult<(Arc<OpenFile>, Arc<Socket>)> {
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

/// Splits SOCK_NONBLOCK/SOCK_CLOEXEC off a socket type; any other bit
/// above the type's four is EINVAL, as on Linux.
fn type_and_flags(ty: u64) -> SysResult<(i32, i32, bool)> {
    let ty = ty as i32;
    let flags = ty & (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if base & !0xf != 0 {
        return err(libc::EINVAL);
    }
    let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    Ok((base, nonblock, flags & libc::SOCK_CLOEXEC != 0))
}

/// The family and kind socket(2) asks for.
fn family_and_kind(domain: u64, base: i32, protocol: u64) -> SysResult<(Family, Kind)> {
    let protocol = protocol as i32;
    match domain as i32 {
        libc::AF_UNIX => {
            if protocol != 0 && protocol != libc::PF_UNIX {
                return err(libc::EPROTONOSUPPORT);
            }
            // Linux turns a raw Unix socket into a datagram socket.
            let base = if base == libc::SOCK_RAW {
                libc::SOCK_DGRAM
            } else {
                base
            };
            Ok((Family::Unix, Kind::from_type(base)?))
        }
        d @ (libc::AF_INET | libc::AF_INET6) => {
            let family = if d == libc::AF_INET {
                Family::Inet
            } else {
                Family::Inet6
            };
            let kind = match (base, protocol) {
                (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Kind::Stream,
                (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Kind::Dgram,
                (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return err(libc::EPROTONOSUPPORT),
                // Raw and packet-level access to a network that does not exist.
                _ => return err(libc::ESOCKTNOSUPPORT),
            };
            Ok((family, kind))
        }
        // Netlink, packet and the rest: no such kernel facilities here.
        _ => err(libc::EAFNOSUPPORT),
    }
}

pub(super) fn open_file(sock: Arc<Socket>, nonblock: i32) -> Arc<OpenFile> {
    let path = format!("socket:[{}]", sock.ino());
    OpenFile::new(sock, None, path, libc::O_RDWR | nonblock)
}

/// An ICMP echo socket (ping): SOCK_DGRAM for the groups of
/// net.ipv4.ping_group_range, SOCK_RAW with CAP_NET_RAW (IPv4 only).
fn ping_socket(t: &mut Task, raw: bool, nonblock: i32, cloexec: bool) -> SysResult<u64> {
    let (groups, net_raw) = {
        let st = lock(&t.proc.state);
        let mut groups = vec![st.creds.egid];
        groups.extend_from_slice(&st.creds.groups);
        (groups, st.creds.has(crate::kernel::caps::NET_RAW))
    };
    if raw && !net_raw {
        return err(libc::EPERM);
    }
    if !raw && !crate::net::sysctl::may_ping(groups) {
        return err(libc::EACCES);
    }
    let sock = Socket::new(Family::Inet, Kind::Dgram);
    sock.attach(External::Ping(stack::icmp::Ping::new(raw)));
    t.install(open_file(sock, nonblock), cloexec)
}

pub fn socket(t: &mut Task, a: Args) -> SysResult<u64> {
    let (base, nonblock, cloexec) = type_and_flags(a[1])?;
    if a[0] as i32 == libc::AF_INET && a[2] as i32 == libc::IPPROTO_ICMP && !hostnet::enabled() {
        match base {
            libc::SOCK_DGRAM => return ping_socket(t, false, nonblock, cloexec),
            libc::SOCK_RAW => return ping_socket(t, true, nonblock, cloexec),
            _ => {}
        }
    }
    let (family, kind) = family_and_kind(a[0], base, a[2])?;
    let sock = Socket::new(family, kind);
    if family != Family::Unix && hostnet::enabled() {
        // The `host` network mode: a host socket behind the Sentry's.
        sock.attach(External::Host(HostSocket::new(
            a[0] as i32,
            base,
            a[2] as i32,
        )?));
    }
    t.install(open_file(sock, nonblock), cloexec)
}

pub fn socketpair(t: &mut Task, a: Args) -> SysResult<u64> {
    let (base, nonblock, cloexec) = type_and_flags(a[1])?;
    let (family, kind) = family_and_kind(a[0], base, a[2])?;
    if family != Family::Unix {
        return err(libc::EOPNOTSUPP);
    }
    let (x, y) = Socket::pair(kind, peer_creds(t));
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

/// An address argument, parsed for the socket's family.
pub(super) enum Named {
    /// A Unix socket given only its family: bind picks an abstract name.
    Autobind,
    Addr(SockAddr),
}

/// Reads a `sockaddr` argument for `sock`'s family.
pub(super) fn read_addr(t: &Task, sock: &Socket, addr: u64, len: u64) -> SysResult<Named> {
    if len > 128 || (len as i32) < 0 {
        return err(libc::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm.read(addr, &mut raw)?;
    match sock.family {
        // UnixAddr::parse checks the length against sockaddr_un's.
        Family::Unix => Ok(match UnixAddr::parse(&raw)? {
            Requested::Autobind => Named::Autobind,
            Requested::Addr(a) => Named::Addr(SockAddr::Unix(a)),
        }),
        Family::Inet => Ok(Named::Addr(SockAddr::Inet(inet::parse(&raw, false)?))),
        Family::Inet6 => Ok(Named::Addr(SockAddr::Inet(inet::parse(&raw, true)?))),
    }
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

/// The key a socket bound to `addr` is found by.
fn key_of(t: &Task, addr: &SockAddr) -> SysResult<NameKey> {
    match addr {
        SockAddr::Unix(UnixAddr::Unnamed) => err(libc::EINVAL),
        SockAddr::Unix(UnixAddr::Abstract(name)) => Ok(NameKey::Abstract(name.clone())),
        SockAddr::Unix(UnixAddr::Path(p)) => {
            let loc = t.lookup_at(libc::AT_FDCWD as u64, p, true)?;
            let st = loc.inode.stat()?;
            if st.file_type() != FileType::Socket {
                return err(libc::ECONNREFUSED);
            }
            check_access(t, &st, 2)?;
            Ok(NameKey::Node {
                dev: st.dev,
                ino: st.ino,
            })
        }
        SockAddr::Inet(_) => err(libc::EINVAL),
    }
}

/// The socket bound to `addr`, for connect and sendto from `from` (an
/// inet sender's address: it picks among SO_REUSEPORT sockets).
pub(super) fn find_target(
    t: &Task,
    kind: Kind,
    addr: &SockAddr,
    from: Option<std::net::SocketAddr>,
) -> SysResult<Arc<Socket>> {
    if let SockAddr::Inet(a) = addr {
        if !inet::is_local(&a.ip()) {
            // Not the sandbox's: the stack's (callers check that first).
            return err(libc::ENETUNREACH);
        }
        return names::lookup_port(kind == Kind::Dgram, a.port(), inet::is_v6(&a.ip()), from)
            .ok_or(Errno(libc::ECONNREFUSED));
    }
    let key = key_of(t, addr)?;
    names::lookup(&key).ok_or(Errno(libc::ECONNREFUSED))
}

/// Whether an IPv6 socket has IPV6_V6ONLY set.
fn v6only(sock: &Socket) -> bool {
    sock.family == Family::Inet6
        && sock
            .get_option(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)
            .ok()
            .and_then(|v| {
                v.get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            })
            .is_some_and(|v| v != 0)
}

/// The port space a socket bound to `ip` takes (IPV6_V6ONLY as set).
fn port_space(sock: &Socket, ip: &std::net::IpAddr) -> PortSpace {
    if sock.family != Family::Inet6 || !inet::is_v6(ip) {
        return PortSpace::V4;
    }
    if v6only(sock) {
        PortSpace::V6Only
    } else {
        PortSpace::Dual
    }
}

/// Whether the caller may bind `port`: below net.ipv4.
/// ip_unprivileged_port_start (1024, or what the spec set: Docker gives 0)
/// it needs CAP_NET_BIND_SERVICE.
fn may_bind_port(t: &Task, port: u16) -> bool {
    u32::from(port) >= crate::net::sysctl::unprivileged_port_start()
        || lock(&t.proc.state)
            .creds
            .has(crate::kernel::caps::NET_BIND_SERVICE)
}

/// Binds an inet socket to `addr` (port 0: an ephemeral port).
fn bind_inet(t: &Task, sock: &Arc<Socket>, addr: std::net::SocketAddr) -> SysResult<()> {
    if !inet::is_local(&addr.ip()) {
        return err(libc::EADDRNOTAVAIL);
    }
    // An IPv6-only socket has no IPv4 (v4-mapped) addresses.
    if addr.is_ipv6() && !inet::is_v6(&addr.ip()) && v6only(sock) {
        return err(libc::EINVAL);
    }
    let udp = sock.kind == Kind::Dgram;
    let space = port_space(sock, &addr.ip());
    // SO_REUSEPORT shares a port among sockets of one effective uid.
    let reuseport = sock.reuseport().then(|| lock(&t.proc.state).creds.euid);
    let port = if addr.port() == 0 {
        names::ephemeral_port(udp, space, sock, reuseport)?
    } else {
        if !may_bind_port(t, addr.port()) {
            return err(libc::EACCES);
        }
        names::insert(
            NameKey::Port {
                udp,
                port: addr.port(),
                space,
            },
            sock,
            reuseport,
        )?;
        addr.port()
    };
    let mut bound = addr;
    bound.set_port(port);
    sock.claim(SockAddr::Inet(bound), NameKey::Port { udp, port, space })?;
    // A UDP socket not bound to loopback also receives from the network.
    if udp && !inet::is_loopback(&bound.ip()) {
        if let Some(mut s) = stack::lock() {
            let ip = (!bound.ip().is_unspecified()).then_some(bound.ip());
            let binding = stack::udp::bind(&mut s, ip, port, reuseport.is_some());
            drop(s);
            sock.attach(External::Udp(binding));
        }
    }
    Ok(())
}

/// An inet socket about to talk without a name gets an ephemeral port, as
/// Linux's autobind does.
pub(super) fn ensure_bound(t: &Task, sock: &Arc<Socket>) -> SysResult<()> {
    // (A host socket's host kernel binds it; an echo socket has no port.)
    if sock.is_inet() && !sock.is_bound() && !sock.is_host() && !sock.is_ping() {
        bind_inet(
            t,
            sock,
            match sock.family {
                Family::Inet6 => inet::unspecified(true),
                _ => inet::unspecified(false),
            },
        )?;
    }
    Ok(())
}

pub fn bind(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    let named = read_addr(t, &sock, a[1], a[2])?;
    if let Named::Addr(SockAddr::Inet(addr)) = &named {
        if sock.is_host() {
            if addr.port() != 0 && !may_bind_port(t, addr.port()) {
                return err(libc::EACCES);
            }
            return sock
                .with_host(|h| h.bind(addr))
                .unwrap_or(Ok(()))
                .map(|_| 0);
        }
    }
    if sock.is_bound() {
        return err(libc::EINVAL);
    }
    let named = match named {
        Named::Autobind => None,
        Named::Addr(SockAddr::Inet(addr)) => return bind_inet(t, &sock, addr).map(|_| 0),
        Named::Addr(SockAddr::Unix(UnixAddr::Unnamed)) => return err(libc::EINVAL),
        Named::Addr(SockAddr::Unix(UnixAddr::Abstract(name))) => Some((
            SockAddr::Unix(UnixAddr::Abstract(name.clone())),
            NameKey::Abstract(name),
        )),
        Named::Addr(SockAddr::Unix(UnixAddr::Path(p))) => {
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
                SockAddr::Unix(UnixAddr::Path(p)),
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
    if let Some(r) = sock.with_host(|h| h.listen(a[1] as i32)) {
        return r.map(|_| 0);
    }
    if sock.kind == Kind::Stream {
        ensure_bound(t, &sock)?;
    }
    sock.listen(a[1] as i32, peer_creds(t))?;
    // A listener not bound to loopback also listens on the network.
    if let (Kind::Stream, SockAddr::Inet(addr)) = (sock.kind, sock.local_addr()) {
        if !inet::is_loopback(&addr.ip()) && !sock.is_external() {
            if let Some(mut s) = stack::lock() {
                let ip = (!addr.ip().is_unspecified()).then_some(addr.ip());
                let backlog = crate::net::sysctl::listen_backlog(a[1] as i32);
                let (rcv, snd) = sock.buffer_sizes();
                // "Any" of one family listens on that family's addresses.
                let only_v6 = match sock.family {
                    crate::net::Family::Inet6 if v6only(&sock) => Some(true),
                    crate::net::Family::Inet6 => None,
                    _ => Some(false),
                };
                let l = stack::tcp::listen(&mut s, ip, only_v6, addr.port(), backlog, (rcv, snd));
                drop(s);
                sock.attach(External::Listener(l));
            }
        }
    }
    Ok(0)
}

/// Runs `op` until it stops answering EAGAIN: at once for a non-blocking
/// call, else waiting for the kernel's events, a signal or `timeout`
/// (SO_RCVTIMEO/SO_SNDTIMEO: then EAGAIN, and a signal gives EINTR, as
/// Linux does for sockets with a timeout).
pub(super) fn retry<T>(
    t: &mut Task,
    nonblock: bool,
    timeout: Option<Duration>,
    op: impl FnMut(&mut Task) -> SysResult<T>,
) -> SysResult<T> {
    retry_on(t, None, nonblock, timeout, op)
}

/// [`retry`] for a wait that only a change of `on` itself can end (a
/// receive, an accept: arrivals bump the receiving socket), so the task
/// watches that socket alone (`Task::block_on_files`). Sends and connects
/// wait for another socket to make room, and use `retry`.
pub(super) fn retry_on<T>(
    t: &mut Task,
    on: Option<&dyn crate::vfs::FileOps>,
    nonblock: bool,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut Task) -> SysResult<T>,
) -> SysResult<T> {
    match op(t) {
        Err(e) if e.0 == libc::EAGAIN && !nonblock => {}
        r => return r,
    }
    let deadline = timeout.map(|d| Instant::now() + d);
    let again = |t: &mut Task| match op(t) {
        Err(e) if e.0 == libc::EAGAIN => None,
        r => Some(r),
    };
    let r = match on {
        Some(f) => t.block_on_files(&[f], None, deadline, again),
        None => t.block(None, deadline, again),
    };
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
    let addr = match read_addr(t, &sock, a[1], a[2])? {
        Named::Autobind => return err(libc::EINVAL),
        Named::Addr(addr) => addr,
    };
    let SockAddr::Inet(dest) = addr else {
        let target = find_target(t, sock.kind, &addr, None)?;
        let creds = peer_creds(t);
        let (_, sndtimeo) = sock.timeouts();
        return retry(t, f.nonblocking(), sndtimeo, |_| {
            sock.connect(&target, creds, None)
        })
        .map(|_| 0);
    };
    if sock.is_host() {
        return connect_host(t, &f, &sock, dest);
    }
    if !inet::is_local(&dest.ip()) {
        return connect_external(t, &f, &sock, dest);
    }
    if sock.kind == Kind::Stream && (!sock.is_external() || sock.is_dns_stream()) {
        if sock.is_pending() {
            return err(libc::EALREADY);
        }
        // The call after EINPROGRESS reports the outcome; later ones EISCONN.
        if sock.peer_addr().is_ok() {
            return if sock.take_in_progress() {
                Ok(0)
            } else {
                err(libc::EISCONN)
            };
        }
    }
    // Inet: the client gets a port, and leaves from loopback when bound to "any".
    ensure_bound(t, &sock)?;
    if let SockAddr::Inet(mut local) = sock.local_addr() {
        if local.ip().is_unspecified() {
            local.set_ip(inet::arrival(dest.ip()));
            sock.set_local(SockAddr::Inet(local));
        }
    }
    let arrive_at = SockAddr::Inet(std::net::SocketAddr::new(
        inet::arrival(dest.ip()),
        dest.port(),
    ));
    if sock.kind == Kind::Dgram {
        // UDP connect only sets the default destination; nobody need be there.
        sock.set_remote(Some(arrive_at));
        return Ok(0);
    }
    let nonblock = f.nonblocking();
    let creds = peer_creds(t);
    let (_, sndtimeo) = sock.timeouts();
    let from = match sock.local_addr() {
        SockAddr::Inet(a) => Some(a),
        _ => None,
    };
    let target = match find_target(t, sock.kind, &addr, from) {
        // Nobody inside listens there: Docker's embedded DNS is served by
        // the Sentry (net::dns::tcp).
        Err(e) if e.0 == libc::ECONNREFUSED && crate::net::dns::relays(&dest) => {
            sock.set_remote(Some(arrive_at));
            sock.attach(External::Dns(Default::default()));
            if nonblock {
                sock.set_in_progress();
                return err(libc::EINPROGRESS);
            }
            return Ok(0);
        }
        r => r,
    };
    let r = target.and_then(|target| {
        let r = retry(t, nonblock, sndtimeo, |_| {
            sock.connect(&target, creds, Some(arrive_at.clone()))
        });
        if r.as_ref().is_err_and(|e| e.0 == libc::EAGAIN) && nonblock {
            // A full backlog: the handshake waits for an accept.
            sock.wait_for_room(&target, creds, Some(arrive_at.clone()));
        }
        r
    });
    match r {
        // Linux's TCP never connects a non-blocking socket within the
        // call, even over loopback: it says EINPROGRESS, then reports
        // writability, or the refusal through SO_ERROR and POLLERR.
        Err(e) if nonblock && e.0 == libc::ECONNREFUSED => {
            sock.set_error(libc::ECONNREFUSED);
            err(libc::EINPROGRESS)
        }
        Ok(()) | Err(Errno(libc::EAGAIN)) if nonblock => {
            sock.set_in_progress();
            err(libc::EINPROGRESS)
        }
        r => r.map(|_| 0),
    }
}

/// connect(2) of a host socket (the `host` network mode): the host's
/// non-blocking connect, then, for a blocking caller, the Sentry's wait for
/// its outcome.
fn connect_host(
    t: &mut Task,
    f: &Arc<OpenFile>,
    sock: &Arc<Socket>,
    dest: std::net::SocketAddr,
) -> SysResult<u64> {
    match sock.with_host(|h| h.connect(&dest)) {
        Some(Err(e)) if e.0 == libc::EINPROGRESS && !f.nonblocking() => {}
        Some(r) => return r.map(|_| 0),
        None => return err(libc::EBADF),
    }
    let (_, sndtimeo) = sock.timeouts();
    retry(t, false, sndtimeo, |_| sock.connect_result()).map(|_| 0)
}

/// connect(2) to an address beyond the sandbox: through the TCP/IP stack.
/// A UDP socket only remembers its destination; TCP starts the handshake
/// and, unless non-blocking (EINPROGRESS), waits for its outcome.
fn connect_external(
    t: &mut Task,
    f: &Arc<OpenFile>,
    sock: &Arc<Socket>,
    dest: std::net::SocketAddr,
) -> SysResult<u64> {
    if !stack::present() {
        return err(libc::ENETUNREACH);
    }
    ensure_bound(t, sock)?;
    if sock.kind == Kind::Dgram {
        sock.set_remote(Some(SockAddr::Inet(dest)));
        return Ok(0);
    }
    if sock.is_external_tcp() {
        if sock.is_connecting() {
            return err(libc::EALREADY);
        }
        // The call after EINPROGRESS reports the outcome; later ones EISCONN.
        sock.connect_result()?;
        return if sock.take_in_progress() {
            Ok(0)
        } else {
            err(libc::EISCONN)
        };
    }
    let SockAddr::Inet(local) = sock.local_addr() else {
        return err(libc::EINVAL);
    };
    let bound_ip = (!local.ip().is_unspecified()).then_some(local.ip());
    let hops = sock.hop_limit(inet::is_v6(&dest.ip()));
    let (conn, from) = {
        let mut s = stack::lock().ok_or(Errno(libc::ENETUNREACH))?;
        stack::tcp::connect(
            &mut s,
            dest,
            bound_ip,
            local.port(),
            sock.buffer_sizes(),
            hops,
        )?
    };
    sock.set_local(SockAddr::Inet(sock.presented(from)));
    sock.set_remote(Some(SockAddr::Inet(dest)));
    sock.attach(External::Tcp(conn));
    if f.nonblocking() {
        sock.set_in_progress();
        return err(libc::EINPROGRESS);
    }
    let (_, sndtimeo) = sock.timeouts();
    retry(t, false, sndtimeo, |_| sock.connect_result()).map(|_| 0)
}

pub fn accept(t: &mut Task, a: Args, flags: u64) -> SysResult<u64> {
    let flags = flags as i32;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let (f, sock) = socket_of(t, a[0])?;
    let (rcvtimeo, _) = sock.timeouts();
    let conn = retry_on(t, Some(&*sock), f.nonblocking(), rcvtimeo, |_| {
        sock.accept()
    })?;
    let peer = conn
        .peer_addr()
        .unwrap_or(SockAddr::Unix(UnixAddr::Unnamed));
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
    let value = sock.get_option(a[1] as i32, a[2] as i32)?;
    write_option(t, a, &value)
}

/// getsockopt's result: at most the caller's length (a[4] points to it)
/// of `value` to a[3], and the length written back.
pub(super) fn write_option(t: &mut Task, a: Args, value: &[u8]) -> SysResult<u64> {
    let room: i32 = t.mm.read_obj(a[4])?;
    let room = usize::try_from(room).map_err(|_| Errno(libc::EINVAL))?;
    let n = room.min(value.len());
    t.mm.write(a[3], &value[..n])?;
    t.mm.write_obj(a[4], &(n as u32))?;
    Ok(0)
}

pub fn setsockopt(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, sock) = socket_of(t, a[0])?;
    if a[4] > 4096 {
        return err(libc::EINVAL);
    }
    let mut value = vec![0u8; a[4] as usize];
    t.mm.read(a[3], &mut value)?;
    sock.set_option(a[1] as i32, a[2] as i32, &value).map(|_| 0)
}
