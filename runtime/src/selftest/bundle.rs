//! One run's OCI bundle: a minimal root filesystem (the static attack
//! binary and the empty mount points, nothing else) and a config.json
//! shaped like Docker's, widened by what the attack's control needs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{json, Value};

use super::catalogue::Needs;
use crate::bundle::caps::NAMES as ALL_CAPS;

/// Docker's default capabilities.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Whether this process's bounding set holds capability `name` (true
/// for a name this table does not know: the runtime will judge it).
fn in_bounding_set(name: &str) -> bool {
    // ALL_CAPS is indexed by capability number.
    let Some(n) = ALL_CAPS.iter().position(|c| *c == name) else {
        return true;
    };
    // SAFETY: PR_CAPBSET_READ reads one flag of our own bounding set.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) };
    r != 0
}

/// Where the read-only host file appears in the container.
pub const READ_ONLY_TARGET: &str = "/ro/target";

/// Writes `bundle/rootfs` with `/attack` (the attack binary) and the
/// mount points the spec uses.
pub fn write_rootfs(bundle: &Path, program: &[u8]) -> std::io::Result<()> {
    let rootfs = bundle.join("rootfs");
    for dir in ["proc", "dev", "sys", "tmp", "ro"] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::write(rootfs.join("ro/target"), b"")?;
    let attack = rootfs.join("attack");
    fs::write(&attack, program)?;
    fs::set_permissions(&attack, fs::Permissions::from_mode(0o755))
}

/// The config.json of one run of `attack` with environment `env`.
pub fn spec(
    id: &str,
    attack: &str,
    needs: &Needs,
    env: &[(String, String)],
    read_only_source: &Path,
) -> Value {
    let mut caps: Vec<&str> = if needs.privileged {
        ALL_CAPS.to_vec()
    } else {
        let mut c = DOCKER_CAPS.to_vec();
        c.extend(needs.caps.iter().filter(|x| !DOCKER_CAPS.contains(x)));
        c
    };
    // A runtime cannot grant what its own bounding set lacks (runc then
    // fails with EPERM): keep the capabilities the runner itself has.
    caps.retain(|c| in_bounding_set(c));
    let mut environment = vec![
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "HOME=/".to_string(),
    ];
    environment.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    let sys_options = if needs.privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc",
                "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": sys_options }),
    ];
    if needs.read_only_file {
        mounts.push(json!({ "destination": READ_ONLY_TARGET, "type": "bind",
                            "source": read_only_source, "options": ["rbind", "ro"] }));
    }
    let mut namespaces = vec![json!({ "type": "uts" }), json!({ "type": "mount" })];
    if !needs.host_ipc {
        namespaces.push(json!({ "type": "ipc" }));
    }
    if !needs.host_network {
        namespaces.push(json!({ "type": "network" }));
    }
    // The sandbox's default network mode refuses the host's namespace;
    // its `host` mode is what a user who shares it would choose.
    let annotations = if needs.host_network {
        json!({ "dev.sandbox.network": "host" })
    } else {
        json!({})
    };
    if !needs.host_pid_and_decoy {
        namespaces.push(json!({ "type": "pid" }));
    }
    let (masked, readonly, devices) = if needs.privileged {
        (
            json!([]),
            json!([]),
            json!([{ "allow": true, "access": "rwm" }]),
        )
    } else {
        (
            json!([
                "/proc/asound",
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware"
            ]),
            json!([
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]),
            json!([{ "allow": false, "access": "rwm" }]),
        )
    };
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/attack", attack],
            "env": environment,
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "selftest",
        "annotations": annotations,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": format!("/{}/{id}", super::run::CGROUP_PARENT),
            "resources": { "devices": devices },
            "namespaces": namespaces,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
        }
    })
}
