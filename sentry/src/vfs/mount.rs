//! The sandbox's mount table: which file system answers at which path.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Inode;

#[derive(Clone)]
pub struct Mount {
    pub root: Arc<dyn Inode>,
    pub readonly: bool,
    /// The file system's name for /proc/mounts.
    pub fstype: String,
}

/// Mount points by canonical absolute path ("/" is the root file system).
#[derive(Clone, Default)]
pub struct Mounts {
    table: BTreeMap<String, Mount>,
}

impl Mounts {
    pub fn add(&mut self, path: &str, mount: Mount) {
        self.table.insert(path.to_string(), mount);
    }

    pub fn get(&self, path: &str) -> Option<&Mount> {
        self.table.get(path)
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
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Mount)> {
        self.table.iter()
    }
}
