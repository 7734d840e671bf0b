//! Internet addresses (`sockaddr_in`, `sockaddr_in6`). Traffic between the
//! sandbox's own addresses (loopback, and its interfaces' addresses) is
//! carried by the same in-Sentry socket core as Unix sockets; the rest goes
//! through the TCP/IP stack (`net::stack`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::iface;
use crate::errno::{err, SysResult};

const SOCKADDR_IN_LEN: usize = 16;
const SOCKADDR_IN6_LEN: usize = 28;
/// Linux accepts the older, scope-less sockaddr_in6 (RFC 2133).
const SOCKADDR_IN6_MIN: usize = 24;

/// Parses a `sockaddr_in` (v6 false) or `sockaddr_in6`. AF_UNSPEC is taken
/// as the socket's own family, as Linux does for bind(INADDR_ANY).
pub fn parse(raw: &[u8], v6: bool) -> SysResult<SocketAddr> {
    if raw.len() < 2 {
        return err(libc::EINVAL);
    }
    // The length is checked before the family, as Linux does (a
    // sockaddr_in given to an IPv6 socket is EINVAL, not EAFNOSUPPORT).
    if raw.len()
        < if v6 {
            SOCKADDR_IN6_MIN
        } else {
            SOCKADDR_IN_LEN
        }
    {
        return err(libc::EINVAL);
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]) as i32;
    let want = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    if family != want && family != libc::AF_UNSPEC {
        return err(libc::EAFNOSUPPORT);
    }
    if !v6 {
        let port = u16::from_be_bytes([raw[2], raw[3]]);
        let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
        return Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)));
    }
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let flow = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&raw[8..24]);
    let scope = raw
        .get(24..28)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0);
    Ok(SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::from(ip),
        port,
        flow,
        scope,
    )))
}

/// The `sockaddr_in`/`sockaddr_in6` bytes of `addr`.
pub fn encode(addr: &SocketAddr) -> Vec<u8> {
    match addr {
        SocketAddr::V4(a) => {
            let mut out = Vec::with_capacity(SOCKADDR_IN_LEN);
            out.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.resize(SOCKADDR_IN_LEN, 0);
            out
        }
        SocketAddr::V6(a) => {
            let mut out = Vec::with_capacity(SOCKADDR_IN6_LEN);
            out.extend_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.flowinfo().to_be_bytes());
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.scope_id().to_ne_bytes());
            out
        }
    }
}

/// Whether `ip` is an address of the sandbox: loopback, "any", or an
/// address of one of its interfaces (traffic to those stays inside the
/// Sentry, as Linux routes it through loopback).
pub fn is_local(ip: &IpAddr) -> bool {
    let own = |v4: Ipv4Addr| {
        v4.is_loopback() || v4.is_unspecified() || iface::is_own_address(&IpAddr::V4(v4))
    };
    match ip {
        IpAddr::V4(v4) => own(*v4),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || iface::is_own_address(ip)
                || v6.to_ipv4_mapped().is_some_and(own)
        }
    }
}

/// Whether `ip` is a real IPv6 address (not v4-mapped).
pub fn is_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none())
}

/// Whether `ip` is loopback (v4, v6 or v4-mapped): never on the stack.
pub fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The address a connection to `ip` arrives at: "any" means loopback.
pub fn arrival(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// The unbound address of a socket of the family.
pub fn unspecified(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families() {
        for a in [
            "127.0.0.1:8080".parse::<SocketAddr>(),
            "[::1]:443".parse::<SocketAddr>(),
        ] {
            let a = a.expect("address");
            let raw = encode(&a);
            assert_eq!(parse(&raw, a.is_ipv6()).ok(), Some(a));
        }
    }

    #[test]
    fn refuses_short_or_foreign_addresses() {
        assert!(parse(&[2, 0, 0], false).is_err());
        let v6 = encode(&"[::1]:1".parse().expect("address"));
        assert!(parse(&v6, false).is_err());
    }

    #[test]
    fn only_loopback_is_local() {
        assert!(is_local(&"127.0.0.5".parse().expect("ip")));
        assert!(is_local(&"::".parse().expect("ip")));
        assert!(!is_local(&"10.0.0.1".parse().expect("ip")));
    }
}
