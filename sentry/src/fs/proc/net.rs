//! /proc/PID/net (and /proc/net, a link to /proc/self/net): the sandbox's
//! interfaces, routes and neighbours as Linux prints them, rendered from
//! the interface model (`net::iface`). The protocol counters of snmp and
//! netstat are zeros: the Sentry's stack does not count them (yet).

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use crate::fs::synthetic::{dir, file};
use crate::net::addr::UnixAddr;
use crate::net::iface;
use crate::net::netlink::route::{self, RouteEntry, RT_TABLE_MAIN};
use crate::net::socket::{listing, unix_listing};
use crate::net::Kind;
use crate::vfs::Inode;

/// The /proc/PID/net directory.
pub(super) fn net_dir(dev: u64, salt: u64) -> Arc<dyn Inode> {
    dir(dev, "net", salt, move || {
        let f = |name: &str, render: fn() -> String| -> (String, Arc<dyn Inode>) {
            (
                name.to_string(),
                file(dev, name, salt ^ 0x6e6574, move |_| render().into_bytes()),
            )
        };
        vec![
            f("dev", dev_text),
            f("route", route_text),
            f("if_inet6", if_inet6_text),
            f("arp", arp_text),
            f("snmp", snmp_text),
            f("netstat", netstat_text),
            f("tcp", || sockets_text(Kind::Stream, false)),
            f("tcp6", || sockets_text(Kind::Stream, true)),
            f("udp", || sockets_text(Kind::Dgram, false)),
            f("udp6", || sockets_text(Kind::Dgram, true)),
            // No UDP-Lite sockets exist, and raw ones are not listed.
            f("udplite", || empty_text(Kind::Dgram, false)),
            f("udplite6", || empty_text(Kind::Dgram, true)),
            f("raw", || raw_header(false)),
            f("raw6", || raw_header(true)),
            f("sockstat", sockstat_text),
            f("sockstat6", sockstat6_text),
            (
                "unix".to_string(),
                file(dev, "unix", salt ^ 0x6e6574, |_| unix_text()),
            ),
        ]
    })
}

/// /proc/net/unix: every open Unix socket. The kernel address is shown
/// as zeros, as %pK shows it to a container's processes (no CAP_SYSLOG).
pub fn unix_text() -> Vec<u8> {
    let mut s = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
    for e in unix_listing::entries() {
        let line = format!(
            "{:016x}: {:08X} {:08X} {:08X} {:04X} {:02X} {:5}",
            0, e.refs, 0, e.flags, e.ty, e.state, e.ino
        );
        s.extend_from_slice(line.as_bytes());
        match &e.name {
            UnixAddr::Unnamed => {}
            UnixAddr::Path(p) => {
                s.push(b' ');
                s.extend_from_slice(p.as_bytes());
            }
            // The leading NUL, and any NUL within, print as '@'.
            UnixAddr::Abstract(name) => {
                s.extend_from_slice(b" @");
                s.extend(name.iter().map(|&b| if b == 0 { b'@' } else { b }));
            }
        }
        s.push(b'\n');
    }
    s
}

/// /proc/net/dev: one line of receive and transmit counters per interface.
pub fn dev_text() -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for l in iface::links() {
        let c = iface::counters(l.index);
        let _ = writeln!(
            s,
            "{:>6}:{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
            l.name,
            c.rx_bytes,
            c.rx_packets,
            0,
            c.rx_dropped,
            0,
            0,
            0,
            0,
            c.tx_bytes,
            c.tx_packets,
            0,
            c.tx_dropped,
            0,
            0,
            0,
            0
        );
    }
    s
}

/// An IPv4 address as /proc/net/route prints it: the network-order
/// bytes read as a host (little-endian) word, in hex.
fn route_hex(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("{:08X}", u32::from_le_bytes(a.octets())),
        IpAddr::V6(_) => "00000000".into(),
    }
}

/// An address as /proc/net/{tcp,udp}6 print it: the network-order bytes
/// read as host (little-endian) words, in hex, then the port.
fn socket_hex(a: &std::net::SocketAddr, v6: bool) -> String {
    let words: Vec<u32> = match (a.ip(), v6) {
        (IpAddr::V4(v4), false) => vec![u32::from_le_bytes(v4.octets())],
        (IpAddr::V4(v4), true) => v4
            .to_ipv6_mapped()
            .octets()
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (IpAddr::V6(v6a), true) => v6a
            .octets()
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (IpAddr::V6(v6a), false) => {
            vec![v6a
                .to_ipv4_mapped()
                .map_or(0, |v4| u32::from_le_bytes(v4.octets()))]
        }
    };
    let mut s: String = words.iter().map(|w| format!("{w:08X}")).collect();
    let _ = write!(s, ":{:04X}", a.port());
    s
}

/// /proc/net/{tcp,tcp6,udp,udp6}: the sandbox's inet sockets of a kind
/// and family, in Linux's columns (uid 0, no timers).
pub fn sockets_text(kind: Kind, v6: bool) -> String {
    sockets_lines(kind, v6, &listing::entries(kind, v6))
}

/// The header of a socket table without its sockets.
fn empty_text(kind: Kind, v6: bool) -> String {
    sockets_lines(kind, v6, &[])
}

/// /proc/net/{raw,raw6}'s header (raw_seq_show pads nothing).
fn raw_header(v6: bool) -> String {
    let addrs = if v6 {
        "local_address                         remote_address                       "
    } else {
        "local_address rem_address  "
    };
    format!("  sl  {addrs} st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
}

/// /proc/net/sockstat: sockets in use. Memory is not counted in pages
/// here (0), and nothing lingers orphaned or in TIME_WAIT as Linux
/// counts them.
pub fn sockstat_text() -> String {
    let (all, tcp_alloc) = listing::allocated();
    let tcp = listing::entries(Kind::Stream, false).len();
    let udp = listing::entries(Kind::Dgram, false).len();
    format!(
        "sockets: used {all}\nTCP: inuse {tcp} orphan 0 tw 0 alloc {tcp_alloc} mem 0\n\
         UDP: inuse {udp} mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n"
    )
}

/// /proc/net/sockstat6: the IPv6 sockets in use.
pub fn sockstat6_text() -> String {
    let tcp = listing::entries(Kind::Stream, true).len();
    let udp = listing::entries(Kind::Dgram, true).len();
    format!(
        "TCP6: inuse {tcp}\nUDP6: inuse {udp}\nUDPLITE6: inuse 0\nRAW6: inuse 0\n\
         FRAG6: inuse 0 memory 0\n"
    )
}

fn sockets_lines(kind: Kind, v6: bool, entries: &[listing::Entry]) -> String {
    let tcp = kind == Kind::Stream;
    let mut s = String::new();
    let header = match (tcp, v6) {
        (true, false) => "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        (false, false) => "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
        (true, true) => "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        (false, true) => "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    };
    // tcp pads to 149 columns, udp to 127; the v6 files do not pad.
    let width = match (tcp, v6) {
        (_, true) => 0,
        (true, false) => 149,
        (false, false) => 127,
    };
    let _ = writeln!(s, "{header:<width$}");
    for (sl, e) in entries.iter().enumerate() {
        let common = format!(
            "{} {} {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} {}",
            socket_hex(&e.local, v6),
            socket_hex(&e.remote, v6),
            e.state,
            e.tx_queue,
            e.rx_queue,
            0,
            0,
            e.ino
        );
        let line = if tcp {
            format!("{sl:4}: {common} 1 0000000000000000 100 0 0 10 0")
        } else {
            format!("{sl:5}: {common} 2 0000000000000000 0")
        };
        let _ = writeln!(s, "{line:<width$}");
    }
    s
}

/// Pads a line to 127 columns, as the route file's seq_pad does.
fn padded(s: &mut String, line: &str) {
    let _ = writeln!(s, "{line:<127}");
}

/// /proc/net/route: the IPv4 unicast routes of the main table.
pub fn route_text() -> String {
    let mut s = String::new();
    padded(
        &mut s,
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    );
    let links = iface::links();
    let main: Vec<RouteEntry> = route::route_entries()
        .into_iter()
        .filter(|r| r.table == RT_TABLE_MAIN && r.dst.is_ipv4())
        .collect();
    for r in main {
        let name = links
            .iter()
            .find(|l| l.index == r.oif)
            .map_or("*".to_string(), |l| l.name.clone());
        let mask = u32::MAX.checked_shl(32 - r.prefix as u32).unwrap_or(0);
        let mask = IpAddr::V4(mask.into());
        // RTF_UP, and RTF_GATEWAY for a route through a gateway.
        let flags = if r.gateway.is_some() { 0x3 } else { 0x1 };
        let gw = r.gateway.as_ref().map_or("00000000".into(), route_hex);
        let line = format!(
            "{}\t{}\t{}\t{:04X}\t0\t0\t{}\t{}\t0\t0\t0",
            name,
            route_hex(&r.dst),
            gw,
            flags,
            r.metric.unwrap_or(0),
            route_hex(&mask),
        );
        padded(&mut s, &line);
    }
    s
}

/// /proc/net/if_inet6: address, index, prefix, scope, flags, name.
pub fn if_inet6_text() -> String {
    let links = iface::links();
    let mut s = String::new();
    for a in iface::addresses() {
        let IpAddr::V6(v6) = a.ip else { continue };
        let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
        // Linux's IPV6_ADDR_* scope bits: loopback 0x10, link-local 0x20.
        let scope = if v6.is_loopback() {
            0x10
        } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
            0x20
        } else {
            0
        };
        let name = links
            .iter()
            .find(|l| l.index == a.index)
            .map_or("", |l| l.name.as_str());
        // 0x80: IFA_F_PERMANENT.
        let _ = writeln!(
            s,
            "{hex} {:02x} {:02x} {scope:02x} 80 {name:>8}",
            a.index, a.prefix
        );
    }
    s
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// /proc/net/arp: the IPv4 neighbours.
pub fn arp_text() -> String {
    let links = iface::links();
    let mut s = String::from(
        "IP address       HW type     Flags       HW address            Mask     Device\n",
    );
    for n in iface::neighbours() {
        if !n.ip.is_ipv4() {
            continue;
        }
        let name = links
            .iter()
            .find(|l| l.index == n.index)
            .map_or("", |l| l.name.as_str());
        // HW type 1: Ethernet; flags 0x2: ATF_COM, a complete entry.
        let _ = writeln!(
            s,
            "{:<16} 0x{:<10x}0x{:<10x}{:<17}     {:<8} {}",
            n.ip.to_string(),
            1,
            2,
            mac_text(&n.mac),
            "*",
            name
        );
    }
    s
}

/// Pairs of header and value lines ("Tcp: A B" / "Tcp: 1 2").
fn table(s: &mut String, prefix: &str, fields: &[(&str, i64)]) {
    let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
    let values: Vec<String> = fields.iter().map(|f| f.1.to_string()).collect();
    let _ = writeln!(s, "{prefix}: {}", names.join(" "));
    let _ = writeln!(s, "{prefix}: {}", values.join(" "));
}

fn zeros(names: &str) -> Vec<(&str, i64)> {
    names.split_whitespace().map(|n| (n, 0)).collect()
}

/// /proc/net/snmp: the MIB counters, Linux 6.1's fields.
pub fn snmp_text() -> String {
    let mut s = String::new();
    // Forwarding 2: not a router (net.ipv4.ip_forward is 0).
    let mut ip = vec![("Forwarding", 2), ("DefaultTTL", 64)];
    ip.extend(zeros(
        "InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards \
         InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs \
         ReasmFails FragOKs FragFails FragCreates",
    ));
    table(&mut s, "Ip", &ip);
    table(
        &mut s,
        "Icmp",
        &zeros(
            "InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs \
             InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks \
             InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost \
             OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos \
             OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps",
        ),
    );
    // RFC 2012's constants: RtoAlgorithm 1 (other), RtoMin/RtoMax in ms,
    // MaxConn -1 (dynamic).
    let mut tcp = vec![
        ("RtoAlgorithm", 1),
        ("RtoMin", 200),
        ("RtoMax", 120000),
        ("MaxConn", -1),
    ];
    tcp.extend(zeros(
        "ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs \
         RetransSegs InErrs OutRsts InCsumErrors",
    ));
    table(&mut s, "Tcp", &tcp);
    let udp = "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors \
               InCsumErrors IgnoredMulti MemErrors";
    table(&mut s, "Udp", &zeros(udp));
    table(&mut s, "UdpLite", &zeros(udp));
    s
}

/// /proc/net/netstat: the extended TCP and IP counters.
pub fn netstat_text() -> String {
    let mut s = String::new();
    table(
        &mut s,
        "TcpExt",
        &zeros(
            "SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled \
             RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled \
             TWKilled PAWSActive PAWSEstab DelayedACKs DelayedACKLocked DelayedACKLost \
             ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery \
             TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder \
             TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit \
             TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans \
             TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery \
             TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPDSACKOldSent \
             TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose \
             TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed \
             TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld \
             TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected \
             TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogCoalesce \
             TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop \
             IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop \
             TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge \
             TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail \
             TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow \
             TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues \
             BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv \
             TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect \
             TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd \
             TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 \
             TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive \
             TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed \
             TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey \
             TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious \
             TCPMigrateReqSuccess TCPMigrateReqFailure",
        ),
    );
    table(
        &mut s,
        "IpExt",
        &zeros(
            "InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts \
             InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets \
             InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps",
        ),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::route::tests::fake_eth0;

    #[test]
    fn dev_lines_align_as_linux_prints_them() {
        fake_eth0();
        let t = dev_text();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "Inter-|   Receive                                                |  Transmit"
        );
        assert!(lines[1].starts_with(" face |bytes    packets errs drop fifo frame"));
        assert_eq!(
            lines[2],
            "    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0"
        );
        assert!(lines[3].starts_with("  eth0:"));
    }

    #[test]
    fn socket_addresses_in_little_endian_hex() {
        let a: std::net::SocketAddr = "127.0.0.1:80".parse().expect("address");
        assert_eq!(socket_hex(&a, false), "0100007F:0050");
        let any6: std::net::SocketAddr = "[::]:443".parse().expect("address");
        assert_eq!(socket_hex(&any6, true), format!("{}:01BB", "0".repeat(32)));
    }

    #[test]
    fn routes_in_little_endian_hex() {
        fake_eth0();
        let t = route_text();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.iter().all(|l| l.len() == 127));
        assert!(lines[0].starts_with("Iface\tDestination\tGateway \tFlags"));
        assert!(lines.contains(
            &format!(
                "{:<127}",
                "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0"
            )
            .as_str()
        ));
        assert!(lines.contains(
            &format!(
                "{:<127}",
                "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0"
            )
            .as_str()
        ));
    }

    #[test]
    fn inet6_and_arp() {
        fake_eth0();
        assert!(if_inet6_text().contains("00000000000000000000000000000001 01 80 10 80       lo\n"));
        let arp = arp_text();
        assert!(arp.contains(
            "172.17.0.1       0x1         0x2         02:42:ac:11:00:01     *        eth0\n"
        ));
    }

    #[test]
    fn empty_tables_and_socket_counts() {
        assert_eq!(
            raw_header(false),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        );
        assert_eq!(
            empty_text(Kind::Dgram, false),
            sockets_lines(Kind::Dgram, false, &[])
        );
        assert_eq!(empty_text(Kind::Dgram, false).lines().count(), 1);
        let stat = sockstat_text();
        let heads: Vec<&str> = stat
            .lines()
            .map(|l| l.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(heads, ["sockets", "TCP", "UDP", "UDPLITE", "RAW", "FRAG"]);
        assert!(sockstat6_text().starts_with("TCP6: inuse "));
    }

    #[test]
    fn snmp_pairs_names_and_values() {
        for t in [snmp_text(), netstat_text()] {
            let lines: Vec<&str> = t.lines().collect();
            assert_eq!(lines.len() % 2, 0);
            for pair in lines.chunks(2) {
                let n = pair[0].split(' ').count();
                assert_eq!(n, pair[1].split(' ').count(), "{}", pair[0]);
            }
        }
        assert!(snmp_text().starts_with("Ip: Forwarding DefaultTTL"));
    }
}
