//! rtnetlink requests that change the network (`ip addr add`, `ip link
//! set up`, `ip route add`), parsed into [`Change`]s for `net::ifconfig`
//! to apply to the Sentry's own model and stack. The caller has checked
//! CAP_NET_ADMIN. What the Sentry cannot do (create or delete devices,
//! neighbour entries, other routing tables, routes without a gateway) is
//! refused with EOPNOTSUPP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    AF_INET, AF_INET6, IFA_ADDRESS, IFA_LOCAL, IFLA_IFNAME, IFLA_MTU, RTA_DST, RTA_GATEWAY,
    RTA_OIF, RTA_TABLE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTN_UNICAST, RT_TABLE_MAIN,
};
use crate::net::iface;
use crate::net::ifconfig::Change;
use crate::net::netlink::wire::{attributes, Message};

const RTM_DELLINK: u16 = 17;
const RTM_SETLINK: u16 = 19;
const RTM_DELADDR: u16 = 21;
const RTM_DELROUTE: u16 = 25;

const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ip_of(family: u8, v: &[u8]) -> Result<IpAddr, i32> {
    match (family, v.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        (AF_INET6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(v);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        (AF_INET | AF_INET6, _) => Err(libc::EINVAL),
        _ => Err(libc::EAFNOSUPPORT),
    }
}

fn max_prefix(family: u8) -> u8 {
    if family == AF_INET {
        32
    } else {
        128
    }
}

/// The change a request asks for, or the errno its answer carries.
pub fn parse(msg: &Message) -> Result<Change, i32> {
    let h = msg.header;
    let p = msg.payload();
    let exclusive = h.flags & NLM_F_EXCL != 0;
    match h.ty {
        RTM_NEWLINK | RTM_SETLINK => link(p, h.ty == RTM_NEWLINK && h.flags & NLM_F_CREATE != 0),
        RTM_NEWADDR | RTM_DELADDR => address(p, h.ty == RTM_NEWADDR, exclusive),
        RTM_NEWROUTE | RTM_DELROUTE => route(
            p,
            h.ty == RTM_NEWROUTE,
            exclusive,
            h.flags & NLM_F_REPLACE != 0,
        ),
        // Deleting a device, and every other object (neighbours, rules,
        // qdiscs, ...): the Sentry's network is not built from them.
        RTM_DELLINK => Err(libc::EOPNOTSUPP),
        _ => Err(libc::EOPNOTSUPP),
    }
}

/// struct ifinfomsg: family, pad, type (u16), index (i32), flags, change.
fn link(p: &[u8], create: bool) -> Result<Change, i32> {
    if p.len() < 16 {
        return Err(libc::EINVAL);
    }
    let mut index = u32_at(p, 4).ok_or(libc::EINVAL)?;
    let flags = u32_at(p, 8).ok_or(libc::EINVAL)?;
    let change = u32_at(p, 12).ok_or(libc::EINVAL)?;
    let mut mtu = None;
    for (ty, v) in attributes(&p[16..]) {
        match ty {
            IFLA_MTU => mtu = Some(u32_at(v, 0).ok_or(libc::EINVAL)?),
            IFLA_IFNAME if index == 0 => {
                let name = String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or(&[]))
                    .into_owned();
                match iface::link_by_name(&name) {
                    Some(l) => index = l.index,
                    // `ip link add`: the Sentry makes no devices.
                    None if create => return Err(libc::EOPNOTSUPP),
                    None => return Err(libc::ENODEV),
                }
            }
            _ => {}
        }
    }
    if index == 0 {
        return Err(libc::EINVAL);
    }
    // rtnl_dev_combine_flags: a zero change mask means every bit.
    let up = if change == 0 && flags == 0 {
        None
    } else {
        let mask = if change == 0 { u32::MAX } else { change };
        (mask & libc::IFF_UP as u32 != 0).then_some(flags & libc::IFF_UP as u32 != 0)
    };
    Ok(Change::SetLink { index, up, mtu })
}

/// struct ifaddrmsg: family, prefix length, flags, scope, index (u32).
fn address(p: &[u8], add: bool, exclusive: bool) -> Result<Change, i32> {
    if p.len() < 8 {
        return Err(libc::EINVAL);
    }
    let family = p[0];
    let prefix = p[1];
    let index = u32_at(p, 4).ok_or(libc::EINVAL)?;
    let (mut local, mut address) = (None, None);
    for (ty, v) in attributes(&p[8..]) {
        match ty {
            IFA_LOCAL => local = Some(ip_of(family, v)?),
            IFA_ADDRESS => address = Some(ip_of(family, v)?),
            _ => {}
        }
    }
    if family != AF_INET && family != AF_INET6 {
        return Err(libc::EAFNOSUPPORT);
    }
    if prefix > max_prefix(family) {
        return Err(libc::EINVAL);
    }
    let ip = local.or(address);
    if add {
        let ip = ip.ok_or(libc::EINVAL)?;
        Ok(Change::AddAddress {
            index,
            ip,
            prefix,
            exclusive,
        })
    } else {
        Ok(Change::DeleteAddress { index, ip, prefix })
    }
}

/// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
/// type, flags (u32).
fn route(p: &[u8], add: bool, exclusive: bool, replace: bool) -> Result<Change, i32> {
    if p.len() < 12 {
        return Err(libc::EINVAL);
    }
    let family = p[0];
    if family != AF_INET && family != AF_INET6 {
        return Err(libc::EAFNOSUPPORT);
    }
    let prefix = p[1];
    if prefix > max_prefix(family) {
        return Err(libc::EINVAL);
    }
    let mut table = u32::from(p[4]);
    let rtype = p[7];
    let (mut dst, mut gateway, mut oif) = (None, None, None);
    for (ty, v) in attributes(&p[12..]) {
        match ty {
            RTA_DST => dst = Some(ip_of(family, v)?),
            RTA_GATEWAY => gateway = Some(ip_of(family, v)?),
            RTA_OIF => oif = Some(u32_at(v, 0).ok_or(libc::EINVAL)?),
            RTA_TABLE => table = u32_at(v, 0).ok_or(libc::EINVAL)?,
            _ => {}
        }
    }
    // Only the main table is the Sentry's (0 on a delete: any table).
    let any_table = table == 0 && !add;
    if table != u32::from(RT_TABLE_MAIN) && !any_table {
        return Err(libc::EOPNOTSUPP);
    }
    if add && rtype != RTN_UNICAST {
        return Err(libc::EOPNOTSUPP);
    }
    let unspecified = if family == AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let dst = dst.unwrap_or(unspecified);
    if add {
        Ok(Change::AddRoute {
            dst,
            prefix,
            gateway: gateway.ok_or(libc::EOPNOTSUPP)?,
            index: oif,
            exclusive,
            replace,
        })
    } else {
        Ok(Change::DeleteRoute {
            dst,
            prefix,
            gateway,
            index: oif,
        })
    }
}
