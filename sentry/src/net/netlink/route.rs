//! NETLINK_ROUTE: the RTM_* requests and the messages that answer them,
//! rendered from the interface model (`net::iface`). Dumps of links,
//! addresses, routes and neighbours and the single-object GETs (`ip link
//! show dev X`, `ip route get A`) are answered; changes need CAP_NET_ADMIN
//! and are applied to the Sentry's model and stack (`change`,
//! `net::ifconfig`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::{attributes, Builder, Message};
use crate::net::iface::{self, Address, CounterValues, Link, Neighbour};

// Message types (linux/rtnetlink.h).
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_GETNEIGH: u16 = 30;
/// The highest rtnetlink message type Linux 6.1 knows.
const RTM_MAX: u16 = 123;

// struct ifinfomsg attributes.
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_STATS: u16 = 7;
const IFLA_TXQLEN: u16 = 13;
const IFLA_MAP: u16 = 14;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_STATS64: u16 = 23;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_PROTO_DOWN: u16 = 39;
const IFLA_GSO_MAX_SEGS: u16 = 40;
const IFLA_GSO_MAX_SIZE: u16 = 41;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
const IFLA_ALT_IFNAME: u16 = 53;

// struct ifaddrmsg attributes and flags.
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;

// struct rtmsg attributes and values.
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_CACHEINFO: u16 = 12;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;
const RTA_UID: u16 = 25;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_HOST: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
const RTM_F_CLONED: u32 = 0x200;

// struct ndmsg attributes and states.
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_CACHEINFO: u16 = 3;
const NDA_PROBES: u16 = 4;
const NUD_REACHABLE: u16 = 0x02;

const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;
const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_DOWN: u8 = 2;
const IF_OPER_UP: u8 = 6;
/// The transmit queue length Linux gives loopback and veth devices.
pub const TXQLEN: u32 = 1000;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

/// What a request is answered with (besides the ack NLM_F_ACK asks for).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The messages of a dump; the caller sends them with NLMSG_DONE and
    /// no ack, as Linux does once a dump has started.
    Dump(Vec<Vec<u8>>),
    /// One message (a GET of one object), then the ack if asked for.
    Reply(Vec<u8>),
    /// Nothing but the ack (a message too short to carry a family).
    Nothing,
}

/// Who is asking, as the answer depends on it.
#[derive(Clone, Copy, Debug)]
pub struct Asker {
    /// The socket's port id: replies carry it in nlmsg_pid.
    pub portid: u32,
    /// CAP_NET_ADMIN: changes are refused with EPERM without it.
    pub net_admin: bool,
    /// NETLINK_GET_STRICT_CHK: dumps honour the filters in the request.
    pub strict: bool,
}

/// Answers one rtnetlink request, or gives the errno its NLMSG_ERROR
/// carries. Follows rtnetlink_rcv_msg's order of checks.
pub fn handle(msg: &Message, who: Asker) -> Result<Answer, i32> {
    let h = msg.header;
    if h.ty > RTM_MAX {
        return Err(libc::EOPNOTSUPP);
    }
    let payload = msg.payload();
    // Every rtnetlink message carries at least a family byte.
    let Some(&family) = payload.first() else {
        return Ok(Answer::Nothing);
    };
    let kind = h.ty.wrapping_sub(RTM_NEWLINK) & 3;
    const GET: u16 = 2;
    if kind != GET {
        if !who.net_admin {
            return Err(libc::EPERM);
        }
        let c = change::parse(msg)?;
        return crate::net::ifconfig::apply(c).map(|_| Answer::Nothing);
    }
    let seq = h.seq;
    if h.flags & super::wire::NLM_F_DUMP == super::wire::NLM_F_DUMP {
        let r = Reply {
            seq,
            portid: who.portid,
            flags: super::wire::NLM_F_MULTI,
        };
        return match h.ty {
            RTM_GETLINK => Ok(Answer::Dump(
                iface::links().iter().map(|l| link_message(l, r)).collect(),
            )),
            RTM_GETADDR => Ok(Answer::Dump(dump_addresses(payload, family, who, r))),
            RTM_GETROUTE => Ok(Answer::Dump(dump_routes(payload, family, who, r))),
            RTM_GETNEIGH => Ok(Answer::Dump(dump_neighbours(payload, family, who, r))),
            _ => Err(libc::EOPNOTSUPP),
        };
    }
    let r = Reply {
        seq,
        portid: who.portid,
        flags: 0,
    };
    match h.ty {
        RTM_GETLINK => get_link(payload, r).map(Answer::Reply),
        RTM_GETROUTE => get_route(payload, family, r).map(Answer::Reply),
        _ => Err(libc::EOPNOTSUPP),
    }
}

/// The header fields every answer to one request shares.
#[derive(Clone, Copy, Debug)]
struct Reply {
    seq: u32,
    portid: u32,
    flags: u16,
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// Whether `ip` belongs to a dump asked for `family` (anything but
/// AF_INET and AF_INET6 dumps every family, as rtnl_dump_all does).
fn wanted(family: u8, ip: &IpAddr) -> bool {
    family != AF_INET && family != AF_INET6 || family == family_of(ip)
}

/// ARPHRD_* for a link.
pub fn hw_type(l: &Link) -> u16 {
    if l.loopback {
        ARPHRD_LOOPBACK
    } else {
        ARPHRD_ETHER
    }
}

/// The 24 counters of `struct rtnl_link_stats64` (and, truncated to 32
/// bits, of `struct rtnl_link_stats`), in their order.
fn stats(c: &CounterValues) -> [u64; 24] {
    let mut s = [0u64; 24];
    s[0] = c.rx_packets;
    s[1] = c.tx_packets;
    s[2] = c.rx_bytes;
    s[3] = c.tx_bytes;
    s[6] = c.rx_dropped;
    s[7] = c.tx_dropped;
    s
}

/// RTM_NEWLINK for `l`, with the attributes `ip link` and glibc's
/// getifaddrs read.
fn link_message(l: &Link, r: Reply) -> Vec<u8> {
    let mut fixed = Vec::with_capacity(16);
    fixed.push(0); // ifi_family: AF_UNSPEC
    fixed.push(0);
    fixed.extend_from_slice(&hw_type(l).to_ne_bytes());
    fixed.extend_from_slice(&(l.index as i32).to_ne_bytes());
    fixed.extend_from_slice(&l.flags.to_ne_bytes());
    fixed.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    let up = l.flags & (libc::IFF_UP | libc::IFF_RUNNING) as u32
        == (libc::IFF_UP | libc::IFF_RUNNING) as u32;
    let oper = match (l.loopback, up) {
        (true, _) => IF_OPER_UNKNOWN,
        (false, true) => IF_OPER_UP,
        (false, false) => IF_OPER_DOWN,
    };
    let (min_mtu, max_mtu) = if l.loopback { (0, 0) } else { (68, 65535) };
    let brd = if l.loopback { [0u8; 6] } else { [0xff; 6] };
    let counters = stats(&iface::counters(l.index));
    let stats64: Vec<u8> = counters.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let stats32: Vec<u8> = counters
        .iter()
        .flat_map(|v| (*v as u32).to_ne_bytes())
        .collect();
    Builder::new(RTM_NEWLINK, r.flags, r.seq, r.portid)
        .bytes(&fixed)
        .str(IFLA_IFNAME, &l.name)
        .u32(IFLA_TXQLEN, TXQLEN)
        .u8(IFLA_OPERSTATE, oper)
        .u8(IFLA_LINKMODE, 0)
        .u32(IFLA_MTU, l.mtu)
        .u32(IFLA_MIN_MTU, min_mtu)
        .u32(IFLA_MAX_MTU, max_mtu)
        .u32(IFLA_GROUP, 0)
        .u32(IFLA_PROMISCUITY, 0)
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_GSO_MAX_SEGS, 65535)
        .u32(IFLA_GSO_MAX_SIZE, 65536)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .u8(IFLA_CARRIER, 1)
        .str(IFLA_QDISC, "noqueue")
        .u32(IFLA_CARRIER_CHANGES, 0)
        .u8(IFLA_PROTO_DOWN, 0)
        // struct rtnl_link_ifmap: nothing mapped.
        .attr(IFLA_MAP, &[0; 32])
        .attr(IFLA_ADDRESS, &l.mac)
        .attr(IFLA_BROADCAST, &brd)
        .attr(IFLA_STATS64, &stats64)
        .attr(IFLA_STATS, &stats32)
        .finish()
}

/// The scope Linux gives an address.
fn addr_scope(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) if a.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V6(a) if a.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => RT_SCOPE_LINK,
        _ => RT_SCOPE_UNIVERSE,
    }
}

/// The broadcast address an IPv4 address shows (none on loopback, where
/// Linux configures 127.0.0.1/8 without one).
pub fn shown_broadcast(a: &Address, link: Option<&Link>) -> Option<Ipv4Addr> {
    if link.is_some_and(|l| l.loopback) {
        return None;
    }
    a.broadcast()
}

fn addr_message(a: &Address, link: Option<&Link>, r: Reply) -> Vec<u8> {
    let family = family_of(&a.ip);
    let fixed = [family, a.prefix, IFA_F_PERMANENT as u8, addr_scope(&a.ip)];
    let mut fixed = fixed.to_vec();
    fixed.extend_from_slice(&a.index.to_ne_bytes());
    let ip = ip_bytes(&a.ip);
    // struct ifa_cacheinfo: preferred and valid forever, no timestamps.
    let mut cache = Vec::with_capacity(16);
    cache.extend_from_slice(&u32::MAX.to_ne_bytes());
    cache.extend_from_slice(&u32::MAX.to_ne_bytes());
    cache.extend_from_slice(&[0; 8]);
    let mut b = Builder::new(RTM_NEWADDR, r.flags, r.seq, r.portid)
        .bytes(&fixed)
        .attr(IFA_ADDRESS, &ip);
    if family == AF_INET {
        b = b.attr(IFA_LOCAL, &ip);
        if let Some(brd) = shown_broadcast(a, link) {
            b = b.attr(IFA_BROADCAST, &brd.octets());
        }
        if let Some(l) = link {
            b = b.str(IFA_LABEL, &l.name);
        }
    }
    b.u32(IFA_FLAGS, IFA_F_PERMANENT)
        .attr(IFA_CACHEINFO, &cache)
        .finish()
}

fn dump_addresses(payload: &[u8], family: u8, who: Asker, r: Reply) -> Vec<Vec<u8>> {
    // Strict requests are a whole ifaddrmsg, whose ifa_index filters.
    let index = match (who.strict, payload.get(4..8)) {
        (true, Some(b)) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        _ => 0,
    };
    let links = iface::links();
    let mut addrs = iface::addresses();
    // Linux dumps IPv4 before IPv6, each by interface.
    addrs.sort_by_key(|a| (a.ip.is_ipv6(), a.index));
    addrs
        .iter()
        .filter(|a| wanted(family, &a.ip) && (index == 0 || a.index == index))
        .map(|a| {
            let link = links.iter().find(|l| l.index == a.index);
            addr_message(a, link, r)
        })
        .collect()
}

/// One route as rtnetlink describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    pub prefsrc: Option<IpAddr>,
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    pub rtype: u8,
    pub metric: Option<u32>,
}

fn v4_subnet(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & mask)
}

/// The routing tables as Linux would have them: the main table from the
/// model (plus IPv6 loopback's route, which Linux keeps there), and the
/// local table Linux derives from the addresses.
pub fn route_entries() -> Vec<RouteEntry> {
    let mut out = Vec::new();
    for rt in iface::routes() {
        let kernel = rt.gateway.is_none() && rt.source.is_some();
        let v6 = rt.dst.is_ipv6();
        out.push(RouteEntry {
            dst: rt.dst,
            prefix: rt.prefix,
            gateway: rt.gateway,
            oif: rt.index,
            prefsrc: rt.source,
            table: RT_TABLE_MAIN,
            protocol: if kernel { RTPROT_KERNEL } else { RTPROT_BOOT },
            scope: if rt.gateway.is_some() {
                RT_SCOPE_UNIVERSE
            } else {
                RT_SCOPE_LINK
            },
            rtype: RTN_UNICAST,
            metric: v6.then_some(if rt.gateway.is_some() { 1024 } else { 256 }),
        });
    }
    let local = |dst: IpAddr, prefix: u8, oif: u32, src: Option<IpAddr>, rtype: u8| RouteEntry {
        dst,
        prefix,
        gateway: None,
        oif,
        prefsrc: src,
        table: RT_TABLE_LOCAL,
        protocol: RTPROT_KERNEL,
        scope: if rtype == RTN_LOCAL {
            RT_SCOPE_HOST
        } else {
            RT_SCOPE_LINK
        },
        rtype,
        metric: dst.is_ipv6().then_some(0),
    };
    for a in iface::addresses() {
        match a.ip {
            IpAddr::V4(v4) => {
                let src = Some(a.ip);
                if v4.is_loopback() {
                    let net = v4_subnet(v4, a.prefix);
                    out.push(local(IpAddr::V4(net), a.prefix, a.index, src, RTN_LOCAL));
                }
                out.push(local(a.ip, 32, a.index, src, RTN_LOCAL));
                if a.prefix < 31 {
                    let brd = u32::from(v4) | (u32::MAX >> a.prefix);
                    let brd = IpAddr::V4(Ipv4Addr::from(brd));
                    out.push(local(brd, 32, a.index, src, RTN_BROADCAST));
                }
            }
            IpAddr::V6(v6) => {
                if v6 == Ipv6Addr::LOCALHOST {
                    let mut main = local(a.ip, 128, a.index, None, RTN_UNICAST);
                    main.table = RT_TABLE_MAIN;
                    main.scope = RT_SCOPE_UNIVERSE;
                    main.metric = Some(256);
                    out.push(main);
                }
                out.push(local(a.ip, 128, a.index, None, RTN_LOCAL));
            }
        }
    }
    out
}

fn route_message(rt: &RouteEntry, r: Reply, rtm_flags: u32) -> Vec<u8> {
    let family = family_of(&rt.dst);
    let mut fixed = vec![
        family,
        rt.prefix,
        0, // rtm_src_len
        0, // rtm_tos
        rt.table,
        rt.protocol,
        rt.scope,
        rt.rtype,
    ];
    fixed.extend_from_slice(&rtm_flags.to_ne_bytes());
    let mut b = Builder::new(RTM_NEWROUTE, r.flags, r.seq, r.portid)
        .bytes(&fixed)
        .u32(RTA_TABLE, rt.table as u32);
    if rt.prefix > 0 {
        b = b.attr(RTA_DST, &ip_bytes(&rt.dst));
    }
    if let Some(m) = rt.metric {
        b = b.u32(RTA_PRIORITY, m);
    }
    if let Some(src) = &rt.prefsrc {
        b = b.attr(RTA_PREFSRC, &ip_bytes(src));
    }
    if let Some(gw) = &rt.gateway {
        b = b.attr(RTA_GATEWAY, &ip_bytes(gw));
    }
    b = b.u32(RTA_OIF, rt.oif);
    if family == AF_INET6 {
        // struct rta_cacheinfo, and the router preference "medium".
        b = b.attr(RTA_CACHEINFO, &[0; 32]).u8(RTA_PREF, 0);
    }
    b.finish()
}

fn dump_routes(payload: &[u8], family: u8, who: Asker, r: Reply) -> Vec<Vec<u8>> {
    // A strict request's rtm_table or RTA_TABLE picks one table; the
    // route cache (RTM_F_CLONED) is empty.
    let mut table = 0u32;
    if who.strict && payload.len() >= 12 {
        table = payload[4] as u32;
        for (ty, v) in attributes(&payload[12..]) {
            if ty == RTA_TABLE && v.len() >= 4 {
                table = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
            }
        }
        if i32_at(payload, 8).is_some_and(|f| f as u32 & RTM_F_CLONED != 0) {
            return Vec::new();
        }
    }
    route_entries()
        .iter()
        .filter(|rt| wanted(family, &rt.dst) && (table == 0 || rt.table as u32 == table))
        .map(|rt| route_message(rt, r, 0))
        .collect()
}

fn neigh_message(n: &Neighbour, r: Reply) -> Vec<u8> {
    let mut fixed = vec![family_of(&n.ip), 0, 0, 0];
    fixed.extend_from_slice(&(n.index as i32).to_ne_bytes());
    fixed.extend_from_slice(&NUD_REACHABLE.to_ne_bytes());
    fixed.push(0); // ndm_flags
    fixed.push(RTN_UNICAST);
    Builder::new(RTM_NEWNEIGH, r.flags, r.seq, r.portid)
        .bytes(&fixed)
        .attr(NDA_DST, &ip_bytes(&n.ip))
        .attr(NDA_LLADDR, &n.mac)
        // struct nda_cacheinfo: confirmed, used, updated, refcnt.
        .attr(NDA_CACHEINFO, &[0; 16])
        .u32(NDA_PROBES, 0)
        .finish()
}

fn dump_neighbours(payload: &[u8], family: u8, who: Asker, r: Reply) -> Vec<Vec<u8>> {
    let index = match (who.strict, i32_at(payload, 4)) {
        (true, Some(i)) => i as u32,
        _ => 0,
    };
    // Only the ARP (AF_INET) and NDP (AF_INET6) tables exist.
    if family != 0 && family != AF_INET && family != AF_INET6 {
        return Vec::new();
    }
    iface::neighbours()
        .iter()
        .filter(|n| wanted(family, &n.ip) && (index == 0 || n.index == index))
        .map(|n| neigh_message(n, r))
        .collect()
}

/// RTM_GETLINK of one interface, by ifi_index or IFLA_IFNAME.
fn get_link(payload: &[u8], r: Reply) -> Result<Vec<u8>, i32> {
    let index = i32_at(payload, 4).unwrap_or(0);
    let link = if index > 0 {
        iface::link(index as u32)
    } else {
        let name = attributes(payload.get(16..).unwrap_or(&[]))
            .into_iter()
            .find(|(ty, _)| *ty == IFLA_IFNAME || *ty == IFLA_ALT_IFNAME)
            .map(|(_, v)| {
                let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                String::from_utf8_lossy(&v[..end]).into_owned()
            })
            .ok_or(libc::EINVAL)?;
        iface::link_by_name(&name)
    };
    link.map(|l| link_message(&l, r)).ok_or(libc::ENODEV)
}

/// The route a packet to `dst` takes: local delivery for one of the
/// sandbox's own addresses, else the longest matching prefix.
pub fn lookup(dst: IpAddr) -> Option<RouteEntry> {
    let entries = route_entries();
    if iface::is_own_address(&dst) {
        return Some(RouteEntry {
            dst,
            prefix: if dst.is_ipv4() { 32 } else { 128 },
            gateway: None,
            // Linux delivers to its own addresses through loopback.
            oif: iface::LOOPBACK_INDEX,
            prefsrc: Some(dst),
            table: RT_TABLE_LOCAL,
            protocol: RTPROT_KERNEL,
            scope: RT_SCOPE_HOST,
            rtype: RTN_LOCAL,
            metric: None,
        });
    }
    let best = entries
        .into_iter()
        .filter(|rt| rt.table == RT_TABLE_MAIN && matches(&rt.dst, rt.prefix, &dst))
        .max_by_key(|rt| rt.prefix)?;
    let prefsrc = best.prefsrc.or_else(|| {
        iface::addresses()
            .into_iter()
            .find(|a| a.index == best.oif && a.ip.is_ipv4() == dst.is_ipv4())
            .map(|a| a.ip)
    });
    Some(RouteEntry {
        dst,
        prefix: if dst.is_ipv4() { 32 } else { 128 },
        prefsrc,
        ..best
    })
}

/// Whether `ip` is in `net`/`prefix`.
fn matches(net: &IpAddr, prefix: u8, ip: &IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            prefix <= 32 && v4_subnet(*n, prefix) == v4_subnet(*a, prefix)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0);
            prefix <= 128 && u128::from(*n) & mask == u128::from(*a) & mask
        }
        _ => false,
    }
}

/// RTM_GETROUTE of one destination (`ip route get A`).
fn get_route(payload: &[u8], family: u8, r: Reply) -> Result<Vec<u8>, i32> {
    let dst = attributes(payload.get(12..).unwrap_or(&[]))
        .into_iter()
        .find(|(ty, _)| *ty == RTA_DST)
        .map(|(_, v)| v);
    let dst = match (family, dst) {
        (AF_INET, Some(v)) if v.len() == 4 => IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
        (AF_INET6, Some(v)) if v.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(v);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        (AF_INET, None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (AF_INET6, None) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (AF_INET | AF_INET6, Some(_)) => return Err(libc::EINVAL),
        _ => return Err(libc::EAFNOSUPPORT),
    };
    let rt = lookup(dst).ok_or(libc::ENETUNREACH)?;
    // Without policy rules Linux keeps the local table merged into main,
    // so a lookup reports main even for a local destination.
    let rt = RouteEntry {
        table: RT_TABLE_MAIN,
        ..rt
    };
    let mut m = route_message(&rt, r, RTM_F_CLONED);
    // The answer names the asker's uid, as `ip route get` prints it.
    let uid = crate::net::socket::current_creds().uid;
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&RTA_UID.to_ne_bytes());
    m.extend_from_slice(&uid.to_ne_bytes());
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    Ok(m)
}

mod change;
#[cfg(test)]
pub(crate) mod tests;
