//! `kill`: signal a container.
//!
//! SIGKILL is delivered by the host kernel to the container's init (the
//! Sentry's supervisor): the sandbox dies at once, and with a pid
//! namespace every process in it. Every other signal goes to the Sentry,
//! which delivers it inside the sandbox as the workload's kernel. A
//! container that joined another's sandbox (a pod's) gets every signal,
//! SIGKILL too, through the Sentry: the sandbox and its other containers
//! live on.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{container, Error};
use crate::cli::{GlobalOpts, KillArgs};
use crate::state::{State, Status};
use crate::{cgroups, pod, signals};

pub fn command(g: &GlobalOpts, a: &KillArgs) -> Result<(), Error> {
    let sig = signals::parse(&a.signal)?;
    let c = container(g, &a.id)?;
    let _lock = c.lock()?;
    let state = State::load(&c)?;
    if state.current_status() == Status::Stopped {
        return Err(Error::NotRunning);
    }
    if sig == libc::SIGKILL && state.sandbox.is_none() {
        return kill_init(g, &c, &state, a.all);
    }
    signal(g, &c, &state, sig, a.all)
}

/// Delivers `sig` through the Sentry to the container's init, or to all
/// its processes.
fn signal(
    g: &GlobalOpts,
    c: &crate::container::ContainerDir,
    state: &State,
    sig: i32,
    all: bool,
) -> Result<(), Error> {
    let addr = pod::address(&g.root, c, state)?;
    match sentry::control::signal(&addr.socket.path, &addr.container, sig, all) {
        Ok(()) => Ok(()),
        // It ended while we were asking.
        Err(_) if !state.init_alive() => Err(Error::NotRunning),
        Err(source) => Err(Error::Control {
            id: state.id.clone(),
            source,
        }),
    }
}

/// SIGKILL to the init; with `all` and no pid namespace to collapse, to
/// every process of the container's cgroup as well. A joined container's
/// processes are the Sentry's to kill; its proxy too when the sandbox is
/// gone (nothing else would end it).
pub fn kill_init(
    g: &GlobalOpts,
    c: &crate::container::ContainerDir,
    state: &State,
    all: bool,
) -> Result<(), Error> {
    if state.sandbox.is_some() {
        return match signal(g, c, state, libc::SIGKILL, all) {
            Err(Error::Control { .. }) => kill_pid(state.pid),
            other => other,
        };
    }
    kill_pid(state.pid)?;
    if all && !state.pid_namespace {
        for pid in cgroups::procs(&state.cgroup_paths) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    Ok(())
}

fn kill_pid(pid: i32) -> Result<(), Error> {
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ESRCH) => Err(Error::NotRunning),
        Err(e) => Err(Error::sys(format!("kill pid {pid}"))(e)),
    }
}
