//! A minimal rtnetlink client for the takeover (before the jail): dumps the
//! links, addresses and routes of the network namespace the Sentry is in,
//! and deletes addresses. Messages are built and parsed by hand: only the
//! few fields the takeover needs.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::net::iface::{Address, Route};
use crate::net::netlink::wire::{
    self, Builder, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};

const RTM_GETLINK: u16 = 18;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u32 = 254;
const RTN_UNICAST: u8 = 1;

/// A link of the namespace.
#[derive(Debug, Clone)]
pub struct HostLink {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub flags: u32,
    /// ARPHRD_* type.
    pub kind: u16,
}

/// An open NETLINK_ROUTE socket.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

fn ip_of(family: u8, raw: &[u8]) -> Option<IpAddr> {
    match (family as i32, raw.len()) {
        (libc::AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
        (libc::AF_INET6, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(raw);
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn u32_of(raw: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(raw.get(..4)?.try_into().ok()?))
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Rtnl { fd, seq: 1 })
    }

    /// Sends one request and collects the payloads of its answers of
    /// type `want` until DONE, or the ack for a non-dump.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8], want: u16) -> io::Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let seq = self.seq;
        let msg = Builder::new(ty, flags | NLM_F_REQUEST, seq, 0)
            .bytes(body)
            .finish();
        // SAFETY: sending our buffer on our socket (to the kernel: no address needed).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: receiving into our buffer of its stated length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let (msgs, bad) = wire::messages(&buf[..n as usize]);
            if let Some(e) = bad {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            for m in msgs.iter().filter(|m| m.header.seq == seq) {
                match m.header.ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = m
                            .payload()
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EIO);
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    t if t == want => out.push(m.payload().to_vec()),
                    _ => {}
                }
            }
        }
    }

    pub fn links(&mut self) -> io::Result<Vec<HostLink>> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let body = [0u8; 16];
        let msgs = self.request(RTM_GETLINK, NLM_F_DUMP, &body, RTM_NEWLINK)?;
        let mut out = Vec::new();
        for m in msgs {
            if m.len() < 16 {
                continue;
            }
            let kind = u16::from_ne_bytes([m[2], m[3]]);
            let index = u32::from_ne_bytes([m[4], m[5], m[6], m[7]]);
            let flags = u32::from_ne_bytes([m[8], m[9], m[10], m[11]]);
            let mut link = HostLink {
                index,
                name: String::new(),
                mac: [0; 6],
                mtu: 1500,
                flags,
                kind,
            };
            for (k, v) in wire::attributes(&m[16..]) {
                match k {
                    IFLA_IFNAME => {
                        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                        link.name = String::from_utf8_lossy(&v[..end]).into_owned();
                    }
                    IFLA_ADDRESS if v.len() == 6 => link.mac.copy_from_slice(v),
                    IFLA_MTU => link.mtu = u32_of(v).unwrap_or(1500),
                    _ => {}
                }
            }
            out.push(link);
        }
        Ok(out)
    }

    pub fn addresses(&mut self) -> io::Result<Vec<Address>> {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        let body = [0u8; 8];
        let msgs = self.request(RTM_GETADDR, NLM_F_DUMP, &body, RTM_NEWADDR)?;
        let mut out = Vec::new();
        for m in msgs {
            if m.len() < 8 {
                continue;
            }
            let family = m[0];
            let prefix = m[1];
            let index = u32::from_ne_bytes([m[4], m[5], m[6], m[7]]);
            let mut local = None;
            let mut address = None;
            for (k, v) in wire::attributes(&m[8..]) {
                match k {
                    IFA_LOCAL => local = ip_of(family, v),
                    IFA_ADDRESS => address = ip_of(family, v),
                    _ => {}
                }
            }
            // IFA_LOCAL is the interface's own address on point-to-point
            // links; elsewhere only IFA_ADDRESS is given.
            if let Some(ip) = local.or(address) {
                out.push(Address { index, ip, prefix });
            }
        }
        Ok(out)
    }

    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let mut out = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
            let mut body = [0u8; 12];
            body[0] = family;
            let msgs = self.request(RTM_GETROUTE, NLM_F_DUMP, &body, RTM_NEWROUTE)?;
            for m in msgs {
                if m.len() < 12 || m[0] != family || m[7] != RTN_UNICAST {
                    continue;
                }
                let mut table = m[4] as u32;
                let mut route = Route {
                    dst: if family as i32 == libc::AF_INET {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                    },
                    prefix: m[1],
                    gateway: None,
                    index: 0,
                    source: None,
                };
                for (k, v) in wire::attributes(&m[12..]) {
                    match k {
                        RTA_DST => route.dst = ip_of(family, v).unwrap_or(route.dst),
                        RTA_GATEWAY => route.gateway = ip_of(family, v),
                        RTA_OIF => route.index = u32_of(v).unwrap_or(0),
                        RTA_PREFSRC => route.source = ip_of(family, v),
                        RTA_TABLE => table = u32_of(v).unwrap_or(table),
                        _ => {}
                    }
                }
                if table == RT_TABLE_MAIN {
                    out.push(route);
                }
            }
        }
        Ok(out)
    }

    /// Removes `addr` from its interface, so the host kernel of this
    /// namespace no longer answers for it.
    pub fn delete_address(&mut self, addr: &Address) -> io::Result<()> {
        let (family, raw) = match addr.ip {
            IpAddr::V4(v4) => (libc::AF_INET as u8, v4.octets().to_vec()),
            IpAddr::V6(v6) => (libc::AF_INET6 as u8, v6.octets().to_vec()),
        };
        let mut fixed = vec![family, addr.prefix, 0, 0];
        fixed.extend_from_slice(&addr.index.to_ne_bytes());
        // The attributes follow the fixed part: build them as a message
        // body (Builder pads each).
        let attrs = Builder::new(0, 0, 0, 0)
            .attr(IFA_LOCAL, &raw)
            .attr(IFA_ADDRESS, &raw)
            .finish();
        fixed.extend_from_slice(&attrs[wire::HDRLEN..]);
        self.request(RTM_DELADDR, NLM_F_ACK, &fixed, 0).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_of_both_families() {
        assert_eq!(
            ip_of(libc::AF_INET as u8, &[10, 0, 0, 2]),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert_eq!(ip_of(libc::AF_INET as u8, &[10, 0]), None);
        assert_eq!(
            ip_of(libc::AF_INET6 as u8, &[0; 16]),
            Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(u32_of(&[1, 0]), None);
    }
}
