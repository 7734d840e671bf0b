//! Moving the container's network interfaces into the Sentry, at boot,
//! after the prestart hooks configured them (Docker's libnetwork-setkey
//! moves the veth in and gives it its address, routes and MAC) and before
//! the jail.
//!
//! For every Ethernet interface of the namespace: read its MAC, MTU,
//! addresses and routes; open a packet socket on it; then remove its
//! addresses from the host kernel (and disable its IPv6), so the kernel of
//! this namespace no longer answers for them: no RST or ICMP behind the
//! stack's back, no ARP/NDP replies but the stack's. The interface stays
//! up: its frames now reach the stack only.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use smoltcp::iface::{Config, Interface, Route, SocketSet};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use super::link::PacketLink;
use super::rtnl::Rtnl;
use super::NetLink;
use crate::net::iface;

/// ARPHRD_ETHER: the only link type the stack drives.
const ARPHRD_ETHER: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    #[error("cannot read the container's network interfaces through netlink: {0}")]
    Netlink(io::Error),
    #[error("cannot open a packet socket on interface {name}: {source} (the runtime needs CAP_NET_RAW in the container's network namespace)")]
    Packet { name: String, source: io::Error },
    #[error("cannot remove address {addr} from interface {name}: {source}")]
    RemoveAddress {
        name: String,
        addr: IpAddr,
        source: io::Error,
    },
    #[error("interface {name}: {what}")]
    Unsupported { name: String, what: String },
}

fn cidr(ip: IpAddr, prefix: u8) -> IpCidr {
    IpCidr::new(IpAddress::from(ip), prefix)
}

fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    // SAFETY: getrandom fills our 8-byte buffer.
    unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    u64::from_ne_bytes(seed)
}

/// Records the current namespace's Ethernet interfaces in the model
/// without taking them (the `host` network mode: the host's stack serves
/// them, and `ip addr` inside shows them as they are).
pub fn describe() -> Result<(), TakeoverError> {
    let mut rtnl = Rtnl::open().map_err(TakeoverError::Netlink)?;
    let links = rtnl.links().map_err(TakeoverError::Netlink)?;
    let addrs = rtnl.addresses().map_err(TakeoverError::Netlink)?;
    let routes = rtnl.routes().map_err(TakeoverError::Netlink)?;
    let ether: Vec<_> = links.iter().filter(|l| l.kind == ARPHRD_ETHER).collect();
    let has = |index: u32| ether.iter().any(|l| l.index == index);
    iface::install(
        ether
            .iter()
            .map(|l| (model_link(l), Arc::new(iface::Counters::default())))
            .collect(),
        addrs.into_iter().filter(|a| has(a.index)).collect(),
        routes.into_iter().filter(|r| has(r.index)).collect(),
    );
    Ok(())
}

fn model_link(link: &super::rtnl::HostLink) -> iface::Link {
    iface::Link {
        index: link.index,
        name: link.name.clone(),
        mac: link.mac,
        mtu: link.mtu,
        flags: link.flags,
        loopback: false,
    }
}

/// Takes every Ethernet interface of the current network namespace.
/// Returns no links when there is none (loopback only: `--network=none`).
pub fn take_over() -> Result<Vec<NetLink>, TakeoverError> {
    let mut rtnl = Rtnl::open().map_err(TakeoverError::Netlink)?;
    let links = rtnl.links().map_err(TakeoverError::Netlink)?;
    let addrs = rtnl.addresses().map_err(TakeoverError::Netlink)?;
    let routes = rtnl.routes().map_err(TakeoverError::Netlink)?;

    let mut taken = Vec::new();
    let mut model_links = Vec::new();
    let mut model_addrs = Vec::new();
    let mut model_routes = Vec::new();
    for link in links.iter().filter(|l| l.kind == ARPHRD_ETHER) {
        let mine: Vec<&iface::Address> = addrs.iter().filter(|a| a.index == link.index).collect();
        let my_routes: Vec<&iface::Route> =
            routes.iter().filter(|r| r.index == link.index).collect();
        let counters = Arc::new(iface::Counters::default());
        let mut device =
            PacketLink::open(link.index, link.mtu, counters.clone()).map_err(|source| {
                TakeoverError::Packet {
                    name: link.name.clone(),
                    source,
                }
            })?;
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(link.mac)));
        config.random_seed = random_seed();
        let now = smoltcp::time::Instant::from_micros(0);
        let mut ifc = Interface::new(config, &mut device, now);
        let mut cidrs = Vec::new();
        for a in &mine {
            cidrs.push(cidr(a.ip, a.prefix));
        }
        if cidrs.len() > 8 {
            return Err(TakeoverError::Unsupported {
                name: link.name.clone(),
                what: format!("{} addresses (the stack takes at most 8)", cidrs.len()),
            });
        }
        ifc.update_ip_addrs(|list| {
            for c in &cidrs {
                // Bounded by the check above.
                let _ = list.push(*c);
            }
        });
        let mut has_default_v4 = false;
        let mut has_default_v6 = false;
        for r in &my_routes {
            let Some(gw) = r.gateway else { continue };
            let route = Route {
                cidr: cidr(r.dst, r.prefix),
                via_router: IpAddress::from(gw),
                preferred_until: None,
                expires_at: None,
            };
            if r.prefix == 0 {
                match r.dst {
                    IpAddr::V4(_) => has_default_v4 = true,
                    IpAddr::V6(_) => has_default_v6 = true,
                }
            }
            ifc.routes_mut().update(|table| {
                let _ = table.push(route);
            });
        }
        // Now the host kernel lets go of the addresses.
        for a in &mine {
            rtnl.delete_address(a)
                .map_err(|source| TakeoverError::RemoveAddress {
                    name: link.name.clone(),
                    addr: a.ip,
                    source,
                })?;
        }
        // Without IPv6 on the host interface the kernel neither answers
        // NDP nor brings its link-local address back.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", link.name),
            "1",
        );
        model_links.push((model_link(link), counters));
        model_addrs.extend(mine.iter().map(|a| (*a).clone()));
        model_routes.extend(my_routes.iter().map(|r| (*r).clone()));
        taken.push(NetLink {
            index: link.index,
            iface: ifc,
            device,
            sockets: SocketSet::new(Vec::new()),
            cidrs,
            has_default_v4,
            has_default_v6,
            pools: Vec::new(),
        });
    }
    iface::install(model_links, model_addrs, model_routes);
    Ok(taken)
}
