//! /dev: the devices a container expects, implemented by the Sentry (no
//! host device is ever opened for the workload).

use std::sync::Arc;

use super::host_fd::HostFd;
use super::pty::ctty::TtyDevice;
use super::tmpfs::{TmpFs, TmpInode};
use crate::errno::{err, SysResult};
use crate::vfs::{Create, FileOps, FileType, Inode, OpenCtx, Stat};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Zero,
    Full,
    Random,
}

struct Device {
    kind: Kind,
    dev: u64,
    ino: u64,
    rdev: u64,
}

impl Inode for Device {
    fn stat(&self) -> SysResult<Stat> {
        let mut s = Stat::synthetic(self.dev, self.ino, FileType::CharDevice, 0o666, 0);
        s.rdev = self.rdev;
        Ok(s)
    }
    fn open(self: Arc<Self>, _flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        Ok(self)
    }
    fn truncate(&self, _len: u64) -> SysResult<()> {
        Ok(())
    }
    device_node_attrs!(dev);
}

impl FileOps for Device {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        match self.kind {
            Kind::Null => Ok(0),
            Kind::Zero | Kind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Kind::Random => {
                crate::mm::stack::getrandom(buf);
                Ok(buf.len())
            }
        }
    }
    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        match self.kind {
            Kind::Full => err(libc::ENOSPC),
            _ => Ok(buf.len()),
        }
    }
    fn seekable(&self) -> bool {
        true
    }
    fn fixed_position(&self) -> bool {
        true
    }
    fn maps_as_anonymous(&self) -> bool {
        self.kind == Kind::Zero
    }
    fn mappable(&self, _writable: bool) -> SysResult<Arc<dyn crate::mm::Mappable>> {
        err(libc::ENODEV)
    }
    fn stat(&self) -> SysResult<Stat> {
        Inode::stat(self)
    }
    fn truncate(&self, _len: u64) -> SysResult<()> {
        Ok(())
    }
}

fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12)
}

/// Builds /dev on a fresh tmpfs.
pub fn new_devfs(console: Option<&Arc<HostFd>>) -> Arc<TmpInode> {
    let root = TmpFs::new_root(Some(64 << 20), 0o755);
    let dev = root.fs_id() as u64;
    let nodes = [
        ("null", Kind::Null, 3),
        ("zero", Kind::Zero, 5),
        ("full", Kind::Full, 7),
        ("random", Kind::Random, 8),
        ("urandom", Kind::Random, 9),
    ];
    for (i, (name, kind, minor)) in nodes.into_iter().enumerate() {
        root.add_child(
            name,
            Arc::new(Device {
                kind,
                dev,
                ino: 100 + i as u64,
                rdev: makedev(1, minor),
            }),
        );
    }
    let c = Create {
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    let _ = root.mkdir("pts", c);
    let _ = root.mkdir("shm", Create { mode: 0o1777, ..c });
    let _ = root.mkdir("mqueue", c);
    let _ = root.symlink("fd", "/proc/self/fd", c);
    let _ = root.symlink("stdin", "/proc/self/fd/0", c);
    let _ = root.symlink("stdout", "/proc/self/fd/1", c);
    let _ = root.symlink("stderr", "/proc/self/fd/2", c);
    let _ = root.symlink("ptmx", "pts/ptmx", c);
    root.add_child("tty", Arc::new(TtyDevice { dev, ino: 110 }));
    if let Some(fd) = console {
        root.add_child("console", terminal_node(fd, dev));
    }
    root
}

/// A terminal the runtime gave the sandbox, as a device node: the
/// container's console (/dev/console, /dev/pts/0, /dev/tty for the first
/// process's session) or an exec'd process's terminal (/dev/pts/N). Its
/// holders keep it alive (the kernel holds the console for the sandbox's
/// life); once none does, the node is gone (ENOENT).
struct Terminal {
    fd: std::sync::Weak<HostFd>,
    dev: u64,
}

impl Inode for Terminal {
    fn stat(&self) -> SysResult<Stat> {
        match self.fd.upgrade() {
            Some(fd) => FileOps::stat(&*fd),
            None => err(libc::ENOENT),
        }
    }
    fn open(self: Arc<Self>, _flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        match self.fd.upgrade() {
            Some(fd) => Ok(fd),
            None => err(libc::EIO),
        }
    }
    device_node_attrs!(dev);
}

/// `fd`, a terminal the runtime gave the sandbox, as a device node.
pub fn terminal_node(fd: &Arc<HostFd>, dev: u64) -> Arc<dyn Inode> {
    Arc::new(Terminal {
        fd: Arc::downgrade(fd),
        dev,
    })
}
