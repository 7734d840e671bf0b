//! The container's cgroup: created at `create` with the spec's limits,
//! joined by the container's init before it runs anything (so the Sentry,
//! its stubs and every workload process are counted), removed at `delete`.
//!
//! We create the same relative path in every mounted hierarchy, v1 and v2
//! alike, and apply each limit where its controller lives. A limit that no
//! hierarchy can enforce is an error, not a silent no-op.

mod hierarchy;
mod stats;
mod v1;
mod v2;

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use tracing::debug;

pub use hierarchy::{Hierarchy, Version};
pub use stats::stats;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroupsPath {0:?} looks like a systemd slice; systemd cgroups are not supported (use a path like /docker/<id>)")]
    SystemdPath(String),
    #[error("cgroupsPath {0:?} is not a plain path (no '..', not empty)")]
    BadPath(String),
    #[error("cannot read the cgroup mounts: {0}")]
    Discover(io::Error),
    #[error("no cgroup file systems are mounted; mount them under /sys/fs/cgroup")]
    NoHierarchy,
    #[error("cannot create the cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("linux.resources asks for a {0} limit but no cgroup {0} controller is available on this host")]
    Unsupported(&'static str),
    #[error("cannot remove the cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

/// The limits we apply, taken from `linux.resources`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids: Option<i64>,
}

impl Limits {
    pub fn from_spec(r: Option<&LinuxResources>) -> Limits {
        let Some(r) = r else { return Limits::default() };
        let mem = r.memory().as_ref();
        let cpu = r.cpu().as_ref();
        Limits {
            memory: mem.and_then(|m| m.limit()),
            memory_swap: mem.and_then(|m| m.swap()),
            memory_reservation: mem.and_then(|m| m.reservation()),
            cpu_shares: cpu.and_then(|c| c.shares()),
            cpu_quota: cpu.and_then(|c| c.quota()),
            cpu_period: cpu.and_then(|c| c.period()),
            cpuset_cpus: cpu.and_then(|c| c.cpus().clone()).filter(|s| !s.is_empty()),
            cpuset_mems: cpu.and_then(|c| c.mems().clone()).filter(|s| !s.is_empty()),
            pids: r.pids().as_ref().map(|p| p.limit()),
        }
    }
}

/// Which requested limits some hierarchy took.
#[derive(Debug, Default)]
pub struct Applied {
    pub memory: bool,
    pub cpu: bool,
    pub cpuset: bool,
    pub pids: bool,
}

/// The relative cgroup path of a container: an absolute `cgroupsPath` is
/// taken from each hierarchy's root (Docker's `/docker/<id>`); a relative
/// one, or none, lives under our own `sandbox/` parent.
pub fn relative_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let Some(p) = cgroups_path else {
        return Ok(PathBuf::from("sandbox").join(id));
    };
    let s = p.to_string_lossy();
    if s.contains(':') {
        return Err(CgroupError::SystemdPath(s.into_owned()));
    }
    let mut rel = PathBuf::new();
    if !p.is_absolute() {
        rel.push("sandbox");
    }
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => rel.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::BadPath(s.into_owned()))
            }
        }
    }
    if rel.as_os_str().is_empty() || rel == Path::new("sandbox") {
        return Err(CgroupError::BadPath(s.into_owned()));
    }
    Ok(rel)
}

/// A container's cgroup: one leaf directory per hierarchy.
#[derive(Debug, Default)]
pub struct Cgroup {
    /// Every leaf directory (the process joins all of them).
    pub dirs: Vec<PathBuf>,
    /// The leaves we created, hence remove.
    pub created: Vec<PathBuf>,
}

impl Cgroup {
    /// Creates `rel` in every hierarchy and applies `limits`. On error the
    /// directories made so far are removed again.
    pub fn create(rel: &Path, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let hierarchies = hierarchy::discover().map_err(CgroupError::Discover)?;
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        let mut cg = Cgroup::default();
        match cg.build(&hierarchies, rel, limits) {
            Ok(()) => Ok(cg),
            Err(e) => {
                let _ = remove(&cg.created);
                Err(e)
            }
        }
    }

    fn build(&mut self, hs: &[Hierarchy], rel: &Path, limits: &Limits) -> Result<(), CgroupError> {
        let mut applied = Applied::default();
        for h in hs {
            let dir = h.mountpoint.join(rel);
            let existed = dir.exists();
            fs::create_dir_all(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
            if !existed {
                self.created.push(dir.clone());
            }
            self.dirs.push(dir.clone());
            match &h.version {
                Version::V1 { controllers } => {
                    if h.has_v1("cpuset") {
                        v1::init_cpuset(&h.mountpoint, &dir)?;
                    }
                    v1::apply(controllers, &dir, limits, &mut applied)?;
                }
                Version::V2 => {
                    v2::enable_controllers(&h.mountpoint, &dir);
                    v2::apply(&dir, limits, &mut applied)?;
                }
            }
        }
        let missing = [
            (limits.memory.is_some() && !applied.memory, "memory"),
            (
                (limits.cpu_shares.is_some()
                    || limits.cpu_quota.is_some()
                    || limits.cpu_period.is_some())
                    && !applied.cpu,
                "cpu",
            ),
            (
                (limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some()) && !applied.cpuset,
                "cpuset",
            ),
            (limits.pids.is_some() && !applied.pids, "pids"),
        ];
        match missing.iter().find(|(m, _)| *m) {
            Some((_, name)) => Err(CgroupError::Unsupported(name)),
            None => Ok(()),
        }
    }

    /// Moves `pid` into every leaf.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }
}

/// Host pids in a cgroup (from the first leaf that can be read).
pub fn procs(dirs: &[PathBuf]) -> Vec<i32> {
    for dir in dirs {
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

/// Removes leaf directories. A cgroup cannot be removed while processes
/// are in it: whatever is left (a stray stub, say) is killed first.
pub fn remove(dirs: &[PathBuf]) -> Result<(), CgroupError> {
    for dir in dirs.iter().rev() {
        let mut tries = 0;
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                    for pid in procs(std::slice::from_ref(dir)) {
                        debug!(pid, cgroup = %dir.display(), "killing a process left in the cgroup");
                        // SAFETY: kill(2) with a pid read from the cgroup; no memory involved.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(CgroupError::Remove {
                        path: dir.clone(),
                        source,
                    })
                }
            }
        }
    }
    Ok(())
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|source| CgroupError::Write {
        path,
        value: value.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            relative_path(None, "c1").unwrap(),
            PathBuf::from("sandbox/c1")
        );
        assert_eq!(
            relative_path(Some(Path::new("/docker/abc")), "abc").unwrap(),
            PathBuf::from("docker/abc")
        );
        assert_eq!(
            relative_path(Some(Path::new("mine/abc")), "abc").unwrap(),
            PathBuf::from("sandbox/mine/abc")
        );
        assert!(matches!(
            relative_path(Some(Path::new("system.slice:docker:abc")), "abc"),
            Err(CgroupError::SystemdPath(_))
        ));
        assert!(matches!(
            relative_path(Some(Path::new("/../etc")), "x"),
            Err(CgroupError::BadPath(_))
        ));
        assert!(matches!(
            relative_path(Some(Path::new("/")), "x"),
            Err(CgroupError::BadPath(_))
        ));
    }

    #[test]
    fn limits_from_docker_resources() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":67108864,"swap":134217728},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":""},"pids":{"limit":100}}"#,
        )
        .unwrap();
        let l = Limits::from_spec(Some(&r));
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.memory_swap, Some(128 << 20));
        assert_eq!(l.cpu_shares, Some(512));
        assert_eq!((l.cpu_quota, l.cpu_period), (Some(50_000), Some(100_000)));
        assert_eq!(l.cpuset_cpus, None);
        assert_eq!(l.pids, Some(100));
    }

    /// Creates, joins and removes a real cgroup; needs root and cgroupfs.
    #[test]
    fn real_cgroup_round_trip() {
        if !nix::unistd::geteuid().is_root() || !Path::new("/sys/fs/cgroup").exists() {
            return;
        }
        let rel = PathBuf::from(format!("sandbox-test/{}", std::process::id()));
        let limits = Limits {
            pids: Some(50),
            ..Limits::default()
        };
        let cg = match Cgroup::create(&rel, &limits) {
            Ok(cg) => cg,
            Err(CgroupError::Unsupported(_)) | Err(CgroupError::Create { .. }) => return,
            Err(e) => panic!("{e}"),
        };
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        cg.add(child.id() as i32).unwrap();
        assert_eq!(procs(&cg.dirs), vec![child.id() as i32]);
        // remove() kills what is left inside.
        remove(&cg.created).unwrap();
        let _ = child.wait();
        for d in &cg.dirs {
            assert!(!d.exists(), "{} left behind", d.display());
            let _ = fs::remove_dir(d.parent().unwrap());
        }
    }
}
