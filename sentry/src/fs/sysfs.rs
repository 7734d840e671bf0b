//! A minimal /sys: what C libraries and language runtimes read to size
//! themselves (the CPUs that are online and possible), and an empty
//! cgroup mount point. The host's /sys is never shown.

use std::sync::Arc;

use super::proc::cpus;
use super::synthetic::{dir, file};
use crate::vfs::Inode;

type Entries = Vec<(String, Arc<dyn Inode>)>;

/// "0-N" for the sandbox's CPUs (or "0" for one).
pub(super) fn cpu_list() -> String {
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

/// /sys/class/net: a directory per interface with the attributes
/// programs read (on Linux these are links into /sys/devices/virtual/net).
fn net_class(dev: u64) -> Entries {
    crate::net::iface::links()
        .into_iter()
        .map(|l| {
            let salt = 0x6e00 + l.index as u64;
            let name = l.name.clone();
            (
                name,
                dir(dev, "netdev", salt, move || net_attributes(dev, salt, &l)),
            )
        })
        .collect()
}

fn net_attributes(dev: u64, salt: u64, l: &crate::net::iface::Link) -> Entries {
    use crate::net::netlink::route::{hw_type, TXQLEN};
    let mac = |m: &[u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    // The flags Linux keeps on the device: RUNNING and LOWER_UP are
    // operational state, reported by netlink but not here.
    let kept = l.flags & !((libc::IFF_RUNNING | libc::IFF_LOWER_UP) as u32);
    let up = l.flags & libc::IFF_UP as u32 != 0;
    let operstate = match (l.loopback, up) {
        (true, _) => "unknown",
        (false, true) => "up",
        (false, false) => "down",
    };
    let brd = if l.loopback { [0u8; 6] } else { [0xff; 6] };
    let index = l.index;
    let attrs: Vec<(&str, String)> = vec![
        ("address", mac(&l.mac)),
        ("broadcast", mac(&brd)),
        ("addr_len", "6".into()),
        ("mtu", l.mtu.to_string()),
        ("ifindex", l.index.to_string()),
        ("iflink", l.index.to_string()),
        ("flags", format!("{kept:#x}")),
        ("operstate", operstate.into()),
        ("carrier", "1".into()),
        ("type", hw_type(l).to_string()),
        ("tx_queue_len", TXQLEN.to_string()),
    ];
    let mut v: Entries = attrs
        .into_iter()
        .map(|(name, text)| {
            let body = format!("{text}\n").into_bytes();
            (
                name.to_string(),
                file(dev, name, salt, move |_| body.clone()),
            )
        })
        .collect();
    v.push((
        "statistics".into(),
        dir(dev, "statistics", salt, move || {
            let c = crate::net::iface::counters(index);
            [
                ("rx_bytes", c.rx_bytes),
                ("rx_packets", c.rx_packets),
                ("rx_dropped", c.rx_dropped),
                ("tx_bytes", c.tx_bytes),
                ("tx_packets", c.tx_packets),
                ("tx_dropped", c.tx_dropped),
            ]
            .into_iter()
            .map(|(name, n)| {
                let body = format!("{n}\n").into_bytes();
                (
                    name.to_string(),
                    file(dev, name, salt, move |_| body.clone()),
                )
            })
            .collect()
        }),
    ));
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
            (
                "class".to_string(),
                dir(dev, "class", 0x5f, move || {
                    vec![(
                        "net".to_string(),
                        dir(dev, "net", 0x5f, move || net_class(dev)),
                    )]
                }),
            ),
            empty("bus"),
            empty("block"),
            empty("dev"),
            empty("firmware"),
            empty("module"),
            empty("power"),
        ]
    })
}
