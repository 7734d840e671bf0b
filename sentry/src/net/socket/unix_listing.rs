//! The sandbox's Unix sockets as /proc/net/unix lists them (Linux's
//! unix_seq_show): every socket not yet closed, with its reference count,
//! listening flag, type, connection state, inode and name.

use std::collections::HashMap;
use std::sync::Arc;

use super::{listing, Conn, Family, Kind, Socket};
use crate::kernel::process::lock;
use crate::net::addr::{SockAddr, UnixAddr};

/// `__SO_ACCEPTCON`: the flag of a listening socket.
pub const SO_ACCEPTCON: u32 = 1 << 16;

/// The `socket_state` values /proc/net/unix prints.
pub const SS_UNCONNECTED: u8 = 1;
pub const SS_CONNECTING: u8 = 2;
pub const SS_CONNECTED: u8 = 3;

/// One line's worth of a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixEntry {
    /// Linux's sk_refcnt: one for the socket itself, one for the socket
    /// table, one for each socket whose peer it is.
    pub refs: u32,
    pub flags: u32,
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub ty: i32,
    pub state: u8,
    /// 0 for a connection not yet accepted (it has no inode yet).
    pub ino: u64,
    pub name: UnixAddr,
}

/// What one socket shows, before the reference counts are known.
struct Seen {
    sock: Arc<Socket>,
    peer: Option<*const Socket>,
    listening: bool,
    connected: bool,
    embryo: bool,
    name: UnixAddr,
}

/// The entries of every open Unix socket.
pub fn entries() -> Vec<UnixEntry> {
    let seen: Vec<Seen> = listing::live(|f| f == Family::Unix)
        .into_iter()
        .filter_map(|sock| {
            let i = lock(&sock.inner);
            if i.closed {
                return None;
            }
            let name = match &i.local {
                Some(SockAddr::Unix(a)) => a.clone(),
                _ => UnixAddr::Unnamed,
            };
            let seen = Seen {
                peer: i.peer.as_ref().map(Arc::as_ptr),
                listening: matches!(i.conn, Conn::Listening { .. }),
                connected: matches!(i.conn, Conn::Connected),
                embryo: i.embryo,
                name,
                sock: sock.clone(),
            };
            drop(i);
            Some(seen)
        })
        .collect();
    // Each peer reference holds the socket it points at.
    let mut held: HashMap<*const Socket, u32> = HashMap::new();
    for s in &seen {
        if let Some(p) = s.peer {
            *held.entry(p).or_default() += 1;
        }
    }
    seen.iter()
        .map(|s| {
            let held_by = held.get(&Arc::as_ptr(&s.sock)).copied().unwrap_or(0);
            // A datagram socket another connected to is established too
            // (Linux sets both ends' sk_state).
            let established = s.connected || (s.sock.kind == Kind::Dgram && held_by > 0);
            let state = match (s.embryo, established) {
                (true, _) => SS_CONNECTING,
                (false, true) => SS_CONNECTED,
                (false, false) => SS_UNCONNECTED,
            };
            UnixEntry {
                refs: 2 + held_by,
                flags: if s.listening { SO_ACCEPTCON } else { 0 },
                ty: s.sock.kind.linux_type(),
                state,
                ino: if s.embryo { 0 } else { s.sock.ino() },
                name: s.name.clone(),
            }
        })
        .collect()
}
