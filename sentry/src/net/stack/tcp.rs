//! TCP over the stack, with Linux's socket semantics on top of smoltcp's
//! sockets: connect with EINPROGRESS/ECONNREFUSED/ETIMEDOUT, listen
//! backlogs, half-close, RST on close with unread data, errors reported
//! once through SO_ERROR or the next call.
//!
//! smoltcp's listening socket turns into the connection when a SYN comes,
//! so a Linux listener is a pool of smoltcp sockets listening on the same
//! endpoint per link: [`refill_listeners`] moves those that got a
//! connection to the accept queue and opens fresh ones, between incoming
//! packets, as long as the backlog has room.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use super::{Handle, NetLink, Stack};
use crate::errno::{err, Errno, SysResult};
use crate::net::socket::tcpinfo::TcpInfo;

/// Default socket buffers (Linux starts at 128 KiB and grows; the stack's
/// are fixed, so a little more, within what window scaling announces).
pub const DEFAULT_BUF: usize = 256 * 1024;
const MIN_BUF: usize = 4 * 1024;
const MAX_BUF: usize = 4 * 1024 * 1024;
/// How long a connect waits for the handshake (Linux's tcp_syn_retries=6
/// is about 127 s; shorter here, and ETIMEDOUT all the same).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(75);
/// Sockets kept listening per link while the backlog has room.
const LISTEN_POOL: usize = 4;
/// Handshakes in progress per listener (net.ipv4.tcp_max_syn_backlog).
const MAX_SYN_BACKLOG: usize = 256;

/// A new smoltcp TCP socket with buffers of the given sizes.
fn new_socket(rcvbuf: usize, sndbuf: usize) -> tcp::Socket<'static> {
    let rx = vec![0u8; rcvbuf.clamp(MIN_BUF, MAX_BUF)];
    let tx = vec![0u8; sndbuf.clamp(MIN_BUF, MAX_BUF)];
    let mut s = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
    // Linux sends at once what the application writes when nothing is in
    // flight, as Nagle does; smoltcp's Nagle is the same rule.
    s.set_nagle_enabled(true);
    s
}

pub fn endpoint_of(addr: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(IpAddress::from(unmapped(addr.ip())), addr.port())
}

/// A v4-mapped IPv6 address (a dual-stack socket talking IPv4) as IPv4.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub fn socket_addr(ep: IpEndpoint) -> SocketAddr {
    SocketAddr::new(IpAddr::from(ep.addr), ep.port)
}

/// An established or connecting TCP connection of the stack.
pub struct Conn {
    pub handle: Handle,
    connecting: Option<Instant>,
    established: bool,
    peer_fin: bool,
    closed_by_us: bool,
    rd_shut: bool,
    wr_shut: bool,
    /// A pending error (SO_ERROR), reported once.
    error: i32,
    /// The connection ended by a reset or a failed connect: further sends
    /// get EPIPE once the error was reported.
    dead: bool,
    /// TCP_CORK: writes wait here, whole, until the cork comes off, so
    /// that a response's header and body leave as one segment (nginx's
    /// `tcp_nopush`); smoltcp's Nagle alone would send the header, then
    /// hold the body for the peer's delayed ACK.
    corked: bool,
    cork: Vec<u8>,
    /// Bytes handed to smoltcp and bytes the workload read, for TCP_INFO
    /// (smoltcp frees its send buffer as data is acknowledged, so what
    /// was handed over less what it still holds was acknowledged).
    handed: u64,
    read: u64,
}

/// What a cork holds at most before it pushes anyway (Linux sends full
/// segments while corked; this sends the lot once it is this big).
const CORK_LIMIT: usize = 64 * 1024;

fn sock(l: &mut NetLink, h: SocketHandle) -> &mut tcp::Socket<'static> {
    l.sockets.get_mut::<tcp::Socket>(h)
}

impl Conn {
    fn new(handle: Handle, connecting: bool) -> Conn {
        Conn {
            handle,
            connecting: connecting.then(Instant::now),
            established: !connecting,
            peer_fin: false,
            closed_by_us: false,
            rd_shut: false,
            wr_shut: false,
            error: 0,
            dead: false,
            corked: false,
            cork: Vec::new(),
            handed: 0,
            read: 0,
        }
    }

    /// Follows the smoltcp socket's state since we last looked: a
    /// completed or failed connect, the peer's FIN, a reset.
    fn refresh(&mut self, s: &mut Stack) {
        let Some(l) = s.links.get_mut(self.handle.link) else {
            return;
        };
        let state = sock(l, self.handle.socket).state();
        match state {
            State::SynSent | State::SynReceived | State::Listen => {}
            State::Closed => {
                if let Some(started) = self.connecting.take() {
                    self.error = if started.elapsed() >= CONNECT_TIMEOUT {
                        libc::ETIMEDOUT
                    } else {
                        libc::ECONNREFUSED
                    };
                    self.dead = true;
                } else if self.established && !self.peer_fin && !self.closed_by_us && !self.dead {
                    self.error = libc::ECONNRESET;
                    self.dead = true;
                }
            }
            _ => {
                if self.connecting.take().is_some() {
                    sock(l, self.handle.socket).set_timeout(None);
                }
                self.established = true;
                if matches!(
                    state,
                    State::CloseWait | State::LastAck | State::Closing | State::TimeWait
                ) {
                    self.peer_fin = true;
                }
            }
        }
    }

    pub fn is_connecting(&mut self, s: &mut Stack) -> bool {
        self.refresh(s);
        self.connecting.is_some()
    }

    /// SO_ERROR: the pending error, cleared.
    pub fn take_error(&mut self, s: &mut Stack) -> i32 {
        self.refresh(s);
        std::mem::take(&mut self.error)
    }

    pub fn local(&self, s: &mut Stack) -> Option<SocketAddr> {
        let l = s.links.get_mut(self.handle.link)?;
        sock(l, self.handle.socket)
            .local_endpoint()
            .map(socket_addr)
    }

    pub fn remote(&self, s: &mut Stack) -> Option<SocketAddr> {
        let l = s.links.get_mut(self.handle.link)?;
        sock(l, self.handle.socket)
            .remote_endpoint()
            .map(socket_addr)
    }

    /// Receives into `buf` (or peeks). Ok(0) is end of file.
    pub fn recv(&mut self, s: &mut Stack, buf: &mut [u8], peek: bool) -> SysResult<usize> {
        self.refresh(s);
        if self.error != 0 {
            return Err(Errno(std::mem::take(&mut self.error)));
        }
        if self.rd_shut {
            return Ok(0);
        }
        if self.connecting.is_some() {
            return err(libc::EAGAIN);
        }
        if !self.established {
            return err(libc::ENOTCONN);
        }
        let Some(l) = s.links.get_mut(self.handle.link) else {
            return Ok(0);
        };
        let t = sock(l, self.handle.socket);
        if t.can_recv() {
            let n = if peek {
                t.peek_slice(buf)
            } else {
                t.recv_slice(buf)
            }
            .unwrap_or(0);
            if !peek {
                self.read += n as u64;
            }
            if !peek && n > 0 {
                // The window opened: tell the peer now.
                s.flush();
            }
            return Ok(n);
        }
        if !t.may_recv() {
            return Ok(0);
        }
        err(libc::EAGAIN)
    }

    /// Sends what fits of `data`.
    pub fn send(&mut self, s: &mut Stack, data: &[u8]) -> SysResult<usize> {
        self.refresh(s);
        if self.error != 0 {
            return Err(Errno(std::mem::take(&mut self.error)));
        }
        if self.wr_shut || self.dead {
            return err(libc::EPIPE);
        }
        if self.connecting.is_some() {
            return err(libc::EAGAIN);
        }
        let Some(l) = s.links.get_mut(self.handle.link) else {
            return err(libc::EPIPE);
        };
        let t = sock(l, self.handle.socket);
        if !t.may_send() {
            return err(libc::EPIPE);
        }
        if self.corked {
            // Take what smoltcp could take after what the cork holds.
            let room = t.send_capacity() - t.send_queue();
            let n = data.len().min(room.saturating_sub(self.cork.len()));
            if n == 0 && !data.is_empty() {
                return err(libc::EAGAIN);
            }
            self.cork.extend_from_slice(&data[..n]);
            if self.cork.len() >= CORK_LIMIT {
                self.uncork(s);
            }
            return Ok(n);
        }
        let n = t.send_slice(data).map_err(|_| Errno(libc::EPIPE))?;
        if n == 0 && !data.is_empty() {
            return err(libc::EAGAIN);
        }
        self.handed += n as u64;
        s.flush();
        super::wake();
        Ok(n)
    }

    /// Hands what the cork holds to smoltcp (it fits: send takes no more
    /// than smoltcp has room for) and sends it.
    fn uncork(&mut self, s: &mut Stack) {
        if self.cork.is_empty() {
            return;
        }
        if let Some(l) = s.links.get_mut(self.handle.link) {
            let n = sock(l, self.handle.socket)
                .send_slice(&self.cork)
                .unwrap_or(0);
            self.handed += n as u64;
        }
        self.cork.clear();
        s.flush();
        super::wake();
    }

    /// TCP_CORK on or off; off sends what it held at once.
    pub fn set_cork(&mut self, s: &mut Stack, on: bool) {
        self.corked = on;
        if !on {
            self.uncork(s);
        }
    }

    /// shutdown(2): SHUT_WR sends FIN after what is queued.
    pub fn shutdown(&mut self, s: &mut Stack, rd: bool, wr: bool) -> SysResult<()> {
        self.refresh(s);
        if self.connecting.is_some() || !self.established {
            return err(libc::ENOTCONN);
        }
        if rd {
            self.rd_shut = true;
        }
        if wr && !self.wr_shut {
            self.uncork(s);
            self.wr_shut = true;
            if let Some(l) = s.links.get_mut(self.handle.link) {
                sock(l, self.handle.socket).close();
            }
            s.flush();
            super::wake();
        }
        super::changed();
        Ok(())
    }

    /// poll(2) bits.
    pub fn readiness(&mut self, s: &mut Stack) -> i16 {
        self.refresh(s);
        let mut r = 0;
        if self.error != 0 {
            r |= libc::POLLERR;
        }
        let Some(l) = s.links.get_mut(self.handle.link) else {
            return r | libc::POLLHUP;
        };
        let t = sock(l, self.handle.socket);
        if self.connecting.is_some() {
            return r;
        }
        if self.dead {
            // A failed connect or a reset: Linux reports all of these.
            return r | libc::POLLOUT | libc::POLLHUP | libc::POLLIN | libc::POLLRDNORM;
        }
        if t.can_recv() || self.rd_shut || (self.established && !t.may_recv()) {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if self.peer_fin || (self.established && !t.may_recv()) {
            r |= libc::POLLRDHUP;
        }
        if t.can_send() || self.wr_shut {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if t.state() == State::Closed || (self.wr_shut && (self.peer_fin || !t.may_recv())) {
            r |= libc::POLLHUP;
        }
        r
    }

    /// Bytes waiting to be read (FIONREAD) and to be acknowledged (SIOCOUTQ).
    pub fn queues(&self, s: &mut Stack) -> (usize, usize) {
        match s.links.get_mut(self.handle.link) {
            Some(l) => {
                let t = sock(l, self.handle.socket);
                (t.recv_queue(), t.send_queue())
            }
            None => (0, 0),
        }
    }

    /// TCP_INFO from smoltcp's socket. smoltcp keeps its RTT estimate,
    /// the peer's MSS and window, the window-scale outcome and its
    /// congestion window private, so tcpi_rtt, tcpi_rttvar, tcpi_rto,
    /// tcpi_snd_cwnd, tcpi_snd_wnd and the wscale fields are 0;
    /// tcpi_snd_mss is what the link allows (the peer may ask for less)
    /// and tcpi_unacked counts the segments of data not yet acknowledged,
    /// sent or not (smoltcp does not say which were sent). No segment
    /// counts: the stack's sockets do not see segments.
    pub fn info(&mut self, s: &mut Stack) -> TcpInfo {
        use crate::net::socket::tcpinfo as ti;
        self.refresh(s);
        let Some(l) = s.links.get_mut(self.handle.link) else {
            return TcpInfo {
                state: ti::CLOSE,
                ..TcpInfo::default()
            };
        };
        let mtu = l.device.mtu();
        let t = sock(l, self.handle.socket);
        let state = match t.state() {
            State::Closed => ti::CLOSE,
            State::Listen => ti::LISTEN,
            State::SynSent => ti::SYN_SENT,
            State::SynReceived => ti::SYN_RECV,
            State::Established => ti::ESTABLISHED,
            State::FinWait1 => ti::FIN_WAIT1,
            State::FinWait2 => ti::FIN_WAIT2,
            State::CloseWait => ti::CLOSE_WAIT,
            State::Closing => ti::CLOSING,
            State::LastAck => ti::LAST_ACK,
            // Linux hands TIME_WAIT to a mini socket: the socket is CLOSE.
            State::TimeWait => ti::CLOSE,
        };
        let v6 = t
            .local_endpoint()
            .is_some_and(|e| matches!(e.addr, IpAddress::Ipv6(_)));
        let mss = mtu.saturating_sub(if v6 { 40 } else { 20 } + 20);
        let ts = t.timestamp_enabled();
        let snd_mss = mss.saturating_sub(if ts { 12 } else { 0 });
        let in_send = t.send_queue();
        let in_recv = t.recv_queue();
        TcpInfo {
            state,
            options: if ts { ti::OPT_TIMESTAMPS } else { 0 },
            snd_mss: snd_mss as u32,
            rcv_mss: mss as u32,
            advmss: mss as u32,
            pmtu: mtu as u32,
            unacked: ti::segments(in_send, snd_mss as u32),
            // Linux counts the SYN's sequence number among the bytes
            // acked, and the FINs: ours once acknowledged, the peer's
            // among the bytes received.
            bytes_acked: self.handed.saturating_sub(in_send as u64)
                + u64::from(self.established)
                + u64::from(matches!(t.state(), State::FinWait2 | State::TimeWait)),
            bytes_sent: self.handed,
            bytes_received: self.read + in_recv as u64 + u64::from(self.peer_fin),
            notsent_bytes: self.cork.len() as u32,
            rcv_wnd: t.recv_capacity().saturating_sub(in_recv) as u32,
            ..TcpInfo::default()
        }
    }

    /// TCP_NODELAY: on, what Nagle held leaves at once, as on Linux.
    pub fn set_nodelay(&self, s: &mut Stack, on: bool) {
        if let Some(l) = s.links.get_mut(self.handle.link) {
            sock(l, self.handle.socket).set_nagle_enabled(!on);
        }
        if on {
            s.flush();
            super::wake();
        }
    }

    /// IP_TTL / IPV6_UNICAST_HOPS (None: smoltcp's default, 64).
    pub fn set_hop_limit(&self, s: &mut Stack, hops: Option<u8>) {
        if let Some(l) = s.links.get_mut(self.handle.link) {
            sock(l, self.handle.socket).set_hop_limit(hops.filter(|h| *h > 0));
        }
    }

    pub fn set_keepalive(&self, s: &mut Stack, interval: Option<Duration>) {
        if let Some(l) = s.links.get_mut(self.handle.link) {
            sock(l, self.handle.socket).set_keep_alive(
                interval.map(|d| smoltcp::time::Duration::from_millis(d.as_millis() as u64)),
            );
        }
    }

    /// The last close: FIN after what is queued, or a reset when unread
    /// data is left or `abort` (SO_LINGER with a zero timeout); the stack
    /// finishes the goodbye and frees the socket.
    pub fn release(&mut self, s: &mut Stack, abort: bool) {
        self.closed_by_us = true;
        if !abort {
            self.uncork(s);
        }
        if let Some(l) = s.links.get_mut(self.handle.link) {
            let t = sock(l, self.handle.socket);
            if abort || t.recv_queue() > 0 {
                t.abort();
            } else {
                // The goodbye's last ACK leaves at once: the socket is
                // dropped as soon as it reaches TIME-WAIT (`finished`).
                t.set_ack_delay(None);
                t.close();
            }
        }
        s.flush();
        s.orphan(super::Orphan::Tcp(self.handle));
    }
}

/// A fingerprint of connection `h` for [`super::Stack::watch`]: its state
/// and the bytes queued each way (receiving, or an ACK freeing send room,
/// moves one of them).
pub fn looks(l: &mut NetLink, h: SocketHandle) -> u64 {
    let t = sock(l, h);
    (t.state() as u64) | ((t.recv_queue() as u64) << 8) | ((t.send_queue() as u64) << 36)
}

/// A fingerprint of listener `id`'s pools on link `l`: connections that
/// became ready for accept (in the high bits, so that accepts and new
/// arrivals between two looks cannot cancel out), and those still waiting.
pub fn listener_looks(l: &NetLink, id: u64) -> u64 {
    l.pools
        .iter()
        .filter(|p| p.id == id)
        .map(|p| (p.arrived << 24).wrapping_add(p.ready.len() as u64))
        .fold(0u64, u64::wrapping_add)
}

/// Whether a socket the workload closed finished and can be removed:
/// closed, or in TIME-WAIT once its last ACK left. smoltcp's TIME-WAIT
/// swallows a new SYN of the same addresses and ports (and restarts its
/// 10 s timer with each retry), where Linux starts the new connection; a
/// client that reuses its port at once (it closed second, so it keeps no
/// TIME-WAIT of its own) then hung in connect for as long as it retried.
/// Dropping the socket costs what TIME-WAIT guards against: a peer whose
/// FIN is retransmitted gets a reset instead of an ACK.
pub fn finished(l: &mut NetLink, h: SocketHandle) -> bool {
    matches!(sock(l, h).state(), State::Closed | State::TimeWait)
}

/// Starts connecting to `remote` from `local_port` (the address chosen by
/// the route). A non-blocking caller then gets EINPROGRESS.
pub fn connect(
    s: &mut Stack,
    remote: SocketAddr,
    local_ip: Option<IpAddr>,
    local_port: u16,
    bufs: (usize, usize),
    hops: Option<u8>,
) -> SysResult<(Conn, SocketAddr)> {
    let remote_ip = unmapped(remote.ip());
    if remote_ip.is_unspecified() || remote.port() == 0 {
        return err(libc::ECONNREFUSED);
    }
    let link = s.link_for(&remote_ip).ok_or(Errno(libc::ENETUNREACH))?;
    let l = &mut s.links[link];
    let local_ip = match local_ip.map(unmapped).filter(|ip| !ip.is_unspecified()) {
        Some(ip) => IpAddress::from(ip),
        None => l
            .iface
            .get_source_address(&IpAddress::from(remote_ip))
            .ok_or(Errno(libc::EADDRNOTAVAIL))?,
    };
    let mut t = new_socket(bufs.0, bufs.1);
    t.set_hop_limit(hops.filter(|h| *h > 0));
    t.set_timeout(Some(smoltcp::time::Duration::from_secs(
        CONNECT_TIMEOUT.as_secs(),
    )));
    t.connect(
        l.iface.context(),
        endpoint_of(remote),
        IpListenEndpoint {
            addr: Some(local_ip),
            port: local_port,
        },
    )
    .map_err(|_| Errno(libc::EADDRNOTAVAIL))?;
    let handle = l.sockets.add(t);
    s.flush();
    super::wake();
    let local = SocketAddr::new(IpAddr::from(local_ip), local_port);
    Ok((
        Conn::new(
            Handle {
                link,
                socket: handle,
            },
            true,
        ),
        local,
    ))
}

/// One link's part of a listener.
pub struct Pool {
    id: u64,
    endpoint: IpListenEndpoint,
    /// Sockets listening for a SYN.
    listening: Vec<SocketHandle>,
    /// Sockets in the middle of a handshake.
    pending: Vec<SocketHandle>,
    /// SYNs this pool took: among SO_REUSEPORT listeners of one endpoint
    /// the pool with the fewest listens next (see [`refill`]). A pool
    /// joining them starts level with the least served, so that it takes
    /// its turn rather than every connection until it catches up.
    syns: u64,
    /// Connections ready for accept.
    ready: VecDeque<SocketHandle>,
    /// How many became ready, ever (a new arrival is a new event even
    /// when the queue's length looks the same).
    arrived: u64,
    backlog: usize,
    bufs: (usize, usize),
}

/// A listener: its pools carry its id, one per link it listens on, or
/// one per address of the family it is limited to.
pub struct Listener {
    id: u64,
}

impl Listener {
    pub fn id(&self) -> u64 {
        self.id
    }
}

fn next_pool_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A listener on "any" address of one family (0.0.0.0, or :: with
/// IPV6_V6ONLY): smoltcp's any-address endpoint would take SYNs of both
/// families, so it listens on each address of its family instead, and
/// an address added later (`ip addr add`, `config`) gets a pool too.
pub struct Wildcard {
    pub id: u64,
    pub v6: bool,
    pub port: u16,
    pub backlog: usize,
    pub bufs: (usize, usize),
}

fn new_pool(
    l: &mut NetLink,
    id: u64,
    endpoint: IpListenEndpoint,
    backlog: usize,
    bufs: (usize, usize),
) {
    let syns = l
        .pools
        .iter()
        .filter(|p| p.endpoint == endpoint)
        .map(|p| p.syns)
        .min()
        .unwrap_or(0);
    l.pools.push(Pool {
        id,
        endpoint,
        listening: Vec::new(),
        pending: Vec::new(),
        syns,
        ready: VecDeque::new(),
        arrived: 0,
        backlog,
        bufs,
    });
    refill(l);
}

/// Listens on `ip` (None: every address; `only_v6`: every address of one
/// family, Some(false) for IPv4) and `port` on every link that has the
/// address.
pub fn listen(
    s: &mut Stack,
    ip: Option<IpAddr>,
    only_v6: Option<bool>,
    port: u16,
    backlog: usize,
    bufs: (usize, usize),
) -> Listener {
    let id = next_pool_id();
    let owner = ip.and_then(|ip| s.link_owning(&unmapped(ip)));
    for (i, l) in s.links.iter_mut().enumerate() {
        match (ip, only_v6) {
            (Some(ip), _) => {
                if owner == Some(i) {
                    let addr = Some(IpAddress::from(unmapped(ip)));
                    new_pool(l, id, IpListenEndpoint { addr, port }, backlog, bufs);
                }
            }
            (None, None) => new_pool(l, id, IpListenEndpoint { addr: None, port }, backlog, bufs),
            (None, Some(v6)) => {
                let mine: Vec<IpAddress> = l
                    .cidrs
                    .iter()
                    .map(|c| c.address())
                    .filter(|a| matches!(a, IpAddress::Ipv6(_)) == v6)
                    .collect();
                for addr in mine {
                    let endpoint = IpListenEndpoint {
                        addr: Some(addr),
                        port,
                    };
                    new_pool(l, id, endpoint, backlog, bufs);
                }
            }
        }
    }
    if let (None, Some(v6)) = (ip, only_v6) {
        s.wildcards.push(Wildcard {
            id,
            v6,
            port,
            backlog,
            bufs,
        });
    }
    Listener { id }
}

/// An address joined link `link`: family-limited "any" listeners listen
/// on it too.
pub fn address_added(s: &mut Stack, link: usize, addr: IpAddress) {
    let v6 = matches!(addr, IpAddress::Ipv6(_));
    let Some(l) = s.links.get_mut(link) else {
        return;
    };
    for w in s.wildcards.iter().filter(|w| w.v6 == v6) {
        let endpoint = IpListenEndpoint {
            addr: Some(addr),
            port: w.port,
        };
        new_pool(l, w.id, endpoint, w.backlog, w.bufs);
    }
}

/// An address left link `link`: the pools listening on it alone go, their
/// handshakes and unaccepted connections reset.
pub fn address_removed(s: &mut Stack, link: usize, addr: IpAddress) {
    let Some(l) = s.links.get_mut(link) else {
        return;
    };
    drop_pools(l, link, &mut s.orphans, |p| p.endpoint.addr == Some(addr));
}

/// Removes the pools `pick` names from link `l` (index `link`): their
/// handshakes and unaccepted connections are reset and left to finish.
fn drop_pools(
    l: &mut NetLink,
    link: usize,
    orphans: &mut Vec<super::Orphan>,
    pick: impl Fn(&Pool) -> bool,
) {
    let mut gone = Vec::new();
    l.pools.retain_mut(|p| {
        if !pick(p) {
            return true;
        }
        gone.extend(
            p.pending
                .drain(..)
                .chain(p.ready.drain(..))
                .chain(p.listening.drain(..)),
        );
        false
    });
    for h in gone {
        l.sockets.get_mut::<tcp::Socket>(h).abort();
        orphans.push(super::Orphan::Tcp(Handle { link, socket: h }));
    }
}

/// Moves connections that completed their handshake to the accept queue
/// and keeps up to [`LISTEN_POOL`] sockets listening while there is room.
pub fn refill_listeners(l: &mut NetLink) {
    refill(l);
}

/// Follows a pool's sockets: a listening one that took a SYN moves to
/// the handshakes, a finished handshake to the accept queue, a reset one
/// is dropped.
fn settle(p: &mut Pool, sockets: &mut smoltcp::iface::SocketSet<'static>) {
    let mut i = 0;
    while i < p.listening.len() {
        let h = p.listening[i];
        if sockets.get::<tcp::Socket>(h).state() == State::Listen {
            i += 1;
        } else {
            p.listening.swap_remove(i);
            p.pending.push(h);
            p.syns += 1;
        }
    }
    let mut i = 0;
    while i < p.pending.len() {
        let h = p.pending[i];
        match sockets.get::<tcp::Socket>(h).state() {
            State::Listen | State::SynReceived => i += 1,
            State::Closed => {
                // The handshake was reset: nothing to accept.
                sockets.remove(h);
                p.pending.swap_remove(i);
            }
            _ => {
                p.ready.push_back(h);
                p.arrived += 1;
                p.pending.swap_remove(i);
            }
        }
    }
}

/// Linux queues backlog + 1 connections for accept; past that, and past
/// its SYN backlog, new SYNs are dropped (never reset).
fn has_room(p: &Pool) -> bool {
    p.ready.len() <= p.backlog && p.pending.len() < MAX_SYN_BACKLOG
}

fn refill(l: &mut NetLink) {
    let NetLink {
        pools,
        sockets,
        device,
        ..
    } = l;
    device.full_ports.clear();
    for p in pools.iter_mut() {
        settle(p, sockets);
    }
    // Pools of one endpoint belong to SO_REUSEPORT listeners. smoltcp
    // gives a SYN to the first socket listening on its endpoint, so they
    // take turns: only the one with room that took the fewest SYNs
    // listens, and connections are spread evenly. (Settling runs after
    // every frame that changes a socket, so the turn moves between SYNs.)
    for i in 0..pools.len() {
        let endpoint = pools[i].endpoint;
        let turn = (0..pools.len())
            .filter(|&j| pools[j].endpoint == endpoint && has_room(&pools[j]))
            .min_by_key(|&j| pools[j].syns);
        let p = &mut pools[i];
        if turn != Some(i) {
            for h in p.listening.drain(..) {
                sockets.remove(h);
            }
            if turn.is_none() {
                device.full_ports.insert(endpoint.port);
            }
            continue;
        }
        while p.listening.len() < LISTEN_POOL {
            let mut t = new_socket(p.bufs.0, p.bufs.1);
            if t.listen(p.endpoint).is_err() {
                break;
            }
            p.listening.push(sockets.add(t));
        }
    }
}

impl Listener {
    /// Takes the next established connection, if any.
    pub fn accept(&self, s: &mut Stack) -> Option<Conn> {
        for (link, l) in s.links.iter_mut().enumerate() {
            let h = l
                .pools
                .iter_mut()
                .filter(|p| p.id == self.id)
                .find_map(|p| p.ready.pop_front());
            if let Some(h) = h {
                refill(l);
                if l.device.holds_syns() {
                    // Room for a SYN that waits (`PacketLink::held`).
                    super::wake();
                }
                return Some(Conn::new(Handle { link, socket: h }, false));
            }
        }
        None
    }

    pub fn has_ready(&self, s: &mut Stack) -> bool {
        s.links.iter().any(|l| {
            l.pools
                .iter()
                .any(|p| p.id == self.id && !p.ready.is_empty())
        })
    }

    pub fn set_backlog(&self, s: &mut Stack, backlog: usize) {
        for w in s.wildcards.iter_mut().filter(|w| w.id == self.id) {
            w.backlog = backlog;
        }
        for l in s.links.iter_mut() {
            for p in l.pools.iter_mut().filter(|p| p.id == self.id) {
                p.backlog = backlog;
            }
            refill(l);
        }
    }

    /// Stops listening: handshakes in progress and connections never
    /// accepted are reset, as Linux does when a listener closes.
    pub fn release(&self, s: &mut Stack) {
        s.wildcards.retain(|w| w.id != self.id);
        for (link, l) in s.links.iter_mut().enumerate() {
            drop_pools(l, link, &mut s.orphans, |p| p.id == self.id);
        }
        s.flush();
        super::wake();
    }
}
