//! `start`: let a created container's program begin.

use super::{container, Error};
use crate::cli::GlobalOpts;
use crate::control;
use crate::hooks::{self, HookKind};
use crate::state::{State, Status};

pub fn command(g: &GlobalOpts, id: &str) -> Result<(), Error> {
    let c = container(g, id)?;
    let _lock = c.lock()?;
    let mut state = State::load(&c)?;
    let status = state.current_status();
    if status != Status::Created {
        return Err(Error::NotCreated {
            id: id.to_string(),
            status,
        });
    }
    // Run in the runtime's namespaces; see the hooks module.
    hooks::run(state.hooks.as_ref(), HookKind::StartContainer, &state.oci())?;
    let name = control::socket_name(&c).map_err(|source| Error::Io {
        what: "open the state directory",
        path: c.dir.clone(),
        source,
    })?;
    sentry::control::start(&name.path).map_err(|source| Error::Control {
        id: id.to_string(),
        source,
    })?;
    state.status = Status::Running;
    state.save(&c)?;
    hooks::run_warn(state.hooks.as_ref(), HookKind::Poststart, &state.oci());
    Ok(())
}
