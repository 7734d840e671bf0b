//! `pause` and `resume`: freeze a running container's workload and thaw
//! it, as runc does with the cgroup freezer. The Sentry keeps every thread
//! out of application code while paused (signals stay pending; SIGKILL
//! still ends it); the state says `paused` in between.

use super::{container, Error};
use crate::cli::GlobalOpts;
use crate::control;
use crate::state::{State, Status};

pub fn command(g: &GlobalOpts, id: &str, pause: bool) -> Result<(), Error> {
    let c = container(g, id)?;
    let _lock = c.lock()?;
    let mut state = State::load(&c)?;
    let status = state.current_status();
    let (from, to) = if pause {
        (Status::Running, Status::Paused)
    } else {
        (Status::Paused, Status::Running)
    };
    if status != from {
        return Err(if pause {
            Error::NotRunning
        } else {
            Error::NotPaused { id: id.to_owned() }
        });
    }
    if state.sandbox.is_some() {
        return Err(Error::PodPause { id: id.to_owned() });
    }
    let name = control::socket_name(&c).map_err(|source| Error::Io {
        what: "open the state directory",
        path: c.dir.clone(),
        source,
    })?;
    match sentry::control::pause(&name.path, pause) {
        Ok(()) => {}
        Err(_) if !state.init_alive() => return Err(Error::NotRunning),
        Err(source) => {
            return Err(Error::Control {
                id: id.to_owned(),
                source,
            })
        }
    }
    state.status = to;
    state.save(&c)?;
    Ok(())
}
