//! Temporary directories for bundles and runtime roots.

use std::fs;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop.
///
/// It is not removed if anything is still mounted beneath it (a runtime that
/// leaked a bind mount of the host's `/` would otherwise have us delete the
/// host), nor when `SANDBOX_TESTS_KEEP` is set (for debugging).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty directory named after `tag`.
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(crate::unique_name(tag));
        if let Err(e) = fs::create_dir_all(&path) {
            panic!("cannot create temp dir {}: {e}", path.display());
        }
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Mount points (from /proc/self/mountinfo) at or beneath `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mp| *mp == prefix || mp.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
        .collect()
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SANDBOX_TESTS_KEEP").is_some() {
            eprintln!("keeping {} (SANDBOX_TESTS_KEEP)", self.path.display());
            return;
        }
        let mounts = mounts_under(&self.path);
        if !mounts.is_empty() {
            eprintln!(
                "NOT removing {}: still mounted beneath it: {mounts:?}",
                self.path.display()
            );
            return;
        }
        // remove_dir_all does not follow symlinks, so the rootfs's
        // escape symlinks (to `/`) are removed, not their targets.
        let _ = fs::remove_dir_all(&self.path);
    }
}
