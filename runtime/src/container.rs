//! A container's directory under `--root`: its name, its files, and the
//! lock that serialises commands acting on it.
//!
//! Layout of `<root>/<id>/`:
//! - `lock`          flock(2)ed by every command that reads or changes state
//! - `state.json`    the saved [`crate::state::State`]
//! - `control.sock`  the Sentry's control socket
//! - `jail/`         the empty directory the Sentry's root is pivoted onto

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', '+' (no '/', not '.' or '..')")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotExist(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("cannot create the state directory {path}: {source} (check --root)")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot lock container {id}: {source}")]
    Lock { id: String, source: io::Error },
    #[error("cannot remove the state directory {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

/// Ids become directory names and cgroup names: keep them to a safe
/// alphabet (runc's rule), which rules out '/', '..' and NUL.
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidId(id.to_string()))
    }
}

/// The paths of one container's state.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub id: String,
    pub dir: PathBuf,
}

/// An exclusive flock on a container. Released when dropped (or when every
/// descriptor of it is closed: a forked child must close its copy, which
/// does not unlock the parent's).
#[derive(Debug)]
pub struct Lock {
    /// Held only for its flock.
    _file: File,
}

impl ContainerDir {
    pub fn new(root: &Path, id: &str) -> Result<ContainerDir, ContainerError> {
        validate_id(id)?;
        Ok(ContainerDir {
            id: id.to_string(),
            dir: root.join(id),
        })
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    pub fn jail_dir(&self) -> PathBuf {
        self.dir.join("jail")
    }

    fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }

    pub fn exists(&self) -> bool {
        self.state_file().exists()
    }

    /// Creates the directory of a new container (failing if the id is
    /// taken) and locks it.
    pub fn create(&self, root: &Path) -> Result<Lock, ContainerError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(|source| ContainerError::CreateDir {
                path: root.to_path_buf(),
                source,
            })?;
        match fs::DirBuilder::new().mode(0o711).create(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::Exists(self.id.clone()))
            }
            Err(source) => {
                return Err(ContainerError::CreateDir {
                    path: self.dir.clone(),
                    source,
                })
            }
        }
        self.lock_inner(true)
    }

    /// Locks an existing container; "does not exist" when it is unknown.
    pub fn lock(&self) -> Result<Lock, ContainerError> {
        let lock = self.lock_inner(false)?;
        // A `delete` may have removed the directory while we waited.
        if !self.exists() {
            return Err(ContainerError::NotExist(self.id.clone()));
        }
        Ok(lock)
    }

    fn lock_inner(&self, create: bool) -> Result<Lock, ContainerError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(self.lock_file())
            .map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    ContainerError::NotExist(self.id.clone())
                } else {
                    ContainerError::Lock {
                        id: self.id.clone(),
                        source,
                    }
                }
            })?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Lock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(ContainerError::Lock {
                    id: self.id.clone(),
                    source: err,
                });
            }
        }
    }

    /// Removes the container's directory and everything in it.
    pub fn remove(&self) -> Result<(), ContainerError> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ContainerError::Remove {
                path: self.dir.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["abc", "a-b_c.d+e", "0123456789abcdef", "x..y"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_twice_and_lock_missing() {
        let root = std::env::temp_dir().join(format!("sandbox-cdir-{}", std::process::id()));
        let c = ContainerDir::new(&root, "one").unwrap();
        let lock = c.create(&root).unwrap();
        assert!(matches!(c.create(&root), Err(ContainerError::Exists(_))));
        drop(lock);
        let missing = ContainerDir::new(&root, "two").unwrap();
        assert!(matches!(missing.lock(), Err(ContainerError::NotExist(_))));
        c.remove().unwrap();
        fs::remove_dir_all(&root).unwrap();
    }
}
