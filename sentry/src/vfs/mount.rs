//! The sandbox's mount table: which file system answers at which path, and
//! what /proc/PID/mountinfo says about each mount.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Inode;
use crate::spec::MountFlags;

#[derive(Clone)]
pub struct Mount {
    pub root: Arc<dyn Inode>,
    /// Per-mount flags; the Sentry enforces `readonly`.
    pub flags: MountFlags,
    /// The file system's type for /proc/mounts.
    pub fstype: String,
    /// The source mountinfo shows ("tmpfs", "shm", "/dev/vda").
    pub source: String,
    /// The directory of the source file system mounted here (mountinfo's
    /// field 4: "/" for a new file system, the bound directory for a bind).
    pub fs_root: String,
    /// The super block's options (mountinfo's last field): "rw,size=1024k".
    pub super_options: String,
}

impl Mount {
    /// A new file system (`fs_root` "/").
    pub fn new(
        root: Arc<dyn Inode>,
        flags: MountFlags,
        fstype: &str,
        source: &str,
        super_options: String,
    ) -> Mount {
        Mount {
            root,
            flags,
            fstype: fstype.into(),
            source: source.into(),
            fs_root: "/".into(),
            super_options,
        }
    }

    /// A bind of `inode`, found at `rel` (a path below this mount's point,
    /// "" for the point itself), with `flags`.
    pub fn bind_of(&self, inode: Arc<dyn Inode>, rel: &str, flags: MountFlags) -> Mount {
        let fs_root = match (self.fs_root.as_str(), rel) {
            (r, "") => r.to_string(),
            ("/", rel) => format!("/{rel}"),
            (r, rel) => format!("{r}/{rel}"),
        };
        Mount {
            root: inode,
            flags,
            fs_root,
            ..self.clone()
        }
    }
}

/// Mount points by canonical absolute path ("/" is the root file system),
/// each with its place in mount order.
#[derive(Clone, Default)]
pub struct Mounts {
    table: BTreeMap<String, (u64, Mount)>,
    next: u64,
}

impl Mounts {
    /// Mounts `mount` at `path`, over whatever was mounted there.
    pub fn add(&mut self, path: &str, mount: Mount) {
        self.table.insert(path.to_string(), (self.next, mount));
        self.next += 1;
    }

    pub fn get(&self, path: &str) -> Option<&Mount> {
        self.table.get(path).map(|(_, m)| m)
    }

    /// The mount `path` lies on (the longest mount point above it).
    pub fn containing(&self, path: &str) -> Option<(&String, &Mount)> {
        self.table
            .iter()
            .filter(|(m, _)| {
                m.as_str() == "/"
                    || path == m.as_str()
                    || path
                        .strip_prefix(m.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(p, (_, m))| (p, m))
    }

    /// The mounts in the order they were made, each with its sequence
    /// number (0 for the first).
    pub fn in_order(&self) -> Vec<(u64, &String, &Mount)> {
        let mut v: Vec<_> = self.table.iter().map(|(p, (n, m))| (*n, p, m)).collect();
        v.sort_by_key(|(n, _, _)| *n);
        v
    }

    /// The sequence number of the mount at `path`.
    pub fn seq(&self, path: &str) -> Option<u64> {
        self.table.get(path).map(|(n, _)| *n)
    }
}
