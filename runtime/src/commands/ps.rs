//! `ps`: host pids of a container's processes (what `docker top` shows).

use tracing::debug;

use super::{container, Error};
use crate::cli::{GlobalOpts, PsArgs, PsFormat};
use crate::state::State;
use crate::{cgroups, pod};

pub fn command(g: &GlobalOpts, a: &PsArgs) -> Result<(), Error> {
    let c = container(g, &a.id)?;
    let state = State::load(&c)?;
    let from_sentry = if state.init_alive() {
        pod::address(&g.root, &c, &state)
            .map_err(|e| sentry::Error::Protocol(e.to_string()))
            .and_then(|addr| sentry::control::ps(&addr.socket.path, &addr.container))
            .map_err(|e| debug!("the sandbox did not answer ps ({e}); reading its cgroup"))
            .ok()
    } else {
        None
    };
    let pids = from_sentry.unwrap_or_else(|| cgroups::procs(&state.cgroup_paths));
    match a.format {
        PsFormat::Json => println!(
            "{}",
            serde_json::to_string(&pids).unwrap_or_else(|_| "[]".into())
        ),
        PsFormat::Table => {
            println!("PID");
            for p in pids {
                println!("{p}");
            }
        }
    }
    Ok(())
}
