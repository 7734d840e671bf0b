//! Errors the Sentry reports to the runtime (never to the workload: the
//! workload sees errno values).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the container's root filesystem {path}: {source}")]
    OpenRootfs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the source of the bind mount {path}: {source}")]
    OpenBindSource {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("exec: {name:?}: executable file not found in $PATH")]
    ExecutableNotFound { name: String },
    #[error("exec: {path:?}: {reason}")]
    Exec { path: String, reason: String },
    #[error("the process has no arguments: set process.args in config.json")]
    NoArgs,
    #[error("cannot build the memory overlay over the root filesystem: errno {0}")]
    Overlay(i32),
    #[error("memory file: {0}")]
    MemoryFile(std::io::Error),
    #[error("cannot set up the vDSO: {0}")]
    Vdso(std::io::Error),
    #[error("platform: {0}")]
    Platform(#[from] crate::platform::PlatformError),
    #[error("cannot install the Sentry's seccomp filter: {0}")]
    Seccomp(String),
    #[error("control socket {path}: {source}")]
    Control {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control protocol: {0}")]
    Protocol(String),
    #[error("network: {0}")]
    Network(#[from] crate::net::stack::takeover::TakeoverError),
    #[error("{0}")]
    Sysctl(#[from] crate::net::sysctl::ApplyError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
