//! Socket options. SOL_SOCKET options that change behaviour are modelled;
//! tuning knobs with no meaning inside the Sentry (SO_REUSEADDR, keepalive,
//! TCP_NODELAY, IP_TOS, …) are remembered and reported back unchanged.

use std::time::Duration;

use super::{Conn, Family, Kind, Socket, Ucred, DEFAULT_BUF};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;

/// SOL_SOCKET options that are only remembered.
const REMEMBERED: &[i32] = &[
    libc::SO_REUSEADDR,
    libc::SO_REUSEPORT,
    libc::SO_KEEPALIVE,
    libc::SO_BROADCAST,
    libc::SO_OOBINLINE,
    libc::SO_PRIORITY,
    libc::SO_DONTROUTE,
    libc::SO_RCVLOWAT,
    libc::SO_SNDLOWAT,
    libc::SO_TIMESTAMP,
];

/// The protocol levels of inet sockets, whose options are only remembered.
fn inet_level(level: i32) -> bool {
    matches!(
        level,
        libc::IPPROTO_IP | libc::IPPROTO_IPV6 | libc::IPPROTO_TCP | libc::IPPROTO_UDP
    )
}

/// The highest option number Linux knows at each inet level: above it,
/// ENOPROTOOPT (programs probe for options that way).
fn highest_option(level: i32) -> i32 {
    match level {
        libc::IPPROTO_TCP => 46,
        libc::IPPROTO_UDP => 106,
        libc::IPPROTO_IP => 99,
        _ => 90,
    }
}

/// An inet option's value before it is set (Linux's defaults), and the
/// range a value must be in when set. IP_TTL and IPV6_UNICAST_HOPS take
/// -1 as "back to the default".
fn inet_default(level: i32, name: i32) -> (i32, Option<std::ops::RangeInclusive<i32>>) {
    match (level, name) {
        (libc::IPPROTO_IP, libc::IP_TTL) => (64, Some(-1..=255)),
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => (64, Some(-1..=255)),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => (0, Some(-1..=255)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => (7200, Some(1..=32767)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => (75, Some(1..=32767)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => (9, Some(1..=127)),
        _ => (0, None),
    }
}

fn int_of(value: &[u8]) -> SysResult<i32> {
    let b: [u8; 4] = value
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(Errno(libc::EINVAL))?;
    Ok(i32::from_ne_bytes(b))
}

fn timeval(d: Option<Duration>) -> Vec<u8> {
    let d = d.unwrap_or_default();
    let mut v = (d.as_secs() as i64).to_ne_bytes().to_vec();
    v.extend_from_slice(&(d.subsec_micros() as i64).to_ne_bytes());
    v
}

impl Socket {
    fn domain(&self) -> i32 {
        match self.family {
            Family::Unix => libc::AF_UNIX,
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
        }
    }

    /// Whether `level` applies to this socket: IPv6 options only to IPv6
    /// sockets, TCP's to streams, UDP's to datagram sockets (else Linux
    /// hands the option to the IP level, which does not know it).
    fn has_level(&self, level: i32, name: i32) -> bool {
        self.level_applies(level) && (0..=highest_option(level)).contains(&name)
    }

    fn level_applies(&self, level: i32) -> bool {
        match level {
            libc::IPPROTO_IPV6 => self.family == Family::Inet6,
            libc::IPPROTO_TCP => self.kind == Kind::Stream,
            libc::IPPROTO_UDP => self.kind == Kind::Dgram,
            _ => true,
        }
    }

    fn protocol(&self) -> i32 {
        match (self.family, self.kind) {
            (Family::Unix, _) => 0,
            (_, Kind::Dgram) => libc::IPPROTO_UDP,
            _ => libc::IPPROTO_TCP,
        }
    }

    /// getsockopt(level, name): the option's bytes.
    pub fn get_option(&self, level: i32, name: i32) -> SysResult<Vec<u8>> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        // A host socket's options are the host's, but for the timeouts,
        // which the Sentry's blocking implements.
        if !(level == libc::SOL_SOCKET && matches!(name, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO)) {
            if let Some(r) = self.with_host(|h| h.get_option(level, name)) {
                return r;
            }
        }
        if level == libc::SOL_SOCKET && name == libc::SO_ERROR {
            if let Some(e) = self.ext_error() {
                return int(e);
            }
        }
        if (level, name) == (libc::IPPROTO_TCP, libc::TCP_INFO)
            && self.is_inet()
            && self.kind == Kind::Stream
        {
            let info = self.ext_tcp_info().unwrap_or_else(|| self.core_tcp_info());
            return Ok(info.encode());
        }
        let mut i = lock(&self.inner);
        if inet_level(level) {
            if !self.is_inet() {
                return err(libc::EOPNOTSUPP);
            }
            // An IPv4 socket's getsockopt hands a level it does not know
            // to the IP level, which refuses the level itself (Linux's
            // ip_getsockopt); IPv6's refuses the option.
            if self.family == Family::Inet && !self.level_applies(level) {
                return err(libc::EOPNOTSUPP);
            }
            if !self.has_level(level, name) {
                return err(libc::ENOPROTOOPT);
            }
            let default = inet_default(level, name).0;
            return int(i.remembered.get(&(level, name)).copied().unwrap_or(default));
        }
        if level != libc::SOL_SOCKET {
            return err(libc::EOPNOTSUPP);
        }
        match name {
            libc::SO_TYPE => int(self.kind.linux_type()),
            libc::SO_DOMAIN => int(self.domain()),
            libc::SO_PROTOCOL => int(self.protocol()),
            libc::SO_ERROR => int(std::mem::take(&mut i.error)),
            libc::SO_ACCEPTCONN => int(matches!(i.conn, Conn::Listening { .. }) as i32),
            libc::SO_PASSCRED => int(i.passcred as i32),
            libc::SO_SNDBUF => int(i.sndbuf as i32),
            libc::SO_RCVBUF => int(i.rcvbuf as i32),
            n if REMEMBERED.contains(&n) => {
                int(i.remembered.get(&(level, n)).copied().unwrap_or(0))
            }
            libc::SO_PEERCRED => {
                let c = i.peercred.unwrap_or(Ucred {
                    pid: 0,
                    uid: u32::MAX,
                    gid: u32::MAX,
                });
                let mut v = c.pid.to_ne_bytes().to_vec();
                v.extend_from_slice(&c.uid.to_ne_bytes());
                v.extend_from_slice(&c.gid.to_ne_bytes());
                Ok(v)
            }
            libc::SO_RCVTIMEO => Ok(timeval(i.rcvtimeo)),
            libc::SO_SNDTIMEO => Ok(timeval(i.sndtimeo)),
            libc::SO_LINGER => {
                let (on, secs) = i.linger;
                let mut v = (on as i32).to_ne_bytes().to_vec();
                v.extend_from_slice(&secs.to_ne_bytes());
                Ok(v)
            }
            _ => err(libc::ENOPROTOOPT),
        }
    }

    /// setsockopt(level, name, value).
    pub fn set_option(&self, level: i32, name: i32, value: &[u8]) -> SysResult<()> {
        if !(level == libc::SOL_SOCKET && matches!(name, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO)) {
            if let Some(r) = self.with_host(|h| h.set_option(level, name, value)) {
                return r;
            }
        }
        let mut i = lock(&self.inner);
        if inet_level(level) {
            if !self.is_inet() {
                return err(libc::EOPNOTSUPP);
            }
            if !self.has_level(level, name) {
                return err(libc::ENOPROTOOPT);
            }
            let v = int_of(value).unwrap_or(0);
            let (default, range) = inet_default(level, name);
            let zero_ttl = (level, name) == (libc::IPPROTO_IP, libc::IP_TTL) && v == 0;
            if zero_ttl || range.as_ref().is_some_and(|r| !r.contains(&v)) {
                return err(libc::EINVAL);
            }
            // IPV6_V6ONLY picks the port space, so it is fixed once bound.
            if (level, name) == (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) && i.local.is_some() {
                return err(libc::EINVAL);
            }
            if v == -1 && range.is_some() {
                i.remembered.insert((level, name), default);
            } else {
                i.remembered.insert((level, name), v);
            }
            drop(i);
            if level == libc::IPPROTO_TCP && name == libc::TCP_NODELAY {
                self.ext_tune(Some(v != 0), None);
            }
            if level == libc::IPPROTO_TCP && name == libc::TCP_CORK {
                self.ext_cork(v != 0);
            }
            if matches!(
                (level, name),
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
            ) {
                self.ext_hop_limit();
            }
            return Ok(());
        }
        if level != libc::SOL_SOCKET {
            return err(libc::EOPNOTSUPP);
        }
        match name {
            libc::SO_PASSCRED => i.passcred = int_of(value)? != 0,
            // Linux doubles the value to allow for bookkeeping, within limits.
            libc::SO_SNDBUF => {
                i.sndbuf = (int_of(value)?.max(2304) as usize * 2).min(2 * DEFAULT_BUF)
            }
            libc::SO_RCVBUF => {
                i.rcvbuf = (int_of(value)?.max(1152) as usize * 2).min(2 * DEFAULT_BUF)
            }
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => {
                if value.len() < 16 {
                    return err(libc::EINVAL);
                }
                let secs =
                    i64::from_ne_bytes(value[..8].try_into().map_err(|_| Errno(libc::EINVAL))?);
                let usecs =
                    i64::from_ne_bytes(value[8..16].try_into().map_err(|_| Errno(libc::EINVAL))?);
                if !(0..1_000_000).contains(&usecs) {
                    return err(libc::EDOM);
                }
                let d = (secs > 0 || usecs > 0)
                    .then(|| Duration::new(secs.max(0) as u64, usecs as u32 * 1000));
                if name == libc::SO_RCVTIMEO {
                    i.rcvtimeo = d;
                } else {
                    i.sndtimeo = d;
                }
            }
            libc::SO_LINGER => {
                if value.len() < 8 {
                    return err(libc::EINVAL);
                }
                let on = int_of(value)? != 0;
                let secs = int_of(&value[4..])?;
                i.linger = (on, secs);
                i.linger_zero = on && secs == 0;
            }
            n if REMEMBERED.contains(&n) => {
                let v = int_of(value)?;
                i.remembered.insert((level, n), v);
                if n == libc::SO_KEEPALIVE {
                    drop(i);
                    self.ext_tune(None, Some(v != 0));
                }
            }
            _ => return err(libc::ENOPROTOOPT),
        }
        Ok(())
    }
}
