//! One module per CLI command. Each returns the process's exit status or
//! an [`Error`] whose message is what the user (or containerd, reading our
//! log) sees.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod join;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;

use std::path::PathBuf;

use crate::backend::BackendError;
use crate::bundle::{BundleError, ProcessError};
use crate::cgroups::CgroupError;
use crate::cli::{Cli, Command, GlobalOpts};
use crate::console::ConsoleError;
use crate::container::ContainerError;
use crate::hooks::HookError;
use crate::jail::JailError;
use crate::signals::SignalError;
use crate::state::{StateError, Status};
use crate::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Jail(#[from] JailError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Pod(#[from] crate::pod::PodError),
    #[error(transparent)]
    Selftest(#[from] crate::selftest::SelftestError),
    #[error("systemd cgroup management is not supported: drop --systemd-cgroup (use the cgroupfs driver)")]
    SystemdCgroup,
    /// The container's init failed to come up; the text is the Sentry's
    /// (e.g. `exec: "foo": executable file not found in $PATH`).
    #[error("{0}")]
    Init(String),
    #[error("the container's init process died during create ({0})")]
    InitDied(String),
    #[error("cannot {what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start container {id}: it is {status}, not created")]
    NotCreated { id: String, status: Status },
    #[error("container not running")]
    NotRunning,
    #[error("cannot pause or resume container {id} alone: it runs in another container's sandbox (a pod's); pause the sandbox's first container, which pauses them all")]
    PodPause { id: String },
    #[error("cannot resume container {id}: it is not paused")]
    NotPaused { id: String },
    #[error("cannot delete container {id} that is not stopped: it is {status} (use --force)")]
    NotStopped { id: String, status: Status },
    #[error("cannot exec in container {id}: it is {status}")]
    CannotExec { id: String, status: Status },
    #[error("container {id}: the sandbox did not answer: {source}")]
    Control { id: String, source: sentry::Error },
    #[error("container {id} did not stop within {secs}s of SIGKILL")]
    KillTimeout { id: String, secs: u64 },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
        let what = what.into();
        move |source| Error::Sys { what, source }
    }
}

/// Runs the command; Ok is the exit status.
pub fn dispatch(cli: Cli) -> Result<i32, Error> {
    let g = &cli.global;
    if g.systemd_cgroup {
        return Err(Error::SystemdCgroup);
    }
    match cli.command {
        Command::Create(a) => create::command(g, &a).map(|_| 0),
        Command::Start(a) => start::command(g, &a.id).map(|_| 0),
        Command::State(a) => state::command(g, &a.id).map(|_| 0),
        Command::Kill(a) => kill::command(g, &a).map(|_| 0),
        Command::Delete(a) => delete::command(g, &a.id, a.force).map(|_| 0),
        Command::Run(a) => run::command(g, &a),
        Command::Exec(a) => exec::command(g, &a),
        Command::Ps(a) => ps::command(g, &a).map(|_| 0),
        Command::Pause(a) => pause::command(g, &a.id, true).map(|_| 0),
        Command::Resume(a) => pause::command(g, &a.id, false).map(|_| 0),
        Command::Events(a) => events::command(g, &a).map(|_| 0),
        Command::List(a) => list::command(g, &a).map(|_| 0),
        Command::Spec(a) => spec::command(&a).map(|_| 0),
        Command::Features => features::command().map(|_| 0),
        Command::Selftest(a) => Ok(crate::selftest::command(g, &a)?),
    }
}

/// Flushes our buffered output before a fork, which would otherwise
/// write it twice, once per process.
fn flush_stdio() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

/// Opens a known container (`does not exist` otherwise).
fn container(g: &GlobalOpts, id: &str) -> Result<crate::container::ContainerDir, Error> {
    let c = crate::container::ContainerDir::new(&g.root, id)?;
    if !c.exists() {
        return Err(ContainerError::NotExist(id.to_string()).into());
    }
    Ok(c)
}
