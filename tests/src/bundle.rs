//! OCI bundles: a busybox root filesystem and a Docker-like `config.json`.
//!
//! The same root filesystem is built by `tests/rootfs.sh` for the Docker
//! tests and the demo; keep the two in step.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::TempDir;

/// Where the static busybox comes from (Debian's busybox-static), unless
/// `BUSYBOX` names another static binary.
pub fn busybox_source() -> PathBuf {
    std::env::var_os("BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n";
pub const ENV_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// True if the ELF file at `path` has a PT_INTERP program header (is dynamically linked).
fn has_interpreter(path: &Path) -> std::io::Result<bool> {
    let data = fs::read(path)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a 64-bit ELF file");
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return Err(bad());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[32..40].try_into().map_err(|_| bad())?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        let p_type = data.get(off..off + 4).ok_or_else(bad)?;
        if u32::from_le_bytes(p_type.try_into().map_err(|_| bad())?) == 3 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Builds a busybox root filesystem at `rootfs`: /bin/busybox plus one
/// symlink per applet, /etc/passwd, /etc/group and the empty mount points.
pub fn build_busybox_rootfs(rootfs: &Path) -> Result<(), String> {
    let src = busybox_source();
    match has_interpreter(&src) {
        Ok(false) => {}
        Ok(true) => {
            return Err(format!(
                "{} is dynamically linked; install Debian's busybox-static",
                src.display()
            ))
        }
        Err(e) => return Err(format!("{}: {e} (install busybox-static)", src.display())),
    }
    let err = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    for dir in ["bin", "dev", "etc", "proc", "root", "sys", "tmp"] {
        let d = rootfs.join(dir);
        fs::create_dir_all(&d).map_err(|e| err("mkdir", &d, e))?;
    }
    let tmp = rootfs.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|e| err("chmod", &tmp, e))?;
    let dst = rootfs.join("bin/busybox");
    fs::copy(&src, &dst).map_err(|e| err("copy to", &dst, e))?;

    let list = Command::new(&src)
        .arg("--list")
        .output()
        .map_err(|e| format!("{} --list: {e}", src.display()))?;
    if !list.status.success() {
        return Err(format!("{} --list failed: {}", src.display(), list.status));
    }
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut count = 0;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        symlink("busybox", &link).map_err(|e| err("symlink", &link, e))?;
        count += 1;
    }
    if count < 100 {
        return Err(format!("busybox --list gave only {count} applets"));
    }
    for (name, text) in [("etc/passwd", PASSWD), ("etc/group", GROUP)] {
        let p = rootfs.join(name);
        fs::write(&p, text).map_err(|e| err("write", &p, e))?;
    }
    Ok(())
}

/// Docker's default capability set.
pub const CAPS: [&str; 14] = [
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

/// A config.json like the one `runc spec` writes, with Docker's masked and
/// read-only paths and capabilities, running `args` as root in `/`.
pub fn default_spec(args: &[&str], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [ENV_PATH, "HOME=/root", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": CAPS,
                "effective": CAPS,
                "permitted": CAPS,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "sandbox",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "ipc" }, { "type": "uts" },
                { "type": "mount" }, { "type": "network" }
            ],
            "maskedPaths": [
                "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A bundle directory (`config.json` + `rootfs/`) in a temp dir, with the
/// container id the tests use for it.
pub struct Bundle {
    dir: TempDir,
    pub id: String,
}

impl Bundle {
    /// A busybox bundle whose process runs `args`.
    pub fn busybox(tag: &str, args: &[&str]) -> Bundle {
        let dir = TempDir::new(&format!("bundle-{tag}"));
        let id = crate::unique_name(tag);
        let bundle = Bundle { dir, id };
        if let Err(e) = build_busybox_rootfs(&bundle.rootfs()) {
            panic!("building the busybox rootfs: {e}");
        }
        let cgroups_path = format!("/sandbox-tests/{}", bundle.id);
        bundle.write_spec(&default_spec(args, &cgroups_path));
        bundle
    }

    /// A busybox bundle running `sh -c script`.
    pub fn sh(tag: &str, script: &str) -> Bundle {
        Bundle::busybox(tag, &["sh", "-c", script])
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn spec(&self) -> Value {
        let p = self.path().join("config.json");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn write_spec(&self, spec: &Value) {
        let p = self.path().join("config.json");
        let text = serde_json::to_string_pretty(spec).expect("a JSON value serializes");
        fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }

    /// The names in the rootfs's top directory, sorted as `ls` sorts them.
    pub fn root_listing(&self) -> Vec<String> {
        let root = self.rootfs();
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}
