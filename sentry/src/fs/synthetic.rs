//! Building blocks for file systems whose contents the Sentry generates
//! (/proc, /sys): files rendered when opened, links and directories
//! computed when looked at.

use std::any::Any;
use std::sync::Arc;

use crate::errno::{err, Errno, SysResult};
use crate::vfs::{DirEntry, FileOps, FileType, Inode, OpenCtx, Stat};

pub type Render = Arc<dyn Fn(&OpenCtx) -> Vec<u8> + Send + Sync>;
pub type Target = Arc<dyn Fn() -> String + Send + Sync>;
pub type Entries = Arc<dyn Fn() -> Vec<(String, Arc<dyn Inode>)> + Send + Sync>;
/// What a write at offset 0 does: the bytes taken, or the errno.
pub type Writer = Arc<dyn Fn(&[u8]) -> SysResult<usize> + Send + Sync>;
/// Who owns a node, asked each time it is looked at: (uid, gid).
pub type Owner = Arc<dyn Fn() -> (u32, u32) + Send + Sync>;

#[derive(Clone)]
enum Kind {
    /// A file, writable by its owner (root) when it has a writer.
    File(Render, Option<Writer>),
    Link(Target),
    Dir(Entries),
}

pub struct Node {
    dev: u64,
    ino: u64,
    perm: u32,
    kind: Kind,
    /// For a magic link: the file it stands for (see Inode::magic_target).
    magic: Option<(String, Arc<dyn Inode>)>,
    /// Its owner, when not root (see `owned`).
    owner: Option<Owner>,
}

/// `inode` owned by whoever `owner` names (a /proc/PID file belongs to its
/// process). Only this module's nodes take an owner; others come back as
/// they are.
pub fn owned(inode: Arc<dyn Inode>, owner: Owner) -> Arc<dyn Inode> {
    match inode.as_any().downcast_ref::<Node>() {
        Some(n) => Arc::new(Node {
            dev: n.dev,
            ino: n.ino,
            perm: n.perm,
            kind: n.kind.clone(),
            magic: n.magic.clone(),
            owner: Some(owner),
        }),
        None => inode,
    }
}

fn ino_of(name: &str, salt: u64) -> u64 {
    // A stable inode number from the node's name.
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ salt, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1
}

pub fn file(
    dev: u64,
    name: &str,
    salt: u64,
    render: impl Fn(&OpenCtx) -> Vec<u8> + Send + Sync + 'static,
) -> Arc<dyn Inode> {
    Arc::new(Node {
        dev,
        ino: ino_of(name, salt),
        perm: 0o444,
        kind: Kind::File(Arc::new(render), None),
        magic: None,
        owner: None,
    })
}

/// A file root may write (mode 0644), as a tunable sysctl: each write(2)
/// at offset 0 goes to `write`; later ones are ignored, as Linux's
/// sysctl files ignore them (kernel.sysctl_writes_strict).
pub fn writable_file(
    dev: u64,
    name: &str,
    salt: u64,
    render: impl Fn(&OpenCtx) -> Vec<u8> + Send + Sync + 'static,
    write: impl Fn(&[u8]) -> SysResult<usize> + Send + Sync + 'static,
) -> Arc<dyn Inode> {
    Arc::new(Node {
        dev,
        ino: ino_of(name, salt),
        perm: 0o644,
        kind: Kind::File(Arc::new(render), Some(Arc::new(write))),
        magic: None,
        owner: None,
    })
}

pub fn link(
    dev: u64,
    name: &str,
    salt: u64,
    target: impl Fn() -> String + Send + Sync + 'static,
) -> Arc<dyn Inode> {
    Arc::new(Node {
        dev,
        ino: ino_of(name, salt),
        perm: 0o777,
        kind: Kind::Link(Arc::new(target)),
        magic: None,
        owner: None,
    })
}

/// A magic link (/proc/PID/fd/N): reads as `path`, and path resolution
/// enters `inode` itself, as Linux does for a deleted or unnamed file.
pub fn magic_link(
    dev: u64,
    name: &str,
    salt: u64,
    path: String,
    inode: Option<Arc<dyn Inode>>,
) -> Arc<dyn Inode> {
    let text = path.clone();
    Arc::new(Node {
        dev,
        ino: ino_of(name, salt),
        perm: 0o777,
        kind: Kind::Link(Arc::new(move || text.clone())),
        magic: inode.map(|i| (path, i)),
        owner: None,
    })
}

pub fn dir(
    dev: u64,
    name: &str,
    salt: u64,
    entries: impl Fn() -> Vec<(String, Arc<dyn Inode>)> + Send + Sync + 'static,
) -> Arc<dyn Inode> {
    Arc::new(Node {
        dev,
        ino: ino_of(name, salt),
        perm: 0o555,
        kind: Kind::Dir(Arc::new(entries)),
        magic: None,
        owner: None,
    })
}

impl Inode for Node {
    fn stat(&self) -> SysResult<Stat> {
        let ftype = match self.kind {
            Kind::File(..) => FileType::Regular,
            Kind::Link(_) => FileType::Symlink,
            Kind::Dir(_) => FileType::Directory,
        };
        let mut st = Stat::synthetic(self.dev, self.ino, ftype, self.perm, 0);
        if let Some(owner) = &self.owner {
            (st.uid, st.gid) = owner();
        }
        Ok(st)
    }

    fn open(self: Arc<Self>, flags: i32, ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let writer = match &self.kind {
            Kind::File(_, w) => w.clone(),
            _ => None,
        };
        if flags & libc::O_ACCMODE != libc::O_RDONLY && writer.is_none() {
            return err(libc::EACCES);
        }
        let stat = self.stat()?;
        let data = match &self.kind {
            Kind::File(r, _) => r(ctx),
            _ => Vec::new(),
        };
        Ok(Arc::new(Snapshot { data, stat, writer }))
    }

    fn lookup(&self, name: &str) -> SysResult<Arc<dyn Inode>> {
        match &self.kind {
            Kind::Dir(e) => e()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| i)
                .ok_or(Errno(libc::ENOENT)),
            _ => err(libc::ENOTDIR),
        }
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        match &self.kind {
            Kind::Dir(e) => e()
                .into_iter()
                .map(|(name, i)| {
                    let st = i.stat()?;
                    Ok(DirEntry {
                        name,
                        ino: st.ino,
                        ftype: st.file_type(),
                    })
                })
                .collect(),
            _ => err(libc::ENOTDIR),
        }
    }

    fn readlink(&self) -> SysResult<String> {
        match &self.kind {
            Kind::Link(t) => Ok(t()),
            _ => err(libc::EINVAL),
        }
    }

    fn magic_target(&self) -> Option<(String, Arc<dyn Inode>)> {
        self.magic.clone()
    }

    fn fs_id(&self) -> usize {
        self.dev as usize
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A generated file's contents, fixed at open.
struct Snapshot {
    data: Vec<u8>,
    stat: Stat,
    writer: Option<Writer>,
}

impl FileOps for Snapshot {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if self.stat.file_type() == FileType::Directory {
            return err(libc::EISDIR);
        }
        let off = off.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - off);
        buf[..n].copy_from_slice(&self.data[off..off + n]);
        Ok(n)
    }
    fn write(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        match &self.writer {
            Some(_) if off != 0 => Ok(buf.len()),
            Some(w) => w(buf),
            None => err(libc::EACCES),
        }
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek_end(&self) -> bool {
        false
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }
}
