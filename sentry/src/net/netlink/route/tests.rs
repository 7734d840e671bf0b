use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::net::iface::{Counters, Neighbour, Route};
use crate::net::netlink::wire::{self, Header, HDRLEN, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST};

/// The docker0-like eth0 the tests share: 172.17.0.2/16 via 172.17.0.1.
/// Every test installs the same one, so they may run in any order.
pub(crate) fn fake_eth0() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // Once: a second install would briefly empty the neighbour table
    // under a test running beside it.
    ONCE.call_once(install_eth0);
}

fn install_eth0() {
    let flags = libc::IFF_UP | libc::IFF_BROADCAST | libc::IFF_RUNNING | libc::IFF_MULTICAST;
    iface::install(
        vec![(
            Link {
                index: 2,
                name: "eth0".into(),
                mac: [0x02, 0x42, 0xac, 0x11, 0x00, 0x02],
                mtu: 1500,
                flags: flags as u32 | libc::IFF_LOWER_UP as u32,
                loopback: false,
            },
            Arc::new(Counters::default()),
        )],
        vec![Address {
            index: 2,
            ip: "172.17.0.2".parse().expect("ip"),
            prefix: 16,
        }],
        vec![
            Route {
                dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix: 0,
                gateway: Some("172.17.0.1".parse().expect("ip")),
                index: 2,
                source: None,
            },
            Route {
                dst: "172.17.0.0".parse().expect("ip"),
                prefix: 16,
                gateway: None,
                index: 2,
                source: Some("172.17.0.2".parse().expect("ip")),
            },
        ],
    );
    iface::set_neighbours(vec![Neighbour {
        index: 2,
        ip: "172.17.0.1".parse().expect("ip"),
        mac: [0x02, 0x42, 0xac, 0x11, 0x00, 0x01],
    }]);
}

fn request(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    Builder::new(ty, NLM_F_REQUEST | flags, 9, 0)
        .bytes(payload)
        .finish()
}

const WHO: Asker = Asker {
    portid: 1234,
    net_admin: false,
    strict: false,
};

fn ask(req: &[u8], who: Asker) -> Result<Answer, i32> {
    let (msgs, _) = wire::messages(req);
    handle(&msgs[0], who)
}

fn dump(ty: u16, family: u8) -> Vec<Vec<u8>> {
    match ask(&request(ty, NLM_F_DUMP, &[family, 0, 0, 0]), WHO) {
        Ok(Answer::Dump(m)) => m,
        other => panic!("a dump, not {other:?}"),
    }
}

/// A message's attributes after its fixed header of `fixed` bytes.
fn attrs(m: &[u8], fixed: usize) -> Vec<(u16, Vec<u8>)> {
    attributes(&m[HDRLEN + fixed..])
        .into_iter()
        .map(|(t, v)| (t, v.to_vec()))
        .collect()
}

fn attr(m: &[u8], fixed: usize, ty: u16) -> Option<Vec<u8>> {
    attrs(m, fixed).into_iter().find(|a| a.0 == ty).map(|a| a.1)
}

#[test]
fn links_dump_loopback_then_eth0() {
    fake_eth0();
    let links = dump(RTM_GETLINK, 0);
    assert!(links.len() >= 2);
    for m in &links {
        let h = Header::parse(m).expect("header");
        assert_eq!(
            (h.ty, h.flags, h.seq, h.pid),
            (RTM_NEWLINK, NLM_F_MULTI, 9, 1234)
        );
        assert_eq!(h.len as usize, m.len());
    }
    let lo = &links[0];
    assert_eq!(u16::from_ne_bytes([lo[18], lo[19]]), ARPHRD_LOOPBACK);
    assert_eq!(i32::from_ne_bytes(lo[20..24].try_into().expect("4")), 1);
    assert_eq!(attr(lo, 16, IFLA_IFNAME).as_deref(), Some(&b"lo\0"[..]));
    assert_eq!(
        attr(lo, 16, IFLA_MTU),
        Some(65536u32.to_ne_bytes().to_vec())
    );
    let eth = &links[1];
    assert_eq!(attr(eth, 16, IFLA_IFNAME).as_deref(), Some(&b"eth0\0"[..]));
    assert_eq!(
        attr(eth, 16, IFLA_ADDRESS),
        Some(vec![0x02, 0x42, 0xac, 0x11, 0x00, 0x02])
    );
    assert_eq!(attr(eth, 16, IFLA_OPERSTATE), Some(vec![IF_OPER_UP]));
    assert_eq!(attr(eth, 16, IFLA_STATS64).map(|v| v.len()), Some(192));
}

#[test]
fn address_dumps_by_family() {
    fake_eth0();
    let v4 = dump(RTM_GETADDR, AF_INET);
    let lo = &v4[0];
    assert_eq!(&lo[HDRLEN..HDRLEN + 4], &[AF_INET, 8, 0x80, RT_SCOPE_HOST]);
    assert_eq!(attr(lo, 8, IFA_LOCAL), Some(vec![127, 0, 0, 1]));
    assert_eq!(attr(lo, 8, IFA_LABEL).as_deref(), Some(&b"lo\0"[..]));
    assert_eq!(
        attr(lo, 8, IFA_BROADCAST),
        None,
        "loopback has no broadcast"
    );
    let eth = v4
        .iter()
        .find(|m| attr(m, 8, IFA_LOCAL) == Some(vec![172, 17, 0, 2]))
        .expect("eth0's address");
    assert_eq!(attr(eth, 8, IFA_BROADCAST), Some(vec![172, 17, 255, 255]));
    assert_eq!(eth[HDRLEN + 1], 16);
    let v6 = dump(RTM_GETADDR, AF_INET6);
    assert_eq!(v6.len(), 1);
    let mut one = [0u8; 16];
    one[15] = 1;
    assert_eq!(attr(&v6[0], 8, IFA_ADDRESS), Some(one.to_vec()));
    // AF_UNSPEC (or any other family) dumps both, IPv4 first.
    let all = dump(RTM_GETADDR, 0);
    assert_eq!(all.len(), v4.len() + v6.len());
    assert_eq!(all[0][HDRLEN], AF_INET);
    assert_eq!(all[all.len() - 1][HDRLEN], AF_INET6);
}

#[test]
fn routes_of_the_main_and_local_tables() {
    fake_eth0();
    let v4 = dump(RTM_GETROUTE, AF_INET);
    let main: Vec<&Vec<u8>> = v4
        .iter()
        .filter(|m| m[HDRLEN + 4] == RT_TABLE_MAIN)
        .collect();
    assert_eq!(main.len(), 2);
    let default = main
        .iter()
        .find(|m| m[HDRLEN + 1] == 0)
        .expect("a default route");
    assert_eq!(attr(default, 12, RTA_GATEWAY), Some(vec![172, 17, 0, 1]));
    assert_eq!(
        attr(default, 12, RTA_OIF),
        Some(2u32.to_ne_bytes().to_vec())
    );
    let subnet = main
        .iter()
        .find(|m| m[HDRLEN + 1] == 16)
        .expect("the subnet route");
    assert_eq!(
        &subnet[HDRLEN + 4..HDRLEN + 8],
        &[RT_TABLE_MAIN, RTPROT_KERNEL, RT_SCOPE_LINK, RTN_UNICAST]
    );
    assert_eq!(attr(subnet, 12, RTA_PREFSRC), Some(vec![172, 17, 0, 2]));
    // The local table holds loopback's and eth0's local and broadcast routes.
    let local: Vec<(u8, Option<Vec<u8>>)> = v4
        .iter()
        .filter(|m| m[HDRLEN + 4] == RT_TABLE_LOCAL)
        .map(|m| (m[HDRLEN + 7], attr(m, 12, RTA_DST)))
        .collect();
    assert!(local.contains(&(RTN_LOCAL, Some(vec![127, 0, 0, 1]))));
    assert!(local.contains(&(RTN_BROADCAST, Some(vec![127, 255, 255, 255]))));
    assert!(local.contains(&(RTN_LOCAL, Some(vec![172, 17, 0, 2]))));
    // Strict checking with RTA_TABLE main leaves the local table out.
    let mut rtm = vec![AF_INET, 0, 0, 0, RT_TABLE_MAIN, 0, 0, 0, 0, 0, 0, 0];
    rtm.extend_from_slice(&8u16.to_ne_bytes());
    rtm.extend_from_slice(&RTA_TABLE.to_ne_bytes());
    rtm.extend_from_slice(&(RT_TABLE_MAIN as u32).to_ne_bytes());
    let strict = Asker {
        strict: true,
        ..WHO
    };
    match ask(&request(RTM_GETROUTE, NLM_F_DUMP, &rtm), strict) {
        Ok(Answer::Dump(m)) => assert_eq!(m.len(), 2),
        other => panic!("{other:?}"),
    }
    // IPv6: loopback's route in main, ::1 in local.
    let v6 = dump(RTM_GETROUTE, AF_INET6);
    assert!(v6.iter().any(|m| m[HDRLEN + 4] == RT_TABLE_MAIN));
    assert!(v6.iter().all(|m| attr(m, 12, RTA_PREF) == Some(vec![0])));
}

#[test]
fn neighbours_dump() {
    fake_eth0();
    let n = dump(RTM_GETNEIGH, 0);
    assert_eq!(n.len(), 1);
    assert_eq!(attr(&n[0], 12, NDA_DST), Some(vec![172, 17, 0, 1]));
    assert_eq!(
        attr(&n[0], 12, NDA_LLADDR),
        Some(vec![2, 0x42, 0xac, 0x11, 0, 1])
    );
    assert!(dump(RTM_GETNEIGH, AF_INET6).is_empty());
    assert!(dump(RTM_GETNEIGH, libc::AF_PACKET as u8).is_empty());
}

#[test]
fn changes_need_net_admin_and_what_the_sentry_cannot_do_is_refused() {
    let req = request(RTM_NEWADDR, 0, &[AF_INET, 24, 0, 0, 2, 0, 0, 0]);
    assert_eq!(ask(&req, WHO), Err(libc::EPERM));
    let admin = Asker {
        net_admin: true,
        ..WHO
    };
    // An address to add must be given.
    assert_eq!(ask(&req, admin), Err(libc::EINVAL));
    // Neighbour entries are the stack's own (RTM_NEWNEIGH).
    let neigh = request(RTM_NEWNEIGH, 0, &[AF_INET, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(ask(&neigh, admin), Err(libc::EOPNOTSUPP));
    // A route without a gateway (`ip route add 10.1.0.0/16 dev eth0`).
    let dev_route = request(
        RTM_NEWROUTE,
        0,
        &[AF_INET, 16, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0],
    );
    assert_eq!(ask(&dev_route, admin), Err(libc::EOPNOTSUPP));
    // Unknown types and GETs without a handler.
    assert_eq!(ask(&request(200, 0, &[0]), WHO), Err(libc::EOPNOTSUPP));
    assert_eq!(
        ask(&request(RTM_GETADDR, 0, &[0]), WHO),
        Err(libc::EOPNOTSUPP)
    );
    // Too short to carry a family: nothing but the ack.
    assert_eq!(
        ask(&request(RTM_GETLINK, NLM_F_DUMP, &[]), WHO),
        Ok(Answer::Nothing)
    );
}

#[test]
fn one_link_by_index_or_name() {
    fake_eth0();
    let mut ifi = vec![0u8; 16];
    ifi[4..8].copy_from_slice(&2i32.to_ne_bytes());
    let Ok(Answer::Reply(m)) = ask(&request(RTM_GETLINK, 0, &ifi), WHO) else {
        panic!("a reply");
    };
    assert_eq!(Header::parse(&m).expect("h").flags, 0, "not part of a dump");
    assert_eq!(attr(&m, 16, IFLA_IFNAME).as_deref(), Some(&b"eth0\0"[..]));
    let named = Builder::new(RTM_GETLINK, NLM_F_REQUEST, 1, 0)
        .bytes(&[0; 16])
        .str(IFLA_IFNAME, "lo")
        .finish();
    assert!(matches!(ask(&named, WHO), Ok(Answer::Reply(_))));
    let missing = Builder::new(RTM_GETLINK, NLM_F_REQUEST, 1, 0)
        .bytes(&[0; 16])
        .str(IFLA_IFNAME, "wlan0")
        .finish();
    assert_eq!(ask(&missing, WHO), Err(libc::ENODEV));
}

#[test]
fn route_lookup() {
    fake_eth0();
    let out = lookup("8.8.8.8".parse().expect("ip")).expect("a route");
    assert_eq!(out.gateway, Some("172.17.0.1".parse().expect("ip")));
    assert_eq!((out.oif, out.prefix), (2, 32));
    assert_eq!(out.prefsrc, Some("172.17.0.2".parse().expect("ip")));
    let near = lookup("172.17.5.5".parse().expect("ip")).expect("a route");
    assert_eq!((near.gateway, near.oif), (None, 2));
    let me = lookup("127.0.0.1".parse().expect("ip")).expect("a route");
    assert_eq!((me.rtype, me.oif), (RTN_LOCAL, 1));
    let mut rtm = vec![AF_INET, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    rtm.extend_from_slice(&8u16.to_ne_bytes());
    rtm.extend_from_slice(&RTA_DST.to_ne_bytes());
    rtm.extend_from_slice(&[1, 1, 1, 1]);
    let Ok(Answer::Reply(m)) = ask(&request(RTM_GETROUTE, 0, &rtm), WHO) else {
        panic!("a reply");
    };
    assert_eq!(attr(&m, 12, RTA_DST), Some(vec![1, 1, 1, 1]));
    assert_eq!(attr(&m, 12, RTA_GATEWAY), Some(vec![172, 17, 0, 1]));
}
