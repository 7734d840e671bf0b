//! The sandbox's inet sockets as /proc/net/{tcp,tcp6,udp,udp6} list them
//! (netstat, psutil): every bound or connected inet socket, its addresses,
//! state and queues. Sockets register themselves weakly at creation.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use super::external::External;
use super::{Conn, Family, Kind, Socket};
use crate::kernel::process::lock;
use crate::net::addr::SockAddr;

static INET: Mutex<Vec<Weak<Socket>>> = Mutex::new(Vec::new());

/// Linux's TCP states as /proc prints them.
pub const TCP_ESTABLISHED: u8 = 0x01;
pub const TCP_SYN_SENT: u8 = 0x02;
pub const TCP_CLOSE: u8 = 0x07;
pub const TCP_LISTEN: u8 = 0x0A;

/// One line's worth of a socket.
pub struct Entry {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub tx_queue: usize,
    pub rx_queue: usize,
    pub ino: u64,
}

/// Notes a new inet socket.
pub(super) fn register(sock: &Arc<Socket>) {
    let mut all = lock(&INET);
    // Forget the dead now and then, so the list stays as long as the live.
    if all.len() % 64 == 63 {
        all.retain(|w| w.strong_count() > 0);
    }
    all.push(Arc::downgrade(sock));
}

/// The entries of every live inet socket of `kind`, IPv6 sockets (`v6`)
/// or IPv4 ones.
pub fn entries(kind: Kind, v6: bool) -> Vec<Entry> {
    let live: Vec<Arc<Socket>> = lock(&INET).iter().filter_map(Weak::upgrade).collect();
    live.iter()
        .filter(|s| s.kind == kind && (s.family == Family::Inet6) == v6)
        .filter_map(|s| s.entry())
        .collect()
}

fn inet(a: SockAddr) -> Option<SocketAddr> {
    match a {
        SockAddr::Inet(a) => Some(a),
        SockAddr::Unix(_) => None,
    }
}

impl Socket {
    /// What /proc/net shows of this socket (None: unbound, not listed).
    fn entry(&self) -> Option<Entry> {
        let (local, remote, core_state) = {
            let i = lock(&self.inner);
            let state = match &i.conn {
                Conn::Listening { .. } => TCP_LISTEN,
                Conn::Connected => TCP_ESTABLISHED,
                Conn::Idle => TCP_CLOSE,
            };
            (i.local.clone(), i.remote.clone(), state)
        };
        let local = inet(local?)?;
        let remote = remote
            .and_then(inet)
            .or_else(|| self.peer_addr().ok().and_then(inet))
            .unwrap_or_else(|| crate::net::inet::unspecified(self.family == Family::Inet6));
        let mut state = core_state;
        if self.is_external() {
            if let External::Tcp(_) = &*self.ext() {
                state = if self.is_connecting() {
                    TCP_SYN_SENT
                } else {
                    TCP_ESTABLISHED
                };
            }
        }
        if self.kind == Kind::Dgram && state == TCP_ESTABLISHED && remote.port() == 0 {
            state = TCP_CLOSE;
        }
        let (rx, tx) = match self.ext_queues() {
            Some((rx, tx)) => (rx, tx),
            None => (self.readable_bytes(), 0),
        };
        Some(Entry {
            local,
            remote,
            state,
            tx_queue: tx,
            rx_queue: rx,
            ino: self.ino(),
        })
    }
}
