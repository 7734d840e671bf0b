//! OCI lifecycle hooks: programs run with the container's state JSON on
//! stdin at fixed points of its life. Docker relies on one: its prestart
//! hook (libnetwork-setkey) configures the container's network namespace.
//!
//! All hooks run in the runtime's own namespaces. For createContainer and
//! startContainer the spec asks for the container's mount namespace; ours
//! holds nothing but the Sentry's empty jail, so the runtime's view is the
//! useful one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};
use tracing::{debug, warn};

use crate::state::OciState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: cannot run it: {source}")]
    Spawn {
        kind: HookKind,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{kind} hook {path} failed: {status}{output}")]
    Failed {
        kind: HookKind,
        path: PathBuf,
        status: ExitStatus,
        output: String,
    },
    #[error("{kind} hook {path} did not finish within its timeout of {secs}s and was killed")]
    Timeout {
        kind: HookKind,
        path: PathBuf,
        secs: i64,
    },
}

/// The hooks of one kind from the spec.
fn of_kind(hooks: &Hooks, kind: HookKind) -> &[Hook] {
    #[allow(deprecated)] // prestart is deprecated but Docker still uses it.
    let list = match kind {
        HookKind::Prestart => hooks.prestart(),
        HookKind::CreateRuntime => hooks.create_runtime(),
        HookKind::CreateContainer => hooks.create_container(),
        HookKind::StartContainer => hooks.start_container(),
        HookKind::Poststart => hooks.poststart(),
        HookKind::Poststop => hooks.poststop(),
    };
    list.as_deref().unwrap_or_default()
}

/// Runs every hook of `kind` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, kind: HookKind, state: &OciState) -> Result<(), HookError> {
    let Some(hooks) = hooks else { return Ok(()) };
    let input = serde_json::to_vec(state).unwrap_or_default();
    for hook in of_kind(hooks, kind) {
        debug!(%kind, path = %hook.path().display(), "running hook");
        run_one(hook, kind, &input)?;
    }
    Ok(())
}

/// Like [`run`], but failures are only logged: the spec says poststart and
/// poststop failures must not change the outcome of the operation.
pub fn run_warn(hooks: Option<&Hooks>, kind: HookKind, state: &OciState) {
    if let Err(e) = run(hooks, kind, state) {
        warn!("{e}");
    }
}

fn run_one(hook: &Hook, kind: HookKind, input: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    // Output goes to an anonymous file rather than a pipe: we wait for the
    // hook and read afterwards, with no risk of a full pipe blocking it.
    let out = output_file().map_err(spawn_err)?;
    let mut cmd = Command::new(&path);
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out.try_clone().map_err(spawn_err)?))
        .stderr(Stdio::from(out.try_clone().map_err(spawn_err)?));
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE is ignored).
        let _ = stdin.write_all(input);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => return Err(spawn_err(source)),
        }
        if let Some((secs, at)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { kind, path, secs });
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if status.success() {
        return Ok(());
    }
    Err(HookError::Failed {
        kind,
        path,
        status,
        output: read_tail(out),
    })
}

fn output_file() -> std::io::Result<File> {
    let fd = nix::sys::memfd::memfd_create(
        c"sandbox-hook-output",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )?;
    Ok(File::from(fd))
}

/// The last few hundred bytes of a hook's output, for the error message.
fn read_tail(mut f: File) -> String {
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let start = buf.len().saturating_sub(512);
    let text = String::from_utf8_lossy(&buf[start..]).trim().to_string();
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;

    fn state() -> OciState {
        OciState {
            oci_version: "1.0.2".into(),
            id: "hooked".into(),
            status: Status::Creating,
            pid: Some(42),
            bundle: "/b".into(),
            annotations: Default::default(),
        }
    }

    fn hooks(json: &str) -> Hooks {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_env() {
        let dir = std::env::temp_dir().join(format!("sandbox-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hooks(&format!(
            r#"{{"prestart":[{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$X\" >> {0}"],"env":["X=yes"]}}]}}"#,
            out.display()
        ));
        run(Some(&h), HookKind::Prestart, &state()).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        let (json, rest) = got.split_once('}').unwrap();
        let v: serde_json::Value = serde_json::from_str(&format!("{json}}}")).unwrap();
        assert_eq!(v["id"], "hooked");
        assert_eq!(v["pid"], 42);
        assert_eq!(rest.trim(), "yes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_carries_the_output() {
        let h = hooks(
            r#"{"createRuntime":[{"path":"/bin/sh","args":["sh","-c","echo broken >&2; exit 3"]}]}"#,
        );
        let err = run(Some(&h), HookKind::CreateRuntime, &state())
            .unwrap_err()
            .to_string();
        assert!(err.contains("createRuntime hook /bin/sh failed"), "{err}");
        assert!(err.contains("broken"), "{err}");
        // Other kinds are not run.
        run(Some(&h), HookKind::Poststart, &state()).unwrap();
    }

    #[test]
    fn timeout_kills_the_hook() {
        let h = hooks(r#"{"poststop":[{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}]}"#);
        let t = Instant::now();
        let err = run(Some(&h), HookKind::Poststop, &state()).unwrap_err();
        assert!(matches!(err, HookError::Timeout { .. }));
        assert!(t.elapsed() < Duration::from_secs(4));
    }
}
