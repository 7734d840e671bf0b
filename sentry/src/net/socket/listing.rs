//! Every socket of the sandbox, for the files of /proc/net that list them
//! (netstat, ss, psutil, lsof): /proc/net/{tcp,tcp6,udp,udp6} show every
//! bound or connected inet socket, its addresses, state and queues;
//! /proc/net/unix every Unix socket (`unix_listing`).
//!
//! Sockets register at creation and leave when dropped. The registry is a
//! slab: a slot taken from the free list and given back, so both cost one
//! uncontended lock and no scan, whatever the number of live sockets
//! (socketpair and accept are hot paths; reading /proc/net is not).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use super::external::External;
use super::{Conn, Family, Kind, Socket};
use crate::kernel::process::lock;
use crate::net::addr::SockAddr;

struct Registry {
    /// Each socket, with its family and kind (to pick without upgrading).
    slots: Vec<(Weak<Socket>, Family, Kind)>,
    /// Slots whose socket is gone, to be taken again.
    free: Vec<usize>,
}

static ALL: Mutex<Registry> = Mutex::new(Registry {
    slots: Vec::new(),
    free: Vec::new(),
});

/// Notes a new socket (`me`, not yet alive); returns its slot, which
/// `unregister` gives back when the socket is dropped.
pub(super) fn register(me: Weak<Socket>, family: Family, kind: Kind) -> usize {
    let mut r = lock(&ALL);
    match r.free.pop() {
        Some(slot) => {
            r.slots[slot] = (me, family, kind);
            slot
        }
        None => {
            r.slots.push((me, family, kind));
            r.slots.len() - 1
        }
    }
}

/// Frees a dropped socket's slot.
pub(super) fn unregister(slot: usize) {
    let mut r = lock(&ALL);
    if let Some(entry) = r.slots.get_mut(slot) {
        entry.0 = Weak::new();
        r.free.push(slot);
    }
}

/// The live sockets of `family`, in slot order.
pub(super) fn live(family: impl Fn(Family) -> bool) -> Vec<Arc<Socket>> {
    // Upgraded under the lock, examined (under each socket's lock) after
    // it; nothing is dropped under it, since the drop of a last reference
    // unregisters.
    let r = lock(&ALL);
    r.slots
        .iter()
        .filter(|(_, f, _)| family(*f))
        .filter_map(|(w, ..)| w.upgrade())
        .collect()
}

/// How many sockets there are (/proc/net/sockstat): all of them, and the
/// TCP ones of both families (Linux's tcp_sockets_allocated).
pub fn allocated() -> (usize, usize) {
    let r = lock(&ALL);
    let live = r.slots.iter().filter(|(w, ..)| w.strong_count() > 0);
    let all = live.clone().count();
    let tcp = live
        .filter(|(_, f, k)| *f != Family::Unix && *k == Kind::Stream)
        .count();
    (all, tcp)
}

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

/// The entries of every live inet socket of `kind`, IPv6 sockets (`v6`)
/// or IPv4 ones.
pub fn entries(kind: Kind, v6: bool) -> Vec<Entry> {
    let want = if v6 { Family::Inet6 } else { Family::Inet };
    live(|f| f == want)
        .iter()
        .filter(|s| s.kind == kind)
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
