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

/// Whether a live socket holds `key` or, for a port, an overlapping space.
fn taken(map: &HashMap<NameKey, Weak<Socket>>, key: &NameKey) -> bool {
    let live = |k: &NameKey| map.get(k).is_some_and(|w| w.strong_count() > 0);
    match key {
        NameKey::Port { udp, port, space } => space.overlapping().iter().any(|s| {
            live(&NameKey::Port {
                udp: *udp,
                port: *port,
                space: *s,
            })
        }),
        other => live(other),
    }
}

/// The socket a connection or datagram to `port` of an IPv6 (`v6`) or
/// IPv4 address reaches.
pub fn lookup_port(udp: bool, port: u16, v6: bool) -> Option<Arc<Socket>> {
    let own = if v6 { PortSpace::V6Only } else { PortSpace::V4 };
    [own, PortSpace::Dual]
        .into_iter()
        .find_map(|space| lookup(&NameKey::Port { udp, port, space }))
}

static NAMES: Mutex<Option<HashMap<NameKey, Weak<Socket>>>> = Mutex::new(None);

/// Binds `key` to `sock`; EADDRINUSE if a live socket holds it.
pub fn insert(key: NameKey, sock: &Arc<Socket>) -> SysResult<()> {
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    if taken(map, &key) {
        return err(libc::EADDRINUSE);
    }
    map.insert(key, Arc::downgrade(sock));
    Ok(())
}

/// The live socket bound to `key`.
pub fn lookup(key: &NameKey) -> Option<Arc<Socket>> {
    lock(&NAMES).as_ref()?.get(key)?.upgrade()
}

/// Unbinds `key` if `sock` (or a dead socket) still holds it.
pub fn remove(key: &NameKey, sock: *const Socket) {
    let mut names = lock(&NAMES);
    if let Some(map) = names.as_mut() {
        if map
            .get(key)
            .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), sock))
        {
            map.remove(key);
        }
    }
}

/// Where the search for the next ephemeral port starts (under NAMES's
/// lock): it moves past each port handed out, so a port just released is
/// not handed out again at once (a datagram or connection meant for its
/// old owner would reach the new one; Linux spreads its choices too).
static NEXT_EPHEMERAL: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Binds `sock` to a free port of net.ipv4.ip_local_port_range in `space`.
pub fn ephemeral_port(udp: bool, space: PortSpace, sock: &Arc<Socket>) -> SysResult<u16> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    let (first, last) = super::sysctl::local_port_range();
    let start = NEXT_EPHEMERAL.load(Relaxed).clamp(first, last);
    for port in (start..=last).chain(first..start) {
        let key = NameKey::Port { udp, port, space };
        if !taken(map, &key) {
            map.insert(key, Arc::downgrade(sock));
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
        if map.get(&key).is_none_or(|w| w.strong_count() == 0) {
            map.insert(key, Arc::downgrade(sock));
            return Ok(name);
        }
    }
    err(libc::ENOSPC)
}
