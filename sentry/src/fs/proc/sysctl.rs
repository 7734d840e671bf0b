//! /proc/sys: the kernel parameters a program may read. Read-only: the
//! sandbox's kernel is not tunable from inside.

use std::sync::{Arc, OnceLock};

use super::{text, RELEASE, VERSION};
use crate::fs::synthetic::{dir, file};
use crate::kernel::process::lock;
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
            (
                "net".to_string(),
                dir(dev, "sys/net", 0, move || {
                    vec![(
                        "core".to_string(),
                        dir(dev, "sys/net/core", 0, move || {
                            vec![value(dev, "somaxconn", || "4096".into())]
                        }),
                    )]
                }),
            ),
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

fn vm(dev: u64) -> Entries {
    vec![
        // Heuristic overcommit: the Sentry's memory file grows on demand.
        value(dev, "overcommit_memory", || "0".into()),
        value(dev, "max_map_count", || "65530".into()),
    ]
}
