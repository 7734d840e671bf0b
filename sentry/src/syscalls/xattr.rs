//! Extended attributes: the get/set/list/remove families (by path, by
//! path without following a link, by descriptor). Names, sizes and
//! permissions are checked here; each file system decides which
//! namespaces it keeps (tmpfs: user., trusted., security.; the host
//! rootfs: user. only, through the confined opener; the others: none,
//! EOPNOTSUPP as on Linux).

use std::sync::Arc;

use super::fs::{base_name, check_access, writable};
use crate::errno::{err, Errno, SysResult};
use crate::fs::inotify;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::Inode;

/// Linux's XATTR_NAME_MAX, XATTR_SIZE_MAX and XATTR_LIST_MAX.
const NAME_MAX: usize = 255;
const SIZE_MAX: usize = 65536;
const LIST_MAX: usize = 65536;

/// How a call names its file.
#[derive(Clone, Copy)]
pub enum By {
    Path { follow: bool },
    Fd,
}

/// The file a call acts on, with what inotify needs to report a change.
struct Target {
    inode: Arc<dyn Inode>,
    readonly: bool,
    parent: Option<(Arc<dyn Inode>, String)>,
}

fn target(t: &Task, by: By, arg: u64) -> SysResult<Target> {
    match by {
        By::Path { follow } => {
            let p = t.path_arg(arg)?;
            let (loc, parent) = t.lookup_in(libc::AT_FDCWD as u64, &p, follow)?;
            let name = base_name(&loc.path).to_string();
            Ok(Target {
                readonly: writable(&loc).is_err(),
                inode: loc.inode,
                parent: parent.map(|d| (d.inode, name)),
            })
        }
        By::Fd => {
            // (An O_PATH descriptor is EBADF here.)
            let f = t.file(arg)?;
            let inode = f.inode.clone().ok_or(Errno(libc::EOPNOTSUPP))?;
            let readonly = t
                .proc
                .container
                .mounts
                .containing(&f.path)
                .is_some_and(|(_, m)| m.flags.readonly);
            Ok(Target {
                inode,
                readonly,
                parent: f.parent.get().cloned(),
            })
        }
    }
}

/// Reads an attribute name: 1 to 255 bytes, else ERANGE.
fn name_arg(t: &Task, addr: u64) -> SysResult<String> {
    let bytes = match t.mm.read_cstr(addr, NAME_MAX + 1) {
        Err(e) if e.0 == libc::ENAMETOOLONG => return err(libc::ERANGE),
        r => r?,
    };
    if bytes.is_empty() {
        return err(libc::ERANGE);
    }
    String::from_utf8(bytes).map_err(|_| Errno(libc::EOPNOTSUPP))
}

/// Whether `name` is a trusted. attribute and the caller lacks
/// CAP_SYS_ADMIN, which trusted. attributes need (Docker's default set
/// does not grant it).
fn privileged(t: &Task, name: &str) -> bool {
    name.starts_with("trusted.")
        && !lock(&t.proc.state)
            .creds
            .has(crate::kernel::caps::SYS_ADMIN)
}

/// Access a name needs: user. attributes follow the file's permissions.
fn may(t: &Task, tg: &Target, name: &str, want: u32) -> SysResult<()> {
    if name.starts_with("user.") {
        check_access(t, &tg.inode.stat()?, want)?;
    }
    Ok(())
}

fn changed(tg: &Target) {
    let parent = tg.parent.as_ref().map(|(d, n)| (&**d, n.as_str()));
    inotify::on_file(&*tg.inode, parent, inotify::IN_ATTRIB);
}

/// setxattr, lsetxattr, fsetxattr.
pub fn setxattr(t: &mut Task, by: By, a: [u64; 6]) -> SysResult<u64> {
    let tg = target(t, by, a[0])?;
    let name = name_arg(t, a[1])?;
    let flags = a[4] as i32;
    if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return err(libc::EINVAL);
    }
    let size = a[3] as usize;
    if size > SIZE_MAX {
        return err(libc::E2BIG);
    }
    let mut value = vec![0u8; size];
    t.mm.read(a[2], &mut value)?;
    if tg.readonly {
        return err(libc::EROFS);
    }
    if privileged(t, &name) {
        return err(libc::EPERM);
    }
    may(t, &tg, &name, 2)?;
    tg.inode.setxattr(&name, &value, flags)?;
    changed(&tg);
    Ok(0)
}

/// getxattr, lgetxattr, fgetxattr: the value's size, and the value when
/// the buffer is large enough (size 0 asks for the size only).
pub fn getxattr(t: &mut Task, by: By, a: [u64; 6]) -> SysResult<u64> {
    let tg = target(t, by, a[0])?;
    let name = name_arg(t, a[1])?;
    if privileged(t, &name) {
        return err(libc::ENODATA);
    }
    may(t, &tg, &name, 4)?;
    let value = tg.inode.getxattr(&name)?;
    let size = a[3] as usize;
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if size < value.len() {
        return err(libc::ERANGE);
    }
    t.mm.write(a[2], &value)?;
    Ok(value.len() as u64)
}

/// listxattr, llistxattr, flistxattr: the names, each NUL-terminated.
pub fn listxattr(t: &mut Task, by: By, a: [u64; 6]) -> SysResult<u64> {
    let tg = target(t, by, a[0])?;
    let mut out = Vec::new();
    for n in tg.inode.listxattr()? {
        // Hidden from callers without CAP_SYS_ADMIN, as on Linux.
        if privileged(t, &n) {
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.push(0);
    }
    if out.len() > LIST_MAX {
        return err(libc::E2BIG);
    }
    let size = a[2] as usize;
    if size == 0 {
        return Ok(out.len() as u64);
    }
    if size < out.len() {
        return err(libc::ERANGE);
    }
    t.mm.write(a[1], &out)?;
    Ok(out.len() as u64)
}

/// removexattr, lremovexattr, fremovexattr.
pub fn removexattr(t: &mut Task, by: By, a: [u64; 6]) -> SysResult<u64> {
    let tg = target(t, by, a[0])?;
    let name = name_arg(t, a[1])?;
    if tg.readonly {
        return err(libc::EROFS);
    }
    if privileged(t, &name) {
        return err(libc::EPERM);
    }
    may(t, &tg, &name, 2)?;
    tg.inode.removexattr(&name)?;
    changed(&tg);
    Ok(0)
}
