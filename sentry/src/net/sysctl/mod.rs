//! The network sysctls the spec may set (`linux.sysctl`) that change what
//! the Sentry allows: Docker sets `net.ipv4.ip_unprivileged_port_start=0`
//! (anyone may bind ports below 1024 in its containers) and
//! `net.ipv4.ping_group_range=0 2147483647` (anyone may open ping
//! sockets). Values the Sentry does not enforce are shown as Linux's
//! defaults (fs/proc/sysctl.rs).

use std::sync::atomic::{AtomicU32, Ordering};

static UNPRIVILEGED_PORT_START: AtomicU32 = AtomicU32::new(1024);
/// Linux's default "1 0": no group may open ping sockets.
static PING_GROUP_LOW: AtomicU32 = AtomicU32::new(1);
static PING_GROUP_HIGH: AtomicU32 = AtomicU32::new(0);

/// Applies the spec's sysctls the Sentry models; others are ignored.
pub fn apply(sysctls: &[(String, String)]) {
    for (key, value) in sysctls {
        let key = key.replace('/', ".");
        match key.as_str() {
            "net.ipv4.ip_unprivileged_port_start" => {
                if let Ok(v) = value.trim().parse::<u32>() {
                    UNPRIVILEGED_PORT_START.store(v.min(65536), Ordering::Relaxed);
                }
            }
            "net.ipv4.ping_group_range" => {
                let mut parts = value.split_whitespace().map(|p| p.parse::<u32>());
                if let (Some(Ok(lo)), Some(Ok(hi))) = (parts.next(), parts.next()) {
                    PING_GROUP_LOW.store(lo, Ordering::Relaxed);
                    PING_GROUP_HIGH.store(hi, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

/// Ports below this need CAP_NET_BIND_SERVICE.
pub fn unprivileged_port_start() -> u32 {
    UNPRIVILEGED_PORT_START.load(Ordering::Relaxed)
}

/// The groups that may open ping sockets (inclusive), as /proc shows them.
pub fn ping_group_range() -> (u32, u32) {
    (
        PING_GROUP_LOW.load(Ordering::Relaxed),
        PING_GROUP_HIGH.load(Ordering::Relaxed),
    )
}

/// Whether a process of group `gid` may open a ping socket.
pub fn may_ping(gid: u32) -> bool {
    let (lo, hi) = ping_group_range();
    lo <= gid && gid <= hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_open_ports_and_ping() {
        apply(&[
            ("net.ipv4.ip_unprivileged_port_start".into(), "0".into()),
            ("net/ipv4/ping_group_range".into(), "0 2147483647".into()),
            ("net.ipv4.ip_forward".into(), "1".into()),
        ]);
        assert_eq!(unprivileged_port_start(), 0);
        assert!(may_ping(1000));
    }
}
