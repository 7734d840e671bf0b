//! The container's devpts: `ptmx`, which makes a new pair, and one node
//! per live pair (`N`, the slave), which goes when its master closes. Index
//! 0 is the runtime's console when the container has a terminal.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::{master::Master, slave::Slave, Pty};
use crate::errno::{err, SysResult};
use crate::fs::host_fd::HostFd;
use crate::fs::tmpfs::{TmpFs, TmpInode};
use crate::kernel::process::lock;
use crate::spec::DevptsOptions;
use crate::vfs::{FileOps, FileType, Inode, OpenCtx, Stat};

/// The sandbox's devpts (the first made: the one at /dev/pts), where the
/// terminals the runtime gives `exec`'d processes appear.
static DEVPTS: OnceLock<Arc<DevPts>> = OnceLock::new();

pub struct DevPts {
    root: Weak<TmpInode>,
    /// Indexes in use (the console's 0 included).
    used: Mutex<BTreeSet<u32>>,
    /// Host terminals of exec'd processes, by index: listed while some
    /// descriptor of the sandbox still holds them.
    hosted: Mutex<Vec<(u32, Weak<HostFd>)>>,
    /// The mount's `gid=`, `mode=` and `ptmxmode=`.
    options: DevptsOptions,
}

impl DevPts {
    /// A new pair with the lowest free index, its slave node in place,
    /// owned by `uid` and the mount's `gid=` (else `gid`, the opener's).
    fn allocate(self: &Arc<DevPts>, uid: u32, gid: u32) -> SysResult<Arc<Pty>> {
        let root = self.root.upgrade().ok_or(crate::errno::Errno(libc::EIO))?;
        let mut used = lock(&self.used);
        let index = (0..).find(|i| !used.contains(i)).unwrap_or(0);
        if used.len() >= 4096 {
            return err(libc::ENOSPC); // Linux's default /proc/sys/kernel/pty/max
        }
        used.insert(index);
        drop(used);
        let owner = (uid, self.options.gid.unwrap_or(gid), self.options.mode);
        let pty = Pty::new(index, owner, root.fs_id() as u64, Arc::downgrade(self));
        root.add_child(&index.to_string(), SlaveNode::new(pty.clone()));
        Ok(pty)
    }

    pub(super) fn remove(&self, index: u32) {
        if let Some(root) = self.root.upgrade() {
            let _ = root.unlink(&index.to_string());
        }
        lock(&self.used).remove(&index);
    }
}

/// Shows `terminal` (the pty the runtime made for an exec'd process) as
/// /dev/pts/N and makes it the controlling terminal of session `sid`.
/// Returns its path. The node goes once the sandbox holds the terminal
/// no more (checked whenever another is attached).
pub fn attach_host_terminal(terminal: &Arc<HostFd>, sid: i32) -> Option<String> {
    let devpts = DEVPTS.get()?;
    let root = devpts.root.upgrade()?;
    let mut hosted = lock(&devpts.hosted);
    hosted.retain(|(index, t)| {
        let alive = t.strong_count() > 0;
        if !alive {
            let _ = root.unlink(&index.to_string());
            lock(&devpts.used).remove(index);
        }
        alive
    });
    let mut used = lock(&devpts.used);
    let index = (0..).find(|i| !used.contains(i))?;
    used.insert(index);
    drop(used);
    hosted.push((index, Arc::downgrade(terminal)));
    let node = crate::fs::dev::terminal_node(terminal, root.fs_id() as u64);
    root.add_child(&index.to_string(), node.clone());
    super::ctty::set(sid, node);
    Some(format!("/dev/pts/{index}"))
}

/// Builds /dev/pts with `options`: `ptmx`, and the console as pts 0.
pub fn new_devpts(console: Option<&Arc<HostFd>>, options: DevptsOptions) -> Arc<TmpInode> {
    let root = TmpFs::new_root(Some(0), 0o755);
    let dev = root.fs_id() as u64;
    let mut used = BTreeSet::new();
    if let Some(fd) = console {
        root.add_child("0", crate::fs::dev::terminal_node(fd, dev));
        used.insert(0);
    }
    let devpts = Arc::new(DevPts {
        root: Arc::downgrade(&root),
        used: Mutex::new(used),
        hosted: Mutex::new(Vec::new()),
        options,
    });
    let _ = DEVPTS.set(devpts.clone());
    root.add_child("ptmx", Arc::new(PtmxNode { devpts, dev }));
    root
}

/// /dev/pts/ptmx (5:2; /dev/ptmx links here): each open is a new master.
struct PtmxNode {
    devpts: Arc<DevPts>,
    dev: u64,
}

impl Inode for PtmxNode {
    fn stat(&self) -> SysResult<Stat> {
        let mode = self.devpts.options.ptmxmode & 0o7777;
        let mut s = Stat::synthetic(self.dev, 2, FileType::CharDevice, mode, 0);
        s.rdev = super::makedev(5, 2);
        Ok(s)
    }
    fn open(self: Arc<Self>, _flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let (uid, gid) = crate::kernel::thread::current()
            .map(|(p, _)| {
                let creds = &lock(&p.state).creds;
                (creds.euid, creds.egid)
            })
            .unwrap_or((0, 0));
        let pty = self.devpts.allocate(uid, gid)?;
        Ok(Arc::new(Master::new(pty)))
    }
    device_node_attrs!(dev);
}

/// /dev/pts/N: opens the slave of pair N.
pub(super) struct SlaveNode {
    pty: Arc<Pty>,
}

impl SlaveNode {
    pub(super) fn new(pty: Arc<Pty>) -> Arc<SlaveNode> {
        Arc::new(SlaveNode { pty })
    }
}

impl Inode for SlaveNode {
    device_node_attrs!(pty.dev);
    fn stat(&self) -> SysResult<Stat> {
        let mut s = Stat::synthetic(
            self.pty.dev,
            3 + self.pty.index as u64,
            FileType::CharDevice,
            self.pty.mode & 0o7777,
            0,
        );
        s.uid = self.pty.uid;
        s.gid = self.pty.gid;
        s.rdev = self.pty.rdev();
        Ok(s)
    }
    fn open(self: Arc<Self>, flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let slave = Slave::open(&self.pty)?;
        if flags & libc::O_NOCTTY == 0 {
            // A session leader without a terminal acquires the first one
            // it opens, as on Linux.
            let _ = super::ioctl::acquire(&self.pty, false);
        }
        Ok(slave)
    }
}
