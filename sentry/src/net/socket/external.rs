//! The part of an inet socket that lives on the TCP/IP stack
//! (`net::stack`): a TCP connection beyond loopback, a listener's pools on
//! the network links, or a UDP socket's bindings there. Loopback traffic
//! stays in the socket core; a listener or a UDP socket bound to "any"
//! has both parts, and accept/recv take from either.
//!
//! Lock order: a socket's `ext` lock, then the stack's lock; the stack
//! never reaches back into sockets (it only bumps its generation).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::{Received, Socket, Ucred};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::net::addr::SockAddr;
use crate::net::dns;
use crate::net::hostnet::HostSocket;
use crate::net::stack::{self, icmp, tcp, udp};

#[derive(Default)]
pub enum External {
    #[default]
    None,
    Tcp(tcp::Conn),
    Listener(tcp::Listener),
    Udp(udp::Binding),
    /// A host socket (the `host` network mode: `net::hostnet`).
    Host(HostSocket),
    /// An ICMP echo socket (ping), raw or datagram.
    Ping(icmp::Ping),
    /// A TCP connection to Docker's embedded DNS at 127.0.0.11:53, served
    /// by the Sentry over the DNS relay (`net::dns::tcp`).
    Dns(dns::tcp::Session),
}

fn no_stack() -> Errno {
    Errno(libc::ENETUNREACH)
}

impl Socket {
    pub(super) fn ext(&self) -> MutexGuard<'_, External> {
        lock(&self.ext)
    }

    /// Whether this socket has a part beyond the core. An atomic flag, so
    /// that the core's own sockets (Unix, loopback) take no extra lock on
    /// their system call paths.
    pub fn is_external(&self) -> bool {
        self.external.load(Ordering::Acquire)
    }

    /// Whether this is a TCP connection over the stack, or a host socket:
    /// either way its bytes are not the core's.
    pub fn is_external_tcp(&self) -> bool {
        self.is_external()
            && matches!(
                *self.ext(),
                External::Tcp(_) | External::Host(_) | External::Dns(_)
            )
    }

    /// Whether this is a TCP connection to the embedded DNS server.
    pub fn is_dns_stream(&self) -> bool {
        self.is_external() && matches!(*self.ext(), External::Dns(_))
    }

    /// An answer of the DNS relay for this socket's connection.
    pub fn dns_answer(&self, answer: &[u8]) {
        if let External::Dns(d) = &mut *self.ext() {
            d.answer(answer);
        }
        self.seq.bump();
    }

    /// Whether this is a host socket (the `host` network mode).
    pub fn is_host(&self) -> bool {
        self.is_external() && matches!(*self.ext(), External::Host(_))
    }

    /// Whether this is an ICMP echo socket.
    pub fn is_ping(&self) -> bool {
        self.is_external() && matches!(*self.ext(), External::Ping(_))
    }

    /// bind(2) of an ICMP echo socket: the port is its identifier.
    pub fn ping_bind(&self, port: u16) {
        if !self.is_external() {
            return;
        }
        if let External::Ping(p) = &mut *self.ext() {
            p.bind(port);
        }
    }

    /// Runs `f` on the host socket (None: not a host socket).
    pub fn with_host<R>(&self, f: impl FnOnce(&HostSocket) -> R) -> Option<R> {
        if !self.is_external() {
            return None;
        }
        match &*self.ext() {
            External::Host(h) => Some(f(h)),
            _ => None,
        }
    }

    /// accept(2) of a host listener (None: not a host socket).
    pub(super) fn host_accept(&self) -> Option<SysResult<Arc<Socket>>> {
        let accepted = self.with_host(|h| h.accept())?;
        Some(accepted.map(|h| {
            let sock = Socket::new(self.family, self.kind);
            sock.attach(External::Host(h));
            sock
        }))
    }

    pub fn attach(&self, part: External) {
        let watch = match &part {
            External::Tcp(c) => Some(stack::Watched::Conn(c.handle)),
            External::Listener(l) => Some(stack::Watched::Listener(l.id())),
            _ => None,
        };
        *self.ext() = part;
        self.external.store(true, Ordering::Release);
        if let (Some(w), Some(mut s)) = (watch, stack::lock()) {
            s.watch(w, &self.seq);
            self.watched.store(true, Ordering::Release);
        }
        self.seq.bump();
    }

    /// Whether the stack bumps this socket's own counter on each change of
    /// its part there ([`stack::Stack::watch`]), so waiters can watch it
    /// alone instead of every change anywhere.
    pub(super) fn stack_watched(&self) -> bool {
        self.watched.load(Ordering::Acquire)
    }

    /// The state of a connect in progress: EAGAIN while the handshake
    /// runs, then Ok or the connect's error (EALREADY for a second call
    /// is the caller's).
    pub fn connect_result(&self) -> SysResult<()> {
        let mut ext = self.ext();
        if let External::Host(h) = &*ext {
            if h.readiness() & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) == 0 {
                return err(libc::EAGAIN);
            }
            return match h.take_error() {
                0 => Ok(()),
                e => Err(Errno(e)),
            };
        }
        if let External::Dns(_) = &*ext {
            return Ok(());
        }
        let External::Tcp(c) = &mut *ext else {
            return err(libc::ENOTCONN);
        };
        let mut s = stack::lock().ok_or_else(no_stack)?;
        if c.is_connecting(&mut s) {
            return err(libc::EAGAIN);
        }
        match c.take_error(&mut s) {
            0 => Ok(()),
            e => Err(Errno(e)),
        }
    }

    /// Whether a TCP connect over the stack is still in its handshake.
    pub fn is_connecting(&self) -> bool {
        if !self.is_external() {
            return false;
        }
        let mut ext = self.ext();
        let External::Tcp(c) = &mut *ext else {
            return false;
        };
        stack::lock().is_some_and(|mut s| c.is_connecting(&mut s))
    }

    /// Runs `f` on this socket's TCP connection over the stack, with the
    /// stack locked (None: not such a socket, or no stack).
    fn on_stack_tcp<R>(&self, f: impl FnOnce(&mut tcp::Conn, &mut stack::Stack) -> R) -> Option<R> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        let External::Tcp(c) = &mut *ext else {
            return None;
        };
        let mut s = stack::lock()?;
        Some(f(c, &mut s))
    }

    /// read(2) of a TCP connection over the stack, into `buf` (None: not
    /// such a socket).
    pub(super) fn ext_read_into(&self, buf: &mut [u8]) -> Option<SysResult<usize>> {
        self.on_stack_tcp(|c, s| c.recv(s, buf, false))
    }

    /// Sends on a TCP connection over the stack (None: not such a socket).
    pub(super) fn ext_send(&self, data: &[u8]) -> Option<SysResult<usize>> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        let c = match &mut *ext {
            External::Tcp(c) => c,
            External::Host(h) => return Some(h.send(data, None)),
            External::Dns(d) => {
                let me = match self.arc() {
                    Ok(me) => me,
                    Err(e) => return Some(Err(e)),
                };
                let r = d.send(&me, data);
                drop(ext);
                self.seq.bump();
                return Some(r);
            }
            _ => return None,
        };
        let mut s = match stack::lock() {
            Some(s) => s,
            None => return Some(err(libc::EPIPE)),
        };
        Some(c.send(&mut s, data))
    }

    /// Sends a datagram to `to`, beyond loopback, through the stack.
    pub fn send_datagram(&self, data: &[u8], to: SocketAddr) -> SysResult<usize> {
        let hops = self.hop_limit(crate::net::inet::is_v6(&to.ip()));
        let ext = self.ext();
        let b = match &*ext {
            External::Udp(b) => b,
            External::Host(h) => return h.send(data, Some(&to)),
            External::Ping(_) => {
                drop(ext);
                let mut ext = self.ext();
                let External::Ping(p) = &mut *ext else {
                    return err(libc::ENETUNREACH);
                };
                let mut s = stack::lock();
                return p.send(s.as_deref_mut(), data, to.ip());
            }
            _ => return err(libc::ENETUNREACH),
        };
        let mut s = stack::lock().ok_or_else(no_stack)?;
        b.send(&mut s, data, to, hops)
    }

    /// Receives from the stack: a TCP connection's bytes, or a datagram
    /// (None: nothing of the stack's to give, so the core decides).
    pub(super) fn ext_recv(&self, max: usize, peek: bool) -> Option<SysResult<Received>> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        if let External::Host(h) = &*ext {
            let mut buf = vec![0u8; max.min(1 << 20)];
            return Some(h.recv(&mut buf, peek).map(|(n, full, from)| {
                buf.truncate(n);
                let mut r = received(buf, full, from);
                r.truncated = n < full;
                r
            }));
        }
        if let External::Dns(d) = &mut *ext {
            let from = lock(&self.inner).remote.clone();
            return Some(d.recv(max, peek).map(|data| {
                let n = data.len();
                let mut r = received(data, n, None);
                if let Some(from) = from {
                    r.from = from;
                }
                r
            }));
        }
        if let External::Ping(p) = &mut *ext {
            let mut s = stack::lock();
            let (data, full, from) = p.recv(s.as_deref_mut(), max, peek)?;
            let mut r = received(data, full, Some(self.presented(SocketAddr::new(from, 0))));
            r.truncated = r.data.len() < full;
            return Some(Ok(r));
        }
        if matches!(*ext, External::None) {
            return None;
        }
        let mut s = stack::lock()?;
        match &mut *ext {
            External::Tcp(c) => {
                // Only what is queued: a reader asking for 128 KiB of a
                // socket holding 9 KiB would otherwise zero (and fault
                // in) a fresh 128 KiB on every call.
                let queued = c.queues(&mut s).0;
                let mut buf = vec![0u8; max.min(queued).min(1 << 20)];
                let from = c.remote(&mut s);
                Some(c.recv(&mut s, &mut buf, peek).map(|n| {
                    buf.truncate(n);
                    received(buf, n, from)
                }))
            }
            External::Udp(b) => {
                let d = b.recv(&mut s, max, peek)?;
                let mut r = received(d.data, d.full_len, Some(d.from));
                r.truncated = r.data.len() < r.full_len;
                r.ip = Some(super::Arrival {
                    v6: crate::net::inet::is_v6(&d.from.ip()),
                    hops: d.header.map(|h| h.0),
                    class: d.header.map(|h| h.1),
                    to: d.to,
                    ifindex: Some(d.ifindex),
                });
                Some(Ok(r))
            }
            _ => None,
        }
    }

    /// Readiness bits the stack adds (None: the core's alone count).
    pub(super) fn ext_readiness(&self) -> Option<(i16, bool)> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        match &mut *ext {
            External::Host(h) => return Some((h.readiness(), true)),
            External::Dns(d) => return Some((d.readiness(), true)),
            // Sockets of the core alone never touch the stack's lock.
            External::None => return None,
            External::Ping(p) => {
                let mut s = stack::lock();
                let r = if p.readable(s.as_deref_mut()) {
                    libc::POLLIN | libc::POLLRDNORM
                } else {
                    0
                };
                return Some((r, false));
            }
            _ => {}
        }
        let mut s = stack::lock()?;
        match &mut *ext {
            External::None | External::Host(_) | External::Ping(_) | External::Dns(_) => None,
            // A TCP connection over the stack: its bits replace the core's.
            External::Tcp(c) => Some((c.readiness(&mut s), true)),
            External::Listener(l) => Some((
                if l.has_ready(&mut s) {
                    libc::POLLIN | libc::POLLRDNORM
                } else {
                    0
                },
                false,
            )),
            External::Udp(b) => {
                let mut r = 0;
                if b.readable(&mut s) {
                    r |= libc::POLLIN | libc::POLLRDNORM;
                }
                Some((r, false))
            }
        }
    }

    /// The next connection a listener got over the stack.
    pub(super) fn ext_accept(&self) -> Option<Arc<Socket>> {
        if !self.is_external() {
            return None;
        }
        let ext = self.ext();
        let External::Listener(l) = &*ext else {
            return None;
        };
        let mut s = stack::lock()?;
        let conn = l.accept(&mut s)?;
        let local = conn.local(&mut s);
        let remote = conn.remote(&mut s);
        drop(s);
        drop(ext);
        // The connection inherits the listener's options, as Linux's
        // clone of the listening socket does.
        let inherited = lock(&self.inner).remembered.clone();
        let sock = Socket::new(self.family, self.kind);
        {
            let mut i = lock(&sock.inner);
            i.local = local.map(|a| SockAddr::Inet(self.presented(a)));
            i.remote = remote.map(|a| SockAddr::Inet(self.presented(a)));
            i.conn = super::Conn::Connected;
            i.remembered = inherited;
        }
        sock.attach(External::Tcp(conn));
        let on = |level, name| {
            lock(&sock.inner)
                .remembered
                .get(&(level, name))
                .is_some_and(|v| *v != 0)
        };
        let nodelay = on(libc::IPPROTO_TCP, libc::TCP_NODELAY);
        let keepalive = on(libc::SOL_SOCKET, libc::SO_KEEPALIVE);
        sock.ext_tune(nodelay.then_some(true), keepalive.then_some(true));
        sock.ext_hop_limit();
        Some(sock)
    }

    /// An IPv4 address as this socket's family shows it (v4-mapped on an
    /// IPv6 socket).
    pub fn presented(&self, a: SocketAddr) -> SocketAddr {
        match (self.family, a) {
            (super::Family::Inet6, SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => a,
        }
    }

    pub(super) fn ext_shutdown(&self, rd: bool, wr: bool) -> Option<SysResult<()>> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        if let External::Host(h) = &*ext {
            let how = match (rd, wr) {
                (true, true) => libc::SHUT_RDWR,
                (true, false) => libc::SHUT_RD,
                _ => libc::SHUT_WR,
            };
            return Some(h.shutdown(how));
        }
        if let External::Dns(d) = &mut *ext {
            d.shutdown(rd, wr);
            drop(ext);
            self.seq.bump();
            return Some(Ok(()));
        }
        let External::Tcp(c) = &mut *ext else {
            return None;
        };
        let mut s = stack::lock()?;
        let r = c.shutdown(&mut s, rd, wr);
        drop(s);
        drop(ext);
        // Readiness changed here, not in the stack: wake the waiters.
        self.seq.bump();
        Some(r)
    }

    /// SO_ERROR of a connection over the stack.
    pub(super) fn ext_error(&self) -> Option<i32> {
        if !self.is_external() {
            return None;
        }
        let mut ext = self.ext();
        if let External::Host(h) = &*ext {
            return Some(h.take_error());
        }
        if let External::Dns(_) = &*ext {
            return Some(0);
        }
        let External::Tcp(c) = &mut *ext else {
            return None;
        };
        let mut s = stack::lock()?;
        Some(c.take_error(&mut s))
    }

    /// TCP_INFO of a connection over the stack (None: not one).
    pub(super) fn ext_tcp_info(&self) -> Option<super::tcpinfo::TcpInfo> {
        self.on_stack_tcp(|c, s| c.info(s))
    }

    /// FIONREAD / SIOCINQ and SIOCOUTQ of the stack's part.
    pub(super) fn ext_queues(&self) -> Option<(usize, usize)> {
        if !self.is_external() {
            return None;
        }
        let ext = self.ext();
        match &*ext {
            External::Host(h) => Some((h.readable_bytes(), 0)),
            External::Dns(d) => Some((d.readable_bytes(), 0)),
            External::Tcp(c) => Some(c.queues(&mut *stack::lock()?)),
            External::Udp(b) => Some((b.next_len(&mut *stack::lock()?), 0)),
            External::None | External::Listener(_) | External::Ping(_) => None,
        }
    }

    pub(super) fn ext_set_backlog(&self, backlog: usize) {
        if !self.is_external() {
            return;
        }
        let ext = self.ext();
        if let (External::Listener(l), Some(mut s)) = (&*ext, stack::lock()) {
            l.set_backlog(&mut s, backlog);
        }
    }

    /// IP_TTL or IPV6_UNICAST_HOPS as set (None: never set, the stack's
    /// default of 64, which is Linux's too).
    pub fn hop_limit(&self, v6: bool) -> Option<u8> {
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
        } else {
            (libc::IPPROTO_IP, libc::IP_TTL)
        };
        let v = *lock(&self.inner).remembered.get(&(level, name))?;
        u8::try_from(v).ok()
    }

    /// IP_TTL or IPV6_UNICAST_HOPS reaches a connection over the stack.
    pub(super) fn ext_hop_limit(&self) {
        if !self.is_external() {
            return;
        }
        let v6 =
            matches!(self.remote(), Some(SockAddr::Inet(a)) if crate::net::inet::is_v6(&a.ip()));
        let hops = self.hop_limit(v6);
        let ext = self.ext();
        if let (External::Tcp(c), Some(mut s)) = (&*ext, stack::lock()) {
            c.set_hop_limit(&mut s, hops);
        }
    }

    /// TCP_CORK reaches the connection.
    pub(super) fn ext_cork(&self, on: bool) {
        if !self.is_external() {
            return;
        }
        let mut ext = self.ext();
        if let (External::Tcp(c), Some(mut s)) = (&mut *ext, stack::lock()) {
            c.set_cork(&mut s, on);
        }
    }

    /// TCP_NODELAY and SO_KEEPALIVE reach the connection.
    pub(super) fn ext_tune(&self, nodelay: Option<bool>, keepalive: Option<bool>) {
        if !self.is_external() {
            return;
        }
        let ext = self.ext();
        if let (External::Tcp(c), Some(mut s)) = (&*ext, stack::lock()) {
            if let Some(on) = nodelay {
                c.set_nodelay(&mut s, on);
            }
            if let Some(on) = keepalive {
                // Linux's default tcp_keepalive_time: two hours.
                c.set_keepalive(&mut s, on.then_some(std::time::Duration::from_secs(7200)));
            }
        }
    }

    /// The last close of the stack's part.
    pub(super) fn ext_release(&self, abort: bool) {
        if !self.is_external() {
            return;
        }
        let part = std::mem::take(&mut *self.ext());
        if matches!(part, External::Host(_) | External::None | External::Dns(_)) {
            // A host socket closes with its descriptor; a DNS session
            // holds nothing outside itself.
            return;
        }
        let Some(mut s) = stack::lock() else {
            return;
        };
        if self.watched.swap(false, Ordering::AcqRel) {
            s.unwatch(&self.seq);
        }
        match part {
            External::None | External::Host(_) | External::Dns(_) => {}
            External::Ping(mut p) => p.release(&mut s),
            External::Tcp(mut c) => c.release(&mut s, abort),
            External::Listener(l) => l.release(&mut s),
            External::Udp(b) => b.release(&mut s),
        }
    }
}

fn received(data: Vec<u8>, full_len: usize, from: Option<SocketAddr>) -> Received {
    Received {
        data,
        full_len,
        truncated: false,
        rights: Vec::new(),
        creds: Ucred::default(),
        ip: None,
        from: match from {
            Some(a) => SockAddr::Inet(a),
            None => SockAddr::Inet(crate::net::inet::unspecified(false)),
        },
    }
}
