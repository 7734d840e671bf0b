//! A minimal /sys: what C libraries and language runtimes read to size
//! themselves (the CPUs that are online and possible), and an empty
//! cgroup mount point. The host's /sys is never shown.

use std::sync::Arc;

use super::proc::cpus;
use super::synthetic::{dir, file};
use crate::vfs::Inode;

type Entries = Vec<(String, Arc<dyn Inode>)>;

/// "0-N" for the sandbox's CPUs (or "0" for one).
fn cpu_list() -> String {
    match cpus() {
        0 | 1 => "0\n".into(),
        n => format!("0-{}\n", n - 1),
    }
}

fn cpu_dir(dev: u64) -> Entries {
    let mut v: Entries = ["online", "possible", "present"]
        .into_iter()
        .map(|name| {
            (
                name.to_string(),
                file(dev, name, 0x5c, |_| cpu_list().into_bytes()),
            )
        })
        .collect();
    v.push((
        "kernel_max".into(),
        file(dev, "kernel_max", 0x5c, |_| b"8191\n".to_vec()),
    ));
    for i in 0..cpus() {
        let salt = 0x5c00 + i as u64;
        v.push((
            format!("cpu{i}"),
            dir(dev, "cpu", salt, move || {
                vec![(
                    "online".to_string(),
                    file(dev, "online", salt, |_| b"1\n".to_vec()),
                )]
            }),
        ));
    }
    v
}

/// Builds the root of /sys.
pub fn new_sysfs() -> Arc<dyn Inode> {
    let dev = super::new_fs_id() as u64;
    let empty = move |name: &'static str| (name.to_string(), dir(dev, name, 0x5f, Vec::new));
    dir(dev, "/sys", 0x5f, move || {
        vec![
            (
                "devices".to_string(),
                dir(dev, "devices", 0x5f, move || {
                    vec![(
                        "system".to_string(),
                        dir(dev, "system", 0x5f, move || {
                            vec![(
                                "cpu".to_string(),
                                dir(dev, "cpu", 0x5f, move || cpu_dir(dev)),
                            )]
                        }),
                    )]
                }),
            ),
            (
                "fs".to_string(),
                dir(dev, "fs", 0x5f, move || vec![empty("cgroup")]),
            ),
            empty("kernel"),
            empty("class"),
            empty("bus"),
            empty("block"),
            empty("dev"),
            empty("firmware"),
            empty("module"),
            empty("power"),
        ]
    })
}
