//! The IP-level control messages a datagram socket receives when it asks
//! for them (ip(7), ipv6(7)): IP_PKTINFO, IP_TTL (IP_RECVTTL) and IP_TOS
//! (IP_RECVTOS) for IPv4; IPV6_PKTINFO (IPV6_RECVPKTINFO), IPV6_HOPLIMIT
//! (IPV6_RECVHOPLIMIT) and IPV6_TCLASS (IPV6_RECVTCLASS) for IPv6.
//!
//! A datagram over loopback carries the TTL or hop limit and the TOS or
//! traffic class its sender's options gave it (nothing decrements them on
//! loopback). A datagram from the stack carries its destination address
//! and link; smoltcp does not hand a UDP socket the IP header's TTL, hop
//! limit or class, so those messages are not given for it (never made up;
//! docs/compatibility.md says so).

use std::net::IpAddr;

use super::{Family, Inner, Socket};
use crate::kernel::process::lock;
use crate::net::iface::LOOPBACK_INDEX;

const CMSG_HDR: usize = 16;

fn align(n: usize) -> usize {
    (n + 7) & !7
}

/// What IP said of a received datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// Carried by IPv6 (else IPv4).
    pub v6: bool,
    /// The TTL or hop limit and the TOS or traffic class in its header
    /// (None when not known).
    pub hops: Option<u8>,
    pub class: Option<u8>,
    /// The address it was sent to and the interface it came in by (None:
    /// loopback, to the receiver's own address).
    pub to: Option<IpAddr>,
    pub ifindex: Option<u32>,
}

fn remembered(i: &Inner, level: i32, name: i32, default: i32) -> i32 {
    i.remembered.get(&(level, name)).copied().unwrap_or(default)
}

/// What a loopback datagram leaving a socket with `i`'s options carries;
/// `v6` when it goes as IPv6.
pub(super) fn departure(i: &Inner, v6: bool) -> Arrival {
    let (hops, class) = if v6 {
        (
            remembered(i, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 64),
            remembered(i, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0),
        )
    } else {
        (
            remembered(i, libc::IPPROTO_IP, libc::IP_TTL, 64),
            remembered(i, libc::IPPROTO_IP, libc::IP_TOS, 0),
        )
    };
    Arrival {
        v6,
        // Linux keeps the low byte of both.
        hops: Some(hops as u8),
        class: Some(class as u8),
        to: None,
        ifindex: None,
    }
}

/// Appends one control message to `out` within `room` bytes, as Linux's
/// put_cmsg: cut short when only part of it fits (MSG_CTRUNC), left out
/// when not even its header does. Returns whether it was cut.
pub fn put_cmsg(out: &mut Vec<u8>, room: usize, level: i32, kind: i32, data: &[u8]) -> bool {
    let left = room.saturating_sub(out.len());
    if left < CMSG_HDR {
        return true;
    }
    let full = CMSG_HDR + data.len();
    let len = full.min(left);
    out.extend_from_slice(&(len as u64).to_ne_bytes());
    out.extend_from_slice(&level.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&data[..len - CMSG_HDR]);
    let end = out.len() - len + align(full).min(left);
    out.resize(end, 0);
    len < full
}

impl Socket {
    fn flag(i: &Inner, level: i32, name: i32) -> bool {
        remembered(i, level, name, 0) != 0
    }

    /// The IP-level control messages for a datagram that arrived as
    /// `arrival`, appended to `out` within `room` bytes; true when one
    /// was cut (MSG_CTRUNC).
    pub fn ip_control(&self, arrival: &Arrival, out: &mut Vec<u8>, room: usize) -> bool {
        if !self.is_inet() {
            return false;
        }
        let local = match self.local_addr() {
            super::SockAddr::Inet(a) => Some(a.ip()),
            _ => None,
        };
        let i = lock(&self.inner);
        let ifindex = arrival.ifindex.unwrap_or(LOOPBACK_INDEX) as i32;
        // Where it arrived: the header's destination, or on loopback the
        // receiver's address ("any" means loopback's).
        let to = arrival.to.or(local).map(|ip| {
            let ip = crate::net::inet::arrival(ip).to_canonical();
            match (ip, arrival.v6) {
                // A socket bound to "::" receiving IPv4 over loopback.
                (IpAddr::V6(v6), false) if v6.is_loopback() => {
                    IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
                }
                (other, _) => other,
            }
        });
        let mut cut = false;
        if self.family == Family::Inet6
            && Self::flag(&i, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
        {
            if let Some(ip) = to {
                let v6 = match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                let mut d = v6.octets().to_vec();
                d.extend_from_slice(&ifindex.to_ne_bytes());
                cut |= put_cmsg(out, room, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &d);
            }
        }
        if arrival.v6 {
            if Self::flag(&i, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT) {
                if let Some(h) = arrival.hops {
                    let d = i32::from(h).to_ne_bytes();
                    cut |= put_cmsg(out, room, libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &d);
                }
            }
            if Self::flag(&i, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS) {
                if let Some(c) = arrival.class {
                    let d = i32::from(c).to_ne_bytes();
                    cut |= put_cmsg(out, room, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &d);
                }
            }
            return cut;
        }
        if Self::flag(&i, libc::IPPROTO_IP, libc::IP_PKTINFO) {
            if let Some(IpAddr::V4(ip)) = to {
                let mut d = ifindex.to_ne_bytes().to_vec();
                d.extend_from_slice(&ip.octets());
                d.extend_from_slice(&ip.octets());
                cut |= put_cmsg(out, room, libc::IPPROTO_IP, libc::IP_PKTINFO, &d);
            }
        }
        if Self::flag(&i, libc::IPPROTO_IP, libc::IP_RECVTTL) {
            if let Some(h) = arrival.hops {
                let d = i32::from(h).to_ne_bytes();
                cut |= put_cmsg(out, room, libc::IPPROTO_IP, libc::IP_TTL, &d);
            }
        }
        if Self::flag(&i, libc::IPPROTO_IP, libc::IP_RECVTOS) {
            if let Some(c) = arrival.class {
                cut |= put_cmsg(out, room, libc::IPPROTO_IP, libc::IP_TOS, &[c]);
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmsg_is_aligned_cut_or_left_out() {
        let mut out = Vec::new();
        assert!(!put_cmsg(&mut out, 64, 0, 2, &[7, 0, 0, 0]));
        assert_eq!(out.len(), 24);
        assert_eq!(u64::from_ne_bytes(out[..8].try_into().expect("8")), 20);
        // 4 bytes left: not even a header.
        assert!(put_cmsg(&mut out, 28, 0, 1, &[1]));
        assert_eq!(out.len(), 24);
        // Room for the header and part of the data.
        let mut out = Vec::new();
        assert!(put_cmsg(&mut out, 18, 41, 50, &[0; 20]));
        assert_eq!(out.len(), 18);
        assert_eq!(u64::from_ne_bytes(out[..8].try_into().expect("8")), 18);
    }
}
