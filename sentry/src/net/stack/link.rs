//! The link endpoint: Ethernet frames exchanged with one host interface of
//! the container's network namespace through an AF_PACKET socket opened
//! before the jail. This descriptor is the sandbox's only path to the
//! network; the Sentry only ever reads and writes frames on it.
//!
//! The socket carries a `virtio_net_hdr` before each frame
//! (PACKET_VNET_HDR): a veth hands over what the host side sent as is, so
//! a frame may be a TCP super-segment (GSO) bigger than the MTU and its
//! checksum may still be partial (the host offloads it to a "device" that
//! never computes it). The header says so, and [`complete_checksum`]
//! finishes such checksums before the stack sees the frame.
//!
//! Out, the same header offloads TCP's work to the host kernel: the stack
//! builds TCP segments of up to 64 KiB (smoltcp's segmentation offload)
//! with the pseudo-header sum in the checksum field, and the header asks
//! the kernel to cut them into MSS-sized segments and finish each checksum
//! ([`offload_tcp`]), so one send carries what would be dozens of frames.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::net::iface::Counters;

/// `struct virtio_net_hdr` (without the num_buffers field).
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// The largest frame a GSO super-segment can be, plus its header.
const RX_BUF: usize = 65536 + 14 + VNET_HDR_LEN;
/// The largest TCP frame the stack hands over for segmentation (Ethernet
/// header included; the IP total length must fit 16 bits).
const TSO_FRAME: usize = 65000;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
/// Socket buffers of the packet socket: room for bursts at 10 Gbit/s-ish
/// rates while the stack is busy elsewhere.
const SOCKET_BUF: i32 = 4 << 20;

/// How long a SYN to a full accept queue waits for room, and how many
/// wait at once (see `PacketLink::held`).
const SYN_HOLD: std::time::Duration = std::time::Duration::from_millis(900);
const SYN_HOLD_MAX: usize = 256;

/// One host interface's frames.
pub struct PacketLink {
    /// Ports whose listeners have a full accept queue: a SYN to them does
    /// not reach the stack, which would answer with a reset.
    pub full_ports: std::collections::HashSet<u16>,
    /// SYNs that found their port full, waiting for an accept to make
    /// room. Linux drops them and the client retries after a second; a
    /// server in the sandbox accepts more slowly than the stack completes
    /// handshakes, so a burst of connections (a load test, a reconnecting
    /// pool) filled the queue and each later client lost a whole second.
    /// Held, a SYN is answered as soon as there is room; one still
    /// unanswered after `SYN_HOLD` (just under the client's first retry)
    /// is dropped, as Linux would have dropped it.
    held: std::collections::VecDeque<(std::time::Instant, Vec<u8>)>,
    /// IFF_UP as the workload set it: a link that is down drops what
    /// arrives and sends nothing.
    pub up: bool,
    fd: OwnedFd,
    /// The IP MTU (without the Ethernet header).
    mtu: usize,
    counters: Arc<Counters>,
    rx: Vec<u8>,
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt reads one int from our stack.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SOL_PACKET option numbers (not all in the libc crate).
const PACKET_VNET_HDR: i32 = 15;
const PACKET_IGNORE_OUTGOING: i32 = 23;

impl PacketLink {
    /// The IP MTU the workload set (`ip link set mtu`).
    pub fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu;
    }

    /// The IP MTU (for TCP_INFO's MSS figures).
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Opens a packet socket bound to interface `index`. Call before the
    /// jail (it needs CAP_NET_RAW and the socket system call).
    pub fn open(index: u32, mtu: u32, counters: Arc<Counters>) -> io::Result<PacketLink> {
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        setsockopt_int(raw, libc::SOL_PACKET, PACKET_VNET_HDR, 1)?;
        // Frames we send are not read back as if they had arrived.
        setsockopt_int(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
        // FORCE: beyond net.core.rmem_max, as the root we still are here.
        let _ = setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUF);
        let _ = setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUF);
        // SAFETY: an all-zero sockaddr_ll is a valid value to fill in.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto as u16;
        sll.sll_ifindex = index as i32;
        // SAFETY: bind reads the sockaddr_ll of the stated size from our stack.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketLink {
            full_ports: Default::default(),
            held: Default::default(),
            up: true,
            fd,
            mtu: mtu as usize,
            counters,
            rx: vec![0; RX_BUF],
        })
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Whether SYNs wait for room (an accept should wake the driver).
    pub fn holds_syns(&self) -> bool {
        !self.held.is_empty()
    }

    /// A held SYN whose port has room now, copied into `self.rx`; drops
    /// those that waited too long.
    fn take_held(&mut self) -> Option<usize> {
        let now = std::time::Instant::now();
        self.held
            .retain(|(since, _)| now.duration_since(*since) < SYN_HOLD);
        let i = self.held.iter().position(|(_, f)| {
            syn_port(&f[VNET_HDR_LEN..]).is_some_and(|p| !self.full_ports.contains(&p))
        })?;
        let (_, f) = self.held.remove(i)?;
        self.rx[..f.len()].copy_from_slice(&f);
        self.counters.received(f.len() - VNET_HDR_LEN);
        Some(f.len())
    }

    /// Reads one frame into `self.rx`; its length, or None when none is queued.
    fn read_frame(&mut self) -> Option<usize> {
        if !self.held.is_empty() {
            if let Some(n) = self.take_held() {
                return Some(n);
            }
        }
        loop {
            // SAFETY: receiving into our buffer of its stated length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.rx.as_mut_ptr().cast(),
                    self.rx.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            let n = n as usize;
            if n > self.rx.len() || n < VNET_HDR_LEN + 14 {
                // Truncated or runt: nothing a stack could use.
                self.counters
                    .rx_dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let (hdr, frame) = self.rx[..n].split_at_mut(VNET_HDR_LEN);
            if hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
                let start = u16::from_le_bytes([hdr[6], hdr[7]]) as usize;
                let offset = u16::from_le_bytes([hdr[8], hdr[9]]) as usize;
                if !complete_checksum(frame, start, offset) {
                    self.counters
                        .rx_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
            }
            if !self.full_ports.is_empty() {
                if let Some(port) = syn_port(frame) {
                    if self.full_ports.contains(&port) {
                        if self.held.len() < SYN_HOLD_MAX {
                            let since = std::time::Instant::now();
                            self.held.push_back((since, self.rx[..n].to_vec()));
                        } else {
                            self.counters
                                .rx_dropped
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        continue;
                    }
                }
            }
            self.counters.received(n - VNET_HDR_LEN);
            return Some(n);
        }
    }
}

/// Finishes a partial checksum the way a device would: the field at
/// `start + offset` holds the folded pseudo-header sum, and the checksum of
/// everything from `start` to the end goes there. False when the offsets
/// do not fit the frame (hostile or garbled metadata).
pub fn complete_checksum(frame: &mut [u8], start: usize, offset: usize) -> bool {
    let field = start.saturating_add(offset);
    if start >= frame.len() || field.saturating_add(2) > frame.len() {
        return false;
    }
    let mut sum: u32 = 0;
    let mut chunks = frame[start..].chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    frame[field..field + 2].copy_from_slice(&csum.to_be_bytes());
    true
}

/// The destination port of a TCP connection request (SYN without ACK)
/// in an Ethernet frame, if it is one.
pub fn syn_port(frame: &[u8]) -> Option<u16> {
    const ETHER: usize = 14;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let tcp = match ethertype {
        0x0800 => {
            let ihl = (*frame.get(ETHER)? & 0x0f) as usize * 4;
            if *frame.get(ETHER + 9)? != 6 {
                return None;
            }
            ETHER + ihl
        }
        0x86dd => {
            if *frame.get(ETHER + 6)? != 6 {
                return None;
            }
            ETHER + 40
        }
        _ => return None,
    };
    let flags = *frame.get(tcp + 13)?;
    if flags & 0x12 != 0x02 {
        return None;
    }
    Some(u16::from_be_bytes([
        *frame.get(tcp + 2)?,
        *frame.get(tcp + 3)?,
    ]))
}

/// A received frame (borrowed from the link's buffer).
pub struct Rx<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }

    /// The header's TTL and class ride to UDP sockets in the id.
    fn meta(&self) -> phy::PacketMeta {
        let mut m = phy::PacketMeta::default();
        m.id = super::ipmeta::of_frame(self.frame);
        m
    }
}

/// Fills in the virtio_net_hdr for a TCP frame the stack left for the
/// kernel to finish: the checksum field gets the pseudo-header sum (the
/// stack computed none), the header asks for the rest of the checksum and,
/// when `mss` is given and the payload is longer, for segmentation. Frames
/// that are not TCP are left alone (their checksums are complete).
pub fn offload_tcp(hdr: &mut [u8], frame: &mut [u8], mss: Option<u16>) {
    const ETHER: usize = 14;
    let Some(ethertype) = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return;
    };
    let mut sum: u32 = 0;
    let add = |sum: &mut u32, bytes: &[u8]| {
        for c in bytes.chunks(2) {
            *sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
        }
    };
    let (ip_len, gso_type) = match ethertype {
        0x0800 => {
            let Some(&vihl) = frame.get(ETHER) else {
                return;
            };
            let ihl = (vihl & 0x0f) as usize * 4;
            if frame.get(ETHER + 9) != Some(&6) || frame.len() < ETHER + ihl + 20 {
                return;
            }
            add(&mut sum, &frame[ETHER + 12..ETHER + 20]);
            (ihl, VIRTIO_NET_HDR_GSO_TCPV4)
        }
        0x86dd => {
            if frame.get(ETHER + 6) != Some(&6) || frame.len() < ETHER + 40 + 20 {
                return;
            }
            add(&mut sum, &frame[ETHER + 8..ETHER + 40]);
            (40, VIRTIO_NET_HDR_GSO_TCPV6)
        }
        _ => return,
    };
    let tcp = ETHER + ip_len;
    let tcp_len = frame.len() - tcp;
    sum += 6 + tcp_len as u32;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    frame[tcp + 16..tcp + 18].copy_from_slice(&(sum as u16).to_be_bytes());
    let header_len = tcp + ((frame[tcp + 12] >> 4) as usize) * 4;
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[6..8].copy_from_slice(&(tcp as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
    if let Some(mss) = mss.filter(|m| frame.len() > header_len + *m as usize) {
        hdr[1] = gso_type;
        hdr[2..4].copy_from_slice(&(header_len as u16).to_le_bytes());
        hdr[4..6].copy_from_slice(&mss.to_le_bytes());
    }
}

/// Permission to send one frame.
pub struct Tx<'a> {
    fd: &'a OwnedFd,
    counters: &'a Counters,
    meta: phy::PacketMeta,
}

impl phy::TxToken for Tx<'_> {
    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.meta = meta;
    }

    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = vec![0u8; VNET_HDR_LEN + len];
        let r = f(&mut buf[VNET_HDR_LEN..]);
        let (hdr, frame) = buf.split_at_mut(VNET_HDR_LEN);
        let mss = self.meta.segmentation_offload_size.map(|m| m.get());
        offload_tcp(hdr, frame, mss);
        // SAFETY: sending our buffer on our bound packet socket.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            // A full queue drops the frame, as a NIC would; TCP resends.
            self.counters
                .tx_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            self.counters.sent(len);
        }
        r
    }
}

impl Device for PacketLink {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let n = self.read_frame()?;
        if !self.up {
            return None;
        }
        Some((
            Rx {
                frame: &self.rx[VNET_HDR_LEN..n],
            },
            Tx {
                fd: &self.fd,
                counters: &self.counters,
                meta: phy::PacketMeta::default(),
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        if !self.up {
            return None;
        }
        Some(Tx {
            fd: &self.fd,
            counters: &self.counters,
            meta: phy::PacketMeta::default(),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + 14;
        // TCP checksums are verified here and finished by the host kernel
        // on the way out (offload_tcp), which also segments large sends.
        caps.checksum.tcp = phy::Checksum::Rx;
        caps.segmentation.tcpv4 = std::num::NonZeroUsize::new(TSO_FRAME);
        caps.segmentation.tcpv6 = std::num::NonZeroUsize::new(TSO_FRAME);
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_a_partial_checksum() {
        // A field holding a pseudo-header sum of 0, then data 0x0102 0x0304.
        let mut frame = [0u8, 0, 1, 2, 3, 4];
        assert!(complete_checksum(&mut frame, 0, 0));
        // sum = 0x0102 + 0x0304 = 0x0406 → checksum !0x0406 = 0xfbf9.
        assert_eq!(&frame[..2], &[0xfb, 0xf9]);
    }

    #[test]
    fn finds_the_port_of_a_syn_only() {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[34 + 2..34 + 4].copy_from_slice(&80u16.to_be_bytes());
        f[34 + 13] = 0x02;
        assert_eq!(syn_port(&f), Some(80));
        f[34 + 13] = 0x12; // SYN-ACK
        assert_eq!(syn_port(&f), None);
        assert_eq!(syn_port(&f[..20]), None);
    }

    #[test]
    fn offload_sets_the_pseudo_header_sum_and_gso() {
        // IPv4 10.0.0.1 -> 10.0.0.2, TCP with a 20-byte header, 3000 bytes.
        let mut f = vec![0u8; 14 + 20 + 20 + 3000];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
        f[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
        f[34 + 12] = 0x50;
        let mut hdr = [0u8; VNET_HDR_LEN];
        offload_tcp(&mut hdr, &mut f, Some(1460));
        // 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 3020 = 0x1fd5.
        assert_eq!(&f[34 + 16..34 + 18], &[0x1f, 0xd5]);
        assert_eq!(hdr[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        assert_eq!(hdr[1], VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 1460);
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 34);
        // A small segment: checksum offload only.
        let mut small = f[..14 + 40 + 100].to_vec();
        let mut hdr = [0u8; VNET_HDR_LEN];
        offload_tcp(&mut hdr, &mut small, Some(1460));
        assert_eq!(hdr[1], 0);
        // Not TCP: untouched.
        let mut udp = f.clone();
        udp[14 + 9] = 17;
        let mut hdr = [0u8; VNET_HDR_LEN];
        offload_tcp(&mut hdr, &mut udp, Some(1460));
        assert_eq!(hdr, [0u8; VNET_HDR_LEN]);
    }

    #[test]
    fn refuses_offsets_outside_the_frame() {
        let mut frame = [0u8; 8];
        assert!(!complete_checksum(&mut frame, 7, 4));
        assert!(!complete_checksum(&mut frame, 100, 0));
        assert!(!complete_checksum(&mut frame, usize::MAX, usize::MAX));
    }
}
