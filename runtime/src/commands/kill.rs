//! `kill`: signal a container.
//!
//! SIGKILL is delivered by the host kernel to the container's init (the
//! Sentry's supervisor): the sandbox dies at once, and with a pid
//! namespace every process in it. Every other signal goes to the Sentry,
//! which delivers it inside the sandbox as the workload's kernel.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{container, Error};
use crate::cli::{GlobalOpts, KillArgs};
use crate::state::{State, Status};
use crate::{cgroups, control, signals};

pub fn command(g: &GlobalOpts, a: &KillArgs) -> Result<(), Error> {
    let sig = signals::parse(&a.signal)?;
    let c = container(g, &a.id)?;
    let _lock = c.lock()?;
    let state = State::load(&c)?;
    if state.current_status() == Status::Stopped {
        return Err(Error::NotRunning);
    }
    if sig == libc::SIGKILL {
        return kill_init(&state, a.all);
    }
    let name = control::socket_name(&c).map_err(|source| Error::Io {
        what: "open the state directory",
        path: c.dir.clone(),
        source,
    })?;
    match sentry::control::signal(&name.path, sig, a.all) {
        Ok(()) => Ok(()),
        // It ended while we were asking.
        Err(_) if !state.init_alive() => Err(Error::NotRunning),
        Err(source) => Err(Error::Control {
            id: a.id.clone(),
            source,
        }),
    }
}

/// SIGKILL to the init; with `all` and no pid namespace to collapse, to
/// every process of the container's cgroup as well.
pub fn kill_init(state: &State, all: bool) -> Result<(), Error> {
    match kill(Pid::from_raw(state.pid), Signal::SIGKILL) {
        Ok(()) => {}
        Err(nix::errno::Errno::ESRCH) => return Err(Error::NotRunning),
        Err(e) => return Err(Error::sys(format!("kill pid {}", state.pid))(e)),
    }
    if all && !state.pid_namespace {
        for pid in cgroups::procs(&state.cgroup_paths) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    Ok(())
}
