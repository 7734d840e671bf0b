//! ICMP echo sockets, for `ping`: the datagram kind Linux gives any user
//! of `net.ipv4.ping_group_range` (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`: the application writes the ICMP header and payload, the
//! kernel sets the identifier, and replies come back without the IP header)
//! and the raw kind CAP_NET_RAW allows (`SOCK_RAW`: the application's own
//! identifier, and replies with an IP header in front, which busybox's
//! ping reads its TTL from).
//!
//! Echo requests to the sandbox's own addresses are answered here (the
//! Sentry's loopback has no IP layer); the rest go through the stack's
//! smoltcp ICMP sockets, bound to the identifier on every link.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use smoltcp::socket::icmp::{self, PacketBuffer, PacketMetadata};
use smoltcp::wire::IpAddress;

use super::tcp::unmapped;
use super::{Handle, Stack};
use crate::errno::{err, Errno, SysResult};

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
/// Replies queued per socket before more are dropped.
const QUEUE: usize = 64;
const BYTES: usize = 64 * 1024;

/// The internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header for a raw socket's reader: from `src` to `dst`.
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, payload: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload).min(u16::MAX as usize) as u16).to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = 64; // TTL
    h[9] = 1; // ICMP
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// One echo socket of the workload.
pub struct Ping {
    raw: bool,
    /// The identifier replies are matched by (the "port" of a datagram
    /// socket; a raw socket's is the one it last sent).
    ident: u16,
    handles: Vec<Handle>,
    /// The identifier the smoltcp sockets are bound to.
    bound: Option<u16>,
    /// Replies waiting to be read: (ICMP packet, from, to). Answers to
    /// requests for the sandbox's own addresses are made here; the stack's
    /// are moved here when read (so MSG_PEEK can leave them).
    queue: VecDeque<(Vec<u8>, Ipv4Addr, Ipv4Addr)>,
}

fn next_ident() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x4000);
    (NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff) as u16
}

impl Ping {
    pub fn new(raw: bool) -> Ping {
        Ping {
            raw,
            ident: next_ident(),
            handles: Vec::new(),
            bound: None,
            queue: VecDeque::new(),
        }
    }

    /// bind(2): a datagram socket's port is its identifier.
    pub fn bind(&mut self, port: u16) {
        if !self.raw && port != 0 {
            self.ident = port;
        }
    }

    fn rebind(&mut self, s: &mut Stack) {
        self.release(s);
        self.bound = Some(self.ident);
        for (i, l) in s.links.iter_mut().enumerate() {
            let buffer = || PacketBuffer::new(vec![PacketMetadata::EMPTY; QUEUE], vec![0u8; BYTES]);
            let mut sock = icmp::Socket::new(buffer(), buffer());
            if sock.bind(icmp::Endpoint::Ident(self.ident)).is_ok() {
                self.handles.push(Handle {
                    link: i,
                    socket: l.sockets.add(sock),
                });
            }
        }
    }

    /// Sends the application's ICMP message to `to`.
    pub fn send(&mut self, s: Option<&mut Stack>, data: &[u8], to: IpAddr) -> SysResult<usize> {
        let IpAddr::V4(dst) = unmapped(to) else {
            return err(libc::EAFNOSUPPORT);
        };
        if data.len() < 8 {
            return err(libc::EINVAL);
        }
        let mut msg = data.to_vec();
        if self.raw {
            self.ident = u16::from_be_bytes([msg[4], msg[5]]);
        } else {
            // A ping socket sends echo requests only, with its identifier.
            if msg[0] != ECHO_REQUEST || msg[1] != 0 {
                return err(libc::EINVAL);
            }
            msg[4..6].copy_from_slice(&self.ident.to_be_bytes());
        }
        if crate::net::inet::is_local(&IpAddr::V4(dst)) {
            if msg[0] == ECHO_REQUEST && self.queue.len() < QUEUE {
                let mut reply = msg.clone();
                reply[0] = ECHO_REPLY;
                reply[2..4].copy_from_slice(&[0, 0]);
                let c = checksum(&reply);
                reply[2..4].copy_from_slice(&c.to_be_bytes());
                self.queue.push_back((reply, dst, dst));
                super::changed();
            }
            return Ok(data.len());
        }
        let s = s.ok_or(Errno(libc::ENETUNREACH))?;
        let link = s
            .link_for(&IpAddr::V4(dst))
            .ok_or(Errno(libc::ENETUNREACH))?;
        if self.handles.is_empty() || self.bound != Some(self.ident) {
            self.rebind(s);
        }
        let h = *self
            .handles
            .iter()
            .find(|h| h.link == link)
            .ok_or(Errno(libc::ENETUNREACH))?;
        let sock = s.links[link].sockets.get_mut::<icmp::Socket>(h.socket);
        sock.send_slice(&msg, IpAddress::Ipv4(dst))
            .map_err(|_| Errno(libc::EAGAIN))?;
        s.flush();
        super::wake();
        Ok(data.len())
    }

    /// Moves the replies the stack received to the queue.
    fn collect(&mut self, s: Option<&mut Stack>) {
        let Some(s) = s else { return };
        for h in &self.handles {
            let Some(l) = s.links.get_mut(h.link) else {
                continue;
            };
            let own = l.iface.ipv4_addr().unwrap_or(Ipv4Addr::UNSPECIFIED);
            let sock = l.sockets.get_mut::<icmp::Socket>(h.socket);
            while self.queue.len() < QUEUE {
                match sock.recv() {
                    Ok((d, IpAddress::Ipv4(from))) => self.queue.push_back((d.to_vec(), from, own)),
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
    }

    /// The next reply: (bytes as the application reads them, full length, from).
    pub fn recv(
        &mut self,
        s: Option<&mut Stack>,
        max: usize,
        peek: bool,
    ) -> Option<(Vec<u8>, usize, IpAddr)> {
        self.collect(s);
        let (packet, from, to) = if peek {
            self.queue.front().cloned()?
        } else {
            self.queue.pop_front()?
        };
        let mut out = Vec::with_capacity(packet.len() + 20);
        if self.raw {
            out.extend_from_slice(&ipv4_header(from, to, packet.len()));
        }
        out.extend_from_slice(&packet);
        let full = out.len();
        out.truncate(max);
        Some((out, full, IpAddr::V4(from)))
    }

    pub fn readable(&mut self, s: Option<&mut Stack>) -> bool {
        self.collect(s);
        !self.queue.is_empty()
    }

    /// Removes its smoltcp sockets (queued requests are dropped).
    pub fn release(&mut self, s: &mut Stack) {
        for h in self.handles.drain(..) {
            if let Some(l) = s.links.get_mut(h.link) {
                l.sockets.remove(h.socket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_echo_is_answered_with_the_sockets_identifier() {
        let mut p = Ping::new(false);
        p.bind(0x1234);
        let mut req = vec![ECHO_REQUEST, 0, 0, 0, 0xaa, 0xbb, 0, 7, b'h', b'i'];
        let c = checksum(&req);
        req[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(p.send(None, &req, "127.0.0.1".parse().expect("ip")), Ok(10));
        let (reply, full, from) = p.recv(None, 64, false).expect("a reply");
        assert_eq!(full, 10);
        assert_eq!(from, "127.0.0.1".parse::<IpAddr>().expect("ip"));
        assert_eq!(reply[0], ECHO_REPLY);
        assert_eq!(&reply[4..6], &[0x12, 0x34]);
        assert_eq!(checksum(&reply), 0);
    }

    #[test]
    fn a_ping_socket_sends_echo_requests_only() {
        let mut p = Ping::new(false);
        let reply = [ECHO_REPLY, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            p.send(None, &reply, "127.0.0.1".parse().expect("ip")),
            Err(Errno(libc::EINVAL))
        );
    }

    #[test]
    fn a_raw_reader_gets_an_ip_header() {
        let mut p = Ping::new(true);
        let req = [ECHO_REQUEST, 0, 0, 0, 0, 9, 0, 1];
        assert!(p.send(None, &req, "127.0.0.1".parse().expect("ip")).is_ok());
        let (got, _, _) = p.recv(None, 64, false).expect("a reply");
        assert_eq!(got[0], 0x45);
        assert_eq!(got[9], 1);
        assert_eq!(got[20], ECHO_REPLY);
        assert_eq!(&got[24..26], &[0, 9]);
    }
}
