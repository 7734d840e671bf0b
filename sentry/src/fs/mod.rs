//! The file systems the Sentry provides: the confined host file system (the
//! container's root and bind mounts), an in-memory tmpfs, /dev, /proc, pipes
//! and the host descriptors the runtime hands over as stdio.

/// The attribute methods of an [`crate::vfs::Inode`] that every device node
/// of the Sentry shares: chmod and chown are accepted and change nothing
/// (the node is the Sentry's own), `fs_id` is the `dev` field named, and
/// `as_any`.
macro_rules! device_node_attrs {
    ($($dev:ident).+) => {
        fn chmod(&self, _mode: u32) -> $crate::errno::SysResult<()> {
            Ok(())
        }
        fn chown(&self, _uid: Option<u32>, _gid: Option<u32>) -> $crate::errno::SysResult<()> {
            Ok(())
        }
        fn fs_id(&self) -> usize {
            self.$($dev).+ as usize
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    };
}

pub mod cgroupfs;
pub mod dev;
pub mod epoll;
pub mod eventfd;
pub mod fifo;
pub mod host;
pub mod host_cache;
pub mod host_fd;
pub mod inotify;
pub mod overlay;
pub mod pipe;
pub mod proc;
pub mod pty;
pub mod signalfd;
pub mod synthetic;
pub mod sysfs;
pub mod timerfd;
pub mod tmpfs;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh identifier for a file system instance (also its st_dev).
pub fn new_fs_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0x100);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
