//! What a sandbox is asked to run: the runtime translates the OCI bundle into
//! these types, so the Sentry never parses config.json itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the Sentry needs to build the workload's world.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// Host path of the container's root filesystem (opened before the jail).
    pub rootfs: PathBuf,
    /// `root.readonly` from the spec.
    pub root_readonly: bool,
    /// Where the rootfs lies on the host (filled in by the runtime): the
    /// root's line in /proc/PID/mountinfo, as runc's bind of it shows.
    pub root_host: Option<HostMount>,
    /// Where writes to the root go.
    pub root_overlay: RootOverlay,
    /// The spec's mounts, in order.
    pub mounts: Vec<MountSpec>,
    /// Paths that must look empty / absent (`linux.maskedPaths`).
    pub masked_paths: Vec<String>,
    /// Paths that must be read-only (`linux.readonlyPaths`).
    pub readonly_paths: Vec<String>,
    /// The hostname the workload sees.
    pub hostname: String,
    /// The container's first process.
    pub process: ProcessSpec,
    /// How the workload's threads run and trap into the Sentry.
    pub platform: PlatformKind,
    /// `linux.resources.memory.limit` in bytes (None: no limit): on kvm it
    /// sizes the guest's memory; /proc/meminfo, sysinfo and
    /// /sys/fs/cgroup/memory.max show it.
    pub memory_limit: Option<u64>,
    /// `linux.resources.memory.swap` (memory plus swap, in bytes; None or
    /// -1: unlimited), for /sys/fs/cgroup/memory.swap.max.
    pub memory_swap: Option<i64>,
    /// `linux.resources.cpu`: the CPU count the workload sees follows it.
    pub cpu: CpuLimits,
    /// How the workload reaches the network.
    pub network: NetworkMode,
    /// `linux.sysctl`: the Sentry applies the ones it models (`net::sysctl`).
    pub sysctl: Vec<(String, String)>,
    /// `linux.resources.pids.limit` (None: no limit): the Sentry enforces
    /// it on the workload's tasks; the host cgroup gets room for the
    /// Sentry's own threads and stubs besides.
    pub pids_limit: Option<usize>,
}

/// What a container's root and mount table are built from: the part of
/// a [`SandboxSpec`] a pod's later containers bring with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFsSpec {
    pub root_readonly: bool,
    pub root_host: Option<HostMount>,
    pub root_overlay: RootOverlay,
    pub mounts: Vec<MountSpec>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

impl SandboxSpec {
    /// The first container's file system part.
    pub fn fs(&self) -> ContainerFsSpec {
        ContainerFsSpec {
            root_readonly: self.root_readonly,
            root_host: self.root_host.clone(),
            root_overlay: self.root_overlay,
            mounts: self.mounts.clone(),
            masked_paths: self.masked_paths.clone(),
            readonly_paths: self.readonly_paths.clone(),
        }
    }
}

/// `linux.resources.cpu`, as the workload's view of its CPUs needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuLimits {
    /// CFS bandwidth: `quota` µs of CPU time every `period` µs (a quota of
    /// None or ≤ 0 means none).
    pub quota: Option<i64>,
    pub period: Option<u64>,
    /// The relative weight (cgroup v1 shares, 2..=262144).
    pub shares: Option<u64>,
    /// The cpuset (`0-3,6`), if the spec names one.
    pub cpus: Option<String>,
}

/// How the workload reaches the network (`--network`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// The Sentry's TCP/IP stack takes over the interfaces of the
    /// container's network namespace (`net::stack`).
    #[default]
    Sandbox,
    /// Loopback only.
    None,
    /// The workload's inet sockets are host sockets of the namespace the
    /// Sentry runs in (`net::hostnet`): weaker isolation, chosen explicitly.
    Host,
}

/// The Sentry's platforms (`--platform`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PlatformKind {
    /// Stubs under a SECCOMP_RET_TRAP filter, with a shared-memory hand-off
    /// (the `sentry` backend's default).
    #[default]
    Seccomp,
    /// Stubs traced with PTRACE_SYSEMU (the `sentry` backend).
    Ptrace,
    /// vCPUs of a KVM virtual machine (the `microvm` backend).
    Kvm,
}

/// Where writes to the container's root go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootOverlay {
    /// To the bundle's rootfs on the host, through the confined opener
    /// (so `docker diff` and `docker cp` see them).
    #[default]
    None,
    /// To a sandbox-private in-memory layer over the (untouched) rootfs.
    Memory,
}

/// One process to start inside the sandbox (init, or `exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute path inside the container.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Whether stdin/stdout/stderr are a terminal.
    pub terminal: bool,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    /// `process.oomScoreAdj` (0 when absent).
    #[serde(default)]
    pub oom_score_adj: i32,
    /// `process.capabilities`; `None` when the spec has none.
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// The spec's capability sets, one bit per capability number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// One resource limit (`RLIMIT_*` number, soft, hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// One mount of the spec, as the workload will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub destination: String,
    /// The spec's `source` (mountinfo's source field for new file systems).
    pub source: String,
    pub kind: MountKind,
    /// The per-mount flags the spec's options give.
    pub flags: MountFlags,
}

/// The file systems the Sentry can provide at a mount point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    /// The Sentry's own /proc.
    Proc,
    /// The Sentry's minimal /sys.
    Sysfs,
    /// An in-memory file system; `size` in bytes bounds it.
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
    },
    /// The Sentry's /dev/pts, with the spec's `gid=`, `mode=` and
    /// `ptmxmode=` options.
    Devpts(DevptsOptions),
    /// POSIX message queues (an empty directory for now).
    Mqueue,
    /// The Sentry's cgroup file system (cgroup v2 layout): the container's
    /// own limits and usage (`fs/cgroupfs.rs`).
    Cgroup,
    /// A host directory or file reached through a confined opener;
    /// `host` says where it lies on the host (filled in by the runtime).
    Bind {
        source: PathBuf,
        host: Option<HostMount>,
    },
}

/// devpts's options, with Linux's defaults (mode 600, ptmxmode 000, new
/// slaves in the opener's group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevptsOptions {
    pub gid: Option<u32>,
    pub mode: u32,
    pub ptmxmode: u32,
}

impl Default for DevptsOptions {
    fn default() -> Self {
        DevptsOptions {
            gid: None,
            mode: 0o600,
            ptmxmode: 0,
        }
    }
}

/// How access times are kept (one of Linux's three atime modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Atime {
    /// Linux's default for a new mount.
    #[default]
    Relatime,
    Strict,
    No,
}

/// Per-mount flags: mountinfo's field 6.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub nodiratime: bool,
    pub atime: Atime,
}

impl MountFlags {
    /// `base` with mount(8) options applied in order (the last of `ro` /
    /// `rw` wins); file-system and propagation options are ignored.
    pub fn with_options<S: AsRef<str>>(base: MountFlags, options: &[S]) -> MountFlags {
        let mut f = base;
        for o in options {
            match o.as_ref() {
                "ro" => f.readonly = true,
                "rw" => f.readonly = false,
                "nosuid" => f.nosuid = true,
                "suid" => f.nosuid = false,
                "nodev" => f.nodev = true,
                "dev" => f.nodev = false,
                "noexec" => f.noexec = true,
                "exec" => f.noexec = false,
                "nodiratime" => f.nodiratime = true,
                "diratime" => f.nodiratime = false,
                "relatime" | "atime" => f.atime = Atime::Relatime,
                "strictatime" => f.atime = Atime::Strict,
                "noatime" => f.atime = Atime::No,
                _ => {}
            }
        }
        f
    }

    /// As Linux prints them: `rw,nosuid,nodev,noexec,relatime`.
    pub fn render(&self) -> String {
        let mut s = String::from(if self.readonly { "ro" } else { "rw" });
        for (on, name) in [
            (self.nosuid, "nosuid"),
            (self.nodev, "nodev"),
            (self.noexec, "noexec"),
            (self.atime == Atime::No, "noatime"),
            (self.nodiratime, "nodiratime"),
            (self.atime == Atime::Relatime, "relatime"),
        ] {
            if on {
                s.push(',');
                s.push_str(name);
            }
        }
        s
    }
}

/// Where a host path lies, as the host's mountinfo shows it: what runc's
/// bind mount of it shows in the container's mountinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMount {
    /// The path within its file system (mountinfo's field 4).
    pub root: String,
    pub fstype: String,
    pub source: String,
    /// The host mount's per-mount flags.
    pub flags: MountFlags,
    /// The super block's options (field 11) as the host prints them.
    pub super_options: String,
}
