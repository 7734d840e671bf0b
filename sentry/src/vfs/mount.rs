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

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Mount)> {
        self.table.iter()
    }
}
