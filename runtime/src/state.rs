//! What we remember about a container between commands, and the OCI state
//! we report about it.
//!
//! The saved status is only what the last command knew; the status we
//! report is derived: once the init process is gone (or its pid now names a
//! different process, or a zombie) the container is "stopped".

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::container::ContainerDir;
use crate::fsutil::write_atomic;
use crate::procs;

/// The OCI runtime-spec version our state and features speak.
pub const OCI_VERSION: &str = "1.0.2";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state of container {id}: {source}")]
    Read { id: String, source: io::Error },
    #[error(
        "the state file of container {id} is corrupt ({source}); remove it with `delete --force`"
    )]
    Corrupt {
        id: String,
        source: serde_json::Error,
    },
    #[error("cannot save the state of container {id}: {source}")]
    Write { id: String, source: io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The saved state of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub status: Status,
    /// Host pid of the container's init (the Sentry's supervisor process).
    pub pid: i32,
    /// Its start time in clock ticks since boot (see [`procs::stat`]).
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// RFC 3339 creation time.
    pub created: String,
    /// Leaf cgroup directories we created (removed by `delete`).
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
    /// Whether the spec asked for a pid namespace (then killing init ends
    /// every process of the container).
    #[serde(default)]
    pub pid_namespace: bool,
    /// The spec's hooks, kept so later commands run what `create` saw.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// For a container that joined another's sandbox (a pod's): the id of
    /// the container that owns the sandbox. Its `pid` is then the proxy
    /// that waits for its init inside that sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// The OCI state document (`state` command, hooks' stdin).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

impl State {
    pub fn load(dir: &ContainerDir) -> Result<State, StateError> {
        let text = fs::read_to_string(dir.state_file()).map_err(|source| StateError::Read {
            id: dir.id.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| StateError::Corrupt {
            id: dir.id.clone(),
            source,
        })
    }

    pub fn save(&self, dir: &ContainerDir) -> Result<(), StateError> {
        let wr = |source| StateError::Write {
            id: self.id.clone(),
            source,
        };
        let data = serde_json::to_vec_pretty(self).map_err(|e| wr(io::Error::other(e)))?;
        write_atomic(&dir.state_file(), &data).map_err(wr)
    }

    pub fn init_alive(&self) -> bool {
        procs::is_alive(self.pid, self.pid_start_time)
    }

    /// The status as it is now, not as last saved.
    pub fn current_status(&self) -> Status {
        match self.status {
            Status::Stopped => Status::Stopped,
            s if self.init_alive() => s,
            _ => Status::Stopped,
        }
    }

    pub fn oci(&self) -> OciState {
        let status = self.current_status();
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            status,
            // The spec wants the pid while the process exists.
            pid: (status != Status::Stopped).then_some(self.pid),
            bundle: self.bundle.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pid: i32, start: u64, status: Status) -> State {
        State {
            id: "c1".into(),
            status,
            pid,
            pid_start_time: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            annotations: HashMap::from([("k".into(), "v".into())]),
            created: "2024-01-01T00:00:00.000000000Z".into(),
            cgroup_paths: vec!["/sys/fs/cgroup/pids/sandbox/c1".into()],
            pid_namespace: true,
            hooks: None,
            sandbox: None,
        }
    }

    #[test]
    fn round_trip() {
        let root = std::env::temp_dir().join(format!("sandbox-state-{}", std::process::id()));
        let dir = ContainerDir::new(&root, "c1").unwrap();
        fs::create_dir_all(&dir.dir).unwrap();
        let s = sample(1, 2, Status::Created);
        s.save(&dir).unwrap();
        assert_eq!(State::load(&dir).unwrap(), s);
        fs::write(dir.state_file(), "{not json").unwrap();
        assert!(matches!(State::load(&dir), Err(StateError::Corrupt { .. })));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn status_is_derived_from_the_init_process() {
        let me = std::process::id() as i32;
        let (start, _) = procs::stat(me).unwrap();
        assert_eq!(
            sample(me, start, Status::Running).current_status(),
            Status::Running
        );
        // Same pid, different start time: the pid was reused.
        assert_eq!(
            sample(me, start + 1, Status::Running).current_status(),
            Status::Stopped
        );
        let oci = sample(me, start + 1, Status::Created).oci();
        assert_eq!(oci.status, Status::Stopped);
        assert_eq!(oci.pid, None);
    }

    #[test]
    fn oci_state_json_shape() {
        let me = std::process::id() as i32;
        let (start, _) = procs::stat(me).unwrap();
        let v = serde_json::to_value(sample(me, start, Status::Created).oci()).unwrap();
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], me);
        assert_eq!(v["bundle"], "/b");
        assert_eq!(v["annotations"]["k"], "v");
    }
}
