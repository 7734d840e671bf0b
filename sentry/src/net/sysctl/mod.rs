//! The network sysctls the Sentry enforces, set by the spec
//! (`linux.sysctl`, as runc writes them) or by root writing
//! /proc/sys/net: net.ipv4.ip_unprivileged_port_start (Docker sets 0:
//! anyone may bind ports below 1024), net.ipv4.ping_group_range (Docker
//! sets "0 2147483647": anyone may open ping sockets),
//! net.ipv4.ip_local_port_range (the ephemeral ports of port-0 binds and
//! connects) and net.core.somaxconn (the cap on listen backlogs). Values
//! the Sentry does not enforce are shown, read-only, as Linux's defaults
//! (fs/proc/sysctl.rs).
//!
//! One Sentry serves one sandbox, hence one network namespace: these are
//! the Sentry's own. Writes check and commit under one lock (two of them
//! constrain each other); readers load atomics.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::kernel::process::lock;

pub mod intvec;

/// Why a value is refused (the writer gets EINVAL, runc's create fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error("not a list of integers")]
    NotNumbers,
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: i64, min: i32, max: i32 },
    #[error("the range's low end {low} is above its high end {high}")]
    Inverted { low: i32, high: i32 },
    #[error(
        "ephemeral ports from {low} would overlap the privileged ports below {unprivileged_start}"
    )]
    Overlap { low: i32, unprivileged_start: i32 },
}

/// A sysctl the Sentry enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    UnprivilegedPortStart,
    PingGroupRange,
    LocalPortRange,
    Somaxconn,
}

impl Key {
    pub const ALL: [Key; 4] = [
        Key::UnprivilegedPortStart,
        Key::PingGroupRange,
        Key::LocalPortRange,
        Key::Somaxconn,
    ];

    /// The key in a spec's `linux.sysctl` (dots or slashes).
    pub fn from_name(name: &str) -> Option<Key> {
        let name = name.replace('/', ".");
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Key::UnprivilegedPortStart => "net.ipv4.ip_unprivileged_port_start",
            Key::PingGroupRange => "net.ipv4.ping_group_range",
            Key::LocalPortRange => "net.ipv4.ip_local_port_range",
            Key::Somaxconn => "net.core.somaxconn",
        }
    }

    /// The file's name in its /proc/sys/net directory.
    pub fn file_name(self) -> &'static str {
        self.name().rsplit('.').next().unwrap_or("")
    }

    /// Each value's bounds (Linux's extra1 and extra2).
    fn bounds(self) -> (i32, i32) {
        match self {
            Key::UnprivilegedPortStart => (0, 65535),
            Key::PingGroupRange => (0, i32::MAX),
            Key::LocalPortRange => (1, 65535),
            Key::Somaxconn => (0, i32::MAX),
        }
    }

    /// The values now, as the file lists them.
    pub fn values(self) -> Vec<i32> {
        match self {
            Key::UnprivilegedPortStart => vec![unprivileged_port_start() as i32],
            Key::PingGroupRange => {
                let (lo, hi) = ping_group_range();
                vec![lo as i32, hi as i32]
            }
            Key::LocalPortRange => {
                let (lo, hi) = local_port_range();
                vec![i32::from(lo), i32::from(hi)]
            }
            Key::Somaxconn => vec![somaxconn() as i32],
        }
    }

    /// The file's text: the values separated by tabs.
    pub fn text(self) -> String {
        let v: Vec<String> = self.values().iter().map(i32::to_string).collect();
        format!("{}\n", v.join("\t"))
    }

    /// Writes `text` as a write(2) to the file does; the bytes taken.
    pub fn write(self, text: &[u8]) -> Result<usize, SysctlError> {
        let _serial = lock(&WRITES);
        let (min, max) = self.bounds();
        let (v, taken) = intvec::parse(text, &self.values(), min, max)?;
        match self {
            Key::UnprivilegedPortStart => {
                let (low, _) = local_port_range();
                // The ephemeral ports may not become privileged.
                if i32::from(low) < v[0] {
                    return Err(SysctlError::Overlap {
                        low: i32::from(low),
                        unprivileged_start: v[0],
                    });
                }
                UNPRIVILEGED_PORT_START.store(v[0] as u32, Ordering::Relaxed);
            }
            Key::LocalPortRange => {
                if v[1] < v[0] {
                    return Err(SysctlError::Inverted {
                        low: v[0],
                        high: v[1],
                    });
                }
                let start = unprivileged_port_start() as i32;
                if v[0] < start {
                    return Err(SysctlError::Overlap {
                        low: v[0],
                        unprivileged_start: start,
                    });
                }
                // Both in 1..=65535 (the bounds).
                let packed = (v[0] as u32) << 16 | v[1] as u32;
                LOCAL_PORT_RANGE.store(packed, Ordering::Relaxed);
            }
            Key::PingGroupRange => {
                // An empty range is not an error: it becomes "1 0" (none).
                let (lo, hi) = if v[1] < v[0] {
                    (1, 0)
                } else {
                    (v[0] as u64, v[1] as u64)
                };
                PING_GROUP_RANGE.store(lo << 32 | hi, Ordering::Relaxed);
            }
            Key::Somaxconn => SOMAXCONN.store(v[0] as u32, Ordering::Relaxed),
        }
        Ok(taken)
    }
}

/// Serializes writers (ip_unprivileged_port_start and
/// ip_local_port_range are checked against each other).
static WRITES: Mutex<()> = Mutex::new(());
static UNPRIVILEGED_PORT_START: AtomicU32 = AtomicU32::new(1024);
/// Low and high end, 16 bits each: Linux's default 32768-60999.
static LOCAL_PORT_RANGE: AtomicU32 = AtomicU32::new(32768 << 16 | 60999);
/// Low and high group, 32 bits each: Linux's default "1 0", no group.
static PING_GROUP_RANGE: AtomicU64 = AtomicU64::new(1 << 32);
static SOMAXCONN: AtomicU32 = AtomicU32::new(4096);

/// A spec sysctl the Sentry could not apply.
#[derive(Debug, thiserror::Error)]
#[error("sysctl {key}={value:?}: {source}")]
pub struct ApplyError {
    pub key: String,
    pub value: String,
    pub source: SysctlError,
}

/// Applies the spec's sysctls the Sentry models, as runc writes each to
/// its /proc/sys file (a refused value fails the container, as under
/// runc); others are left to the host's namespace or ignored.
pub fn apply(sysctls: &[(String, String)]) -> Result<(), ApplyError> {
    for (key, value) in sysctls {
        if let Some(k) = Key::from_name(key) {
            k.write(value.as_bytes()).map_err(|source| ApplyError {
                key: key.clone(),
                value: value.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Ports below this need CAP_NET_BIND_SERVICE.
pub fn unprivileged_port_start() -> u32 {
    UNPRIVILEGED_PORT_START.load(Ordering::Relaxed)
}

/// The ephemeral ports (inclusive) port-0 binds and connects take.
pub fn local_port_range() -> (u16, u16) {
    let packed = LOCAL_PORT_RANGE.load(Ordering::Relaxed);
    ((packed >> 16) as u16, packed as u16)
}

/// The groups that may open ping sockets (inclusive), as /proc shows them.
pub fn ping_group_range() -> (u32, u32) {
    let packed = PING_GROUP_RANGE.load(Ordering::Relaxed);
    ((packed >> 32) as u32, packed as u32)
}

/// Whether a process of these groups (effective first) may open a ping
/// socket: any of them in the range will do, as Linux checks.
pub fn may_ping(groups: impl IntoIterator<Item = u32>) -> bool {
    let (lo, hi) = ping_group_range();
    groups.into_iter().any(|g| lo <= g && g <= hi)
}

/// net.core.somaxconn.
pub fn somaxconn() -> u32 {
    SOMAXCONN.load(Ordering::Relaxed)
}

/// The backlog listen(2) gets for `backlog`: capped at somaxconn, the
/// request taken as unsigned (a negative one asks for the most), as Linux.
pub fn listen_backlog(backlog: i32) -> usize {
    (backlog as u32).min(somaxconn()) as usize
}

#[cfg(test)]
mod tests;
