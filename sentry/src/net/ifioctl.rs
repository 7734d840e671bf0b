//! The interface ioctls of sockets (SIOCGIFCONF, SIOCGIFFLAGS, ... of
//! netdevice(7)), answered from the interface model (`net::iface`).
//!
//! As on Linux, the device ioctls (flags, index, name, MAC, MTU, the
//! address list) work on a socket of any family, while the IPv4 address
//! ones (SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFDSTADDR) are
//! AF_INET's own (devinet_ioctl) and give ENOTTY elsewhere. Changes need
//! CAP_NET_ADMIN and are then refused: the model is the stack's.

use std::net::{IpAddr, Ipv4Addr};

use super::iface::{self, Address, Link};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;

const SIOCGIFNAME: u64 = 0x8910;
const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCGIFDSTADDR: u64 = 0x8917;
const SIOCGIFBRDADDR: u64 = 0x8919;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCGIFMETRIC: u64 = 0x891d;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCGIFTXQLEN: u64 = 0x8942;
const SIOCGIFMAP: u64 = 0x8970;
/// The changing ioctls: routes, flags, addresses, MTU, name, MAC, queue, map.
const SETTERS: &[u64] = &[
    0x890b, 0x890c, 0x8914, 0x8916, 0x8918, 0x891a, 0x891c, 0x891e, 0x8922, 0x8923, 0x8924, 0x8936,
    0x8943, 0x8971,
];

/// sizeof(struct ifreq): a 16-byte name and a 24-byte union.
pub const IFREQ_LEN: usize = 40;
const IFNAMSIZ: usize = 16;

/// Answers `req` if it is an interface ioctl (None: it is not one).
/// `inet4`: the socket is AF_INET, which alone has the address ioctls.
pub fn ioctl(t: &mut Task, req: u64, arg: u64, inet4: bool) -> Option<SysResult<u64>> {
    let inet_only = [SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK];
    let device = [
        SIOCGIFNAME,
        SIOCGIFFLAGS,
        SIOCGIFMETRIC,
        SIOCGIFMTU,
        SIOCGIFHWADDR,
        SIOCGIFINDEX,
        SIOCGIFTXQLEN,
        SIOCGIFMAP,
    ];
    if req == SIOCGIFCONF {
        return Some(ifconf(t, arg));
    }
    if SETTERS.contains(&req) {
        let admin = lock(&t.proc.state)
            .creds
            .has(crate::kernel::caps::NET_ADMIN);
        if !admin {
            return Some(err(libc::EPERM));
        }
        return Some(set(t, req, arg));
    }
    if inet_only.contains(&req) && !inet4 {
        return Some(err(libc::ENOTTY));
    }
    if !inet_only.contains(&req) && !device.contains(&req) {
        return None;
    }
    Some((|| {
        let mut ifr = [0u8; IFREQ_LEN];
        t.mm.read(arg, &mut ifr)?;
        answer(req, &mut ifr)?;
        t.mm.write(arg, &ifr)?;
        Ok(0)
    })())
}

/// SIOCSIFFLAGS (only IFF_UP means something to the Sentry) and
/// SIOCSIFMTU, as busybox's `ip link set` and `ifconfig` make them, go
/// where rtnetlink's RTM_NEWLINK goes (`net::ifconfig`); the other
/// setters (addresses through ioctls, hardware address, ...) are refused.
fn set(t: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
    const SIOCSIFFLAGS: u64 = 0x8914;
    const SIOCSIFMTU: u64 = 0x8922;
    let mut ifr = [0u8; IFREQ_LEN];
    t.mm.read(arg, &mut ifr)?;
    let (link, _) = named(&ifr)?;
    let u = &ifr[IFNAMSIZ..];
    let change = match req {
        SIOCSIFFLAGS => {
            let flags = i16::from_ne_bytes([u[0], u[1]]) as u16 as u32;
            crate::net::ifconfig::Change::SetLink {
                index: link.index,
                up: Some(flags & libc::IFF_UP as u32 != 0),
                mtu: None,
            }
        }
        SIOCSIFMTU => {
            let mtu = i32::from_ne_bytes([u[0], u[1], u[2], u[3]]);
            crate::net::ifconfig::Change::SetLink {
                index: link.index,
                up: None,
                mtu: Some(u32::try_from(mtu).map_err(|_| Errno(libc::EINVAL))?),
            }
        }
        _ => return err(libc::EOPNOTSUPP),
    };
    crate::net::ifconfig::apply(change).map_err(Errno)?;
    Ok(0)
}

/// The interface `ifr_name` names. An alias ("eth0:1") names its device,
/// as Linux strips the label before looking it up.
fn named(ifr: &[u8; IFREQ_LEN]) -> SysResult<(Link, bool)> {
    let raw = &ifr[..IFNAMSIZ - 1];
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    let name = String::from_utf8_lossy(&raw[..end]);
    let (base, alias) = match name.split_once(':') {
        Some((b, _)) => (b, true),
        None => (&*name, false),
    };
    iface::link_by_name(base)
        .map(|l| (l, alias))
        .ok_or(Errno(libc::ENODEV))
}

/// `struct sockaddr_in` for `ip` (port 0).
fn sockaddr_in(ip: Ipv4Addr) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    s[4..8].copy_from_slice(&ip.octets());
    s
}

/// The first IPv4 address of `link`.
fn first_v4(link: &Link) -> Option<(Address, Ipv4Addr)> {
    iface::addresses().into_iter().find_map(|a| match a.ip {
        IpAddr::V4(v4) if a.index == link.index => Some((a, v4)),
        _ => None,
    })
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0))
}

/// Fills in the answer to `req` in `ifr`.
fn answer(req: u64, ifr: &mut [u8; IFREQ_LEN]) -> SysResult<()> {
    if req == SIOCGIFNAME {
        let index = i32::from_ne_bytes([ifr[16], ifr[17], ifr[18], ifr[19]]);
        let l = u32::try_from(index)
            .ok()
            .and_then(iface::link)
            .ok_or(Errno(libc::ENODEV))?;
        ifr[..IFNAMSIZ].fill(0);
        let n = l.name.len().min(IFNAMSIZ - 1);
        ifr[..n].copy_from_slice(&l.name.as_bytes()[..n]);
        return Ok(());
    }
    let (link, alias) = named(ifr)?;
    let u = &mut ifr[IFNAMSIZ..];
    let put_i32 = |u: &mut [u8], v: i32| u[..4].copy_from_slice(&v.to_ne_bytes());
    match req {
        SIOCGIFFLAGS => {
            // ifr_flags is a short: the bits above 0xffff are cut off.
            u[..2].copy_from_slice(&(link.flags as u16).to_ne_bytes());
        }
        SIOCGIFINDEX => put_i32(u, link.index as i32),
        SIOCGIFMTU => put_i32(u, link.mtu as i32),
        SIOCGIFMETRIC => put_i32(u, 0),
        SIOCGIFTXQLEN => put_i32(u, super::netlink::route::TXQLEN as i32),
        SIOCGIFMAP => u.fill(0),
        SIOCGIFHWADDR => {
            u.fill(0);
            let hw = super::netlink::route::hw_type(&link);
            u[..2].copy_from_slice(&hw.to_ne_bytes());
            u[2..8].copy_from_slice(&link.mac);
        }
        _ => {
            // The address ioctls: aliases carry no addresses of their own here.
            let (a, v4) =
                if alias { None } else { first_v4(&link) }.ok_or(Errno(libc::EADDRNOTAVAIL))?;
            let ip = match req {
                SIOCGIFADDR => v4,
                SIOCGIFNETMASK => netmask(a.prefix),
                SIOCGIFBRDADDR => super::netlink::route::shown_broadcast(&a, Some(&link))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                // The peer of a point-to-point link: none are.
                _ => Ipv4Addr::UNSPECIFIED,
            };
            u[..16].copy_from_slice(&sockaddr_in(ip));
        }
    }
    Ok(())
}

/// The `struct ifreq`s SIOCGIFCONF lists: one per IPv4 address.
pub fn conf_entries() -> Vec<[u8; IFREQ_LEN]> {
    let links = iface::links();
    let mut out = Vec::new();
    for l in &links {
        for a in iface::addresses() {
            if let (IpAddr::V4(v4), true) = (a.ip, a.index == l.index) {
                let mut r = [0u8; IFREQ_LEN];
                let n = l.name.len().min(IFNAMSIZ - 1);
                r[..n].copy_from_slice(&l.name.as_bytes()[..n]);
                r[IFNAMSIZ..IFNAMSIZ + 16].copy_from_slice(&sockaddr_in(v4));
                out.push(r);
            }
        }
    }
    out
}

/// SIOCGIFCONF: with a null buffer, the length all entries need; else
/// as many whole entries as fit, and the length used.
fn ifconf(t: &mut Task, arg: u64) -> SysResult<u64> {
    let len: i32 = t.mm.read_obj(arg)?;
    let buf: u64 = t.mm.read_obj(arg + 8)?;
    let entries = conf_entries();
    let used = if buf == 0 {
        entries.len() * IFREQ_LEN
    } else {
        let room = usize::try_from(len).unwrap_or(0) / IFREQ_LEN;
        let n = room.min(entries.len());
        let bytes: Vec<u8> = entries[..n].iter().flatten().copied().collect();
        t.mm.write(buf, &bytes)?;
        bytes.len()
    };
    t.mm.write_obj(arg, &(used as i32))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifr(name: &str) -> [u8; IFREQ_LEN] {
        let mut r = [0u8; IFREQ_LEN];
        r[..name.len()].copy_from_slice(name.as_bytes());
        r
    }

    #[test]
    fn loopback_answers() {
        let mut r = ifr("lo");
        answer(SIOCGIFINDEX, &mut r).expect("index");
        assert_eq!(i32::from_ne_bytes(r[16..20].try_into().expect("4")), 1);
        let mut r = ifr("lo");
        answer(SIOCGIFFLAGS, &mut r).expect("flags");
        let flags = u16::from_ne_bytes([r[16], r[17]]) as i32;
        assert_eq!(flags, libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING);
        let mut r = ifr("lo");
        answer(SIOCGIFADDR, &mut r).expect("addr");
        assert_eq!(&r[20..24], &[127, 0, 0, 1]);
        assert_eq!(u16::from_ne_bytes([r[16], r[17]]), libc::AF_INET as u16);
        let mut r = ifr("lo");
        answer(SIOCGIFNETMASK, &mut r).expect("netmask");
        assert_eq!(&r[20..24], &[255, 0, 0, 0]);
        let mut r = ifr("lo");
        answer(SIOCGIFHWADDR, &mut r).expect("hwaddr");
        assert_eq!(u16::from_ne_bytes([r[16], r[17]]), 772);
        let mut r = ifr("lo");
        answer(SIOCGIFMTU, &mut r).expect("mtu");
        assert_eq!(i32::from_ne_bytes(r[16..20].try_into().expect("4")), 65536);
    }

    #[test]
    fn names_and_indexes() {
        let mut r = [0u8; IFREQ_LEN];
        r[16..20].copy_from_slice(&1i32.to_ne_bytes());
        answer(SIOCGIFNAME, &mut r).expect("name");
        assert_eq!(&r[..3], b"lo\0");
        r[16..20].copy_from_slice(&999i32.to_ne_bytes());
        assert_eq!(answer(SIOCGIFNAME, &mut r), Err(Errno(libc::ENODEV)));
        let mut r = ifr("nosuch0");
        assert_eq!(answer(SIOCGIFFLAGS, &mut r), Err(Errno(libc::ENODEV)));
        let mut r = ifr("lo:1");
        answer(SIOCGIFINDEX, &mut r).expect("an alias names its device");
        let mut r = ifr("lo:1");
        assert_eq!(answer(SIOCGIFADDR, &mut r), Err(Errno(libc::EADDRNOTAVAIL)));
    }

    #[test]
    fn ifconf_lists_loopback_first() {
        let e = conf_entries();
        assert!(!e.is_empty());
        assert_eq!(&e[0][..3], b"lo\0");
        assert_eq!(&e[0][20..24], &[127, 0, 0, 1]);
    }
}
