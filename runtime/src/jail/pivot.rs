//! The Sentry's view of the host file system: nothing. After it has opened
//! what it needs (the rootfs, bind sources, the control socket), we pivot
//! onto an empty read-only tmpfs and detach the old root, so a compromised
//! Sentry has no path back to the host's files.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, pivot_root};

use super::JailError;

/// Stops mount events of ours from reaching the host (and the host's from
/// reaching us): required before pivot_root, which refuses shared mounts.
pub fn make_root_private() -> Result<(), JailError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| JailError::Mount {
        what: "make / private (rprivate)".into(),
        source: e,
    })
}

/// Pivots into an empty tmpfs mounted on `dir` (an empty directory) and
/// leaves the process with `/` = that tmpfs, read-only.
pub fn into_empty_root(dir: &Path) -> Result<(), JailError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        flags,
        Some("size=16k,mode=0555"),
    )
    .map_err(|e| JailError::Mount {
        what: format!("mount an empty tmpfs on {}", dir.display()),
        source: e,
    })?;
    let step = |what: &str, r: nix::Result<()>| {
        r.map_err(|e| JailError::Mount {
            what: what.to_string(),
            source: e,
        })
    };
    step("chdir into the jail", chdir(dir))?;
    // pivot_root(".", ".") stacks the old root on top of the new one, so
    // no directory for it is needed; detaching "." then drops it.
    step("pivot_root into the jail", pivot_root(".", "."))?;
    step("detach the old root", umount2(".", MntFlags::MNT_DETACH))?;
    step("chdir /", chdir("/"))?;
    step(
        "remount the jail read-only",
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        ),
    )
}
