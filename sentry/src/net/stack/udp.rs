//! UDP over the stack: a bound inet datagram socket of the workload has,
//! besides its loopback queue in the socket core, one smoltcp UDP socket
//! per link it can receive on, bound to the same port.
//!
//! Sockets sharing a port with SO_REUSEPORT share one smoltcp socket per
//! link (smoltcp would give every datagram to the first of several bound
//! alike): whoever looks at it deals what it holds to the members' queues
//! by a hash of the sender's address and port, as Linux spreads them, so
//! one sender's datagrams keep reaching one socket.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::wire::{IpAddress, IpListenEndpoint};

use super::tcp::{endpoint_of, socket_addr, unmapped};
use super::{Handle, Stack};
use crate::errno::{err, Errno, SysResult};

/// Datagrams and bytes a socket may hold each way (Linux's default
/// rmem of 208 KiB holds about this many small datagrams).
const PACKETS: usize = 256;
const BYTES: usize = 256 * 1024;
/// The largest UDP payload over IPv4.
const MAX_PAYLOAD: usize = 65507;

fn new_socket() -> udp::Socket<'static> {
    let buffer = || PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0u8; BYTES]);
    udp::Socket::new(buffer(), buffer())
}

/// One datagram received from the network.
#[derive(Clone)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub full_len: usize,
    pub from: SocketAddr,
    /// The address it was sent to (IP_PKTINFO).
    pub to: Option<IpAddr>,
    /// The interface it came in by.
    pub ifindex: u32,
    /// Its header's TTL or hop limit and TOS or class (`ipmeta`).
    pub header: Option<(u8, u8)>,
}

/// A workload socket's bindings on the stack's links.
pub struct Binding {
    handles: Vec<Handle>,
    /// Its id among the members of shared ports (SO_REUSEPORT).
    member: Option<u64>,
}

/// A port shared by SO_REUSEPORT sockets on one link: one smoltcp socket
/// and a queue per member.
pub struct Shared {
    handle: Handle,
    endpoint: IpListenEndpoint,
    members: Vec<(u64, VecDeque<Datagram>)>,
}

fn next_member() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Binds `port` on `ip` (None: every address) on every link that has it;
/// with `reuseport`, sharing the smoltcp socket of the sockets already
/// bound there with it.
pub fn bind(s: &mut Stack, ip: Option<IpAddr>, port: u16, reuseport: bool) -> Binding {
    let owner = ip.and_then(|ip| s.link_owning(&unmapped(ip)));
    let member = reuseport.then(next_member);
    let mut handles = Vec::new();
    let endpoint = IpListenEndpoint {
        addr: ip.map(|ip| IpAddress::from(unmapped(ip))),
        port,
    };
    for (i, l) in s.links.iter_mut().enumerate() {
        if ip.is_some() && owner != Some(i) {
            continue;
        }
        if let Some(id) = member {
            if let Some(sh) = s
                .shared_udp
                .iter_mut()
                .find(|sh| sh.handle.link == i && sh.endpoint == endpoint)
            {
                sh.members.push((id, VecDeque::new()));
                handles.push(sh.handle);
                continue;
            }
        }
        let mut u = new_socket();
        if u.bind(endpoint).is_ok() {
            let h = Handle {
                link: i,
                socket: l.sockets.add(u),
            };
            handles.push(h);
            if let Some(id) = member {
                s.shared_udp.push(Shared {
                    handle: h,
                    endpoint,
                    members: vec![(id, VecDeque::new())],
                });
            }
        }
    }
    Binding { handles, member }
}

/// Takes the next datagram off smoltcp socket `h` (or looks at it).
fn take(s: &mut Stack, h: Handle, peek: bool) -> Option<Datagram> {
    let l = s.links.get_mut(h.link)?;
    let ifindex = l.index;
    let u = l.sockets.get_mut::<udp::Socket>(h.socket);
    let (data, meta) = if peek {
        let (d, m) = u.peek().ok()?;
        (d.to_vec(), *m)
    } else {
        let (d, m) = u.recv().ok()?;
        (d.to_vec(), m)
    };
    Some(Datagram {
        full_len: data.len(),
        data,
        from: socket_addr(meta.endpoint),
        to: meta.local_address.map(IpAddr::from),
        ifindex,
        header: super::ipmeta::decode(meta.meta.id),
    })
}

/// Deals what shared socket `h` holds to its members' queues (a full
/// queue drops, as UDP does). Returns the port's index in `shared_udp`.
fn deal(s: &mut Stack, h: Handle) -> Option<usize> {
    let idx = s.shared_udp.iter().position(|sh| sh.handle == h)?;
    while let Some(d) = take(s, h, false) {
        let sh = &mut s.shared_udp[idx];
        if sh.members.is_empty() {
            continue;
        }
        let pick = {
            use std::hash::{Hash, Hasher};
            // Fixed keys: one sender keeps reaching one socket.
            let mut hasher = std::hash::DefaultHasher::new();
            d.from.ip().to_canonical().hash(&mut hasher);
            d.from.port().hash(&mut hasher);
            hasher.finish() as usize % sh.members.len()
        };
        let q = &mut sh.members[pick].1;
        if q.len() < PACKETS {
            q.push_back(d);
        }
    }
    Some(idx)
}

impl Binding {
    /// This member's queue at shared port `idx`.
    fn queue<'a>(&self, s: &'a mut Stack, idx: usize) -> Option<&'a mut VecDeque<Datagram>> {
        let id = self.member?;
        s.shared_udp
            .get_mut(idx)?
            .members
            .iter_mut()
            .find(|m| m.0 == id)
            .map(|m| &mut m.1)
    }

    /// The next datagram from the network for this socket (the whole of
    /// it: the caller cuts it to its buffer).
    fn next(&self, s: &mut Stack, peek: bool) -> Option<Datagram> {
        for h in &self.handles {
            if let Some(idx) = deal(s, *h) {
                let d = self.queue(s, idx).and_then(|q| {
                    if peek {
                        q.front().cloned()
                    } else {
                        q.pop_front()
                    }
                });
                match d {
                    Some(d) => return Some(d),
                    None => continue,
                }
            }
            if let Some(d) = take(s, *h, peek) {
                return Some(d);
            }
        }
        None
    }

    /// The next datagram from the network, if one is queued.
    pub fn recv(&self, s: &mut Stack, max: usize, peek: bool) -> Option<Datagram> {
        let mut d = self.next(s, peek)?;
        d.data.truncate(max);
        Some(d)
    }

    pub fn readable(&self, s: &mut Stack) -> bool {
        self.next(s, true).is_some()
    }

    /// Bytes of the next datagram (FIONREAD).
    pub fn next_len(&self, s: &mut Stack) -> usize {
        self.next(s, true).map_or(0, |d| d.full_len)
    }

    /// Sends one datagram to `to` through the link its route names, with
    /// `hops` as its TTL or hop limit (None: 64).
    pub fn send(
        &self,
        s: &mut Stack,
        data: &[u8],
        to: SocketAddr,
        hops: Option<u8>,
    ) -> SysResult<usize> {
        if data.len() > MAX_PAYLOAD {
            return err(libc::EMSGSIZE);
        }
        let dst = unmapped(to.ip());
        let link = s.link_for(&dst).ok_or(Errno(libc::ENETUNREACH))?;
        let h = self
            .handles
            .iter()
            .find(|h| h.link == link)
            .ok_or(Errno(libc::ENETUNREACH))?;
        let l = &mut s.links[link];
        let u = l.sockets.get_mut::<udp::Socket>(h.socket);
        // smoltcp applies a socket's hop limit when the datagram leaves,
        // which the flush below does at once (a shared port's members may
        // differ; one waiting for ARP leaves with the last one set).
        u.set_hop_limit(hops.filter(|h| *h > 0));
        let meta = UdpMetadata::from(endpoint_of(to));
        match u.send_slice(data, meta) {
            Ok(()) => {}
            Err(udp::SendError::BufferFull) => return err(libc::EAGAIN),
            Err(udp::SendError::Unaddressable) => return err(libc::EDESTADDRREQ),
        }
        s.flush();
        super::wake();
        Ok(data.len())
    }

    /// Whether a send would not block.
    pub fn writable(&self, s: &mut Stack) -> bool {
        self.handles.iter().all(|h| {
            s.links
                .get_mut(h.link)
                .is_some_and(|l| l.sockets.get_mut::<udp::Socket>(h.socket).can_send())
        })
    }

    /// The last close: datagrams still queued are sent first. A shared
    /// port's socket stays while other members hold it.
    pub fn release(&self, s: &mut Stack) {
        for h in &self.handles {
            if let Some(id) = self.member {
                if let Some(idx) = s.shared_udp.iter().position(|sh| sh.handle == *h) {
                    let sh = &mut s.shared_udp[idx];
                    sh.members.retain(|m| m.0 != id);
                    if !sh.members.is_empty() {
                        continue;
                    }
                    s.shared_udp.swap_remove(idx);
                }
            }
            s.orphan(super::Orphan::Udp(*h));
        }
        s.flush();
    }
}

/// Whether a closed socket has sent everything it had queued.
pub fn finished(l: &mut super::NetLink, h: smoltcp::iface::SocketHandle) -> bool {
    l.sockets.get_mut::<udp::Socket>(h).send_queue() == 0
}
