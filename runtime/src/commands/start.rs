//! `start`: let a created container's program begin.

use super::{container, Error};
use crate::cli::GlobalOpts;
use crate::hooks::{self, HookKind};
use crate::pod;
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
    let addr = pod::address(&g.root, &c, &state)?;
    let started = if state.sandbox.is_some() {
        sentry::control::start_container(&addr.socket.path, &addr.container)
    } else {
        sentry::control::start(&addr.socket.path)
    };
    started.map_err(|source| Error::Control {
        id: id.to_string(),
        source,
    })?;
    state.status = Status::Running;
    state.save(&c)?;
    hooks::run_warn(state.hooks.as_ref(), HookKind::Poststart, &state.oci());
    Ok(())
}
