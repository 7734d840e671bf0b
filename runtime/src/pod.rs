//! Pods: which sandbox a new container joins, and how commands reach a
//! container that runs inside another container's sandbox.
//!
//! A container joins a running sandbox of this runtime (same `--root`)
//! when
//! - containerd's CRI annotations say so (`io.kubernetes.cri.container-type`
//!   `container` with `io.kubernetes.cri.sandbox-id` naming a sandbox whose
//!   first container was created as `sandbox`), or CRI-O's
//!   (`io.kubernetes.cri-o.ContainerType`, `io.kubernetes.cri-o.SandboxID`);
//! - or its spec's network namespace path is that sandbox's network
//!   namespace (`docker run --network=container:X`, podman pods).
//!
//! The sandbox belongs to its first container (its state's pid is the
//! Sentry); a joined container's state names that owner in `sandbox` and
//! its pid is the proxy process that waits for its init.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::container::ContainerDir;
use crate::control::{self, SocketName};
use crate::state::{State, Status};

const CRI_TYPE: &str = "io.kubernetes.cri.container-type";
const CRI_SANDBOX: &str = "io.kubernetes.cri.sandbox-id";
const CRIO_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
const CRIO_SANDBOX: &str = "io.kubernetes.cri-o.SandboxID";

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("the CRI annotations put this container in sandbox {0}, which is not a running sandbox of this runtime (check --root, and that the pod's sandbox container was created with {CRI_TYPE}=sandbox)")]
    NoSandbox(String),
    #[error("cannot read the network namespace {path} of the spec: {source}")]
    Netns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state directory of sandbox {id}: {source}")]
    Socket { id: String, source: std::io::Error },
}

/// The container id of the sandbox a container with `spec` joins, or
/// None when it gets a sandbox of its own.
pub fn sandbox_to_join(
    root: &Path,
    spec: &Spec,
    annotations: &HashMap<String, String>,
) -> Result<Option<String>, PodError> {
    if let Some(id) = cri_sandbox(annotations) {
        return match running_owner(root, id) {
            Some(owner) if is_cri_sandbox(&owner.annotations) => Ok(Some(owner.id)),
            _ => Err(PodError::NoSandbox(id.to_string())),
        };
    }
    let Some(path) = netns_path(spec) else {
        return Ok(None);
    };
    let ident = |p: &Path| fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let wanted = ident(&path).map_err(|source| PodError::Netns {
        path: path.clone(),
        source,
    })?;
    // The runtime's own namespace (a container asking for the host's
    // network) is nobody's sandbox.
    if ident(Path::new("/proc/self/ns/net")).ok() == Some(wanted) {
        return Ok(None);
    }
    for owner in running_owners(root) {
        if ident(Path::new(&format!("/proc/{}/ns/net", owner.pid))).ok() == Some(wanted) {
            return Ok(Some(owner.id));
        }
    }
    Ok(None)
}

/// The sandbox id the CRI annotations name for an app container.
fn cri_sandbox(a: &HashMap<String, String>) -> Option<&str> {
    let pick = |kind: &str, id: &str| {
        (a.get(kind).map(String::as_str) == Some("container"))
            .then(|| a.get(id).map(String::as_str))
            .flatten()
            .filter(|id| !id.is_empty())
    };
    pick(CRI_TYPE, CRI_SANDBOX).or_else(|| pick(CRIO_TYPE, CRIO_SANDBOX))
}

/// Whether a container was created as a pod's sandbox (its pause container).
fn is_cri_sandbox(a: &HashMap<String, String>) -> bool {
    a.get(CRI_TYPE).map(String::as_str) == Some("sandbox")
        || a.get(CRIO_TYPE).map(String::as_str) == Some("sandbox")
}

fn netns_path(spec: &Spec) -> Option<PathBuf> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)?
        .path()
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
}

/// Container `id` if it owns a running sandbox.
fn running_owner(root: &Path, id: &str) -> Option<State> {
    let c = ContainerDir::new(root, id).ok()?;
    let state = State::load(&c).ok()?;
    let live = matches!(
        state.current_status(),
        Status::Created | Status::Running | Status::Paused
    );
    (live && state.sandbox.is_none()).then_some(state)
}

/// Every container under `root` that owns a running sandbox.
fn running_owners(root: &Path) -> Vec<State> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|id| running_owner(root, &id))
        .collect()
}

/// Where a command reaches a container: the control socket of the sandbox
/// it runs in, and its id there ("" for the sandbox's own container).
pub struct Address {
    pub socket: SocketName,
    pub container: String,
}

pub fn address(root: &Path, c: &ContainerDir, state: &State) -> Result<Address, PodError> {
    let (dir, container) = match &state.sandbox {
        Some(owner) => (
            ContainerDir::new(root, owner).map_err(|e| PodError::Socket {
                id: owner.clone(),
                source: std::io::Error::other(e),
            })?,
            state.id.clone(),
        ),
        None => (c.clone(), String::new()),
    };
    let socket = control::socket_name(&dir).map_err(|source| PodError::Socket {
        id: dir.id.clone(),
        source,
    })?;
    Ok(Address { socket, container })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cri_annotations() {
        let app = map(&[(CRI_TYPE, "container"), (CRI_SANDBOX, "pod1")]);
        assert_eq!(cri_sandbox(&app), Some("pod1"));
        let crio = map(&[(CRIO_TYPE, "container"), (CRIO_SANDBOX, "pod2")]);
        assert_eq!(cri_sandbox(&crio), Some("pod2"));
        let pause = map(&[(CRI_TYPE, "sandbox"), (CRI_SANDBOX, "pod1")]);
        assert_eq!(cri_sandbox(&pause), None);
        assert!(is_cri_sandbox(&pause));
        assert!(!is_cri_sandbox(&app));
        assert_eq!(cri_sandbox(&map(&[(CRI_TYPE, "container")])), None);
    }
}
