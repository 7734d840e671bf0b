//! The workload's changes to the stack's links (`net::ifconfig`, from
//! rtnetlink): addresses, gateway routes, up/down and MTU. Each takes the
//! stack's lock; a link the stack does not drive (none: `--network=none`)
//! is ENODEV.

use std::net::IpAddr;

use smoltcp::iface::Route;
use smoltcp::wire::{IpAddress, IpCidr};

use super::{lock, NetLink, Stack};

fn with_link<R>(index: u32, f: impl FnOnce(&mut NetLink) -> R) -> Result<R, i32> {
    let mut s: std::sync::MutexGuard<'_, Stack> = lock().ok_or(libc::ENODEV)?;
    let l = s
        .links
        .iter_mut()
        .find(|l| l.index == index)
        .ok_or(libc::ENODEV)?;
    let r = f(l);
    super::changed();
    super::wake();
    Ok(r)
}

fn cidr(ip: IpAddr, prefix: u8) -> IpCidr {
    IpCidr::new(IpAddress::from(ip), prefix)
}

/// The link's addresses, as smoltcp holds them.
fn sync_addresses(l: &mut NetLink) -> Result<(), i32> {
    let cidrs = l.cidrs.clone();
    let mut fits = true;
    l.iface.update_ip_addrs(|list| {
        list.clear();
        for c in &cidrs {
            fits &= list.push(*c).is_ok();
        }
    });
    if fits {
        Ok(())
    } else {
        Err(libc::ENOSPC)
    }
}

pub fn add_address(index: u32, ip: IpAddr, prefix: u8) -> Result<(), i32> {
    with_link(index, |l| {
        l.cidrs.push(cidr(ip, prefix));
        let r = sync_addresses(l);
        if r.is_err() {
            // smoltcp holds a fixed number of addresses per interface.
            l.cidrs.pop();
            let _ = sync_addresses(l);
        }
        r
    })??;
    listeners_follow(index, ip, true);
    Ok(())
}

pub fn delete_address(index: u32, ip: IpAddr) -> Result<(), i32> {
    with_link(index, |l| {
        let addr = IpAddress::from(ip);
        l.cidrs.retain(|c| c.address() != addr);
        sync_addresses(l)
    })??;
    listeners_follow(index, ip, false);
    Ok(())
}

/// Family-limited "any" listeners gain or lose the address's pools.
fn listeners_follow(index: u32, ip: IpAddr, added: bool) {
    let Some(mut s) = lock() else { return };
    let Some(link) = s.links.iter().position(|l| l.index == index) else {
        return;
    };
    if added {
        super::tcp::address_added(&mut s, link, IpAddress::from(ip));
    } else {
        super::tcp::address_removed(&mut s, link, IpAddress::from(ip));
    }
    s.flush();
}

fn flags_of_defaults(l: &mut NetLink) {
    let mut v4 = false;
    let mut v6 = false;
    l.iface.routes_mut().update(|table| {
        for r in table.iter().filter(|r| r.cidr.prefix_len() == 0) {
            match r.cidr {
                IpCidr::Ipv4(_) => v4 = true,
                IpCidr::Ipv6(_) => v6 = true,
            }
        }
    });
    l.has_default_v4 = v4;
    l.has_default_v6 = v6;
}

pub fn add_route(index: u32, dst: IpAddr, prefix: u8, gateway: IpAddr) -> Result<(), i32> {
    with_link(index, |l| {
        let route = Route {
            cidr: cidr(dst, prefix),
            via_router: IpAddress::from(gateway),
            preferred_until: None,
            expires_at: None,
        };
        let mut fits = true;
        l.iface.routes_mut().update(|table| {
            table.retain(|r| r.cidr != route.cidr);
            fits = table.push(route).is_ok();
        });
        flags_of_defaults(l);
        if fits {
            Ok(())
        } else {
            Err(libc::ENOSPC)
        }
    })?
}

/// Takes a gateway route out (nothing when the stack has no such link).
pub fn delete_route(index: u32, dst: IpAddr, prefix: u8, gateway: IpAddr) {
    let _ = with_link(index, |l| {
        let c = cidr(dst, prefix);
        let via = IpAddress::from(gateway);
        l.iface.routes_mut().update(|table| {
            table.retain(|r| !(r.cidr == c && r.via_router == via));
        });
        flags_of_defaults(l);
    });
}

/// Up/down and the MTU. A link that is down neither sends nor takes
/// frames (those that arrive are read and dropped), and Linux drops its
/// routes: the model does, and so does smoltcp's table here.
pub fn set_link(index: u32, up: Option<bool>, mtu: Option<u32>) -> Result<(), i32> {
    with_link(index, |l| {
        if let Some(m) = mtu {
            l.device.set_mtu(m as usize);
        }
        if let Some(up) = up {
            if !up && l.device.up {
                l.iface.routes_mut().update(|table| table.clear());
                flags_of_defaults(l);
            }
            l.device.up = up;
        }
    })
}
