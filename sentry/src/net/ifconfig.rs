//! Changes to the sandbox's interfaces, addresses and routes that the
//! workload asks for (rtnetlink with CAP_NET_ADMIN: `ip addr add`, `ip
//! link set eth0 down`, `ip route add default via G`). They are applied to
//! the Sentry's model (`iface`, what netlink, ioctls and /proc show) and
//! to its TCP/IP stack (`stack::config`), never to the host: the host
//! interface stays as the Sentry took it over. Follows Linux's rules:
//! an address brings its subnet route, deleting the last address of a
//! subnet takes the routes through it, a link going down loses its
//! routes and coming up gets its subnet routes back.

use std::net::IpAddr;

use crate::net::iface::{self, Address, Route};
use crate::net::stack;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    SetLink {
        index: u32,
        /// IFF_UP set (Some(true)) or cleared.
        up: Option<bool>,
        mtu: Option<u32>,
    },
    AddAddress {
        index: u32,
        ip: IpAddr,
        prefix: u8,
        /// NLM_F_EXCL: an existing address is EEXIST.
        exclusive: bool,
    },
    DeleteAddress {
        index: u32,
        /// None: the link's first address.
        ip: Option<IpAddr>,
        /// 0: any.
        prefix: u8,
    },
    AddRoute {
        dst: IpAddr,
        prefix: u8,
        gateway: IpAddr,
        index: Option<u32>,
        exclusive: bool,
        replace: bool,
    },
    DeleteRoute {
        dst: IpAddr,
        prefix: u8,
        gateway: Option<IpAddr>,
        index: Option<u32>,
    },
}

/// The network `ip` and `prefix` name (host bits cleared).
fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    net.is_ipv4() == ip.is_ipv4() && network(ip, prefix) == network(net, prefix)
}

/// The route Linux adds with an address (none for a host address).
fn subnet_route(a: &Address) -> Option<Route> {
    let full = if a.ip.is_ipv4() { 32 } else { 128 };
    (a.prefix < full).then(|| Route {
        dst: network(a.ip, a.prefix),
        prefix: a.prefix,
        gateway: None,
        index: a.index,
        source: a.ip.is_ipv4().then_some(a.ip),
    })
}

/// Whether `gw` is on a subnet of link `index`'s addresses.
fn on_link(addresses: &[Address], index: u32, gw: IpAddr) -> bool {
    addresses
        .iter()
        .any(|a| a.index == index && contains(a.ip, a.prefix, gw))
}

/// Applies one change, or gives the errno Linux answers it with.
pub fn apply(c: Change) -> Result<(), i32> {
    if crate::net::hostnet::enabled() {
        // The host's own stack serves this mode; the Sentry changes nothing
        // of the host's.
        return Err(libc::EOPNOTSUPP);
    }
    match c {
        Change::SetLink { index, up, mtu } => set_link(index, up, mtu),
        Change::AddAddress {
            index,
            ip,
            prefix,
            exclusive,
        } => add_address(index, ip, prefix, exclusive),
        Change::DeleteAddress { index, ip, prefix } => delete_address(index, ip, prefix),
        Change::AddRoute {
            dst,
            prefix,
            gateway,
            index,
            exclusive,
            replace,
        } => add_route(dst, prefix, gateway, index, exclusive, replace),
        Change::DeleteRoute {
            dst,
            prefix,
            gateway,
            index,
        } => delete_route(dst, prefix, gateway, index),
    }
}

fn set_link(index: u32, up: Option<bool>, mtu: Option<u32>) -> Result<(), i32> {
    let link = iface::link(index).ok_or(libc::ENODEV)?;
    if let Some(m) = mtu {
        if !(68..=65535).contains(&m) || link.loopback {
            return Err(libc::EINVAL);
        }
    }
    if link.loopback {
        // The Sentry's loopback is always up.
        return if up == Some(false) {
            Err(libc::EOPNOTSUPP)
        } else {
            Ok(())
        };
    }
    stack::config::set_link(index, up, mtu)?;
    let running = (libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_LOWER_UP) as u32;
    iface::update(|links, addresses, routes| {
        let was_up = links
            .iter()
            .any(|l| l.index == index && l.flags & libc::IFF_UP as u32 != 0);
        for l in links.iter_mut().filter(|l| l.index == index) {
            if let Some(m) = mtu {
                l.mtu = m;
            }
            match up {
                Some(true) => l.flags |= running,
                Some(false) => l.flags &= !running,
                None => {}
            }
        }
        match up {
            Some(false) if was_up => routes.retain(|r| r.index != index),
            Some(true) if !was_up => {
                // The subnet routes of the link's primary addresses.
                let mut seen: Vec<Route> = Vec::new();
                for r in addresses
                    .iter()
                    .filter(|a| a.index == index)
                    .filter_map(subnet_route)
                {
                    if !seen.iter().any(|s| s.dst == r.dst && s.prefix == r.prefix) {
                        seen.push(r);
                    }
                }
                routes.extend(seen);
            }
            _ => {}
        }
    });
    Ok(())
}

fn add_address(index: u32, ip: IpAddr, prefix: u8, exclusive: bool) -> Result<(), i32> {
    let link = iface::link(index).ok_or(libc::ENODEV)?;
    if iface::addresses()
        .iter()
        .any(|a| a.index == index && a.ip == ip)
    {
        return if exclusive { Err(libc::EEXIST) } else { Ok(()) };
    }
    let a = Address { index, ip, prefix };
    if !link.loopback {
        stack::config::add_address(index, ip, prefix)?;
    }
    let up = link.flags & libc::IFF_UP as u32 != 0;
    iface::update(|_, addresses, routes| {
        // A second address on a subnet the link has is secondary: it
        // brings no route of its own.
        let primary = !addresses
            .iter()
            .any(|o| o.index == index && o.prefix == prefix && contains(o.ip, prefix, ip));
        if !link.loopback && up && primary {
            routes.extend(subnet_route(&a));
        }
        addresses.push(a);
    });
    Ok(())
}

fn delete_address(index: u32, ip: Option<IpAddr>, prefix: u8) -> Result<(), i32> {
    let link = iface::link(index).ok_or(libc::ENODEV)?;
    let found = iface::update(|_, addresses, _| {
        addresses
            .iter()
            .find(|a| {
                a.index == index
                    && ip.is_none_or(|ip| a.ip == ip)
                    && (prefix == 0 || a.prefix == prefix)
            })
            .cloned()
    });
    let Some(gone) = found else {
        return Err(libc::EADDRNOTAVAIL);
    };
    if !link.loopback {
        stack::config::delete_address(index, gone.ip)?;
    }
    let dead_gateways = iface::update(|_, addresses, routes| {
        addresses.retain(|a| a != &gone);
        routes.retain(|r| !(r.index == index && r.gateway.is_none() && r.source == Some(gone.ip)));
        if let Some(sub) = subnet_route(&gone) {
            if !on_link(addresses, index, gone.ip) {
                routes.retain(|r| !(r.index == index && r.gateway.is_none() && r.dst == sub.dst));
            }
        }
        // Routes whose gateway is no longer on the link go with it.
        let dead: Vec<Route> = routes
            .iter()
            .filter(|r| {
                r.index == index && r.gateway.is_some_and(|g| !on_link(addresses, index, g))
            })
            .cloned()
            .collect();
        routes.retain(|r| !dead.contains(r));
        dead
    });
    for r in dead_gateways {
        if let Some(g) = r.gateway {
            stack::config::delete_route(r.index, r.dst, r.prefix, g);
        }
    }
    Ok(())
}

fn add_route(
    dst: IpAddr,
    prefix: u8,
    gateway: IpAddr,
    index: Option<u32>,
    exclusive: bool,
    replace: bool,
) -> Result<(), i32> {
    if dst.is_ipv4() != gateway.is_ipv4() {
        return Err(libc::EINVAL);
    }
    let dst = network(dst, prefix);
    let addresses = iface::addresses();
    // The link the gateway is on (it must be on one, as Linux requires).
    let index = match index {
        Some(i) => {
            let link = iface::link(i).ok_or(libc::ENODEV)?;
            if link.loopback || !on_link(&addresses, i, gateway) {
                return Err(libc::ENETUNREACH);
            }
            i
        }
        None => addresses
            .iter()
            .find(|a| a.index != iface::LOOPBACK_INDEX && contains(a.ip, a.prefix, gateway))
            .map(|a| a.index)
            .ok_or(libc::ENETUNREACH)?,
    };
    let same = |r: &Route| r.dst == dst && r.prefix == prefix;
    let existing: Vec<Route> = iface::routes().into_iter().filter(same).collect();
    if !existing.is_empty() {
        if exclusive || !replace {
            return Err(libc::EEXIST);
        }
        for r in &existing {
            if let Some(g) = r.gateway {
                stack::config::delete_route(r.index, r.dst, r.prefix, g);
            }
        }
    }
    stack::config::add_route(index, dst, prefix, gateway)?;
    iface::update(|_, _, routes| {
        routes.retain(|r| !same(r));
        routes.push(Route {
            dst,
            prefix,
            gateway: Some(gateway),
            index,
            source: None,
        });
    });
    Ok(())
}

fn delete_route(
    dst: IpAddr,
    prefix: u8,
    gateway: Option<IpAddr>,
    index: Option<u32>,
) -> Result<(), i32> {
    let dst = network(dst, prefix);
    let matches = |r: &Route| {
        r.dst == dst
            && r.prefix == prefix
            && (gateway.is_none() || r.gateway == gateway)
            && index.is_none_or(|i| r.index == i)
    };
    let gone = iface::update(|_, _, routes| {
        let pos = routes.iter().position(matches)?;
        Some(routes.remove(pos))
    });
    let gone = gone.ok_or(libc::ESRCH)?;
    if let Some(g) = gone.gateway {
        stack::config::delete_route(gone.index, gone.dst, gone.prefix, g);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_containment() {
        let ip: IpAddr = "172.17.0.2".parse().expect("ip");
        assert_eq!(network(ip, 16), "172.17.0.0".parse::<IpAddr>().expect("ip"));
        assert_eq!(network(ip, 0), "0.0.0.0".parse::<IpAddr>().expect("ip"));
        assert!(contains(ip, 16, "172.17.255.1".parse().expect("ip")));
        assert!(!contains(ip, 24, "172.17.1.1".parse().expect("ip")));
        let v6: IpAddr = "fd00::5".parse().expect("ip");
        assert_eq!(network(v6, 64), "fd00::".parse::<IpAddr>().expect("ip"));
        assert!(!contains(v6, 0, ip));
    }
}
