//! Docker's embedded DNS server for user-defined networks: Docker writes
//! `nameserver 127.0.0.11` into the container's resolv.conf and, inside
//! the container's network namespace, redirects 127.0.0.11:53 to its own
//! resolver with iptables. Inside the sandbox 127.0.0.11 is the Sentry's
//! loopback, which the host never sees, so queries to it are relayed.
//!
//! The relay is one UDP socket the Sentry opens in the container's
//! network namespace before the jail, connected to 127.0.0.11:53 (so the
//! namespace's iptables redirection applies, and only that peer's answers
//! arrive). A workload datagram to 127.0.0.11:53 is sent on it with a
//! transaction id of the relay's choosing; the answer goes back to the
//! asking socket with the workload's id, as if from 127.0.0.11:53. The
//! workload never holds the host socket and cannot name another
//! destination: only the DNS payload crosses. Queries over TCP take the
//! same path (`tcp`).

mod edns;
pub mod tcp;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::addr::SockAddr;
use super::socket::Socket;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;

/// Docker's embedded resolver.
pub const RESOLVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);
/// How long an unanswered query is remembered.
const QUERY_TTL: Duration = Duration::from_secs(30);
/// Queries in flight at most; more are dropped (the client retries).
const MAX_PENDING: usize = 1024;
/// A DNS message over UDP is at most this long (EDNS0 allows 64 KiB).
const MAX_MESSAGE: usize = 65535;

struct Pending {
    sock: Weak<Socket>,
    id: u16,
    at: Instant,
    asker: Asker,
}

/// How the query came, so the answer goes back the same way.
#[derive(Clone, Copy)]
enum Asker {
    /// A datagram to 127.0.0.11:53.
    Datagram,
    /// A TCP connection's query; `strip`: the relay added the OPT record.
    Stream { strip: bool },
}

pub struct Relay {
    fd: OwnedFd,
    pending: Mutex<(u16, HashMap<u16, Pending>)>,
}

static RELAY: OnceLock<Relay> = OnceLock::new();

/// Opens the relay socket in the current network namespace. Call before
/// the jail.
pub fn open() -> io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_in is a valid value to fill in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as u16;
    sin.sin_port = 53u16.to_be();
    sin.sin_addr.s_addr = u32::from(Ipv4Addr::new(127, 0, 0, 11)).to_be();
    // SAFETY: connect reads the sockaddr_in of the stated size from our stack.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = RELAY.set(Relay {
        fd,
        pending: Mutex::new((1, HashMap::new())),
    });
    Ok(())
}

/// The relay's descriptor, for the stack's driver to wait on.
pub fn raw_fd() -> Option<i32> {
    RELAY.get().map(|r| r.fd.as_raw_fd())
}

/// Whether `to` is the embedded resolver and the relay is open.
pub fn relays(to: &SocketAddr) -> bool {
    let v4 = match to {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::new(IpAddr::V4(ip), v6.port()),
            None => return false,
        },
        v4 => *v4,
    };
    v4 == RESOLVER && RELAY.get().is_some()
}

/// Sends the workload's query `data` from `sock` to the resolver.
pub fn query(sock: &Arc<Socket>, data: &[u8]) -> SysResult<usize> {
    if RELAY.get().is_none() {
        return err(libc::ENETUNREACH);
    }
    relay(sock, data.to_vec(), Asker::Datagram);
    Ok(data.len())
}

/// Sends a query that came over a TCP connection (`tcp::Session`), asking
/// for an answer of any size. Whether it went out.
fn query_for_stream(sock: &Arc<Socket>, mut data: Vec<u8>) -> bool {
    let strip = edns::widen_query(&mut data);
    relay(sock, data, Asker::Stream { strip })
}

/// Sends `msg` on the relay socket under an id of the relay's choosing.
/// A query that cannot go is lost, as a datagram can be (the client
/// times out); whether it went.
fn relay(sock: &Arc<Socket>, mut msg: Vec<u8>, asker: Asker) -> bool {
    let Some(r) = RELAY.get() else {
        return false;
    };
    // A DNS header is 12 bytes; anything shorter is not a query.
    if msg.len() < 12 || msg.len() > MAX_MESSAGE {
        return false;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let relay_id = {
        let mut p = lock(&r.pending);
        let now = Instant::now();
        p.1.retain(|_, q| now.duration_since(q.at) < QUERY_TTL && q.sock.strong_count() > 0);
        if p.1.len() >= MAX_PENDING {
            return false;
        }
        // The next id not in flight.
        let mut rid = p.0;
        while p.1.contains_key(&rid) {
            rid = rid.wrapping_add(1);
        }
        p.0 = rid.wrapping_add(1);
        p.1.insert(
            rid,
            Pending {
                sock: Arc::downgrade(sock),
                id,
                at: now,
                asker,
            },
        );
        rid
    };
    msg[..2].copy_from_slice(&relay_id.to_be_bytes());
    // SAFETY: sending our buffer on our connected socket.
    let n = unsafe {
        libc::send(
            r.fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        // Nobody there (no embedded DNS on this network) or a full queue.
        lock(&r.pending).1.remove(&relay_id);
        return false;
    }
    true
}

/// Delivers every answer that arrived to the socket that asked.
pub fn deliver_answers() {
    let Some(r) = RELAY.get() else {
        return;
    };
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        // SAFETY: receiving into our buffer of its stated length.
        let n = unsafe {
            libc::recv(
                r.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return;
        }
        let n = n as usize;
        if n < 12 {
            continue;
        }
        let rid = u16::from_be_bytes([buf[0], buf[1]]);
        let Some(q) = lock(&r.pending).1.remove(&rid) else {
            continue;
        };
        let Some(sock) = q.sock.upgrade() else {
            continue;
        };
        let mut answer = buf[..n].to_vec();
        answer[..2].copy_from_slice(&q.id.to_be_bytes());
        if let Asker::Stream { strip } = q.asker {
            if strip {
                edns::strip_opt(&mut answer);
            }
            sock.dns_answer(&answer);
            continue;
        }
        let from = match sock.family {
            super::Family::Inet6 => sock.presented(RESOLVER),
            _ => RESOLVER,
        };
        sock.deliver_datagram(answer, SockAddr::Inet(from));
    }
}
