//! How a container reaches the network: the global `--network` flag,
//! overridden per container by the `dev.sandbox.network` annotation.
//!
//! - `sandbox` (default): the Sentry's own TCP/IP stack takes over the
//!   interfaces of the container's network namespace; no workload socket
//!   is ever a host socket. Needs a network namespace of the container's
//!   own: a spec that shares the host's (`docker run --network=host`) is
//!   refused at create, never silently given the host's network.
//! - `none`: loopback only, whatever the namespace holds.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use sentry::NetworkMode;

pub const ANNOTATION: &str = "dev.sandbox.network";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    #[error("unknown network mode {0:?}: use --network sandbox or --network none")]
    Unknown(String),
    #[error("the container shares the host's network namespace (e.g. docker run --network=host), but the sandbox network mode serves the workload's sockets from the Sentry's own TCP/IP stack over interfaces it takes from a network namespace of the container's own: give the container its own network namespace, or choose --network=none (loopback only) with the global flag or the {ANNOTATION} annotation")]
    HostNamespace,
    #[error("network mode host (workload sockets relayed to host sockets) is not implemented yet: use --network sandbox or --network none")]
    HostNotImplemented,
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
        "host" => Err(NetworkError::HostNotImplemented),
        other => Err(NetworkError::Unknown(other.into())),
    }
}

/// No `network` entry in `linux.namespaces`: the container would run in
/// the runtime's own (the host's) network namespace.
fn shares_host_network(spec: &Spec) -> bool {
    !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network))
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
