//! An OCI bundle: config.json read, checked, and translated into the
//! Sentry's [`SandboxSpec`]. Everything a user can get wrong in config.json
//! is reported here, before any process or directory is made.

pub mod caps;
pub mod mounts;
pub mod process;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use sentry::SandboxSpec;

pub use process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot use the bundle directory {path}: {source} (check --bundle)")]
    Dir { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source} (is --bundle the directory that holds config.json?)")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid OCI runtime config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config.json has no root: set root.path to the container's root filesystem")]
    NoRoot,
    #[error(
        "the root filesystem {path} is not a directory: {reason} (check root.path in config.json)"
    )]
    Rootfs { path: PathBuf, reason: String },
    #[error("config.json has no process: set process.args")]
    NoProcess,
    #[error("config.json: {0}")]
    Process(#[from] ProcessError),
    #[error("user namespaces are not supported yet: remove the \"user\" namespace and the uid/gid mappings from linux.namespaces")]
    UserNamespace,
}

/// A loaded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Canonical bundle directory.
    pub dir: PathBuf,
    /// The raw spec, for what the runtime itself handles (hooks, cgroups,
    /// namespaces, annotations).
    pub spec: Spec,
    /// What the Sentry is asked to run.
    pub sandbox: SandboxSpec,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = fs::canonicalize(dir).map_err(|source| BundleError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let text = fs::read_to_string(&path).map_err(|source| BundleError::Read {
            path: path.clone(),
            source,
        })?;
        let spec: Spec =
            serde_json::from_str(&text).map_err(|source| BundleError::Parse { path, source })?;
        let sandbox = translate(&spec, &dir)?;
        let rootfs = &sandbox.rootfs;
        match fs::metadata(rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(BundleError::Rootfs {
                    path: rootfs.clone(),
                    reason: "not a directory".into(),
                })
            }
            Err(e) => {
                return Err(BundleError::Rootfs {
                    path: rootfs.clone(),
                    reason: e.to_string(),
                })
            }
        }
        Ok(Bundle { dir, spec, sandbox })
    }

    pub fn annotations(&self) -> std::collections::HashMap<String, String> {
        self.spec.annotations().clone().unwrap_or_default()
    }
}

pub fn has_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// config.json → SandboxSpec (pure: no file system access beyond none).
pub fn translate(spec: &Spec, bundle: &Path) -> Result<SandboxSpec, BundleError> {
    let root = spec.root().as_ref().ok_or(BundleError::NoRoot)?;
    if root.path().as_os_str().is_empty() {
        return Err(BundleError::NoRoot);
    }
    let process = spec.process().as_ref().ok_or(BundleError::NoProcess)?;
    let linux = spec.linux().as_ref();
    let has_mappings = linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    });
    if has_namespace(spec, LinuxNamespaceType::User) || has_mappings {
        return Err(BundleError::UserNamespace);
    }
    let hostname = match spec.hostname() {
        Some(h) => h.clone(),
        // Without a UTS namespace the container shares the host's name.
        None if !has_namespace(spec, LinuxNamespaceType::Uts) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(SandboxSpec {
        rootfs: bundle.join(root.path()),
        root_readonly: root.readonly().unwrap_or(false),
        // Looked up on the host by `create` (`mounts::describe_host`).
        root_host: None,
        // Decided by the caller from the flag and annotations.
        root_overlay: sentry::RootOverlay::None,
        mounts: spec
            .mounts()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| mounts::translate(m, bundle))
            .collect(),
        masked_paths: linux
            .and_then(|l| l.masked_paths().clone())
            .unwrap_or_default(),
        readonly_paths: linux
            .and_then(|l| l.readonly_paths().clone())
            .unwrap_or_default(),
        hostname,
        process: process::translate(process)?,
        // The backend (chosen by flag and annotation in `create`) decides.
        platform: Default::default(),
        // Chosen by flag and annotation in `create`.
        network: Default::default(),
        sysctl: linux
            .and_then(|l| l.sysctl().clone())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        pids_limit: linux
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.pids().as_ref())
            .and_then(|p| usize::try_from(p.limit()).ok())
            .filter(|&l| l > 0),
        memory_limit: linux
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit())
            // -1 (and any other non-positive value) means no limit.
            .and_then(|l| u64::try_from(l).ok())
            .filter(|&l| l > 0),
        memory_swap: linux
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.swap()),
        cpu: linux
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.cpu().as_ref())
            .map(|c| sentry::CpuLimits {
                quota: c.quota(),
                period: c.period(),
                shares: c.shares(),
                cpus: c.cpus().clone().filter(|s| !s.is_empty()),
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::{MountKind, Rlimit};

    /// Abridged from the config.json that Docker 20.10 writes.
    const DOCKER_CONFIG: &str = r#"{
      "ociVersion": "1.0.2-dev",
      "process": {
        "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
        "args": ["sh", "-c", "echo hello"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=4f2a"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}],
        "apparmorProfile": "docker-default",
        "oomScoreAdj": 0
      },
      "root": {"path": "/var/lib/docker/overlay2/abc/merged"},
      "hostname": "4f2a",
      "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": "/var/lib/docker/containers/4f2a/resolv.conf", "options": ["rbind", "rprivate"]},
        {"destination": "/etc/hostname", "type": "bind", "source": "/var/lib/docker/containers/4f2a/hostname", "options": ["rbind", "rprivate"]}
      ],
      "hooks": {"prestart": [{"path": "/proc/123/exe", "args": ["libnetwork-setkey", "-exec-root=/var/run/docker", "4f2a", "ab12"]}]},
      "linux": {
        "resources": {
          "devices": [{"allow": false, "access": "rwm"}],
          "memory": {"limit": 67108864},
          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
          "pids": {"limit": 100},
          "blkioWeightDevice": null
        },
        "cgroupsPath": "/docker/4f2a",
        "namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}],
        "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
      }
    }"#;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_config_translates() {
        let s = translate(&spec(DOCKER_CONFIG), Path::new("/bundle")).unwrap();
        // An absolute root path stays as it is.
        assert_eq!(
            s.rootfs,
            PathBuf::from("/var/lib/docker/overlay2/abc/merged")
        );
        assert!(!s.root_readonly);
        assert_eq!(s.hostname, "4f2a");
        assert_eq!(s.masked_paths.len(), 5);
        assert_eq!(s.readonly_paths[3], "/proc/sys");
        assert_eq!(s.process.args, vec!["sh", "-c", "echo hello"]);
        assert_eq!(s.process.additional_gids, vec![10]);
        assert_eq!(s.memory_limit, Some(64 << 20));
        assert_eq!(
            s.cpu,
            sentry::CpuLimits {
                quota: Some(50000),
                period: Some(100000),
                shares: Some(512),
                cpus: None,
            }
        );
        assert_eq!(
            s.process.rlimits,
            vec![Rlimit {
                resource: 7, // RLIMIT_NOFILE
                soft: 1_048_576,
                hard: 1_048_576
            }]
        );
        let kinds: Vec<(&str, &MountKind, bool)> = s
            .mounts
            .iter()
            .map(|m| (m.destination.as_str(), &m.kind, m.flags.readonly))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("/proc", &MountKind::Proc, false),
                (
                    "/dev",
                    &MountKind::Tmpfs {
                        size: Some(64 << 20),
                        mode: Some(0o755)
                    },
                    false
                ),
                (
                    "/dev/pts",
                    &MountKind::Devpts(sentry::DevptsOptions {
                        gid: Some(5),
                        mode: 0o620,
                        ptmxmode: 0o666
                    }),
                    false
                ),
                ("/sys", &MountKind::Sysfs, true),
                ("/sys/fs/cgroup", &MountKind::Cgroup, true),
                ("/dev/mqueue", &MountKind::Mqueue, false),
                (
                    "/dev/shm",
                    &MountKind::Tmpfs {
                        size: Some(64 << 20),
                        mode: Some(0o1777)
                    },
                    false
                ),
                (
                    "/etc/resolv.conf",
                    &MountKind::Bind {
                        source: "/var/lib/docker/containers/4f2a/resolv.conf".into(),
                        host: None
                    },
                    false
                ),
                (
                    "/etc/hostname",
                    &MountKind::Bind {
                        source: "/var/lib/docker/containers/4f2a/hostname".into(),
                        host: None
                    },
                    false
                ),
            ]
        );
    }

    #[test]
    fn relative_root_is_under_the_bundle() {
        let s = translate(
            &spec(
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
                     "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"}}"#,
            ),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(s.rootfs, PathBuf::from("/b/rootfs"));
        assert!(s.root_readonly);
    }

    #[test]
    fn missing_root_process_and_user_namespaces() {
        let no_root = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"}}"#,
        );
        assert!(matches!(
            translate(&no_root, Path::new("/b")),
            Err(BundleError::NoRoot)
        ));
        let no_proc = spec(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#);
        assert!(matches!(
            translate(&no_proc, Path::new("/b")),
            Err(BundleError::NoProcess)
        ));
        let userns = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
                "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "linux":{"namespaces":[{"type":"user"}],
                         "uidMappings":[{"hostID":1000,"containerID":0,"size":1}]}}"#,
        );
        assert!(matches!(
            translate(&userns, Path::new("/b")),
            Err(BundleError::UserNamespace)
        ));
    }

    #[test]
    fn malformed_json_names_the_file() {
        let dir = std::env::temp_dir().join(format!("sandbox-bundle-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.json"), "{\"ociVersion\": ").unwrap();
        let err = Bundle::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("config.json is not a valid OCI runtime config"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
