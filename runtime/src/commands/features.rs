//! `features`: what this runtime supports, in the OCI features format
//! (runtime-spec features.md), so callers can adapt without guessing.

use serde_json::{json, Value};

use super::Error;
use crate::backend::ANNOTATION;
use crate::jail::caps;
use crate::state::OCI_VERSION;

pub fn command() -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(&features()).unwrap_or_default()
    );
    Ok(())
}

pub fn features() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        // The Sentry interprets these itself when it builds the mount table.
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "mode", "size"],
        "linux": {
            "namespaces": ["mount", "pid", "network", "uts", "ipc", "cgroup"],
            // Capabilities of the Sentry itself; the workload's are the Sentry's model.
            "capabilities": caps::KEEP.iter().map(|c| cap_name(*c)).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            ANNOTATION: "sentry (default) | microvm"
        },
        // Our own extension: which backends this host can run, and why not.
        "dev.sandbox.backends": {
            "sentry": {"usable": true, "platform": "ptrace"},
            "microvm": kvm_status()
        }
    })
}

/// Whether the microvm backend (KVM) works on this host.
fn kvm_status() -> Value {
    match sentry::platform::kvm::probe() {
        Ok(()) => json!({"usable": true, "platform": "kvm"}),
        Err(e) => json!({"usable": false, "platform": "kvm", "reason": e.to_string()}),
    }
}

fn cap_name(c: u32) -> &'static str {
    match c {
        caps::CAP_CHOWN => "CAP_CHOWN",
        caps::CAP_DAC_OVERRIDE => "CAP_DAC_OVERRIDE",
        caps::CAP_DAC_READ_SEARCH => "CAP_DAC_READ_SEARCH",
        caps::CAP_FOWNER => "CAP_FOWNER",
        caps::CAP_FSETID => "CAP_FSETID",
        caps::CAP_NET_BIND_SERVICE => "CAP_NET_BIND_SERVICE",
        _ => "CAP_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_oci_features() {
        let f: oci_spec::runtime::Features = serde_json::from_value(features()).unwrap();
        assert_eq!(f.oci_version_max(), OCI_VERSION);
        assert_eq!(f.hooks().as_ref().map(Vec::len), Some(6));
    }
}
