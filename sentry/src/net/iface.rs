//! The sandbox's network interfaces, routes and neighbours as programs see
//! them: the one model that netlink (`ip addr`, getifaddrs), the interface
//! ioctls (SIOCGIF*), /proc/net and /sys/class/net are rendered from.
//!
//! Loopback (index 1, `lo`) always exists. The other interfaces are the
//! ones the Sentry took over from the container's network namespace at
//! boot (`net::stack`), with the addresses, routes, MTU and MAC the host
//! had given them; [`install`] records them. Packet counters are kept by
//! each link's device and read through [`counters`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The loopback interface's index, as on Linux.
pub const LOOPBACK_INDEX: u32 = 1;
/// Linux's loopback MTU.
pub const LOOPBACK_MTU: u32 = 65536;

/// One interface (`struct ifinfomsg` and its attributes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// All zeros for loopback.
    pub mac: [u8; 6],
    pub mtu: u32,
    /// IFF_* flags (IFF_UP, IFF_RUNNING, IFF_LOOPBACK, IFF_BROADCAST, ...).
    pub flags: u32,
    pub loopback: bool,
}

/// One address of an interface (`struct ifaddrmsg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
}

impl Address {
    /// The IPv4 broadcast address of the address's subnet (none for /31, /32, v6).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(v4) if self.prefix < 31 => {
                let host = u32::MAX >> self.prefix;
                Some(Ipv4Addr::from(u32::from(v4) | host))
            }
            _ => None,
        }
    }
}

/// One route of the main table (`struct rtmsg`). A default route has
/// `prefix` 0; a route to a directly attached subnet has no gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub index: u32,
    /// The preferred source address (RTA_PREFSRC), for subnet routes.
    pub source: Option<IpAddr>,
}

/// A resolved neighbour (ARP or NDP entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub index: u32,
    pub ip: IpAddr,
    pub mac: [u8; 6],
}

/// Packet and byte counters of one link, kept by its device.
#[derive(Default, Debug)]
pub struct Counters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx_dropped: AtomicU64,
    pub tx_dropped: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct CounterValues {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

impl Counters {
    pub fn received(&self, bytes: usize) {
        self.rx_packets.fetch_add(1, Ordering::Relaxed);
        self.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        self.tx_packets.fetch_add(1, Ordering::Relaxed);
        self.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterValues {
        CounterValues {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
            rx_dropped: self.rx_dropped.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
        }
    }
}

/// Everything the model holds besides loopback.
#[derive(Default)]
struct Table {
    links: Vec<(Link, Arc<Counters>)>,
    addresses: Vec<Address>,
    routes: Vec<Route>,
    neighbours: Vec<Neighbour>,
}

static TABLE: RwLock<Option<Table>> = RwLock::new(None);

fn loopback_counters() -> &'static Arc<Counters> {
    static LO: std::sync::OnceLock<Arc<Counters>> = std::sync::OnceLock::new();
    LO.get_or_init(Arc::default)
}

/// The loopback link.
pub fn loopback() -> Link {
    Link {
        index: LOOPBACK_INDEX,
        name: "lo".into(),
        mac: [0; 6],
        mtu: LOOPBACK_MTU,
        flags: (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING | libc::IFF_LOWER_UP) as u32,
        loopback: true,
    }
}

/// Records the interfaces taken over at boot (replacing any earlier ones).
pub fn install(links: Vec<(Link, Arc<Counters>)>, addresses: Vec<Address>, routes: Vec<Route>) {
    let mut t = TABLE.write().unwrap_or_else(|p| p.into_inner());
    *t = Some(Table {
        links,
        addresses,
        routes,
        neighbours: Vec::new(),
    });
}

/// Replaces the neighbour table (the stack's ARP/NDP cache, refreshed by it).
pub fn set_neighbours(neighbours: Vec<Neighbour>) {
    let mut t = TABLE.write().unwrap_or_else(|p| p.into_inner());
    t.get_or_insert_with(Table::default).neighbours = neighbours;
}

fn read<R>(f: impl FnOnce(&Table) -> R) -> R {
    let t = TABLE.read().unwrap_or_else(|p| p.into_inner());
    match t.as_ref() {
        Some(t) => f(t),
        None => f(&Table::default()),
    }
}

/// Every interface, loopback first, in index order.
pub fn links() -> Vec<Link> {
    let mut out = vec![loopback()];
    read(|t| out.extend(t.links.iter().map(|(l, _)| l.clone())));
    out.sort_by_key(|l| l.index);
    out
}

/// The interface with index `index`.
pub fn link(index: u32) -> Option<Link> {
    links().into_iter().find(|l| l.index == index)
}

/// The interface named `name`.
pub fn link_by_name(name: &str) -> Option<Link> {
    links().into_iter().find(|l| l.name == name)
}

/// Every address, loopback's (127.0.0.1/8 and ::1/128) first.
pub fn addresses() -> Vec<Address> {
    let mut out = vec![
        Address {
            index: LOOPBACK_INDEX,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: 8,
        },
        Address {
            index: LOOPBACK_INDEX,
            ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
    ];
    read(|t| out.extend(t.addresses.iter().cloned()));
    out
}

/// The main routing table (routes through loopback are in Linux's local
/// table, which `ip route` does not show, so none are listed here).
pub fn routes() -> Vec<Route> {
    read(|t| t.routes.clone())
}

pub fn neighbours() -> Vec<Neighbour> {
    read(|t| t.neighbours.clone())
}

/// The counters of interface `index` (zeros for an unknown one).
pub fn counters(index: u32) -> CounterValues {
    if index == LOOPBACK_INDEX {
        return loopback_counters().snapshot();
    }
    read(|t| {
        t.links
            .iter()
            .find(|(l, _)| l.index == index)
            .map(|(_, c)| c.snapshot())
            .unwrap_or_default()
    })
}

/// Loopback's counters, for the socket core to count what it carries.
pub fn loopback_counters_handle() -> Arc<Counters> {
    loopback_counters().clone()
}

/// Changes the table (the workload's own changes, `net::ifconfig`).
pub fn update<R>(f: impl FnOnce(&mut Vec<Link>, &mut Vec<Address>, &mut Vec<Route>) -> R) -> R {
    let mut t = TABLE.write().unwrap_or_else(|p| p.into_inner());
    let t = t.get_or_insert_with(Table::default);
    let mut links: Vec<Link> = t.links.iter().map(|(l, _)| l.clone()).collect();
    let r = f(&mut links, &mut t.addresses, &mut t.routes);
    // Links are neither made nor removed here: only their fields change.
    for ((l, _), new) in t.links.iter_mut().zip(links) {
        *l = new;
    }
    r
}

/// Whether `ip` is an address of one of the sandbox's interfaces (or loopback).
pub fn is_own_address(ip: &IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    read(|t| t.addresses.iter().any(|a| &a.ip == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_of_a_subnet() {
        let a = Address {
            index: 2,
            ip: "172.17.0.2".parse().expect("ip"),
            prefix: 16,
        };
        assert_eq!(a.broadcast(), Some(Ipv4Addr::new(172, 17, 255, 255)));
        let host = Address {
            index: 2,
            ip: "10.0.0.1".parse().expect("ip"),
            prefix: 32,
        };
        assert_eq!(host.broadcast(), None);
    }

    #[test]
    fn loopback_is_always_first() {
        let links = links();
        assert_eq!(links[0].name, "lo");
        assert_eq!(addresses()[0].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
