//! How a container reaches the network: the global `--network` flag,
//! overridden per container by the `dev.sandbox.network` annotation.
//!
//! - `sandbox` (default): the Sentry's own TCP/IP stack takes over the
//!   interfaces of the container's network namespace; no workload socket
//!   is ever a host socket. Needs a network namespace of the container's
//!   own: a spec that shares the host's (`docker run --network=host`) is
//!   refused at create, never silently given the host's network.
//! - `none`: loopback only, whatever the namespace holds.
//! - `host`: the workload's inet sockets are relayed to host sockets of the
//!   namespace the container runs in (its own, or the host's for `docker
//!   run --network=host`). Weaker isolation: the host kernel's stack parses
//!   what the workload sends. An explicit choice, never a fallback.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use sentry::NetworkMode;

pub const ANNOTATION: &str = "dev.sandbox.network";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    #[error("unknown network mode {0:?}: use --network sandbox, none or host")]
    Unknown(String),
    #[error("the container shares the host's network namespace (e.g. docker run --network=host), but the sandbox network mode serves the workload's sockets from the Sentry's own TCP/IP stack over interfaces it takes from a network namespace of the container's own: give the container its own network namespace, or choose --network=host (host sockets, weaker isolation) or --network=none (loopback only) with the global flag or the {ANNOTATION} annotation")]
    HostNamespace,
}

/// The mode for this container.
pub fn select(
    flag: &str,
    annotations: &HashMap<String, String>,
    spec: &Spec,
) -> Result<NetworkMode, NetworkError> {
    let name = annotations
        .get(ANNOTATION)
        .map(String::as_str)
        .unwrap_or(flag);
    match name {
        "none" => Ok(NetworkMode::None),
        "sandbox" if shares_host_network(spec) => Err(NetworkError::HostNamespace),
        "sandbox" => Ok(NetworkMode::Sandbox),
        "host" => Ok(NetworkMode::Host),
        other => Err(NetworkError::Unknown(other.into())),
    }
}

/// Whether the container would run in the runtime's own (the host's)
/// network namespace: no `network` entry in `linux.namespaces`, or one
/// whose path is that namespace (Docker's `--network=host` gives
/// `<exec-root>/netns/default`, a bind mount of the host's).
fn shares_host_network(spec: &Spec) -> bool {
    let entry = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| {
            ns.iter()
                .find(|n| n.typ() == LinuxNamespaceType::Network)
                .cloned()
        });
    match entry {
        None => true,
        Some(ns) => match ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
            None => false,
            Some(path) => same_namespace(path, Path::new("/proc/self/ns/net")),
        },
    }
}

/// Whether two namespace files name the same namespace (device and inode).
fn same_namespace(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder, SpecBuilder};

    fn spec(with_netns: bool) -> Spec {
        let mut ns = vec![LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Pid)
            .build()
            .expect("namespace")];
        if with_netns {
            ns.push(
                LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::Network)
                    .build()
                    .expect("namespace"),
            );
        }
        SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .namespaces(ns)
                    .build()
                    .expect("linux"),
            )
            .build()
            .expect("spec")
    }

    #[test]
    fn sandbox_mode_needs_a_network_namespace() {
        let none = HashMap::new();
        assert_eq!(
            select("sandbox", &none, &spec(true)),
            Ok(NetworkMode::Sandbox)
        );
        assert_eq!(
            select("sandbox", &none, &spec(false)),
            Err(NetworkError::HostNamespace)
        );
        assert_eq!(select("none", &none, &spec(false)), Ok(NetworkMode::None));
        assert_eq!(select("host", &none, &spec(false)), Ok(NetworkMode::Host));
        assert_eq!(select("host", &none, &spec(true)), Ok(NetworkMode::Host));
    }

    #[test]
    fn a_path_to_the_hosts_namespace_is_the_hosts_network() {
        let mut s = spec(false);
        let mut linux = s.linux().clone().expect("linux");
        let mut ns = linux.namespaces().clone().expect("namespaces");
        ns.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path("/proc/self/ns/net")
                .build()
                .expect("namespace"),
        );
        linux.set_namespaces(Some(ns));
        s.set_linux(Some(linux));
        assert_eq!(
            select("sandbox", &HashMap::new(), &s),
            Err(NetworkError::HostNamespace)
        );
    }

    #[test]
    fn annotation_wins_and_unknown_names_are_refused() {
        let ann = HashMap::from([(ANNOTATION.to_string(), "none".to_string())]);
        assert_eq!(select("sandbox", &ann, &spec(false)), Ok(NetworkMode::None));
        let bad = HashMap::from([(ANNOTATION.to_string(), "bridge".to_string())]);
        assert!(matches!(
            select("sandbox", &bad, &spec(true)),
            Err(NetworkError::Unknown(_))
        ));
    }
}
