//! /proc/sys: the kernel parameters a program may read. Read-only (mode
//! 0444: a write is EACCES, whoever asks, as Linux says for a sysctl
//! without write permission), except the network sysctls the Sentry
//! enforces (`net::sysctl`), which root may write (mode 0644).

use std::sync::{Arc, OnceLock};

use super::{text, RELEASE, VERSION};
use crate::fs::synthetic::{dir, file, writable_file};
use crate::kernel::process::lock;
use crate::net::sysctl::Key;
use crate::vfs::Inode;

type Entries = Vec<(String, Arc<dyn Inode>)>;

/// A file whose content is one line.
fn value(
    dev: u64,
    name: &str,
    f: impl Fn() -> String + Send + Sync + 'static,
) -> (String, Arc<dyn Inode>) {
    let salt = 0x595;
    (
        name.to_string(),
        file(dev, name, salt, move |_| text(format!("{}\n", f()))),
    )
}

/// A random version 4 UUID, as /proc/sys/kernel/random/uuid gives.
fn uuid() -> String {
    let mut b = [0u8; 16];
    crate::mm::stack::getrandom(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// The sandbox's boot id: one UUID for its whole life.
fn boot_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(uuid).clone()
}

pub(super) fn new_sys(dev: u64) -> Arc<dyn Inode> {
    dir(dev, "sys", 0, move || {
        vec![
            (
                "kernel".to_string(),
                dir(dev, "sys/kernel", 0, move || kernel(dev)),
            ),
            ("fs".to_string(), dir(dev, "sys/fs", 0, move || fs(dev))),
            ("vm".to_string(), dir(dev, "sys/vm", 0, move || vm(dev))),
            ("net".to_string(), dir(dev, "sys/net", 0, move || net(dev))),
        ]
    })
}

fn kernel(dev: u64) -> Entries {
    vec![
        value(dev, "hostname", || {
            crate::kernel::get()
                .map(|k| lock(&k.hostname).clone())
                .unwrap_or_default()
        }),
        value(dev, "domainname", || "(none)".into()),
        // No address-space randomisation in the Sentry: said as Linux
        // says it when turned off.
        value(dev, "randomize_va_space", || "0".into()),
        (
            "keys".to_string(),
            // Linux's defaults (key(7)); the Sentry has no keyrings, so
            // they limit nothing.
            dir(dev, "sys/kernel/keys", 0, move || {
                vec![
                    value(dev, "maxkeys", || "200".into()),
                    value(dev, "maxbytes", || "20000".into()),
                    value(dev, "root_maxkeys", || "1000000".into()),
                    value(dev, "root_maxbytes", || "25000000".into()),
                    value(dev, "gc_delay", || "300".into()),
                ]
            }),
        ),
        value(dev, "osrelease", || RELEASE.into()),
        value(dev, "ostype", || "Linux".into()),
        value(dev, "version", || VERSION.into()),
        value(dev, "pid_max", || crate::kernel::PID_MAX.to_string()),
        value(dev, "threads-max", || crate::kernel::PID_MAX.to_string()),
        value(dev, "ngroups_max", || "65536".into()),
        value(dev, "cap_last_cap", || "40".into()),
        value(dev, "overflowuid", || "65534".into()),
        value(dev, "overflowgid", || "65534".into()),
        (
            "random".to_string(),
            dir(dev, "sys/kernel/random", 0, move || {
                vec![
                    value(dev, "uuid", uuid),
                    value(dev, "boot_id", boot_id),
                    value(dev, "entropy_avail", || "256".into()),
                    value(dev, "poolsize", || "256".into()),
                ]
            }),
        ),
    ]
}

fn fs(dev: u64) -> Entries {
    vec![
        // No system-wide limit on open files beyond each process's own.
        value(dev, "file-max", || i64::MAX.to_string()),
        // The most RLIMIT_NOFILE may be.
        value(dev, "nr_open", || {
            crate::vfs::fd_table::DEFAULT_NOFILE.to_string()
        }),
        (
            "inotify".to_string(),
            dir(dev, "sys/fs/inotify", 0, move || {
                vec![
                    value(dev, "max_queued_events", || {
                        crate::fs::inotify::MAX_QUEUED.to_string()
                    }),
                    value(dev, "max_user_instances", || "128".into()),
                    value(dev, "max_user_watches", || "8192".into()),
                ]
            }),
        ),
    ]
}

/// A sysctl the Sentry enforces: root may write it; a refused value is
/// EINVAL.
fn tunable(dev: u64, key: Key) -> (String, Arc<dyn Inode>) {
    let name = key.file_name();
    let salt = 0x595;
    (
        name.to_string(),
        writable_file(
            dev,
            name,
            salt,
            move |_| key.text().into_bytes(),
            move |buf| {
                key.write(buf)
                    .map_err(|_| crate::errno::Errno(libc::EINVAL))
            },
        ),
    )
}

/// Fixed values: the Sentry's stack is not tuned through these.
fn constants(dev: u64, pairs: &[(&'static str, &'static str)]) -> Entries {
    pairs
        .iter()
        .map(|&(name, v)| value(dev, name, move || v.into()))
        .collect()
}

/// net.core and net.ipv4 as a fresh Linux 6.1 network namespace has
/// them (tabs separate the numbers of a range, as Linux prints them).
fn net(dev: u64) -> Entries {
    let core = [
        ("rmem_default", "212992"),
        ("rmem_max", "212992"),
        ("wmem_default", "212992"),
        ("wmem_max", "212992"),
        ("optmem_max", "20480"),
        ("netdev_max_backlog", "1000"),
    ];
    let ipv4 = [
        ("ip_forward", "0"),
        ("ip_default_ttl", "64"),
        ("ip_nonlocal_bind", "0"),
        ("tcp_syncookies", "1"),
        ("tcp_timestamps", "1"),
        ("tcp_sack", "1"),
        ("tcp_window_scaling", "1"),
        ("tcp_ecn", "2"),
        ("tcp_fin_timeout", "60"),
        ("tcp_keepalive_time", "7200"),
        ("tcp_keepalive_intvl", "75"),
        ("tcp_keepalive_probes", "9"),
        ("tcp_max_syn_backlog", "512"),
        ("tcp_syn_retries", "6"),
        ("tcp_synack_retries", "5"),
        ("tcp_retries2", "15"),
        ("tcp_tw_reuse", "2"),
        ("tcp_fastopen", "1"),
        ("tcp_mtu_probing", "0"),
        ("tcp_slow_start_after_idle", "1"),
        ("tcp_congestion_control", "cubic"),
        ("tcp_available_congestion_control", "reno cubic"),
        ("tcp_rmem", "4096\t131072\t6291456"),
        ("tcp_wmem", "4096\t16384\t4194304"),
    ];
    vec![
        (
            "core".to_string(),
            dir(dev, "sys/net/core", 0, move || {
                let mut entries = constants(dev, &core);
                entries.push(tunable(dev, Key::Somaxconn));
                entries
            }),
        ),
        (
            "ipv4".to_string(),
            dir(dev, "sys/net/ipv4", 0, move || {
                let mut entries = constants(dev, &ipv4);
                for key in [
                    Key::LocalPortRange,
                    Key::UnprivilegedPortStart,
                    Key::PingGroupRange,
                ] {
                    entries.push(tunable(dev, key));
                }
                entries
            }),
        ),
        (
            "ipv6".to_string(),
            dir(dev, "sys/net/ipv6", 0, move || {
                vec![(
                    "conf".to_string(),
                    dir(dev, "sys/net/ipv6/conf", 0, move || {
                        ["all", "default", "lo"]
                            .into_iter()
                            .map(|n| {
                                (
                                    n.to_string(),
                                    dir(dev, n, 0x6636, move || {
                                        constants(
                                            dev,
                                            &[("disable_ipv6", "0"), ("forwarding", "0")],
                                        )
                                    }),
                                )
                            })
                            .collect()
                    }),
                )]
            }),
        ),
    ]
}

fn vm(dev: u64) -> Entries {
    vec![
        // Heuristic overcommit: the Sentry's memory file grows on demand.
        value(dev, "overcommit_memory", || "0".into()),
        value(dev, "max_map_count", || "65530".into()),
    ]
}
