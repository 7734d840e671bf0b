//! Which cgroup hierarchies this host has mounted, read from
//! /proc/self/mountinfo. Hosts come as pure v1 (one hierarchy per
//! controller set), pure v2 (one unified hierarchy), or hybrid (v1
//! controllers plus an empty cgroup2 at /sys/fs/cgroup/unified, as here).

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A v1 hierarchy with these controllers (e.g. ["cpu", "cpuacct"]) or
    /// a named one without controllers (name=systemd).
    V1 { controllers: Vec<String> },
    /// The unified hierarchy.
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    pub version: Version,
}

impl Hierarchy {
    pub fn has_v1(&self, controller: &str) -> bool {
        matches!(&self.version, Version::V1 { controllers } if controllers.iter().any(|c| c == controller))
    }
}

/// Every cgroup hierarchy mounted in our mount namespace, one entry per
/// hierarchy (the first mount of each wins: bind mounts of the same
/// hierarchy elsewhere are duplicates).
pub fn discover() -> std::io::Result<Vec<Hierarchy>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in text.lines() {
        // Fields: id parent maj:min root mountpoint options [optional...] - fstype source super-options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(mountpoint), Some(fstype)) = (left.get(4), right.first()) else {
            continue;
        };
        let mountpoint = PathBuf::from(unescape(mountpoint));
        let version = match *fstype {
            "cgroup2" => Version::V2,
            "cgroup" => {
                let opts = right.get(2).copied().unwrap_or("");
                let controllers = opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                    .filter(|o| KNOWN_V1.contains(o))
                    .map(str::to_string)
                    .collect();
                Version::V1 { controllers }
            }
            _ => continue,
        };
        let dup = out.iter().any(|h| match (&h.version, &version) {
            (Version::V2, Version::V2) => true,
            (Version::V1 { controllers: a }, Version::V1 { controllers: b }) => {
                a == b && (!a.is_empty() || h.mountpoint == mountpoint)
            }
            _ => false,
        });
        if !dup {
            out.push(Hierarchy {
                mountpoint,
                version,
            });
        }
    }
    out
}

const KNOWN_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(n) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
            {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:29 / /mnt/cpu\\040again rw,relatime - cgroup cgroup rw,cpu
";

    #[test]
    fn hybrid_host() {
        let h = parse_mountinfo(HYBRID);
        let points: Vec<_> = h
            .iter()
            .map(|h| h.mountpoint.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            points,
            vec![
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/pids",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified"
            ]
        );
        assert!(h[1].has_v1("memory"));
        assert_eq!(
            h[3].version,
            Version::V1 {
                controllers: vec![]
            }
        );
        assert_eq!(h[4].version, Version::V2);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
