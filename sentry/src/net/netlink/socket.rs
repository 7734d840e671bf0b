//! A NETLINK_ROUTE socket: requests go to the Sentry's rtnetlink
//! ([`super::route`]) and its answers queue as datagrams, like messages
//! from Linux's kernel port 0.
//!
//! A dump is produced as Linux's netlink_dump does: one datagram at send
//! time, the next whenever a receive leaves the queue at most half full,
//! with NLMSG_DONE last; one dump runs at a time (EBUSY for another).
//! Replies that find the receive queue full are dropped and the socket
//! reports ENOBUFS once, as on Linux.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::route::{self, Answer, Asker};
use super::wire::{self, NLMSG_MIN_TYPE, NLM_F_ACK, NLM_F_REQUEST};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::events;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::net::socket::{socket_stat, DEFAULT_BUF};
use crate::vfs::{FileOps, Stat};

pub const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_PKTINFO: i32 = 3;
const NETLINK_BROADCAST_ERROR: i32 = 4;
const NETLINK_NO_ENOBUFS: i32 = 5;
const NETLINK_LISTEN_ALL_NSID: i32 = 8;
const NETLINK_LIST_MEMBERSHIPS: i32 = 9;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;
/// The multicast groups rtnetlink has (RTNLGRP_MAX in Linux 6.1 is 36;
/// a 64-bit set holds them all).
const GROUPS: u32 = 64;

/// NLMSG_GOODSIZE for 4 KiB pages: the size of a dump's first datagram.
const GOODSIZE: usize = 3776;
/// A dump datagram never grows beyond SKB_WITH_OVERHEAD(32768).
const MAX_DUMP: usize = 32768 - 320;
/// What a queued datagram costs beyond its bytes (Linux charges truesize).
const OVERHEAD: usize = 256;

/// `struct sockaddr_nl`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NlAddr {
    pub pid: u32,
    pub groups: u32,
}

/// sizeof(struct sockaddr_nl).
pub const ADDR_LEN: usize = 12;

impl NlAddr {
    /// Parses a sockaddr_nl (EINVAL if short or of another family).
    pub fn parse(raw: &[u8]) -> SysResult<NlAddr> {
        if raw.len() < ADDR_LEN {
            return err(libc::EINVAL);
        }
        let u32_at =
            |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        if u16::from_ne_bytes([raw[0], raw[1]]) != libc::AF_NETLINK as u16 {
            return err(libc::EINVAL);
        }
        Ok(NlAddr {
            pid: u32_at(4),
            groups: u32_at(8),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(ADDR_LEN);
        v.extend_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&self.pid.to_ne_bytes());
        v.extend_from_slice(&self.groups.to_ne_bytes());
        v
    }
}

/// The port ids bound in this sandbox (Linux's per-protocol table).
static PORTS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Who sends a request: the calling process and its privilege.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    /// The thread group id: a socket's automatic port id if free.
    pub tgid: i32,
    pub net_admin: bool,
}

impl Sender {
    pub fn of(t: &Task) -> Sender {
        let net_admin = lock(&t.proc.state)
            .creds
            .has(crate::kernel::caps::NET_ADMIN);
        Sender {
            tgid: t.pid(),
            net_admin,
        }
    }

    /// The task running on this Sentry thread (for write(2)).
    fn current() -> Sender {
        match crate::kernel::thread::current() {
            Some((p, _)) => Sender {
                tgid: p.pid,
                net_admin: lock(&p.state).creds.has(crate::kernel::caps::NET_ADMIN),
            },
            None => Sender {
                tgid: 0,
                net_admin: false,
            },
        }
    }
}

/// Socket flags set with SOL_NETLINK options.
#[derive(Default)]
struct Flags {
    pktinfo: bool,
    broadcast_error: bool,
    no_enobufs: bool,
    listen_all_nsid: bool,
    cap_ack: bool,
    ext_ack: bool,
    strict: bool,
}

struct Inner {
    /// 0 until bound (explicitly or on first send).
    portid: u32,
    groups: u64,
    /// connect(2)'s destination; the kernel (0, 0) by default.
    dst: NlAddr,
    recv: VecDeque<Vec<u8>>,
    recv_cost: usize,
    /// The datagrams of the running dump not yet queued (NLMSG_DONE last).
    dump: VecDeque<Vec<u8>>,
    /// The largest receive buffer seen: dump datagrams grow to it.
    max_recvmsg_len: usize,
    error: i32,
    flags: Flags,
    rcvbuf: usize,
    sndbuf: usize,
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
    /// SOL_SOCKET options only reported back.
    remembered: HashMap<i32, i32>,
}

pub struct NetlinkSocket {
    seq: events::Seq,
    ino: u64,
    /// SOCK_RAW or SOCK_DGRAM (the same thing to netlink).
    ty: i32,
    inner: Mutex<Inner>,
}

/// What a receive returns.
pub struct Datagram {
    pub data: Vec<u8>,
    /// The datagram's whole length (MSG_TRUNC).
    pub full_len: usize,
}

impl NetlinkSocket {
    /// A NETLINK_ROUTE socket of type `ty` (SOCK_RAW or SOCK_DGRAM).
    pub fn new(ty: i32) -> Arc<NetlinkSocket> {
        Arc::new(NetlinkSocket {
            seq: events::Seq::default(),
            ino: crate::net::socket::next_ino(),
            ty,
            inner: Mutex::new(Inner {
                portid: 0,
                groups: 0,
                dst: NlAddr::default(),
                recv: VecDeque::new(),
                recv_cost: 0,
                dump: VecDeque::new(),
                max_recvmsg_len: 0,
                error: 0,
                flags: Flags::default(),
                rcvbuf: DEFAULT_BUF,
                sndbuf: DEFAULT_BUF,
                rcvtimeo: None,
                sndtimeo: None,
                remembered: HashMap::new(),
            }),
        })
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Takes a port id: `want`, or (0) the caller's tgid if free, else
    /// one of the negative ids Linux's autobind hands out.
    fn take_port(i: &mut Inner, want: u32, tgid: i32) -> SysResult<()> {
        let mut ports = lock(&PORTS);
        let pid = if want != 0 {
            if !ports.insert(want) {
                return err(libc::EADDRINUSE);
            }
            want
        } else {
            let mut candidate = tgid as u32;
            let mut rover: i32 = -4096;
            while candidate == 0 || ports.contains(&candidate) {
                candidate = rover as u32;
                rover = rover.checked_sub(1).ok_or(Errno(libc::EADDRINUSE))?;
            }
            ports.insert(candidate);
            candidate
        };
        i.portid = pid;
        Ok(())
    }

    fn autobind(i: &mut Inner, tgid: i32) -> SysResult<()> {
        if i.portid == 0 {
            Self::take_port(i, 0, tgid)?;
        }
        Ok(())
    }

    /// bind(2): a port id (0: chosen for us) and multicast groups.
    pub fn bind(&self, addr: NlAddr, tgid: i32) -> SysResult<()> {
        let mut i = lock(&self.inner);
        if i.portid != 0 {
            if addr.pid != 0 && addr.pid != i.portid {
                return err(libc::EINVAL);
            }
        } else {
            Self::take_port(&mut i, addr.pid, tgid)?;
        }
        i.groups = (i.groups & !0xffff_ffff) | addr.groups as u64;
        Ok(())
    }

    /// connect(2): the default destination (None: AF_UNSPEC, disconnect).
    pub fn connect(&self, addr: Option<NlAddr>, sender: Sender) -> SysResult<()> {
        let mut i = lock(&self.inner);
        let Some(addr) = addr else {
            i.dst = NlAddr::default();
            return Ok(());
        };
        // Only the kernel may be talked to without privilege.
        if (addr.pid != 0 || addr.groups != 0) && !sender.net_admin {
            return err(libc::EPERM);
        }
        Self::autobind(&mut i, sender.tgid)?;
        i.dst = addr;
        Ok(())
    }

    pub fn local_addr(&self) -> NlAddr {
        let i = lock(&self.inner);
        NlAddr {
            pid: i.portid,
            groups: i.groups as u32,
        }
    }

    pub fn peer_addr(&self) -> NlAddr {
        lock(&self.inner).dst
    }

    /// Sends `data` to `to` (or the connected destination): the kernel
    /// answers each request in it. Returns the bytes taken.
    pub fn send(&self, data: &[u8], to: Option<NlAddr>, sender: Sender) -> SysResult<usize> {
        let mut i = lock(&self.inner);
        let dst = to.unwrap_or(i.dst);
        if dst.groups != 0 && !sender.net_admin {
            return err(libc::EPERM);
        }
        if data.len() > i.sndbuf.saturating_sub(32) {
            return err(libc::EMSGSIZE);
        }
        Self::autobind(&mut i, sender.tgid)?;
        if dst.pid != 0 {
            // Another socket's port: unicast between user-space ports is
            // not modelled, so nobody is there.
            return err(libc::ECONNREFUSED);
        }
        let who = Asker {
            portid: i.portid,
            net_admin: sender.net_admin,
            strict: i.flags.strict,
        };
        let (msgs, _malformed) = wire::messages(data);
        for m in &msgs {
            let h = m.header;
            // Replies and control messages are not for the kernel; they
            // are only acknowledged when asked.
            let answer = if h.flags & NLM_F_REQUEST == 0 || h.ty < NLMSG_MIN_TYPE {
                Ok(Answer::Nothing)
            } else if h.flags & wire::NLM_F_DUMP == wire::NLM_F_DUMP && !i.dump.is_empty() {
                Err(libc::EBUSY)
            } else {
                route::handle(m, who)
            };
            match answer {
                Ok(Answer::Dump(replies)) => {
                    let done = wire::done_message(h.seq, who.portid);
                    // The first datagram goes out now, NLMSG_DONE later.
                    self.start_dump(&mut i, replies, done);
                    continue;
                }
                Ok(Answer::Reply(reply)) => self.deliver(&mut i, reply),
                Ok(Answer::Nothing) => {}
                Err(e) => {
                    let msg = wire::error_message(m, e, who.portid, i.flags.cap_ack);
                    self.deliver(&mut i, msg);
                    continue;
                }
            }
            if h.flags & NLM_F_ACK != 0 {
                let ack = wire::error_message(m, 0, who.portid, i.flags.cap_ack);
                self.deliver(&mut i, ack);
            }
        }
        drop(i);
        self.seq.bump();
        Ok(data.len())
    }

    /// Packs a dump's messages into datagrams as large as the reader's
    /// buffers have been (at least NLMSG_GOODSIZE), `done` last on its
    /// own as Linux sends it, and queues the first.
    fn start_dump(&self, i: &mut Inner, msgs: Vec<Vec<u8>>, done: Vec<u8>) {
        let limit = i.max_recvmsg_len.clamp(GOODSIZE, MAX_DUMP);
        let mut d = Vec::new();
        for m in msgs {
            if !d.is_empty() && d.len() + m.len() > limit {
                i.dump.push_back(std::mem::take(&mut d));
            }
            d.extend_from_slice(&m);
        }
        if !d.is_empty() {
            i.dump.push_back(d);
        }
        i.dump.push_back(done);
        self.continue_dump(i);
    }

    /// Queues the dump's next datagram, as Linux does after a receive
    /// that left the queue at most half full.
    fn continue_dump(&self, i: &mut Inner) {
        if i.recv_cost <= i.rcvbuf / 2 {
            if let Some(d) = i.dump.pop_front() {
                i.recv_cost += d.len() + OVERHEAD;
                i.recv.push_back(d);
            }
        }
    }

    /// Queues one reply, or drops it and flags ENOBUFS when the queue is full.
    fn deliver(&self, i: &mut Inner, msg: Vec<u8>) {
        if i.recv_cost + msg.len() > i.rcvbuf {
            if !i.flags.no_enobufs {
                i.error = libc::ENOBUFS;
            }
            return;
        }
        i.recv_cost += msg.len() + OVERHEAD;
        i.recv.push_back(msg);
    }

    /// Receives one datagram, truncated to `max` (the rest of it is lost
    /// unless `peek`).
    pub fn recv(&self, max: usize, peek: bool) -> SysResult<Datagram> {
        let mut i = lock(&self.inner);
        if i.error != 0 {
            return Err(Errno(std::mem::take(&mut i.error)));
        }
        i.max_recvmsg_len = i.max_recvmsg_len.max(max).min(MAX_DUMP);
        let got = if peek {
            let d = i.recv.front().ok_or(Errno(libc::EAGAIN))?;
            Datagram {
                data: d[..max.min(d.len())].to_vec(),
                full_len: d.len(),
            }
        } else {
            let mut d = i.recv.pop_front().ok_or(Errno(libc::EAGAIN))?;
            i.recv_cost = i.recv_cost.saturating_sub(d.len() + OVERHEAD);
            let full_len = d.len();
            d.truncate(max);
            self.continue_dump(&mut i);
            Datagram { data: d, full_len }
        };
        drop(i);
        if !peek {
            self.seq.bump();
        }
        Ok(got)
    }

    /// The largest message a send takes (SO_SNDBUF less a header's room).
    pub fn send_limit(&self) -> usize {
        lock(&self.inner).sndbuf.saturating_sub(32)
    }

    pub fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        let i = lock(&self.inner);
        (i.rcvtimeo, i.sndtimeo)
    }

    /// getsockopt(2).
    pub fn get_option(&self, level: i32, name: i32) -> SysResult<Vec<u8>> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        let mut i = lock(&self.inner);
        match (level, name) {
            (SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS) => Ok(i.groups.to_ne_bytes().to_vec()),
            (SOL_NETLINK, n) => {
                let f = &i.flags;
                int(match n {
                    NETLINK_PKTINFO => f.pktinfo,
                    NETLINK_BROADCAST_ERROR => f.broadcast_error,
                    NETLINK_NO_ENOBUFS => f.no_enobufs,
                    NETLINK_LISTEN_ALL_NSID => f.listen_all_nsid,
                    NETLINK_CAP_ACK => f.cap_ack,
                    NETLINK_EXT_ACK => f.ext_ack,
                    NETLINK_GET_STRICT_CHK => f.strict,
                    _ => return err(libc::ENOPROTOOPT),
                } as i32)
            }
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(self.ty),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(libc::AF_NETLINK),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::NETLINK_ROUTE),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int(std::mem::take(&mut i.error)),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(i.rcvbuf as i32),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(i.sndbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => Ok(timeval(i.rcvtimeo)),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => Ok(timeval(i.sndtimeo)),
            (libc::SOL_SOCKET, n) => int(i.remembered.get(&n).copied().unwrap_or(0)),
            _ => err(libc::ENOPROTOOPT),
        }
    }

    /// setsockopt(2).
    pub fn set_option(
        &self,
        level: i32,
        name: i32,
        value: &[u8],
        net_admin: bool,
    ) -> SysResult<()> {
        // A value shorter than an int reads as 0, as netlink_setsockopt does.
        let val = value
            .get(..4)
            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let mut i = lock(&self.inner);
        match (level, name) {
            (SOL_NETLINK, NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP) => {
                let group = val as u32;
                if group == 0 || group > GROUPS {
                    return err(libc::EINVAL);
                }
                let bit = 1u64 << (group - 1);
                if name == NETLINK_ADD_MEMBERSHIP {
                    i.groups |= bit;
                } else {
                    i.groups &= !bit;
                }
            }
            (SOL_NETLINK, n) => {
                let on = val != 0;
                let f = &mut i.flags;
                match n {
                    NETLINK_PKTINFO => f.pktinfo = on,
                    NETLINK_BROADCAST_ERROR => f.broadcast_error = on,
                    NETLINK_NO_ENOBUFS => f.no_enobufs = on,
                    NETLINK_LISTEN_ALL_NSID => f.listen_all_nsid = on,
                    NETLINK_CAP_ACK => f.cap_ack = on,
                    NETLINK_EXT_ACK => f.ext_ack = on,
                    NETLINK_GET_STRICT_CHK => f.strict = on,
                    _ => return err(libc::ENOPROTOOPT),
                }
            }
            // Linux doubles the value for bookkeeping, within net.core.*mem_max
            // (the FORCE forms, for CAP_NET_ADMIN, go beyond it).
            (libc::SOL_SOCKET, libc::SO_RCVBUF | libc::SO_SNDBUF) => {
                let v = (val.max(0) as usize * 2).clamp(2304, 2 * DEFAULT_BUF);
                if name == libc::SO_RCVBUF {
                    i.rcvbuf = v;
                } else {
                    i.sndbuf = v;
                }
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE) => {
                if !net_admin {
                    return err(libc::EPERM);
                }
                // Bounded all the same: the queue lives in the Sentry.
                let v = (val.max(0) as usize * 2).clamp(2304, 32 * DEFAULT_BUF);
                if name == libc::SO_RCVBUFFORCE {
                    i.rcvbuf = v;
                } else {
                    i.sndbuf = v;
                }
            }
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => {
                let d = parse_timeval(value)?;
                if name == libc::SO_RCVTIMEO {
                    i.rcvtimeo = d;
                } else {
                    i.sndtimeo = d;
                }
            }
            (
                libc::SOL_SOCKET,
                libc::SO_PASSCRED
                | libc::SO_REUSEADDR
                | libc::SO_PRIORITY
                | libc::SO_TIMESTAMP
                | libc::SO_RCVLOWAT
                | libc::SO_KEEPALIVE,
            ) => {
                i.remembered.insert(name, val);
            }
            (libc::SOL_SOCKET, _) => return err(libc::ENOPROTOOPT),
            _ => return err(libc::ENOPROTOOPT),
        }
        Ok(())
    }

    fn readiness(&self) -> i16 {
        let i = lock(&self.inner);
        let mut r = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        if !i.recv.is_empty() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if i.error != 0 {
            r |= libc::POLLERR;
        }
        r
    }

    fn close(&self) {
        let mut i = lock(&self.inner);
        if i.portid != 0 {
            lock(&PORTS).remove(&i.portid);
            i.portid = 0;
        }
        i.recv.clear();
        i.dump.clear();
    }
}

fn timeval(d: Option<Duration>) -> Vec<u8> {
    let d = d.unwrap_or_default();
    let mut v = (d.as_secs() as i64).to_ne_bytes().to_vec();
    v.extend_from_slice(&(d.subsec_micros() as i64).to_ne_bytes());
    v
}

fn parse_timeval(value: &[u8]) -> SysResult<Option<Duration>> {
    let (Some(s), Some(u)) = (value.get(..8), value.get(8..16)) else {
        return err(libc::EINVAL);
    };
    let secs = i64::from_ne_bytes(s.try_into().map_err(|_| Errno(libc::EINVAL))?);
    let usecs = i64::from_ne_bytes(u.try_into().map_err(|_| Errno(libc::EINVAL))?);
    if !(0..1_000_000).contains(&usecs) {
        return err(libc::EDOM);
    }
    Ok((secs > 0 || usecs > 0).then(|| Duration::new(secs.max(0) as u64, usecs as u32 * 1000)))
}

impl FileOps for NetlinkSocket {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        let d = self.recv(buf.len(), false)?;
        buf[..d.data.len()].copy_from_slice(&d.data);
        Ok(d.data.len())
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.send(buf, None, Sender::current())
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(socket_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        self.readiness()
    }

    fn ioctl(&self, t: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        crate::net::ifioctl::ioctl(t, req, arg, false).unwrap_or(err(libc::ENOTTY))
    }

    fn release(&self) {
        self.close();
    }

    fn event_seq(&self) -> u64 {
        self.seq.get()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
