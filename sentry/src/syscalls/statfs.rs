//! statfs and fstatfs: the figures of the file system a file lies on.
//! Host file systems report the host's own (through the descriptor the
//! confined opener holds), tmpfs its size limit and usage, and the
//! Sentry's synthetic file systems Linux's magic numbers for their kind.

use super::Args;
use crate::errno::SysResult;
use crate::kernel::task::Task;
use crate::spec::Atime;
use crate::vfs::stat::FsStat;
use crate::vfs::{FileType, Inode, OpenFile};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
const MQUEUE_MAGIC: i64 = 0x1980_0202;
const PIPEFS_MAGIC: i64 = 0x5049_5045;
const SOCKFS_MAGIC: i64 = 0x534f_434b;
const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;
const ST_RDONLY: i64 = 0x1;
const ST_NOSUID: i64 = 0x2;
const ST_NODEV: i64 = 0x4;
const ST_NOEXEC: i64 = 0x8;
const ST_NOATIME: i64 = 0x400;
const ST_NODIRATIME: i64 = 0x800;
const ST_RELATIME: i64 = 0x1000;
const ST_VALID: i64 = 0x20;

/// Figures for a file system that keeps none of its own (proc, sysfs).
fn generic(magic: i64, dev: u64) -> FsStat {
    FsStat {
        f_type: magic,
        f_bsize: 4096,
        f_frsize: 4096,
        f_namelen: 255,
        f_flags: ST_VALID,
        f_fsid: [dev as i32, (dev >> 32) as i32],
        ..Default::default()
    }
}

/// The statfs of `inode`, found at `path` in the sandbox.
fn of_inode(t: &Task, inode: &dyn Inode, path: &str) -> FsStat {
    let mount = t
        .proc
        .container
        .mounts
        .containing(path)
        .map(|(_, m)| m.clone());
    let fstype = mount.as_ref().map(|m| m.fstype.as_str()).unwrap_or("");
    let dev = inode.stat().map(|s| s.dev).unwrap_or(0);
    let magic = match fstype {
        "proc" => Some(PROC_SUPER_MAGIC),
        "sysfs" => Some(SYSFS_MAGIC),
        "devpts" => Some(DEVPTS_SUPER_MAGIC),
        "mqueue" => Some(MQUEUE_MAGIC),
        "cgroup2" => Some(crate::fs::cgroupfs::CGROUP2_SUPER_MAGIC),
        _ => None,
    };
    let mut s = match (inode.statfs(), magic) {
        (Some(mut own), Some(m)) => {
            own.f_type = m;
            own
        }
        (Some(own), None) => own,
        (None, m) => generic(m.unwrap_or(crate::fs::tmpfs::TMPFS_MAGIC), dev),
    };
    s.f_flags |= ST_VALID;
    // The mount's flags, as Linux's flags_by_mnt reports them (not the
    // host mount's, for a bind).
    if let Some(f) = mount.map(|m| m.flags) {
        s.f_flags &= !(ST_RDONLY
            | ST_NOSUID
            | ST_NODEV
            | ST_NOEXEC
            | ST_NOATIME
            | ST_NODIRATIME
            | ST_RELATIME);
        for (on, bit) in [
            (f.readonly, ST_RDONLY),
            (f.nosuid, ST_NOSUID),
            (f.nodev, ST_NODEV),
            (f.noexec, ST_NOEXEC),
            (f.atime == Atime::No, ST_NOATIME),
            (f.nodiratime, ST_NODIRATIME),
            (f.atime == Atime::Relatime, ST_RELATIME),
        ] {
            if on {
                s.f_flags |= bit;
            }
        }
    }
    s
}

/// The statfs of an open file without a name (pipes, sockets, anonymous files).
fn of_anonymous(f: &OpenFile) -> FsStat {
    let st = f.ops.stat().ok();
    let dev = st.map(|s| s.dev).unwrap_or(0);
    let magic = if f.ops.as_socket().is_some() {
        SOCKFS_MAGIC
    } else if st.is_some_and(|s| s.file_type() == FileType::Fifo) {
        PIPEFS_MAGIC
    } else {
        ANON_INODE_FS_MAGIC
    };
    generic(magic, dev)
}

pub fn statfs(t: &mut Task, a: Args) -> SysResult<u64> {
    let p = t.path_arg(a[0])?;
    let loc = t.lookup_at(libc::AT_FDCWD as u64, &p, true)?;
    let s = of_inode(t, &*loc.inode, &loc.path);
    t.mm.write_obj(a[1], &s)?;
    Ok(0)
}

pub fn fstatfs(t: &mut Task, a: Args) -> SysResult<u64> {
    let f = t.file_raw(a[0])?;
    let s = match &f.inode {
        Some(inode) => of_inode(t, &**inode, &f.path),
        None => of_anonymous(&f),
    };
    t.mm.write_obj(a[1], &s)?;
    Ok(0)
}
