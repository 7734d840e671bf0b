//! `process.capabilities` as bit sets for the Sentry's model of the
//! workload's capabilities (sentry/src/kernel/caps.rs).

use oci_spec::runtime::{Capabilities as CapNames, LinuxCapabilities};
use sentry::Capabilities;

/// Linux's capability names, indexed by number (linux/capability.h).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bits of a set of names. The names come from oci-spec's enum, so
/// every one is known; one this table lacked would be left out, as runc
/// leaves out capabilities its kernel does not know.
fn bits(names: &Option<CapNames>) -> u64 {
    names
        .iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| NAMES.iter().position(|n| v.as_str() == Some(n)))
        .fold(0, |acc, n| acc | 1 << n)
}

pub fn translate(c: &LinuxCapabilities) -> Capabilities {
    Capabilities {
        bounding: bits(c.bounding()),
        effective: bits(c.effective()),
        permitted: bits(c.permitted()),
        inheritable: bits(c.inheritable()),
        ambient: bits(c.ambient()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_bits() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_CHECKPOINT_RESTORE"],
                "effective":["CAP_KILL"],"permitted":["CAP_KILL","CAP_SETUID"]}"#,
        )
        .unwrap();
        let b = translate(&c);
        assert_eq!(b.bounding, 1 | 1 << 5 | 1 << 40);
        assert_eq!(b.effective, 1 << 5);
        assert_eq!(b.permitted, 1 << 5 | 1 << 7);
        assert_eq!((b.inheritable, b.ambient), (0, 0));
    }
}
