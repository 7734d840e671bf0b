//! memfd_create and file seals (F_ADD_SEALS, F_GET_SEALS): anonymous
//! in-memory files, kept in a tmpfs of their own.

use std::sync::{Arc, OnceLock};

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::fs::tmpfs::{TmpFs, TmpInode};
use crate::kernel::task::Task;
use crate::vfs::{Inode, OpenCtx, OpenFile};

/// The longest name memfd_create takes (NAME_MAX less "memfd:").
const MAX_NAME: usize = 249;

fn memfd_fs() -> &'static Arc<TmpFs> {
    static FS: OnceLock<Arc<TmpFs>> = OnceLock::new();
    FS.get_or_init(TmpFs::for_memfds)
}

pub fn memfd_create(t: &mut Task, a: Args) -> SysResult<u64> {
    let flags = a[1] as u32;
    let known = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | libc::MFD_HUGETLB;
    // The hugetlb size bits ride in the top six bits.
    if flags & !(known | (0x3f << 26)) != 0 {
        return err(libc::EINVAL);
    }
    let name = t.mm.read_cstr(a[0], MAX_NAME + 1).map_err(|e| {
        if e.0 == libc::ENAMETOOLONG {
            Errno(libc::EINVAL)
        } else {
            e
        }
    })?;
    let name = String::from_utf8_lossy(&name).into_owned();
    let inode = TmpInode::new_memfd(memfd_fs(), flags & libc::MFD_ALLOW_SEALING != 0)?;
    let ctx = OpenCtx {
        pid: t.pid(),
        mm: &t.mm,
    };
    let ops = inode.clone().open(libc::O_RDWR, &ctx)?;
    let file = OpenFile::new(
        ops,
        Some(inode as Arc<dyn Inode>),
        format!("/memfd:{name} (deleted)"),
        libc::O_RDWR | libc::O_LARGEFILE,
    );
    t.install(file, flags & libc::MFD_CLOEXEC != 0)
}

/// The memfd behind a descriptor (EINVAL for other files, as Linux says
/// for files that do not support sealing).
fn memfd_of(f: &OpenFile) -> SysResult<&TmpInode> {
    f.inode
        .as_ref()
        .and_then(|i| i.as_any().downcast_ref::<TmpInode>())
        .filter(|m| m.seals().is_some())
        .ok_or(Errno(libc::EINVAL))
}

pub fn get_seals(f: &OpenFile) -> SysResult<u64> {
    memfd_of(f)?
        .seals()
        .map(u64::from)
        .ok_or(Errno(libc::EINVAL))
}

pub fn add_seals(f: &OpenFile, seals: u64) -> SysResult<u64> {
    let m = memfd_of(f)?;
    if !f.writable() {
        return err(libc::EPERM);
    }
    m.add_seals(seals as u32).map(|_| 0)
}
