//! Where the Sentry's control socket lives and how to name it.
//!
//! A Unix socket path must fit in 108 bytes, and Docker's state paths
//! (`/var/run/docker/runtime-<name>/moby/<64 hex>/control.sock`) do not.
//! For a long path we name the socket through an open descriptor of its
//! directory, `/proc/self/fd/N/control.sock`, which always fits.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::container::ContainerDir;

/// sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// A usable name for a container's control socket; keep it alive while
/// the name is in use (it may hold the directory descriptor).
pub struct SocketName {
    pub path: PathBuf,
    _dir: Option<File>,
}

pub fn socket_name(c: &ContainerDir) -> std::io::Result<SocketName> {
    let full = c.control_socket();
    if full.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(SocketName {
            path: full,
            _dir: None,
        });
    }
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&c.dir)?;
    Ok(SocketName {
        path: PathBuf::from(format!("/proc/self/fd/{}/control.sock", dir.as_raw_fd())),
        _dir: Some(dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn long_paths_work_through_the_directory_descriptor() {
        let base = std::env::temp_dir().join(format!("sandbox-ctl-{}", std::process::id()));
        let root = base.join("r".repeat(60));
        let c = ContainerDir::new(&root, &"a".repeat(64)).unwrap();
        std::fs::create_dir_all(&c.dir).unwrap();
        assert!(c.control_socket().as_os_str().len() > MAX_SOCKET_PATH);
        let name = socket_name(&c).unwrap();
        let listener = UnixListener::bind(&name.path).unwrap();
        assert!(c.control_socket().exists());
        let other = socket_name(&c).unwrap();
        let _client = UnixStream::connect(&other.path).unwrap();
        listener.accept().unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }
}
