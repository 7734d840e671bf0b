//! Where writes to a container's root go: the global `--overlay` flag,
//! overridden per container by the `dev.sandbox.overlay` annotation.
//! `none` writes through to the bundle's rootfs (as runc does, so `docker
//! diff` sees them); `memory` keeps them in a sandbox-private in-memory
//! layer and never changes the rootfs. A writable root whose host
//! directory lies on a read-only mount gets the memory layer by itself.

use std::collections::HashMap;
use std::path::Path;

use sentry::RootOverlay;

pub const ANNOTATION: &str = "dev.sandbox.overlay";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OverlayError {
    #[error("unknown root overlay {0:?}: use --overlay none or --overlay memory")]
    Unknown(String),
}

pub fn select(
    flag: &str,
    annotations: &HashMap<String, String>,
    rootfs: &Path,
    root_readonly: bool,
) -> Result<RootOverlay, OverlayError> {
    let name = annotations
        .get(ANNOTATION)
        .map(String::as_str)
        .unwrap_or(flag);
    match name {
        "memory" => Ok(RootOverlay::Memory),
        "none" if !root_readonly && on_readonly_mount(rootfs) => Ok(RootOverlay::Memory),
        "none" => Ok(RootOverlay::None),
        other => Err(OverlayError::Unknown(other.into())),
    }
}

/// Whether `path` lies on a file system mounted read-only on the host.
fn on_readonly_mount(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_wins_and_unknown_names_are_refused() {
        let root = Path::new("/");
        let none = HashMap::new();
        assert_eq!(
            select("memory", &none, root, false),
            Ok(RootOverlay::Memory)
        );
        let ann = HashMap::from([(ANNOTATION.to_string(), "memory".to_string())]);
        assert_eq!(select("none", &ann, root, false), Ok(RootOverlay::Memory));
        let ann = HashMap::from([(ANNOTATION.to_string(), "disk".to_string())]);
        assert_eq!(
            select("none", &ann, root, false),
            Err(OverlayError::Unknown("disk".into()))
        );
    }

    #[test]
    fn a_root_on_a_read_only_mount_gets_the_memory_layer() {
        // /proc/sys is mounted read-only in many containers but not on
        // every host: decide from the same statvfs the runtime uses.
        let p = Path::new("/");
        let want = if on_readonly_mount(p) {
            RootOverlay::Memory
        } else {
            RootOverlay::None
        };
        assert_eq!(select("none", &HashMap::new(), p, false), Ok(want));
        assert_eq!(
            select("none", &HashMap::new(), p, true),
            Ok(RootOverlay::None)
        );
    }
}
