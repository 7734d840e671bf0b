//! `delete`: remove a container's cgroup and state.

use std::time::{Duration, Instant};

use tracing::warn;

use super::{container, kill::kill_init, Error};
use crate::cli::GlobalOpts;
use crate::container::ContainerDir;
use crate::hooks::{self, HookKind};
use crate::state::{State, StateError, Status};
use crate::{cgroups, procs};

/// How long `delete --force` waits for a SIGKILLed init to vanish.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn command(g: &GlobalOpts, id: &str, force: bool) -> Result<(), Error> {
    let c = container(g, id)?;
    let _lock = c.lock()?;
    let state = match State::load(&c) {
        Ok(s) => s,
        // Nothing to stop or unwind; let --force clear the debris.
        Err(e @ StateError::Corrupt { .. }) if force => {
            warn!("{e}; removing it anyway");
            c.remove()?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match state.current_status() {
        Status::Stopped => {}
        // Like runc: a created container never ran, so deleting it is
        // the normal way to abandon it.
        Status::Created => stop(g, &c, &state)?,
        _ if force => stop(g, &c, &state)?,
        status => {
            return Err(Error::NotStopped {
                id: id.to_string(),
                status,
            })
        }
    }
    cgroups::remove(&state.cgroup_paths)?;
    let mut oci = state.oci();
    oci.status = Status::Stopped;
    hooks::run_warn(state.hooks.as_ref(), HookKind::Poststop, &oci);
    c.remove()?;
    Ok(())
}

/// SIGKILLs the init and waits until it is gone (its parent, the shim or
/// `run`, reaps it; a zombie counts as gone).
fn stop(g: &GlobalOpts, c: &ContainerDir, state: &State) -> Result<(), Error> {
    match kill_init(g, c, state, true) {
        Ok(()) | Err(Error::NotRunning) => {}
        Err(e) => return Err(e),
    }
    let deadline = Instant::now() + KILL_WAIT;
    while procs::is_alive(state.pid, state.pid_start_time) {
        if Instant::now() >= deadline {
            return Err(Error::KillTimeout {
                id: state.id.clone(),
                secs: KILL_WAIT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
