//! The jail the Sentry runs in: the spec's namespaces, an empty root,
//! the spec's rlimits, a minimal capability set, and no_new_privs. The
//! seccomp filter is the Sentry's own last step (it knows its syscalls).

pub mod caps;
pub mod namespaces;
pub mod pivot;

use std::path::{Path, PathBuf};

use sentry::Rlimit;

#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("cannot enter the {kind} namespace{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Namespace {
        kind: String,
        path: Option<PathBuf>,
        source: std::io::Error,
    },
    #[error("jail: cannot {what}: {source}")]
    Mount { what: String, source: nix::Error },
    #[error("cannot set rlimit {resource} to soft {soft} / hard {hard}: {source} (check process.rlimits)")]
    Rlimit {
        resource: u32,
        soft: u64,
        hard: u64,
        source: std::io::Error,
    },
    #[error("cannot {what} while dropping capabilities: {source}")]
    Capabilities {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
}

/// Everything after the namespaces: call once the Sentry has opened its
/// host resources. `rlimits` apply to this process as host-side bounds,
/// except those the Sentry enforces per workload process itself (see
/// [`SENTRY_ENFORCED`]); the Sentry enforces all of them for the workload.
pub fn enter(dir: &Path, rlimits: &[Rlimit]) -> Result<(), JailError> {
    pivot::into_empty_root(dir)?;
    // Before the capability drop: raising a hard limit needs CAP_SYS_RESOURCE.
    set_rlimits(rlimits)?;
    caps::drop_to_minimum()?;
    set_no_new_privs()
}

/// Limits that would bound the Sentry as a whole instead of each workload
/// process, and break it: its memory file is a 1 TiB sparse file mapped
/// whole (RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_DATA), it runs a thread per task
/// (RLIMIT_NPROC, RLIMIT_STACK), and it holds no locked memory or message
/// queues of its own. The Sentry applies these inside the sandbox, with
/// Linux's per-process meaning (sentry/src/kernel/rlimits.rs).
pub const SENTRY_ENFORCED: [u32; 7] = [
    libc::RLIMIT_FSIZE,
    libc::RLIMIT_AS,
    libc::RLIMIT_DATA,
    libc::RLIMIT_NPROC,
    libc::RLIMIT_STACK,
    libc::RLIMIT_MEMLOCK,
    libc::RLIMIT_MSGQUEUE,
];

fn set_rlimits(rlimits: &[Rlimit]) -> Result<(), JailError> {
    for r in rlimits
        .iter()
        .filter(|r| !SENTRY_ENFORCED.contains(&r.resource))
    {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one rlimit struct from our stack.
        let rc = unsafe { libc::setrlimit(r.resource as _, &lim) };
        if rc != 0 {
            return Err(JailError::Rlimit {
                resource: r.resource,
                soft: r.soft,
                hard: r.hard,
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

fn set_no_new_privs() -> Result<(), JailError> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(JailError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    Ok(())
}
