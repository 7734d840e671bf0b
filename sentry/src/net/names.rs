//! The names Unix sockets are bound to: the abstract namespace, and socket
//! files in the sandbox's file systems (keyed by the file's identity, so a
//! rename or a second link still reaches the socket, as on Linux).
//!
//! One Sentry runs one sandbox, so the table is the Sentry's own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::socket::Socket;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameKey {
    Abstract(Vec<u8>),
    /// A socket file: its st_dev and st_ino.
    Node {
        dev: u64,
        ino: u64,
    },
    /// An inet port, in the address space its socket covers.
    Port {
        udp: bool,
        port: u16,
        space: PortSpace,
    },
}

/// Which connections an inet socket's port takes: an IPv4 socket's, an
/// IPv6 socket's with IPV6_V6ONLY, or a dual-stack IPv6 socket's (both).
/// A port is taken in a space when a socket of a space that overlaps it
/// holds it, so `0.0.0.0:80` and `[::]:80` with IPV6_V6ONLY coexist, as on
/// Linux (nginx and redis bind both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortSpace {
    V4,
    V6Only,
    Dual,
}

impl PortSpace {
    fn overlapping(self) -> &'static [PortSpace] {
        match self {
            PortSpace::V4 => &[PortSpace::V4, PortSpace::Dual],
            PortSpace::V6Only => &[PortSpace::V6Only, PortSpace::Dual],
            PortSpace::Dual => &[PortSpace::V4, PortSpace::V6Only, PortSpace::Dual],
        }
    }
}

/// One socket holding a name. A port bound with SO_REUSEPORT records the
/// effective uid of its binder: another socket with SO_REUSEPORT and the
/// same uid may hold the port beside it (Linux's inet_bind_conflict).
struct Holder {
    sock: Weak<Socket>,
    reuseport: Option<u32>,
}

impl Holder {
    fn live(&self) -> bool {
        self.sock.strong_count() > 0
    }
}

type Names = HashMap<NameKey, Vec<Holder>>;

/// The keys whose holders a bind of `key` must share with: for a port,
/// those of every overlapping space.
fn neighbours(key: &NameKey) -> Vec<NameKey> {
    match key {
        NameKey::Port { udp, port, space } => space
            .overlapping()
            .iter()
            .map(|s| NameKey::Port {
                udp: *udp,
                port: *port,
                space: *s,
            })
            .collect(),
        other => vec![other.clone()],
    }
}

/// Whether a live socket holds `key` (or an overlapping port) that a
/// binder with `reuseport` (Some(euid) when it set SO_REUSEPORT) may not
/// share.
fn taken(map: &Names, key: &NameKey, reuseport: Option<u32>) -> bool {
    neighbours(key).iter().any(|k| {
        map.get(k).is_some_and(|hs| {
            hs.iter()
                .any(|h| h.live() && (reuseport.is_none() || h.reuseport != reuseport))
        })
    })
}

/// Adds `sock` as a holder of `key`, forgetting holders that are gone.
fn hold(map: &mut Names, key: NameKey, sock: &Arc<Socket>, reuseport: Option<u32>) {
    let hs = map.entry(key).or_default();
    hs.retain(Holder::live);
    hs.push(Holder {
        sock: Arc::downgrade(sock),
        reuseport,
    });
}

/// The socket a connection or datagram to `port` of an IPv6 (`v6`) or
/// IPv4 address reaches, from `from` (the sender's address and port).
/// Several SO_REUSEPORT sockets on the port share the traffic: the
/// sender's address picks one by hash (as Linux hashes the 4-tuple), so
/// one sender's datagrams keep reaching the same socket; a TCP connection
/// goes only to a listener among them.
pub fn lookup_port(
    udp: bool,
    port: u16,
    v6: bool,
    from: Option<std::net::SocketAddr>,
) -> Option<Arc<Socket>> {
    let own = if v6 { PortSpace::V6Only } else { PortSpace::V4 };
    for space in [own, PortSpace::Dual] {
        let holders: Vec<Arc<Socket>> = {
            let names = lock(&NAMES);
            let Some(hs) = names
                .as_ref()
                .and_then(|m| m.get(&NameKey::Port { udp, port, space }))
            else {
                continue;
            };
            hs.iter().filter_map(|h| h.sock.upgrade()).collect()
        };
        // Socket locks are taken only after the table's is released.
        let pool = if udp {
            receivers(holders, from)
        } else {
            let listening: Vec<Arc<Socket>> = holders
                .iter()
                .filter(|s| s.is_listening())
                .cloned()
                .collect();
            if listening.is_empty() {
                holders
            } else {
                listening
            }
        };
        if pool.len() == 1 {
            return pool.into_iter().next();
        }
        if pool.is_empty() {
            continue;
        }
        let pick = from.map_or(0, |a| {
            use std::hash::{Hash, Hasher};
            // Fixed keys: the same sender always picks the same socket.
            let mut h = std::hash::DefaultHasher::new();
            a.ip().to_canonical().hash(&mut h);
            a.port().hash(&mut h);
            h.finish() as usize
        }) % pool.len();
        return pool.into_iter().nth(pick);
    }
    None
}

/// The UDP sockets of a port a datagram from `from` may reach: one
/// connected to that sender wins (Linux scores an exact match highest),
/// else those not connected elsewhere.
fn receivers(holders: Vec<Arc<Socket>>, from: Option<std::net::SocketAddr>) -> Vec<Arc<Socket>> {
    use crate::net::addr::SockAddr;
    let canon = |a: std::net::SocketAddr| (a.ip().to_canonical(), a.port());
    let remotes: Vec<Option<(std::net::IpAddr, u16)>> = holders
        .iter()
        .map(|s| match s.remote() {
            Some(SockAddr::Inet(r)) => Some(canon(r)),
            _ => None,
        })
        .collect();
    // What leaves from "any" arrives from loopback.
    let from = from.map(|a| {
        canon(std::net::SocketAddr::new(
            crate::net::inet::arrival(a.ip()),
            a.port(),
        ))
    });
    if let Some(i) = remotes.iter().position(|r| r.is_some() && *r == from) {
        return vec![holders[i].clone()];
    }
    let open: Vec<Arc<Socket>> = holders
        .iter()
        .zip(&remotes)
        .filter(|(_, r)| r.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    if open.is_empty() {
        holders
    } else {
        open
    }
}

static NAMES: Mutex<Option<Names>> = Mutex::new(None);

/// Binds `key` to `sock`; EADDRINUSE if a live socket holds it that
/// `reuseport` (the binder's euid, when it set SO_REUSEPORT) may not
/// share.
pub fn insert(key: NameKey, sock: &Arc<Socket>, reuseport: Option<u32>) -> SysResult<()> {
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    if taken(map, &key, reuseport) {
        return err(libc::EADDRINUSE);
    }
    hold(map, key, sock, reuseport);
    Ok(())
}

/// The live socket bound to `key` (the first, for a shared port).
pub fn lookup(key: &NameKey) -> Option<Arc<Socket>> {
    lock(&NAMES)
        .as_ref()?
        .get(key)?
        .iter()
        .find_map(|h| h.sock.upgrade())
}

/// Unbinds `sock` (and dead sockets) from `key`.
pub fn remove(key: &NameKey, sock: *const Socket) {
    let mut names = lock(&NAMES);
    if let Some(map) = names.as_mut() {
        if let Some(hs) = map.get_mut(key) {
            hs.retain(|h| h.live() && !std::ptr::eq(h.sock.as_ptr(), sock));
            if hs.is_empty() {
                map.remove(key);
            }
        }
    }
}

/// Where the search for the next ephemeral port starts (under NAMES's
/// lock): it moves past each port handed out, so a port just released is
/// not handed out again at once (a datagram or connection meant for its
/// old owner would reach the new one; Linux spreads its choices too).
static NEXT_EPHEMERAL: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Binds `sock` to a free port of net.ipv4.ip_local_port_range in `space`
/// (`reuseport` as for [`insert`]: others may then share the port chosen).
pub fn ephemeral_port(
    udp: bool,
    space: PortSpace,
    sock: &Arc<Socket>,
    reuseport: Option<u32>,
) -> SysResult<u16> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    let (first, last) = super::sysctl::local_port_range();
    let start = NEXT_EPHEMERAL.load(Relaxed).clamp(first, last);
    for port in (start..=last).chain(first..start) {
        let key = NameKey::Port { udp, port, space };
        if !taken(map, &key, None) {
            hold(map, key, sock, reuseport);
            NEXT_EPHEMERAL.store(if port == last { first } else { port + 1 }, Relaxed);
            return Ok(port);
        }
    }
    err(libc::EADDRINUSE)
}

/// Binds `sock` to a fresh abstract name of five hex digits (Linux's autobind).
pub fn autobind(sock: &Arc<Socket>) -> SysResult<Vec<u8>> {
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    for n in 0..0x10_0000u32 {
        let name = format!("{n:05x}").into_bytes();
        let key = NameKey::Abstract(name.clone());
        if !taken(map, &key, None) {
            hold(map, key, sock, None);
            return Ok(name);
        }
    }
    err(libc::ENOSPC)
}
