//! UDP over the stack: a bound inet datagram socket of the workload has,
//! besides its loopback queue in the socket core, one smoltcp UDP socket
//! per link it can receive on, bound to the same port.

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
}

/// Binds `port` on `ip` (None: every address) on every link that has it.
pub fn bind(s: &mut Stack, ip: Option<IpAddr>, port: u16) -> Binding {
    let owner = ip.and_then(|ip| s.link_owning(&unmapped(ip)));
    let mut handles = Vec::new();
    for (i, l) in s.links.iter_mut().enumerate() {
        if ip.is_some() && owner != Some(i) {
            continue;
        }
        let mut u = new_socket();
        let endpoint = IpListenEndpoint {
            addr: ip.map(|ip| IpAddress::from(unmapped(ip))),
            port,
        };
        if u.bind(endpoint).is_ok() {
            handles.push(Handle {
                link: i,
                socket: l.sockets.add(u),
            });
        }
    }
    Binding { handles }
}

impl Binding {
    /// The next datagram from the network, if one is queued.
    pub fn recv(&self, s: &mut Stack, max: usize, peek: bool) -> Option<Datagram> {
        for h in &self.handles {
            let l = s.links.get_mut(h.link)?;
            let ifindex = l.index;
            let u = l.sockets.get_mut::<udp::Socket>(h.socket);
            let (data, meta) = if peek {
                let (d, m) = u.peek().ok()?;
                (d.to_vec(), *m)
            } else {
                match u.recv() {
                    Ok((d, m)) => (d.to_vec(), m),
                    Err(_) => continue,
                }
            };
            let full_len = data.len();
            let mut data = data;
            data.truncate(max);
            return Some(Datagram {
                data,
                full_len,
                from: socket_addr(meta.endpoint),
                to: meta.local_address.map(IpAddr::from),
                ifindex,
                header: super::ipmeta::decode(meta.meta.id),
            });
        }
        None
    }

    pub fn readable(&self, s: &mut Stack) -> bool {
        self.handles.iter().any(|h| {
            s.links
                .get_mut(h.link)
                .is_some_and(|l| l.sockets.get_mut::<udp::Socket>(h.socket).can_recv())
        })
    }

    /// Bytes of the next datagram (FIONREAD).
    pub fn next_len(&self, s: &mut Stack) -> usize {
        for h in &self.handles {
            if let Some(l) = s.links.get_mut(h.link) {
                if let Ok((d, _)) = l.sockets.get_mut::<udp::Socket>(h.socket).peek() {
                    return d.len();
                }
            }
        }
        0
    }

    /// Sends one datagram to `to` through the link its route names.
    pub fn send(&self, s: &mut Stack, data: &[u8], to: SocketAddr) -> SysResult<usize> {
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

    /// The last close: datagrams still queued are sent first.
    pub fn release(&self, s: &mut Stack) {
        for h in &self.handles {
            s.orphan(super::Orphan::Udp(*h));
        }
        s.flush();
    }
}

/// Whether a closed socket has sent everything it had queued.
pub fn finished(l: &mut super::NetLink, h: smoltcp::iface::SocketHandle) -> bool {
    l.sockets.get_mut::<udp::Socket>(h).send_queue() == 0
}
