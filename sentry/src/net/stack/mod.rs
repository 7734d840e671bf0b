//! The sandbox's TCP/IP stack: the workload's inet sockets that reach
//! beyond loopback are served here, by smoltcp, over the interfaces the
//! Sentry took over from the container's network namespace at boot.
//!
//! Layers, bottom up: [`link`] (Ethernet frames on an AF_PACKET socket),
//! smoltcp's interface (ARP/NDP, IPv4/IPv6, ICMP echo) and sockets (TCP,
//! UDP), then [`tcp`] and [`udp`], which give the socket core Linux's
//! semantics on top (listen backlogs, errors, shutdown). [`takeover`]
//! moves the namespace's interfaces into the stack before the jail;
//! [`driver`] is the thread that feeds it frames and runs its timers.
//!
//! One lock guards the whole stack. System calls take it, act on their
//! smoltcp socket and flush what they queued at once ([`Stack::flush`],
//! egress only), so a reply leaves without a thread hop; the driver
//! thread reads frames when they arrive and runs the timers. Readiness flows through the kernel's event counter: every poll
//! that changes a socket bumps [`generation`], which every external
//! socket's `event_seq` includes.

pub mod config;
pub mod driver;
pub mod icmp;
pub mod ipmeta;
pub mod link;
pub mod rtnl;
pub mod takeover;
pub mod tcp;
pub mod udp;

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use smoltcp::iface::{Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{IpAddress, IpCidr};

use crate::kernel::events;
use link::PacketLink;

/// One interface of the stack: smoltcp's state for it, its device, and
/// the sockets that send through it.
pub struct NetLink {
    pub index: u32,
    pub iface: Interface,
    pub device: PacketLink,
    pub sockets: SocketSet<'static>,
    /// Its addresses, for choosing the link a destination is reached by.
    pub cidrs: Vec<IpCidr>,
    pub has_default_v4: bool,
    pub has_default_v6: bool,
    /// Listeners' pools of smoltcp sockets on this link.
    pub pools: Vec<tcp::Pool>,
}

/// A socket the workload closed, left to finish.
#[derive(Clone, Copy, Debug)]
pub enum Orphan {
    Tcp(Handle),
    Udp(Handle),
}

/// A smoltcp socket of the stack: which link's set holds it, and its handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    pub link: usize,
    pub socket: SocketHandle,
}

pub struct Stack {
    pub links: Vec<NetLink>,
    epoch: std::time::Instant,
    /// Sockets closed by the workload that still finish their goodbye
    /// (FIN, TIME_WAIT, queued datagrams) before they are removed.
    orphans: Vec<Orphan>,
    /// UDP ports shared by SO_REUSEPORT sockets (`udp::Shared`).
    pub shared_udp: Vec<udp::Shared>,
    /// Listeners on "any" address of one family (`tcp::Wildcard`).
    pub wildcards: Vec<tcp::Wildcard>,
    /// Sockets whose waiters are woken through their own counter.
    watches: Vec<Watch>,
}

/// A part of a workload socket on the stack whose changes the stack
/// reports to that socket's own counter ([`Stack::watch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    /// A TCP connection.
    Conn(Handle),
    /// A listener's pools (by listener id).
    Listener(u64),
}

struct Watch {
    what: Watched,
    seq: Weak<events::Seq>,
    /// What the part looked like when last reported (`Stack::looks`).
    last: u64,
}

static STACK: OnceLock<Mutex<Stack>> = OnceLock::new();
/// Moves whenever a poll may have changed an external socket's readiness.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The eventfd that wakes the driver (a new timer, a socket to reap).
static WAKE: OnceLock<OwnedFd> = OnceLock::new();

/// Whether the sandbox has a network beyond loopback.
pub fn present() -> bool {
    STACK.get().is_some()
}

/// Locks the stack (None when the sandbox has none).
pub fn lock() -> Option<MutexGuard<'static, Stack>> {
    Some(STACK.get()?.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The readiness generation external sockets add to their `event_seq`.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

/// Installs the stack built from the interfaces taken over at boot.
pub fn install(links: Vec<NetLink>) -> std::io::Result<()> {
    // SAFETY: eventfd(2) with constant flags; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let _ = WAKE.set(unsafe { OwnedFd::from_raw_fd(fd) });
    fresh_zero_pages_for_buffers();
    let _ = STACK.set(Mutex::new(Stack {
        links,
        epoch: std::time::Instant::now(),
        orphans: Vec::new(),
        wildcards: Vec::new(),
        shared_udp: Vec::new(),
        watches: Vec::new(),
    }));
    Ok(())
}

/// Every TCP socket gets zeroed buffers of `tcp::DEFAULT_BUF` or more
/// (smoltcp's buffers are fixed at creation, and a listener keeps a pool
/// of them). glibc serves such sizes from fresh mappings, zero already
/// and faulted in only where data lands, until the first free raises its
/// mapping threshold; after that each socket cost a 512 KiB memset under
/// the stack lock (a connection set-up rate halved). A fixed threshold
/// keeps them mappings, and leaves smaller, short-lived buffers (a
/// read's) to the heap.
fn fresh_zero_pages_for_buffers() {
    // SAFETY: mallopt only changes glibc's allocation policy for later calls.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, tcp::DEFAULT_BUF as i32) };
}

/// Wakes the driver so it recomputes when to poll next.
pub fn wake() {
    if let Some(fd) = WAKE.get() {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from our stack to our eventfd.
        unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

pub(crate) fn changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    events::notify();
}

impl Stack {
    pub fn now(&self) -> SmolInstant {
        SmolInstant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Runs every link: frames in (one at a time, so listeners refill
    /// their backlog between SYNs), frames out, timers. Bumps the
    /// readiness generation when anything may have changed (and says so).
    pub fn poll(&mut self) -> bool {
        let now = self.now();
        let mut any = false;
        for l in &mut self.links {
            l.iface.poll_maintenance(now);
            loop {
                match l
                    .iface
                    .poll_ingress_single(now, &mut l.device, &mut l.sockets)
                {
                    PollIngressSingleResult::None => break,
                    PollIngressSingleResult::PacketProcessed => {}
                    PollIngressSingleResult::SocketStateChanged => {
                        any = true;
                        tcp::refill_listeners(l);
                    }
                }
            }
            while l.iface.poll_egress(now, &mut l.device, &mut l.sockets)
                == PollResult::SocketStateChanged
            {
                any = true;
            }
        }
        self.reap_orphans();
        self.report_watched();
        if any {
            changed();
        }
        any
    }

    /// Sends what system calls just queued (data, ACKs, window updates,
    /// FINs), without reading frames: arrivals are the driver's, which
    /// wakes for them, so a send or recv costs no host read of its own.
    pub fn flush(&mut self) {
        let now = self.now();
        let mut any = false;
        for l in &mut self.links {
            while l.iface.poll_egress(now, &mut l.device, &mut l.sockets)
                == PollResult::SocketStateChanged
            {
                any = true;
            }
        }
        self.report_watched();
        if any {
            changed();
        }
    }

    /// From now on, bumps `seq` whenever `what` changes in a way its
    /// readiness may show (state, queued bytes, a new connection): a task
    /// blocked on it watches that counter alone instead of being woken by
    /// every frame the stack handles (a server's workers, the SIGIO
    /// watcher), which on two CPUs cost more than the work itself.
    pub fn watch(&mut self, what: Watched, seq: &Arc<events::Seq>) {
        let last = self.looks(what);
        self.watches.push(Watch {
            what,
            seq: Arc::downgrade(seq),
            last,
        });
    }

    pub fn unwatch(&mut self, seq: &Arc<events::Seq>) {
        self.watches
            .retain(|w| !std::ptr::eq(w.seq.as_ptr(), Arc::as_ptr(seq)));
    }

    /// A fingerprint of a watched part: it moves whenever the part's
    /// readiness may have changed.
    fn looks(&mut self, what: Watched) -> u64 {
        match what {
            Watched::Conn(h) => self
                .links
                .get_mut(h.link)
                .map_or(u64::MAX, |l| tcp::looks(l, h.socket)),
            Watched::Listener(id) => self
                .links
                .iter()
                .map(|l| tcp::listener_looks(l, id))
                .fold(0u64, u64::wrapping_add),
        }
    }

    /// Bumps the counters of the watched parts that changed.
    fn report_watched(&mut self) {
        let mut watches = std::mem::take(&mut self.watches);
        watches.retain_mut(|w| {
            let Some(seq) = w.seq.upgrade() else {
                return false;
            };
            let now = self.looks(w.what);
            if now != w.last {
                w.last = now;
                seq.bump();
            }
            true
        });
        // (watch/unwatch cannot run meanwhile: they need `&mut self`.)
        self.watches = watches;
    }

    /// How long the driver may sleep before the stack needs a poll.
    pub fn poll_delay(&mut self) -> Option<std::time::Duration> {
        let now = self.now();
        self.links
            .iter_mut()
            .filter_map(|l| l.iface.poll_delay(now, &l.sockets))
            .min()
            .map(|d| std::time::Duration::from_micros(d.total_micros()))
    }

    /// The link a packet to `dst` leaves by: the one whose subnet holds it,
    /// else the one with a default route of its family.
    pub fn link_for(&self, dst: &IpAddr) -> Option<usize> {
        let addr = IpAddress::from(*dst);
        if let Some(i) = self
            .links
            .iter()
            .position(|l| l.device.up && l.cidrs.iter().any(|c| c.contains_addr(&addr)))
        {
            return Some(i);
        }
        self.links.iter().position(|l| {
            l.device.up
                && match dst {
                    IpAddr::V4(_) => l.has_default_v4,
                    IpAddr::V6(_) => l.has_default_v6,
                }
        })
    }

    /// The link that owns address `ip` (for bind and listen on it).
    pub fn link_owning(&self, ip: &IpAddr) -> Option<usize> {
        let addr = IpAddress::from(*ip);
        self.links
            .iter()
            .position(|l| l.cidrs.iter().any(|c| c.address() == addr))
    }

    /// Hands a closed socket to the stack to finish and remove.
    pub fn orphan(&mut self, o: Orphan) {
        self.orphans.push(o);
        wake();
    }

    fn reap_orphans(&mut self) {
        let links = &mut self.links;
        self.orphans.retain(|o| {
            let (h, done) = match *o {
                Orphan::Tcp(h) => match links.get_mut(h.link) {
                    Some(l) => (h, tcp::finished(l, h.socket)),
                    None => return false,
                },
                Orphan::Udp(h) => match links.get_mut(h.link) {
                    Some(l) => (h, udp::finished(l, h.socket)),
                    None => return false,
                },
            };
            if done {
                if let Some(l) = links.get_mut(h.link) {
                    l.sockets.remove(h.socket);
                }
            }
            !done
        });
    }
}
