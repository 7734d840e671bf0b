//! Unix domain sockets, entirely inside the Sentry: stream, datagram and
//! seqpacket sockets; connected pairs; listeners with a backlog; messages
//! that carry descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS).
//!
//! Like every Sentry file, operations never block: they answer EAGAIN and
//! the system call layer waits for the kernel's event counter. Two sockets'
//! locks are never held at once: a sender takes its peer's reference under
//! its own lock, drops it, then locks the peer.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub mod ancillary;
mod external;
pub mod listing;
mod options;
pub(crate) mod tcpinfo;
pub mod unix_listing;

pub use ancillary::Arrival;
pub use external::External;

use super::addr::{SockAddr, UnixAddr};
use super::names::{self, NameKey};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::events;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::{FileOps, FileType, OpenFile, Stat};

/// Linux's default socket buffer size (net.core.wmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// What a queued datagram costs beyond its bytes, so that even empty
/// datagrams eventually fill a queue (Linux charges the skb's truesize).
const DATAGRAM_OVERHEAD: usize = 512;
/// The most descriptors one message may carry (SCM_MAX_FD).
pub const MAX_RIGHTS: usize = 253;
/// The st_dev of sockets (sockfs).
const SOCK_DEV: u64 = 0x8;

/// What fstat shows of a socket (sockfs), of any family.
pub(crate) fn socket_stat(ino: u64) -> Stat {
    Stat::synthetic(SOCK_DEV, ino, FileType::Socket, 0o777, 0)
}

const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = RCV_SHUTDOWN | SEND_SHUTDOWN;

/// The address family: what names a socket has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Unix,
    Inet,
    Inet6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
    SeqPacket,
}

impl Kind {
    /// The kind for a socket(2) type (flags already removed).
    pub fn from_type(ty: i32) -> SysResult<Kind> {
        match ty {
            libc::SOCK_STREAM => Ok(Kind::Stream),
            libc::SOCK_DGRAM => Ok(Kind::Dgram),
            libc::SOCK_SEQPACKET => Ok(Kind::SeqPacket),
            _ => err(libc::ESOCKTNOSUPPORT),
        }
    }

    pub fn linux_type(self) -> i32 {
        match self {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_DGRAM,
            Kind::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }

    fn connection_based(self) -> bool {
        self != Kind::Dgram
    }

    /// Whether messages keep their boundaries.
    fn records(self) -> bool {
        self != Kind::Stream
    }
}

/// A process's identity as sockets report it (`struct ucred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// One queued message (or, on a stream, one write's worth of bytes).
struct Message {
    data: Vec<u8>,
    /// Bytes of a stream message already read.
    read: usize,
    rights: Vec<Arc<OpenFile>>,
    creds: Ucred,
    from: SockAddr,
    /// What IP carried with a datagram (TTL, class), for the receiver's
    /// control messages.
    ip: Option<Arrival>,
}

impl Message {
    fn remaining(&self) -> usize {
        self.data.len() - self.read
    }

    fn cost(&self, kind: Kind) -> usize {
        if kind.records() {
            self.data.len() + DATAGRAM_OVERHEAD
        } else {
            self.data.len()
        }
    }
}

/// What a receive returns.
pub struct Received {
    pub data: Vec<u8>,
    /// A record's full length (what MSG_TRUNC asks for).
    pub full_len: usize,
    pub truncated: bool,
    pub rights: Vec<Arc<OpenFile>>,
    pub creds: Ucred,
    pub from: SockAddr,
    /// A datagram's IP header as far as known (IP_RECVTTL and friends).
    pub ip: Option<Arrival>,
}

/// What is sent: the bytes and what rides along.
pub struct Outgoing<'a> {
    pub data: &'a [u8],
    pub rights: &'a [Arc<OpenFile>],
    pub creds: Ucred,
    /// An explicit destination (sendto/sendmsg with a name).
    pub to: Option<Arc<Socket>>,
}

enum Conn {
    Idle,
    Listening {
        backlog: VecDeque<Arc<Socket>>,
        max: usize,
        creds: Ucred,
    },
    Connected,
}

struct Inner {
    local: Option<SockAddr>,
    /// An inet datagram socket's connected destination (looked up at each send).
    remote: Option<SockAddr>,
    key: Option<NameKey>,
    conn: Conn,
    /// The connected peer, or a datagram socket's default destination.
    peer: Option<Arc<Socket>>,
    recv: VecDeque<Message>,
    recv_cost: usize,
    shutdown: u8,
    closed: bool,
    /// A pending error (SO_ERROR), reported once.
    error: i32,
    passcred: bool,
    peercred: Option<Ucred>,
    sndbuf: usize,
    rcvbuf: usize,
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
    /// Options kept only to be reported back: (level, name) → value.
    remembered: HashMap<(i32, i32), i32>,
    /// SO_LINGER as set (on, seconds).
    linger: (bool, i32),
    /// SO_LINGER on with a zero timeout: close resets the connection.
    linger_zero: bool,
    /// A TCP connect waiting for room on a full listener's backlog (what
    /// Linux does by retrying its SYN); accept() completes it.
    pending: Option<Pending>,
    /// A listener's connectors waiting in `pending`, oldest first.
    waiters: VecDeque<Weak<Socket>>,
    /// A non-blocking connect answered EINPROGRESS: the next connect(2)
    /// reports its outcome (0) rather than EISCONN.
    in_progress: bool,
    /// What TCP_INFO reports of a loopback TCP connection.
    tcp: tcpinfo::Counters,
    /// The server's side of a connection still on its listener's backlog
    /// (no descriptor yet: /proc/net/unix shows it connecting, inode 0).
    embryo: bool,
}

/// A connect waiting for a listener's backlog to have room.
struct Pending {
    target: Arc<Socket>,
    creds: Ucred,
    arrive_at: Option<SockAddr>,
}

pub struct Socket {
    me: Weak<Socket>,
    /// Moves whenever this socket's readiness may have changed (for
    /// edge-triggered epoll).
    seq: Arc<events::Seq>,
    pub family: Family,
    pub kind: Kind,
    ino: u64,
    /// Its place in the registry /proc/net lists (`listing`).
    slot: usize,
    inner: Mutex<Inner>,
    /// The part on the TCP/IP stack, beyond loopback (`external`).
    ext: Mutex<External>,
    /// Whether `ext` holds anything (set once, by `attach`).
    external: std::sync::atomic::AtomicBool,
    /// The stack bumps `seq` for this socket's part there (`external`).
    watched: std::sync::atomic::AtomicBool,
}

pub(crate) fn next_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(10_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Socket {
    pub fn new(family: Family, kind: Kind) -> Arc<Socket> {
        Arc::new_cyclic(|me| Socket {
            me: me.clone(),
            seq: Arc::default(),
            family,
            kind,
            ino: next_ino(),
            slot: listing::register(me.clone(), family, kind),
            inner: Mutex::new(Inner {
                local: None,
                remote: None,
                key: None,
                conn: Conn::Idle,
                peer: None,
                recv: VecDeque::new(),
                recv_cost: 0,
                shutdown: 0,
                closed: false,
                error: 0,
                passcred: false,
                peercred: None,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                rcvtimeo: None,
                sndtimeo: None,
                remembered: HashMap::new(),
                linger: (false, 0),
                linger_zero: false,
                pending: None,
                waiters: VecDeque::new(),
                in_progress: false,
                tcp: tcpinfo::Counters::default(),
                embryo: false,
            }),
            ext: Mutex::new(External::None),
            external: std::sync::atomic::AtomicBool::new(false),
            watched: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Two sockets connected to each other (socketpair).
    pub fn pair(kind: Kind, creds: Ucred) -> (Arc<Socket>, Arc<Socket>) {
        let a = Socket::new(Family::Unix, kind);
        let b = Socket::new(Family::Unix, kind);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut i = lock(&x.inner);
            i.peer = Some(y.clone());
            i.peercred = Some(creds);
            i.conn = Conn::Connected;
        }
        (a, b)
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    pub fn arc(&self) -> SysResult<Arc<Socket>> {
        self.me.upgrade().ok_or(Errno(libc::EBADF))
    }

    /// The name of an unbound socket of this family.
    fn no_name(&self) -> SockAddr {
        match self.family {
            Family::Unix => SockAddr::Unix(UnixAddr::Unnamed),
            Family::Inet => SockAddr::Inet(super::inet::unspecified(false)),
            Family::Inet6 => SockAddr::Inet(super::inet::unspecified(true)),
        }
    }

    pub fn is_inet(&self) -> bool {
        self.family != Family::Unix
    }

    pub fn local_addr(&self) -> SockAddr {
        if let Some(Ok(a)) = self.with_host(|h| h.local()) {
            return SockAddr::Inet(a);
        }
        let local = lock(&self.inner).local.clone();
        local.map_or_else(|| self.no_name(), |a| self.shown(a))
    }

    /// An inet address as this socket's family shows it: IPv4 as
    /// v4-mapped on an IPv6 socket, v4-mapped as IPv4 on an IPv4 socket.
    fn shown(&self, a: SockAddr) -> SockAddr {
        match (self.family, a) {
            (Family::Inet, SockAddr::Inet(std::net::SocketAddr::V6(v6))) => {
                match v6.ip().to_ipv4_mapped() {
                    Some(v4) => SockAddr::Inet(std::net::SocketAddr::new(v4.into(), v6.port())),
                    None => SockAddr::Inet(std::net::SocketAddr::V6(v6)),
                }
            }
            (Family::Inet6, SockAddr::Inet(v4 @ std::net::SocketAddr::V4(_))) => {
                SockAddr::Inet(self.presented(v4))
            }
            (_, other) => other,
        }
    }

    /// A pending error (SO_ERROR), taken: 0 for none.
    pub fn take_error(&self) -> i32 {
        std::mem::take(&mut lock(&self.inner).error)
    }

    /// Sets the pending error, as an ICMP error or a refused handshake
    /// does; poll then shows POLLERR.
    pub fn set_error(&self, e: i32) {
        lock(&self.inner).error = e;
        self.seq.bump();
        events::notify();
    }

    /// Whether a connect waits on a full backlog (EALREADY for another).
    pub fn is_pending(&self) -> bool {
        lock(&self.inner).pending.is_some()
    }

    /// Notes that connect(2) answered EINPROGRESS.
    pub fn set_in_progress(&self) {
        lock(&self.inner).in_progress = true;
    }

    /// Whether the connect(2) after an EINPROGRESS one is due (once).
    pub fn take_in_progress(&self) -> bool {
        std::mem::take(&mut lock(&self.inner).in_progress)
    }

    /// Waits on `target`'s full backlog: the connect completes when an
    /// accept makes room (connect(2) then answers EINPROGRESS).
    pub fn wait_for_room(&self, target: &Arc<Socket>, creds: Ucred, arrive_at: Option<SockAddr>) {
        lock(&target.inner).waiters.push_back(self.me.clone());
        lock(&self.inner).pending = Some(Pending {
            target: target.clone(),
            creds,
            arrive_at,
        });
    }

    /// Completes the oldest waiting connect now that the backlog has room;
    /// one the listener refuses learns ECONNREFUSED.
    fn admit_waiter(&self) {
        loop {
            let Some(w) = lock(&self.inner).waiters.pop_front() else {
                return;
            };
            let Some(c) = w.upgrade() else { continue };
            let Some(p) = lock(&c.inner).pending.take() else {
                continue;
            };
            match c.connect(&p.target, p.creds, p.arrive_at.clone()) {
                Ok(()) => {}
                Err(e) if e.0 == libc::EAGAIN => {
                    lock(&self.inner).waiters.push_front(w);
                    lock(&c.inner).pending = Some(p);
                }
                Err(e) => c.set_error(e.0),
            }
            c.seq.bump();
            events::notify();
            return;
        }
    }

    /// Renames a bound inet socket's address (the address a connection
    /// from an "any" address leaves from is loopback).
    pub fn set_local(&self, addr: SockAddr) {
        lock(&self.inner).local = Some(addr);
    }

    /// An inet datagram socket's connected destination.
    pub fn remote(&self) -> Option<SockAddr> {
        lock(&self.inner).remote.clone()
    }

    pub fn set_remote(&self, addr: Option<SockAddr>) {
        let mut i = lock(&self.inner);
        i.conn = if addr.is_some() {
            Conn::Connected
        } else {
            Conn::Idle
        };
        i.remote = addr;
    }

    pub fn peer_addr(&self) -> SysResult<SockAddr> {
        if let Some(r) = self.with_host(|h| h.peer()) {
            return r.map(SockAddr::Inet);
        }
        if let Some(r) = self.remote() {
            return Ok(self.shown(r));
        }
        let peer = lock(&self.inner)
            .peer
            .clone()
            .ok_or(Errno(libc::ENOTCONN))?;
        Ok(self.shown(peer.local_addr()))
    }

    /// Binds to `addr`, registered under `key` (None for autobind, which
    /// picks an abstract name).
    pub fn bind(&self, addr: Option<(SockAddr, NameKey)>) -> SysResult<()> {
        let me = self.arc()?;
        if lock(&self.inner).local.is_some() {
            return err(libc::EINVAL);
        }
        let (addr, key) = match addr {
            Some((addr, key)) => {
                names::insert(key.clone(), &me, None)?;
                (addr, key)
            }
            None => {
                let name = names::autobind(&me)?;
                (
                    SockAddr::Unix(UnixAddr::Abstract(name.clone())),
                    NameKey::Abstract(name),
                )
            }
        };
        let mut i = lock(&self.inner);
        if i.local.is_some() {
            drop(i);
            names::remove(&key, Arc::as_ptr(&me));
            return err(libc::EINVAL);
        }
        i.local = Some(addr);
        i.key = Some(key);
        Ok(())
    }

    /// Takes `addr` as this socket's name; `key` is already registered to
    /// it (ports are chosen under the names table's lock).
    pub fn claim(&self, addr: SockAddr, key: NameKey) -> SysResult<()> {
        let mut i = lock(&self.inner);
        if i.local.is_some() {
            drop(i);
            names::remove(&key, self as *const Socket);
            return err(libc::EINVAL);
        }
        i.local = Some(addr);
        i.key = Some(key);
        Ok(())
    }

    pub fn is_bound(&self) -> bool {
        lock(&self.inner).local.is_some()
    }

    pub fn is_listening(&self) -> bool {
        matches!(lock(&self.inner).conn, Conn::Listening { .. })
    }

    /// Whether SO_REUSEPORT is set (it decides at bind who may share the port).
    pub fn reuseport(&self) -> bool {
        lock(&self.inner)
            .remembered
            .get(&(libc::SOL_SOCKET, libc::SO_REUSEPORT))
            .is_some_and(|v| *v != 0)
    }

    pub fn listen(&self, backlog: i32, creds: Ucred) -> SysResult<()> {
        if !self.kind.connection_based() {
            return err(libc::EOPNOTSUPP);
        }
        // Capped at net.core.somaxconn.
        let max = crate::net::sysctl::listen_backlog(backlog);
        let mut i = lock(&self.inner);
        if i.local.is_none() {
            return err(libc::EINVAL);
        }
        match &mut i.conn {
            Conn::Connected => err(libc::EINVAL),
            Conn::Listening { max: m, .. } => {
                *m = max;
                drop(i);
                self.ext_set_backlog(max);
                Ok(())
            }
            Conn::Idle => {
                i.conn = Conn::Listening {
                    backlog: VecDeque::new(),
                    max,
                    creds,
                };
                Ok(())
            }
        }
    }

    /// Connects to `target`. A stream or seqpacket connection queues a new
    /// server-side socket on the listener's backlog (EAGAIN while it is
    /// full), named `arrive_at` if given (the address an inet client
    /// dialled) or else like the listener; a datagram socket just remembers
    /// its default destination.
    pub fn connect(
        &self,
        target: &Arc<Socket>,
        creds: Ucred,
        arrive_at: Option<SockAddr>,
    ) -> SysResult<()> {
        let me = self.arc()?;
        if target.kind != self.kind {
            return err(libc::EPROTOTYPE);
        }
        if !self.kind.connection_based() {
            let t = lock(&target.inner);
            if t.closed {
                return err(libc::ECONNREFUSED);
            }
            if t.peer.as_ref().is_some_and(|p| !Arc::ptr_eq(p, &me)) && !Arc::ptr_eq(target, &me) {
                return err(libc::EPERM);
            }
            drop(t);
            let mut i = lock(&self.inner);
            i.peer = Some(target.clone());
            i.conn = Conn::Connected;
            return Ok(());
        }
        match lock(&self.inner).conn {
            Conn::Connected => return err(libc::EISCONN),
            Conn::Listening { .. } => return err(libc::EINVAL),
            Conn::Idle => {}
        }
        // The server's side is of the listener's family (a v4-mapped
        // client of an IPv4 listener is seen as IPv4).
        let server = Socket::new(target.family, self.kind);
        let listener_creds = {
            let mut t = lock(&target.inner);
            let local = arrive_at.or_else(|| t.local.clone());
            let remembered = t.remembered.clone();
            let closed = t.closed;
            let (backlog, max, lcreds) = match (&mut t.conn, closed) {
                (
                    Conn::Listening {
                        backlog,
                        max,
                        creds,
                    },
                    false,
                ) => (backlog, *max, *creds),
                _ => return err(libc::ECONNREFUSED),
            };
            if backlog.len() > max {
                return err(libc::EAGAIN);
            }
            {
                let mut s = lock(&server.inner);
                s.local = local;
                s.peer = Some(me.clone());
                s.peercred = Some(creds);
                s.conn = Conn::Connected;
                // Options are inherited from the listener, as Linux's
                // clone of the listening socket does (the server side is
                // new: nobody else holds its lock).
                s.remembered = remembered;
                s.embryo = true;
            }
            backlog.push_back(server.clone());
            lcreds
        };
        {
            let mut i = lock(&self.inner);
            i.peer = Some(server);
            i.peercred = Some(listener_creds);
            i.conn = Conn::Connected;
        }
        target.seq.bump();
        self.seq.bump();
        Ok(())
    }

    /// Dissolves a datagram socket's association (connect to AF_UNSPEC).
    pub fn disconnect(&self) -> SysResult<()> {
        if self.kind.connection_based() {
            return err(libc::EINVAL);
        }
        let mut i = lock(&self.inner);
        i.peer = None;
        i.remote = None;
        i.conn = Conn::Idle;
        Ok(())
    }

    /// Takes the next connection off a listener's backlog.
    pub fn accept(&self) -> SysResult<Arc<Socket>> {
        if let Some(r) = self.host_accept() {
            return r;
        }
        let conn = {
            let mut i = lock(&self.inner);
            match &mut i.conn {
                Conn::Listening { backlog, .. } => match backlog.pop_front() {
                    Some(c) => c,
                    None => {
                        drop(i);
                        return self.ext_accept().ok_or(Errno(libc::EAGAIN));
                    }
                },
                _ => return err(libc::EINVAL),
            }
        };
        lock(&conn.inner).embryo = false;
        self.admit_waiter();
        self.seq.bump();
        Ok(conn)
    }

    /// Queues `out` for the peer (or `out.to`). Returns the bytes taken: a
    /// stream takes what fits, a record is all or nothing.
    pub fn send(&self, out: Outgoing) -> SysResult<usize> {
        if let Some(r) = self.ext_send(out.data) {
            return r;
        }
        let (target, from, ip) = {
            let mut i = lock(&self.inner);
            if i.error != 0 {
                return Err(Errno(std::mem::take(&mut i.error)));
            }
            if i.shutdown & SEND_SHUTDOWN != 0 {
                return err(libc::EPIPE);
            }
            let target = if self.kind.connection_based() {
                if out.to.is_some() {
                    return err(if matches!(i.conn, Conn::Connected) {
                        libc::EISCONN
                    } else {
                        libc::EOPNOTSUPP
                    });
                }
                match (&i.conn, &i.peer) {
                    (Conn::Connected, Some(p)) => p.clone(),
                    // Still in its handshake.
                    _ if i.pending.is_some() => return err(libc::EAGAIN),
                    // TCP answers EPIPE on a socket that never connected.
                    _ if self.is_inet() => return err(libc::EPIPE),
                    _ => return err(libc::ENOTCONN),
                }
            } else {
                match (&out.to, &i.peer) {
                    (Some(to), _) => to.clone(),
                    (None, Some(p)) => p.clone(),
                    (None, None) => return err(libc::ENOTCONN),
                }
            };
            let from = match i.local.clone().unwrap_or_else(|| self.no_name()) {
                // What leaves from "any" arrives from loopback.
                SockAddr::Inet(mut a) => {
                    a.set_ip(super::inet::arrival(a.ip()));
                    SockAddr::Inet(a)
                }
                other => other,
            };
            let ip = (self.is_inet() && self.kind == Kind::Dgram).then(|| {
                // IPv6 on the wire only between IPv6 addresses.
                let v6 = target.family == Family::Inet6
                    && matches!(&from, SockAddr::Inet(a) if super::inet::is_v6(&a.ip()));
                ancillary::departure(&i, v6)
            });
            (target, from, ip)
        };
        let me = self.arc()?;
        let limit = lock(&self.inner).sndbuf;
        if self.kind.records() && out.data.len() > limit.saturating_sub(32) {
            return err(libc::EMSGSIZE);
        }
        let mut t = lock(&target.inner);
        if t.closed && self.is_inet() && self.kind == Kind::Stream {
            // The peer is gone: TCP sends this, the peer's reset comes
            // back, and only later sends fail (EPIPE).
            drop(t);
            let mut i = lock(&self.inner);
            i.shutdown = SHUTDOWN_MASK;
            i.tcp.reset = true;
            drop(i);
            self.seq.bump();
            return Ok(out.data.len());
        }
        if t.closed {
            return err(if self.kind.connection_based() {
                libc::EPIPE
            } else {
                libc::ECONNREFUSED
            });
        }
        if self.kind.connection_based() && t.shutdown & RCV_SHUTDOWN != 0 {
            return err(libc::EPIPE);
        }
        if !self.kind.connection_based()
            && !self.is_inet()
            && t.peer.as_ref().is_some_and(|p| !Arc::ptr_eq(p, &me))
            && !Arc::ptr_eq(&target, &me)
        {
            return err(libc::EPERM);
        }
        if out.data.is_empty() && self.kind == Kind::Stream {
            return Ok(0);
        }
        // A connected UDP socket takes datagrams from its peer only.
        if self.is_inet() && self.kind == Kind::Dgram {
            let canon = |a: &SockAddr| match a {
                SockAddr::Inet(a) => Some((a.ip().to_canonical(), a.port())),
                _ => None,
            };
            if t.remote.as_ref().is_some_and(|r| canon(r) != canon(&from)) {
                return Ok(out.data.len());
            }
        }
        let space = limit.saturating_sub(t.recv_cost);
        let n = if self.kind.records() {
            if space < out.data.len() + DATAGRAM_OVERHEAD {
                return err(libc::EAGAIN);
            }
            out.data.len()
        } else {
            if space == 0 {
                return err(libc::EAGAIN);
            }
            out.data.len().min(space)
        };
        let msg = Message {
            data: out.data[..n].to_vec(),
            read: 0,
            rights: out.rights.to_vec(),
            creds: out.creds,
            from,
            ip,
        };
        t.recv_cost += msg.cost(self.kind);
        t.recv.push_back(msg);
        let tcp = self.is_inet() && self.kind == Kind::Stream;
        if tcp {
            t.tcp.received(n);
        }
        drop(t);
        if tcp {
            lock(&self.inner).tcp.sent(n);
        }
        target.seq.bump();
        self.seq.bump();
        Ok(n)
    }

    /// Receives up to `max` bytes: a stream gathers across writes (never
    /// past a message carrying descriptors, so they arrive with their
    /// bytes); a record socket returns one record, truncated to `max`.
    /// Ok with no data and `full_len == 0` means end of file.
    pub fn recv(&self, max: usize, peek: bool) -> SysResult<Received> {
        if self.is_external_tcp() {
            if let Some(r) = self.ext_recv(max, peek) {
                return r;
            }
        }
        let mut i = lock(&self.inner);
        if i.recv.is_empty() {
            // A datagram from the network, when loopback has none.
            if let Some(r) = self.ext_recv(max, peek) {
                return r;
            }
            if i.error != 0 {
                return Err(Errno(std::mem::take(&mut i.error)));
            }
            match (&i.conn, self.kind) {
                (Conn::Listening { .. }, _) => return err(libc::EINVAL),
                (Conn::Idle, Kind::Stream) if i.pending.is_some() => return err(libc::EAGAIN),
                (Conn::Idle, Kind::Stream) => {
                    return err(if self.is_inet() {
                        libc::ENOTCONN
                    } else {
                        libc::EINVAL
                    })
                }
                (Conn::Idle, Kind::SeqPacket) => return err(libc::ENOTCONN),
                _ => {}
            }
            if i.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(Received {
                    data: Vec::new(),
                    full_len: 0,
                    truncated: false,
                    rights: Vec::new(),
                    creds: Ucred::default(),
                    from: self.no_name(),
                    ip: None,
                });
            }
            return err(libc::EAGAIN);
        }
        let kind = self.kind;
        let got = if kind.records() {
            let (data, full_len, rights, creds, from, ip) = {
                let m = i.recv.front().ok_or(Errno(libc::EAGAIN))?;
                let n = max.min(m.data.len());
                let rights = if peek { m.rights.clone() } else { Vec::new() };
                (
                    m.data[..n].to_vec(),
                    m.data.len(),
                    rights,
                    m.creds,
                    m.from.clone(),
                    m.ip,
                )
            };
            let rights = if peek {
                rights
            } else {
                let m = i.recv.pop_front().ok_or(Errno(libc::EAGAIN))?;
                i.recv_cost -= m.cost(kind);
                m.rights
            };
            Received {
                truncated: data.len() < full_len,
                data,
                full_len,
                rights,
                creds,
                from,
                ip,
            }
        } else {
            self.gather(&mut i, max, peek)
        };
        let got = Received {
            from: self.shown(got.from),
            ..got
        };
        let peer = i.peer.clone();
        drop(i);
        if !peek {
            // Room in our queue may make the peer writable again.
            self.seq.bump();
            if let Some(p) = peer {
                p.seq.bump();
            }
        }
        Ok(got)
    }

    fn gather(&self, i: &mut Inner, max: usize, peek: bool) -> Received {
        let passcred = i.passcred;
        let mut data = Vec::new();
        let mut rights = Vec::new();
        let mut creds = None;
        let mut from = self.no_name();
        let mut idx = 0;
        while data.len() < max {
            let Some(m) = i.recv.get_mut(idx) else { break };
            // A message with descriptors, or (when credentials are passed)
            // from someone else, starts a new read.
            if !data.is_empty() && (!m.rights.is_empty() || (passcred && creds != Some(m.creds))) {
                break;
            }
            if creds.is_none() {
                creds = Some(m.creds);
                from = m.from.clone();
            }
            let n = (max - data.len()).min(m.remaining());
            data.extend_from_slice(&m.data[m.read..m.read + n]);
            let carried = if peek {
                m.rights.clone()
            } else {
                m.read += n;
                std::mem::take(&mut m.rights)
            };
            let finished = m.remaining() == 0;
            let has_rights = !carried.is_empty();
            rights.extend(carried);
            if peek {
                idx += 1;
            } else if finished {
                i.recv.pop_front();
            }
            if has_rights {
                break;
            }
        }
        if !peek {
            i.recv_cost = i.recv.iter().map(|m| m.remaining()).sum();
        }
        let full_len = data.len();
        Received {
            data,
            full_len,
            truncated: false,
            rights,
            creds: creds.unwrap_or_default(),
            from,
            ip: None,
        }
    }

    /// shutdown(2): `how` is SHUT_RD, SHUT_WR or SHUT_RDWR.
    pub fn shutdown(&self, how: i32) -> SysResult<()> {
        let mode = match how {
            libc::SHUT_RD => RCV_SHUTDOWN,
            libc::SHUT_WR => SEND_SHUTDOWN,
            libc::SHUT_RDWR => SHUTDOWN_MASK,
            _ => return err(libc::EINVAL),
        };
        if let Some(r) = self.ext_shutdown(mode & RCV_SHUTDOWN != 0, mode & SEND_SHUTDOWN != 0) {
            return r;
        }
        let peer = {
            let mut i = lock(&self.inner);
            if self.kind.connection_based() && !matches!(i.conn, Conn::Connected) {
                return err(libc::ENOTCONN);
            }
            i.shutdown |= mode;
            i.peer.clone()
        };
        if let Some(p) = peer.filter(|_| self.kind.connection_based()) {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            let mut pi = lock(&p.inner);
            pi.shutdown |= peer_mode;
            if mode & SEND_SHUTDOWN != 0 {
                pi.tcp.peer_fin = true;
            }
            drop(pi);
            p.seq.bump();
        }
        self.seq.bump();
        Ok(())
    }

    /// Closes the socket: the peer sees end of file (and ECONNRESET when
    /// this side leaves unread data), the name is freed, and connections
    /// still waiting on a listener's backlog are closed.
    fn close(&self) {
        let abort = lock(&self.inner).linger_zero;
        self.ext_release(abort);
        let (peer, queued, pending, key) = {
            let mut i = lock(&self.inner);
            if i.closed {
                return;
            }
            i.closed = true;
            i.shutdown = SHUTDOWN_MASK;
            let queued: Vec<Message> = i.recv.drain(..).collect();
            i.recv_cost = 0;
            let pending = match std::mem::replace(&mut i.conn, Conn::Idle) {
                Conn::Listening { backlog, .. } => backlog.into_iter().collect(),
                _ => Vec::new(),
            };
            // Connects waiting for room are refused (their SYN meets a reset).
            for w in std::mem::take(&mut i.waiters) {
                if let Some(c) = w.upgrade() {
                    if lock(&c.inner).pending.take().is_some() {
                        c.set_error(libc::ECONNREFUSED);
                    }
                }
            }
            i.pending = None;
            (i.peer.take(), queued, pending, i.key.take())
        };
        if let Some(key) = key {
            names::remove(&key, self as *const Socket);
        }
        let bumped_peer = peer.filter(|_| self.kind.connection_based());
        if let Some(p) = &bumped_peer {
            let mut pi = lock(&p.inner);
            let reset = !queued.is_empty() || !pending.is_empty() || (abort && self.is_inet());
            // A TCP peer sees end of file (its sending side stays open
            // until it meets the reset); a reset, or a Unix peer, ends both.
            if self.is_inet() && !reset {
                pi.shutdown |= RCV_SHUTDOWN;
            } else {
                pi.shutdown = SHUTDOWN_MASK;
            }
            if reset {
                pi.error = libc::ECONNRESET;
            }
            pi.tcp.peer_fin = true;
            pi.tcp.reset |= reset;
        }
        // Descriptors in flight are released outside every socket lock.
        drop(queued);
        for s in pending {
            s.close();
        }
        if let Some(p) = bumped_peer {
            p.seq.bump();
        }
        events::notify();
    }

    /// Readiness as poll(2) bits.
    fn readiness(&self) -> i16 {
        let ext = self.ext_readiness();
        if let Some((bits, true)) = ext {
            return bits;
        }
        let ext_bits = ext.map_or(0, |(bits, _)| bits);
        let (mut r, peer) = {
            let i = lock(&self.inner);
            let mut r = 0;
            if i.error != 0 {
                r |= libc::POLLERR;
            }
            if i.shutdown & RCV_SHUTDOWN != 0 {
                r |= libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM;
            }
            if i.shutdown == SHUTDOWN_MASK {
                r |= libc::POLLHUP;
            }
            if !i.recv.is_empty() {
                r |= libc::POLLIN | libc::POLLRDNORM;
            }
            match &i.conn {
                Conn::Listening { backlog, .. } => {
                    if !backlog.is_empty() {
                        r |= libc::POLLIN | libc::POLLRDNORM;
                    }
                    return r | ext_bits;
                }
                // In its handshake: nothing to report yet.
                Conn::Idle if i.pending.is_some() => return r | ext_bits,
                // Not connected: hung up, and (as Linux says) writable.
                Conn::Idle if self.kind.connection_based() => {
                    r |= libc::POLLHUP | libc::POLLOUT | libc::POLLWRNORM;
                }
                _ => {}
            }
            (r, i.peer.clone().map(|p| (p, i.sndbuf)))
        };
        let writable = match peer {
            // Writable while the peer's queue has room for a small write.
            Some((p, limit)) => {
                let pi = lock(&p.inner);
                pi.closed || pi.recv_cost + DATAGRAM_OVERHEAD <= limit
            }
            None => !self.kind.connection_based(),
        };
        if writable {
            r |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        }
        r | ext_bits
    }

    /// The bytes readable now (FIONREAD): a record's length, or a stream's queue.
    pub fn readable_bytes(&self) -> usize {
        if self.is_external_tcp() {
            return self.ext_queues().map_or(0, |q| q.0);
        }
        let i = lock(&self.inner);
        if i.recv.is_empty() {
            drop(i);
            return self.ext_queues().map_or(0, |q| q.0);
        }
        if self.kind.records() {
            i.recv.front().map_or(0, |m| m.data.len())
        } else {
            i.recv.iter().map(|m| m.remaining()).sum()
        }
    }

    pub fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        let i = lock(&self.inner);
        (i.rcvtimeo, i.sndtimeo)
    }

    /// write(2) on a connected inet datagram socket: to the DNS relay, the
    /// stack, or the loopback socket bound to the destination's port
    /// (nobody there: dropped, as UDP does).
    fn send_datagram_to(&self, data: &[u8], to: std::net::SocketAddr) -> SysResult<usize> {
        if crate::net::dns::relays(&to) {
            return crate::net::dns::query(&self.arc()?, data);
        }
        if !super::inet::is_local(&to.ip()) {
            return self.send_datagram(data, to);
        }
        let from = match self.local_addr() {
            SockAddr::Inet(a) => Some(a),
            _ => None,
        };
        match names::lookup_port(true, to.port(), super::inet::is_v6(&to.ip()), from) {
            Some(target) => self.send(Outgoing {
                data,
                rights: &[],
                creds: current_creds(),
                to: Some(target),
            }),
            None => {
                // An error from the last datagram comes first; this one
                // meets the port unreachable, as ICMP tells Linux.
                match self.take_error() {
                    0 => self.set_error(libc::ECONNREFUSED),
                    e => return Err(Errno(e)),
                }
                Ok(data.len())
            }
        }
    }

    /// Queues a datagram that came from outside the socket core (the DNS
    /// relay's answers); dropped when the receive queue is full or the
    /// socket closed, as UDP drops.
    pub fn deliver_datagram(&self, data: Vec<u8>, from: SockAddr) {
        let mut i = lock(&self.inner);
        let msg = Message {
            data,
            read: 0,
            rights: Vec::new(),
            creds: Ucred::default(),
            from,
            ip: None,
        };
        if i.closed || i.recv_cost + msg.cost(self.kind) > i.rcvbuf {
            return;
        }
        i.recv_cost += msg.cost(self.kind);
        i.recv.push_back(msg);
        drop(i);
        self.seq.bump();
    }

    /// SO_RCVBUF and SO_SNDBUF as set, for a connection's stack buffers.
    pub fn buffer_sizes(&self) -> (usize, usize) {
        let i = lock(&self.inner);
        let pick = |v: usize| {
            if v == DEFAULT_BUF {
                crate::net::stack::tcp::DEFAULT_BUF
            } else {
                v
            }
        };
        (pick(i.rcvbuf), pick(i.sndbuf))
    }

    pub fn passcred(&self) -> bool {
        lock(&self.inner).passcred
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        listing::unregister(self.slot);
    }
}

/// The credentials of the task running on this Sentry thread, for data
/// written with write(2) (which has no other way to know its sender).
pub fn current_creds() -> Ucred {
    match crate::kernel::thread::current() {
        Some((p, _)) => {
            let st = lock(&p.state);
            Ucred {
                pid: p.pid,
                uid: st.creds.uid,
                gid: st.creds.gid,
            }
        }
        None => Ucred::default(),
    }
}

impl FileOps for Socket {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        // A connection over the stack reads straight into the caller's
        // buffer: no intermediate copy on the bulk-receive path.
        if let Some(r) = self.ext_read_into(buf) {
            return r;
        }
        let got = self.recv(buf.len(), false)?;
        buf[..got.data.len()].copy_from_slice(&got.data);
        Ok(got.data.len())
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        if self.is_inet() && self.kind == Kind::Dgram {
            if let Some(SockAddr::Inet(to)) = self.remote() {
                return self.send_datagram_to(buf, to);
            }
        }
        self.send(Outgoing {
            data: buf,
            rights: &[],
            creds: current_creds(),
            to: None,
        })
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(socket_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        self.readiness()
    }

    fn ioctl(&self, t: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        if let Some(r) = super::ifioctl::ioctl(t, req, arg, self.family == Family::Inet) {
            return r;
        }
        let listening = matches!(lock(&self.inner).conn, Conn::Listening { .. });
        if listening && self.is_inet() && matches!(req, libc::FIONREAD | libc::TIOCOUTQ) {
            return err(libc::EINVAL);
        }
        match req {
            libc::FIONREAD => {
                t.mm.write_obj(arg, &(self.readable_bytes() as i32))?;
                Ok(0)
            }
            // SIOCOUTQ: bytes sent but not yet acknowledged.
            libc::TIOCOUTQ => {
                let out = self.ext_queues().map_or(0, |q| q.1);
                t.mm.write_obj(arg, &(out as i32))?;
                Ok(0)
            }
            _ => err(libc::ENOTTY),
        }
    }

    fn release(&self) {
        self.close();
    }

    /// The core's sockets bump their counter on every change, and so does
    /// the stack for the TCP connections and listeners it watches; other
    /// sockets with a part on the stack or the host change with their
    /// generations.
    fn wait_seq(&self) -> Option<&events::Seq> {
        (!self.is_external() || self.stack_watched()).then_some(&*self.seq)
    }

    fn event_seq(&self) -> u64 {
        if self.is_external() {
            // The stack (and the host mode's poller) move one generation
            // for all of their sockets.
            return self
                .seq
                .get()
                .wrapping_add(crate::net::stack::generation())
                .wrapping_add(crate::net::hostnet::generation());
        }
        self.seq.get()
    }

    fn as_socket(&self) -> Option<&Socket> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
