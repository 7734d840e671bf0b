//! Linux namespaces of the container's init (the Sentry's supervisor).
//!
//! The pid namespace is special: unshare(CLONE_NEWPID) only affects
//! children, so `create` enters it around the fork ([`PidNamespace`]); the
//! rest are entered by the child itself ([`enter`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use tracing::debug;

use super::JailError;

/// One namespace the spec asks for: a new one, or an existing one by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub kind: LinuxNamespaceType,
    pub path: Option<PathBuf>,
}

pub fn from_spec(spec: &Spec) -> Vec<Namespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| {
            ns.iter()
                .map(|n| Namespace {
                    kind: n.typ(),
                    path: n.path().clone().filter(|p| !p.as_os_str().is_empty()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // Not in nix's flag set; the value is the kernel's CLONE_NEWTIME.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

fn join(kind: LinuxNamespaceType, path: &Path) -> Result<(), JailError> {
    let err = |source: std::io::Error| JailError::Namespace {
        kind: kind.to_string(),
        path: Some(path.to_path_buf()),
        source,
    };
    let f = File::open(path).map_err(err)?;
    setns(&f, flag(kind)).map_err(|e| err(e.into()))
}

fn new(kind: LinuxNamespaceType) -> Result<(), JailError> {
    unshare(flag(kind)).map_err(|e| JailError::Namespace {
        kind: kind.to_string(),
        path: None,
        source: e.into(),
    })
}

/// Enters every namespace of the spec except pid (done around the fork)
/// and user (rejected earlier). A mount namespace of our own is always
/// made last, even when the spec shares the host's: the jail's
/// pivot_root must not touch any mount table but ours.
pub fn enter(namespaces: &[Namespace]) -> Result<(), JailError> {
    for ns in namespaces {
        match ns.kind {
            LinuxNamespaceType::Pid | LinuxNamespaceType::User | LinuxNamespaceType::Mount => {}
            // The Sentry keeps the workload's clocks itself.
            LinuxNamespaceType::Time => {
                debug!("ignoring the time namespace: the Sentry owns the clocks")
            }
            kind => match &ns.path {
                Some(p) => join(kind, p)?,
                None => new(kind)?,
            },
        }
    }
    if let Some(Namespace { path: Some(p), .. }) = namespaces
        .iter()
        .find(|n| n.kind == LinuxNamespaceType::Mount)
    {
        join(LinuxNamespaceType::Mount, p)?;
    }
    new(LinuxNamespaceType::Mount)
}

/// Brings `lo` up in a network namespace the runtime just made, as runc
/// does before the prestart hooks: Docker's embedded DNS binds its
/// resolver to 127.0.0.11 there, which needs a loopback that is up (the
/// workload's own loopback is the Sentry's, whatever this one is).
pub fn loopback_up() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own (closed on drop).
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is valid; we set the name and read the flags.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of our ifreq.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the flags member is the one SIOCGIFFLAGS just filled.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads our ifreq.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The pid namespace the next fork's child will be in.
pub struct PidNamespace {
    /// Our own pid namespace, to return to after the fork (so hooks and
    /// anything else we spawn stay in the host's).
    own: File,
}

impl PidNamespace {
    /// Arranges for the next child to be born in a new (or the given)
    /// pid namespace.
    pub fn prepare(ns: &Namespace) -> Result<PidNamespace, JailError> {
        let own = File::open("/proc/self/ns/pid").map_err(|source| JailError::Namespace {
            kind: "pid".into(),
            path: Some("/proc/self/ns/pid".into()),
            source,
        })?;
        match &ns.path {
            Some(p) => join(LinuxNamespaceType::Pid, p)?,
            None => new(LinuxNamespaceType::Pid)?,
        }
        Ok(PidNamespace { own })
    }

    /// After the fork: children we make from now on are in our namespace.
    pub fn restore(self) -> Result<(), JailError> {
        setns(&self.own, CloneFlags::CLONE_NEWPID).map_err(|e| JailError::Namespace {
            kind: "pid".into(),
            path: Some("/proc/self/ns/pid".into()),
            source: e.into(),
        })
    }
}
